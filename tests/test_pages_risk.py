"""Margin and liquidation risk on the pages (issue 20): the overview's "risk" column (margin
ratio and the nearest distance to liquidation, coloured, sortable riskiest first, unknown with its
reason), the account page's risk section, its positions' distance and ADL rank, and its "Closed
positions" list with liquidations and auto-deleveraging marked.

Pages read rows, so the snapshots, positions and closed positions are written directly, as the
refresh (snapshots.refresh, snapshots.history) stores them. risk_team() is shared with
test_api_risk and test_browser_risk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, AccountKind
from dashboard.pages.overview import ROWS_PER_PAGE
from dashboard.tasks import warm_pnl
from snapshots.models import ClosedPosition, CloseType, PositionLine, Snapshot
from snapshots.refresh import NO_RATIO_FUTURES, NO_RATIO_NO_MMR
from snapshots.risk import (
    DISTANCE_DANGER_PCT,
    FUTURES_NO_FIGURE,
    MARGIN_RATIO_DANGER_PCT,
    NO_LIQ_PRICE,
    NO_MARK,
    POSITIONS_VIA_MASTER,
    distance_level,
    distance_text,
    liq_distance_pct,
    margin_level,
    margin_ratio_text,
    percent,
    threshold_pct_text,
)
from tests.accounts_support import make_user
from tests.test_pages_overview import OVERVIEW_QUERIES
from tests.test_pages_queries import give_key, make_account, many_accounts, snap

pytestmark = pytest.mark.django_db

OVERVIEW = "/"
FUTURES_NOTE = "Futures mode: the lowest per-currency margin ratio (USDT)"


# -- builders shared with test_api_risk and test_browser_risk ---------------------------------------
def risky_position(
    snapshot: Snapshot, inst_id: str, side: str, mark: str, liq: str | None, *, adl: int | None = 2
) -> PositionLine:
    """An open USDT-margined swap with its distance to liquidation as the refresh stores it."""
    pct, note = liq_distance_pct(side, Decimal(mark), None if liq is None else Decimal(liq))
    return PositionLine.objects.create(
        snapshot=snapshot,
        inst_id=inst_id,
        inst_type="SWAP",
        side=side,
        pos_side=side,
        size=Decimal("3") if side == "long" else Decimal("-3"),
        size_unit="contracts",
        avg_price=Decimal(mark),
        mark_price=Decimal(mark),
        upl=Decimal("-12.5"),
        upl_ccy="USDT",
        upl_usd=Decimal("-12.5"),
        leverage=Decimal(10),
        liq_price=None if liq is None else Decimal(liq),
        margin_mode="cross",
        adl=adl,
        liq_distance_pct=pct,
        liq_distance_note=note,
    )


def closed(account: Account, inst_id: str, close_type: str, ago: timedelta, **fields) -> ClosedPosition:
    """A positions-history row; the amounts of a liquidation by default (USDT)."""
    closed_at = timezone.now() - ago
    values = {
        "pos_id": f"{inst_id}-{close_type}-{int(closed_at.timestamp())}",
        "inst_type": "SWAP",
        "mgn_mode": "cross",
        "pos_side": "long",
        "direction": "long",
        "ccy": "USDT",
        "leverage": Decimal(10),
        "open_avg_price": Decimal("62000"),
        "close_avg_price": Decimal("56100.5"),
        "open_max_size": Decimal("4"),
        "closed_size": Decimal("4"),
        "pnl": Decimal("-236.02"),
        "realized_pnl": Decimal("-262.5"),
        "fee": Decimal("-11.22"),
        "funding_fee": Decimal("-3.26"),
        "liq_penalty": Decimal("-12"),
        "opened_at": closed_at - timedelta(days=2),
        **fields,
    }
    return ClosedPosition.objects.create(
        account=account, inst_id=inst_id, close_type=close_type, closed_at=closed_at, **values
    )


@dataclass
class RiskTeam:
    edge: Account  # danger: margin ratio 120 %, a short 5 % from its liquidation; closed positions
    warm: Account  # warn: 250 %, a long 15 % away
    calm: Account  # ok: 1,250 %, 50 % away; nothing closed in 3 months
    futures: Account  # Futures mode: the lowest per-currency ratio, no adjEq/imr/mmr
    keyless: Account  # a sub read through its master: margin ratio known, positions not
    fresh: Account  # never read
    idle: Account  # no open positions, no margin in use (mmr 0, no ratio): nothing at risk
    futures_idle: Account  # Futures mode with no position: no figures at all, nothing at risk
    futures_iso: Account  # Futures mode, an isolated position only: no ratio, a distance of 40 %
    now: datetime


def risk_team() -> RiskTeam:
    now = timezone.now()
    at = now - timedelta(seconds=20)
    figures = {
        "adj_equity_usd": Decimal("48210.5"),
        "imr_usd": Decimal("9100"),
        "mmr_usd": Decimal("3640.25"),
    }

    edge = make_account("edge-desk")
    give_key(edge)
    s = snap(edge, "48000", at=at, margin_ratio=Decimal("1.2"), **figures)
    risky_position(s, "ETH-USDT-SWAP", "short", "3000", "3150", adl=4)
    risky_position(s, "BTC-USDT-SWAP", "long", "60000", "45000", adl=1)
    risky_position(s, "SOL-USDT-SWAP", "long", "150", None, adl=None)  # no liquidation price
    closed(edge, "BTC-USDT-SWAP", CloseType.LIQUIDATION, timedelta(hours=5), trigger_price=Decimal("56150.1"))
    closed(
        edge,
        "ETH-USDT-SWAP",
        CloseType.ADL,
        timedelta(days=3),
        direction="short",
        pos_side="short",
        liq_penalty=Decimal(0),
        trigger_price=None,
        realized_pnl=Decimal("84.1"),
        pnl=Decimal("95"),
    )
    closed(
        edge,
        "BTC-USD-SWAP",
        CloseType.CLOSE,
        timedelta(days=20),
        ccy="BTC",
        pnl=Decimal("0.0123"),
        realized_pnl=Decimal("0.01201"),
        fee=Decimal("-0.00029"),
        funding_fee=Decimal("0"),
        liq_penalty=Decimal("0"),
        trigger_price=None,
    )

    warm = make_account("warm-desk")
    give_key(warm)
    s = snap(warm, "20000", at=at, margin_ratio=Decimal("2.5"), **figures)
    risky_position(s, "BTC-USDT-SWAP", "long", "60000", "51000")

    calm = make_account("calm-desk")
    give_key(calm)
    s = snap(calm, "90000", at=at, margin_ratio=Decimal("12.5"), **figures)
    risky_position(s, "BTC-USDT-SWAP", "long", "60000", "30000")

    futures = make_account("futures-desk")
    give_key(futures)
    s = snap(futures, "30000", at=at, margin_ratio=Decimal("4.8"), risk_note=FUTURES_NOTE)
    risky_position(s, "BTC-USDT-SWAP", "long", "60000", "42000")

    keyless = make_account("keyless-sub", kind=AccountKind.SUB, master=calm, sub_acct_name="keyless")
    snap(keyless, "5000", at=at, via_master=True, margin_ratio=Decimal("8"), **figures)

    fresh = make_account("fresh-desk")
    give_key(fresh)

    idle = make_account("idle-desk")
    give_key(idle)
    snap(idle, "7000", at=at, adj_equity_usd=Decimal(7000), imr_usd=0, mmr_usd=0, risk_note=NO_RATIO_NO_MMR)

    futures_idle = make_account("futures-idle")
    give_key(futures_idle)
    snap(futures_idle, "3000", at=at, risk_note=NO_RATIO_FUTURES)

    futures_iso = make_account("futures-iso")
    give_key(futures_iso)
    s = snap(futures_iso, "4000", at=at, risk_note=NO_RATIO_FUTURES)
    iso = risky_position(s, "ETH-USDT-SWAP", "long", "3000", "1800")
    PositionLine.objects.filter(pk=iso.pk).update(margin_mode="isolated")
    return RiskTeam(edge, warm, calm, futures, keyless, fresh, idle, futures_idle, futures_iso, now)


# -- helpers ----------------------------------------------------------------------------------------
@pytest.fixture
def team() -> RiskTeam:
    return risk_team()


def page(client, path: str) -> str:
    client.force_login(make_user("viewer"))
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())


def risk_cell(html: str, account: Account) -> str:
    """The risk cell's markup of the account's overview row."""
    row = re.search(rf'<tr[^>]*data-account="{account.pk}">(.*?)</tr>', html, re.S).group(1)
    return re.search(r'<td class="num opt risk">(.*?)</td>', row, re.S).group(1)


def order(html: str) -> list[str]:
    return re.findall(r'data-account="\d+">\s*<td><a href="/accounts/\d+/">([^<]+)</a>', html)


def element(html: str, element_id: str) -> str:
    return text(re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:div|p|table)>', html, re.S).group(1))


# -- the overview -----------------------------------------------------------------------------------
def test_the_risk_column_shows_the_margin_ratio_and_the_nearest_liquidation_coloured(client, team):
    html = page(client, OVERVIEW)
    assert re.search(r'<th scope="col" class="num opt"[^>]*><a href="[^"]*sort=risk[^"]*">risk</a>', html)
    assert '<span class="th-sub">margin ratio, to liq.</span>' in html
    edge = risk_cell(html, team.edge)
    assert text(edge) == "120.0% 5.00%"
    # Both figures in danger; the nearest is the short (5 % to 3,150), not the long (25 %).
    assert 'class="risk-figure margin danger" title="margin ratio (OKX mgnRatio)' in edge
    assert re.search(
        r'class="risk-figure liq danger" title="nearest liquidation: ETH-USDT-SWAP, the mark price 5.00%',
        edge,
    )
    warm = risk_cell(html, team.warm)
    assert text(warm) == "250.0% 15.00%"
    assert 'class="risk-figure margin warn"' in warm and 'class="risk-figure liq warn"' in warm
    assert text(risk_cell(html, team.calm)) == "1,250% 50.00%"  # no decimals from 1,000 %
    assert risk_cell(html, team.calm).count(' ok" title=') == 2


def test_unknown_risk_is_a_dash_with_its_reason_never_zero(client, team):
    html = page(client, OVERVIEW)
    keyless = risk_cell(html, team.keyless)
    assert text(keyless) == "800.0% — not via master"  # a few words; the full reason on hover
    assert f'<span class="muted unknown" title="{POSITIONS_VIA_MASTER}">not via master</span>' in keyless
    assert text(risk_cell(html, team.fresh)) == "— — never read"  # the reason once
    # Futures mode: the per-currency ratio, and the note says so where the figure is explained.
    futures = risk_cell(html, team.futures)
    assert text(futures) == "480.0% 30.00%"
    assert FUTURES_NOTE in futures


def test_a_reason_in_the_risk_column_is_a_few_words_with_the_whole_reason_on_hover(client, team):
    """OKX's Futures-mode note is a sentence: the cell says "no ratio: Futures mode", whole, and
    the title has the sentence. No reason in the column is longer than fits (22 characters)."""
    html = page(client, OVERVIEW)
    iso = risk_cell(html, team.futures_iso)
    assert text(iso) == "— 40.00% no ratio: Futures mode"
    assert f'<span class="muted unknown" title="{NO_RATIO_FUTURES}">no ratio: Futures mode</span>' in iso
    assert (
        'class="risk-figure margin unknown" title="margin ratio unknown: OKX reports no margin ratio' in iso
    )
    cells = "".join(re.findall(r'<td class="num opt risk">(.*?)</td>', html, re.S))
    shown = re.findall(r'<span class="muted unknown" title="[^"]*">([^<]*)</span>', cells)
    assert len(shown) == 3 and max(len(words) for words in shown) <= 22 and not any("…" in w for w in shown)


def test_an_account_with_nothing_to_liquidate_says_no_positions_and_sorts_before_unknown(client, team):
    """No open position and no margin in use (OKX's mmr 0; or Futures mode with no position): a
    level of its own, "none", not "unknown"; after ok, before the unknown, riskiest first."""
    html = page(client, f"{OVERVIEW}?sort=risk")
    for account in (team.idle, team.futures_idle):
        cell = risk_cell(html, account)
        assert text(cell) == "no positions"
        assert re.search(
            r'class="risk-figure none" title="nothing can be liquidated: no open positions; OKX', cell
        )
    names = order(html)
    assert names.index("keyless-sub") < names.index("futures-idle") < names.index("fresh-desk")
    assert names[-3:] == ["futures-idle", "idle-desk", "fresh-desk"]


def test_sorting_by_risk_puts_danger_first_and_unknown_last_both_ways(client, team):
    html = page(client, f"{OVERVIEW}?sort=risk")
    assert 'class="sorted desc">risk</a>' in html  # the first click: riskiest first
    assert order(html) == [
        "edge-desk",
        "warm-desk",
        "futures-desk",
        "futures-iso",
        "calm-desk",
        "keyless-sub",
        "futures-idle",
        "idle-desk",
        "fresh-desk",
    ]
    safest = order(page(client, f"{OVERVIEW}?sort=risk&dir=asc"))
    assert safest[:3] == ["futures-idle", "idle-desk", "keyless-sub"] and safest[-1] == "fresh-desk"


def test_a_phone_sees_a_risk_at_warn_or_danger_under_the_account_name(client, team):
    html = page(client, OVERVIEW)
    status = re.search(
        rf'data-account="{team.edge.pk}">\s*<td>.*?<span class="row-status">(.*?)</span></td>', html, re.S
    ).group(1)
    assert '<span class="badge failing">margin 120.0%</span>' in status
    assert '<span class="badge failing">liq. 5.00% away</span>' in status
    calm = re.search(rf'data-account="{team.calm.pk}">\s*<td>(.*?)</td>', html, re.S).group(1)
    assert "row-status" not in calm


@pytest.mark.usefixtures("mid_hour")
@pytest.mark.parametrize("n", [10, 200])
def test_the_risk_column_costs_the_same_queries_for_10_and_200_accounts(client, n):
    many_accounts(n)
    # snap()'s positions carry no distance: let them be ones OKX gives no liquidation price for
    # (a distance unknown for lack of data would make each account's nearest unknown).
    PositionLine.objects.update(liq_distance_note=NO_LIQ_PRICE)
    for snapshot in Snapshot.objects.order_by("-taken_at")[:n]:
        risky_position(snapshot, "ETH-USDT-SWAP", "short", "3000", "3300")
    warm_pnl.apply()  # the PnL columns, as beat works them out ahead
    client.force_login(make_user("viewer"))
    client.get(OVERVIEW)
    with CaptureQueriesContext(connection) as captured:
        html = client.get(f"{OVERVIEW}?sort=risk").content.decode()
    assert (
        html.count('class="num opt risk"') == min(n, ROWS_PER_PAGE)  # a page of the table
        and 'class="risk-figure liq warn" title="nearest liquidation: ETH-USDT-SWAP, the mark price 10.00%'
        in html
    )
    # The overview's queries (test_pages_overview.OVERVIEW_QUERIES), with snapshots.risk.account_risk's
    # one (the positions of the rows' latest snapshots), whatever the number of accounts.
    assert len(captured) == OVERVIEW_QUERIES


# -- the account page -------------------------------------------------------------------------------
def test_the_account_page_has_a_risk_section_with_okx_figures(client, team):
    html = page(client, f"/accounts/{team.edge.pk}/")
    assert element(html, "risk-margin-ratio") == "120.0%"
    assert 'class="value risk-value danger" id="risk-margin-ratio"' in html
    assert element(html, "risk-adj-equity") == "48,210.50 USD"
    assert element(html, "risk-imr") == "9,100.00 USD"
    assert element(html, "risk-mmr") == "3,640.25 USD"
    assert element(html, "risk-nearest") == "5.00%"
    note = element(html, "risk-note")
    assert "under 300% warn, under 150% danger" in note and "under 20% warn, under 10% danger" in note


def test_the_futures_mode_account_says_how_its_margin_ratio_was_taken(client, team):
    html = page(client, f"/accounts/{team.futures.pk}/")
    assert element(html, "risk-margin-ratio") == "480.0%"
    assert element(html, "risk-adj-equity") == "—"
    assert element(html, "risk-note").startswith(FUTURES_NOTE + ".")


@pytest.mark.parametrize(
    ("who", "why"),
    [
        ("futures", FUTURES_NO_FIGURE[0].upper() + FUTURES_NO_FIGURE[1:]),  # OKX reports none in Futures mode
        ("fresh", "Never read"),
    ],
)
def test_each_unknown_margin_figure_says_why_under_its_dash(client, team, who, why):
    html = page(client, f"/accounts/{getattr(team, who).pk}/")
    for figure in ("risk-adj-equity", "risk-imr", "risk-mmr"):
        assert (element(html, figure), element(html, f"{figure}-why")) == ("—", why)
    calm = page(client, f"/accounts/{team.calm.pk}/")  # known: the caption says what it is
    assert element(calm, "risk-imr-why") == "cross positions and pending orders"


def test_an_account_with_nothing_to_liquidate_says_so_on_its_page(client, team):
    html = page(client, f"/accounts/{team.idle.pk}/")
    assert element(html, "risk-nearest") == "no positions"
    assert element(html, "risk-mmr") == "0.00 USD" and element(html, "risk-margin-ratio") == "—"
    assert (
        "Nothing can be liquidated: no open positions; OKX reports no margin ratio: the maintenance" in html
    )


def test_each_position_shows_its_distance_to_liquidation_and_adl_rank(client, team):
    html = page(client, f"/accounts/{team.edge.pk}/")
    table = html[html.index('id="positions"') : html.index("</table>", html.index('id="positions"'))]
    rows = {re.match(r"(\S+)", row).group(1): row for row in re.findall(r"<tr><td>(.*?)</tr>", table, re.S)}
    eth = rows["ETH-USDT-SWAP"]
    # Prices in the quote currency with its decimals, as the alerts write them; leverage with its sign.
    assert re.search(
        r'data-label="liq. price">3,150.00 USDT<span class="risk-value danger"[^>]*>5.00% away</span>', eth
    )
    assert re.search(r'data-label="ADL"[^>]*>4 of 5<', eth) and re.search(
        r'data-label="mark price">3,000.00 USDT<', eth
    )
    assert re.search(r'<span class="risk-value ok"[^>]*>25.00% away</span>', rows["BTC-USDT-SWAP"])
    sol = text(rows["SOL-USDT-SWAP"])
    assert "10\u00d7 — OKX gives no liquidation price for this position — cross" in sol  # leverage, liq., ADL


def test_a_liquidation_price_is_rounded_to_its_currency_as_in_the_alerts(client, team):
    snapshot = Snapshot.objects.get(account=team.calm)
    line = risky_position(snapshot, "BTC-USDT-SWAP", "short", "60000", "70588.23529412")
    PositionLine.objects.filter(pk=line.pk).update(leverage=Decimal(5))
    risky_position(snapshot, "DOGE-USDT-SWAP", "long", "0.123456789", "0.1")
    html = page(client, f"/accounts/{team.calm.pk}/")
    assert "70,588.24 USDT" in html and "70,588.235" not in html
    assert "0.123457 USDT" in html and "0.10 USDT" in html  # a price under a dollar keeps its digits
    assert re.search(r'data-label="leverage">5\u00d7<', html)


def test_closed_positions_mark_liquidations_and_adl_with_every_amount_in_its_currency(client, team, settings):
    settings.DISPLAY_TIME_ZONE = "Asia/Tokyo"
    html = page(client, f"/accounts/{team.edge.pk}/")
    table = html[
        html.index('id="closed-positions"') : html.index("</table>", html.index('id="closed-positions"'))
    ]
    rows = re.findall(r'<tr class="([^"]*)" data-close-type="(\d)">(.*?)</tr>', table, re.S)
    assert [(css, kind) for css, kind, _ in rows] == [
        ("forced liquidation", "3"),
        ("forced adl", "6"),
        ("", "2"),
    ]
    liquidation, adl, close = (text(cells) for _, _, cells in rows)
    tokyo = (team.now - timedelta(hours=5)).astimezone(timezone.get_fixed_timezone(9 * 60))
    assert liquidation == (
        f"{tokyo:%Y-%m-%d %H:%M} BTC-USDT-SWAP long · SWAP · cross · 10\u00d7 liquidated at mark "
        "56,150.10 USDT 62,000.00 → 56,100.50 USDT 4 contracts \u2212262.50 USDT \u2212236.02 USDT "
        "\u221211.22 USDT "
        "\u22123.26 USDT \u221212.00 USDT"
    )
    assert '<span class="badge failing">liquidated</span>' in rows[0][2]
    assert '<span class="badge grace">auto-deleveraged</span>' in rows[1][2]
    assert "short · SWAP" in adl and "+84.10 USDT" in adl
    assert "auto-deleveraged 62,000.00 → 56,100.50 USDT" in adl
    assert "long · SWAP" in close and "+0.01201 BTC" in close and "\u22120.00029 BTC" in close
    assert "badge" not in rows[2][2]
    assert "times in Asia/Tokyo" in html


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("calm", "No position closed in the last 3 months (OKX keeps positions history for 3 months)."),
        ("keyless", "Not readable without the account's own key: OKX gives positions history only to the "
         "account's own key (its master's key cannot read it)."),
        ("fresh", "Unknown: never read (no snapshot of this account yet)."),
    ],
)  # fmt: skip
def test_an_empty_closed_positions_list_says_why(client, team, who, reason):
    html = page(client, f"/accounts/{getattr(team, who).pk}/")
    assert element(html, "closed-empty") == reason
    assert 'id="closed-positions"' not in html


def test_a_sub_read_through_its_master_shows_its_margin_ratio_and_why_no_distance(client, team):
    html = page(client, f"/accounts/{team.keyless.pk}/")
    assert element(html, "risk-margin-ratio") == "800.0%"
    nearest = re.search(r'id="risk-nearest".*?</div>\s*<div class="sub">(.*?)</div>', html, re.S).group(1)
    assert (
        element(html, "risk-nearest") == "—"
        and nearest == "positions are not readable through the master key"
    )


def test_closed_positions_whose_history_may_be_incomplete_say_why(client, team):
    """The latest snapshot's history_note: an empty list is unknown (never "none closed"), a list
    of rows says it may be incomplete."""
    note = "could not be read: exchange busy on /api/v5/account/positions-history"
    Snapshot.objects.filter(account__in=[team.calm, team.edge]).update(history_note=note)

    calm = page(client, f"/accounts/{team.calm.pk}/")
    edge = page(client, f"/accounts/{team.edge.pk}/")

    assert element(calm, "closed-empty") == f"Unknown: OKX's positions history {note}."
    assert element(edge, "closed-incomplete") == f"Possibly incomplete: OKX's positions history {note}."
    assert 'id="closed-positions"' in edge


def test_a_position_without_a_mark_price_makes_the_nearest_liquidation_unknown_and_named(client, team):
    """The far BTC long is known, the SOL long's distance is not (OKX sent no mark price): it may
    be the nearest, so the account's nearest is "—" with the instrument and the reason."""
    snapshot = Snapshot.objects.get(account=team.calm)
    line = risky_position(snapshot, "SOL-USDT-SWAP", "long", "150", "140")
    PositionLine.objects.filter(pk=line.pk).update(
        mark_price=None, liq_distance_pct=None, liq_distance_note=NO_MARK
    )

    html = page(client, f"/accounts/{team.calm.pk}/")

    nearest = re.search(r'id="risk-nearest".*?</div>\s*<div class="sub">(.*?)</div>', html, re.S).group(1)
    assert (element(html, "risk-nearest"), nearest) == ("—", f"SOL-USDT-SWAP: {NO_MARK}")


def test_a_figure_coloured_danger_reads_below_the_danger_line():
    """Rounded down, toward danger: a figure is never shown safer than it is, and one coloured
    danger ("under 150%") never reads "150.0%". Thresholds are written as stored."""
    ratio = Decimal("1.4996")
    assert (margin_level(ratio), margin_ratio_text(percent(ratio))) == ("danger", "149.9%")
    assert margin_ratio_text(Decimal("76410.9")) == "76,410%"
    assert (distance_level(Decimal("9.996")), distance_text(Decimal("9.996"))) == ("danger", "9.99%")
    assert liq_distance_pct("long", Decimal("3"), Decimal("2.7000001")) == (Decimal("9.9999"), "")
    assert [threshold_pct_text(t) for t in (MARGIN_RATIO_DANGER_PCT, DISTANCE_DANGER_PCT)] == ["150%", "10%"]
    assert threshold_pct_text(Decimal("150.05")) == "150.05%"
    assert threshold_pct_text(Decimal("2500.50")) == "2,500.5%"
