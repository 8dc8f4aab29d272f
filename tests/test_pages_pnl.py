"""PnL net of transfers on the pages (issue 19): the overview's "PnL 24 h" / "PnL 7 d" columns and
the team's row, the account page's "Profit and loss" section, the Transfers page and its CSV.
Pages read rows: the tests write Account, Snapshot and CashFlow rows directly, with known answers.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountKind, Environment
from dashboard.pages import pnl
from dashboard.tasks import warm_pnl
from ledger.models import BillDay, FlowKind, LedgerSync
from ledger.sync import BILLS
from snapshots.models import Snapshot
from tests.accounts_support import make_user
from tests.api_support import client_as
from tests.ledger_support import stored_flow
from tests.test_pages_queries import give_key, make_account, snap

pytestmark = pytest.mark.django_db

OVERVIEW = "/"
FRAGMENT = "/overview/fragment/"
TRANSFERS = "/transfers/"
TRANSFERS_CSV = "/transfers/transfers.csv"


def signed_in(client, role: str = "viewer"):
    client.force_login(make_user(role))
    return client


@pytest.fixture
def team():
    """A master moves 10,000 USDT to its keyless sub-account two hours ago (no price move: no PnL
    on either side); one account lost 1,000 in the day, one gained 500; one was never read."""
    now = timezone.now()
    alpha = make_account("alpha-desk")
    give_key(alpha)
    snap(alpha, "100000", at=now - timedelta(hours=25))
    snap(alpha, "90000", at=now - timedelta(minutes=1))
    beta = make_account("beta-sub", kind=AccountKind.SUB, master=alpha, sub_acct_name="beta")
    snap(beta, "5000", at=now - timedelta(hours=25), via_master=True)
    snap(beta, "15000", at=now - timedelta(minutes=1), via_master=True)
    moved = now - timedelta(hours=2)
    stored_flow(alpha, FlowKind.TRANSFER_OUT, "-10000", moved, "900001", counterparty=beta)
    stored_flow(beta, FlowKind.TRANSFER_IN, "10000", moved, "900001", counterparty=alpha)
    gamma = make_account("gamma-loser")
    give_key(gamma)
    snap(gamma, "50000", at=now - timedelta(hours=25))
    snap(gamma, "49000", at=now - timedelta(minutes=1))
    delta = make_account("delta-winner")
    give_key(delta)
    snap(delta, "20000", at=now - timedelta(hours=25))
    snap(delta, "20500", at=now - timedelta(minutes=1))
    never = make_account("omega-never-read")
    return {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta, "never": never}


def pnl_cell(html: str, pk: int, period: str = "24h") -> str:
    """The text of an account's PnL cell in the overview ("0.00 0.00%", "—  never read")."""
    row = re.search(rf'<tr[^>]*data-account="{pk}">(.*?)</tr>', html, re.S).group(1)
    cell = re.search(rf'<td class="num pnl pnl-{period}[^"]*"[^>]*>(.*?)</td>', row, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def order(html: str) -> list[str]:
    return re.findall(r'data-account="\d+">\s*<td><a href="/accounts/\d+/">([^<]+)</a>', html)


# -- the overview ---------------------------------------------------------------------------------
def test_a_transfer_is_no_gain_or_loss_on_either_side(client, team):
    html = signed_in(client).get(OVERVIEW).content.decode()
    # The 24 h change shows the transfer (equity moved); the PnL does not.
    assert pnl_cell(html, team["alpha"].pk) == "0.00 0.00%"
    assert pnl_cell(html, team["beta"].pk).startswith("0.00")
    assert pnl_cell(html, team["gamma"].pk) == "\u22121,000.00 \u22122.00%"
    assert pnl_cell(html, team["delta"].pk) == "+500.00 +2.50%"
    assert pnl_cell(html, team["never"].pk) == "— never read"
    # The team: the transfer cancels; -1,000 + 500.
    team_cell = re.search(r'id="team-pnl-24h"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert team_cell.startswith("\u2212500.00")
    assert "neg" in re.search(r'<td class="([^"]*)" id="team-pnl-24h"', html).group(1)


def test_sorted_by_pnl_24h_ascending_the_loser_comes_first_and_unknown_last(client, team):
    signed_in(client)
    html = client.get(OVERVIEW, {"sort": "pnl_24h", "dir": "asc"}).content.decode()
    names = order(html)
    assert names[0] == "gamma-loser" and names[-1] == "omega-never-read"
    assert names.index("delta-winner") == len(names) - 2
    html = client.get(OVERVIEW, {"sort": "pnl_24h", "dir": "desc"}).content.decode()
    assert order(html)[0] == "delta-winner" and order(html)[-1] == "omega-never-read"
    # The header links sort by the new columns like the others; the 7 d one is hidden on a phone.
    assert "sort=pnl_7d&amp;dir=desc" in html
    assert re.search(r'<th scope="col" class="num opt"[^>]*><a [^>]*>PnL 7 d', html)
    assert re.search(r'<th scope="col" class="num"[^>]*><a [^>]*>PnL 24 h', html)


def test_a_phone_keeps_the_pnl_24h_and_leaves_out_the_24h_change_and_the_caption_names_the_column(
    client, team
):
    html = signed_in(client).get(OVERVIEW, {"sort": "pnl_24h", "dir": "asc"}).content.decode()
    # Class "opt": hidden on a phone (app.css). The change in equity includes the transfers.
    assert re.search(r'<th scope="col" class="num opt"[^>]*><a [^>]*>24 h change', html)
    assert "Accounts, sorted by PnL 24 h (USD), ascending</caption>" in html
    assert "pnl_24h (" not in html


def calendar_amounts(html: str, table_id: str) -> dict[str, str]:
    """A PnL calendar's days ("2026-06-10") with a figure, and that figure ("+500.00", "—")."""
    table = html[html.index(f'id="{table_id}"') :]
    table = table[: table.index("</table>")]
    return dict(
        re.findall(r'data-day="([\d-]+)"><span class="date">[^<]*</span><span class="full">([^<]*)<', table)
    )


def test_the_overview_shows_the_teams_daily_pnl_calendar(client, team):
    html = signed_in(client).get(OVERVIEW).content.decode()
    assert "The team's daily PnL (USD)</h2>" in unescape(html)
    table = html[html.index('id="team-pnl-calendar"') :]
    assert table[: table.index("</table>")].count('<td class="day') == 35  # 5 weeks, Monday first
    days = calendar_amounts(html, "team-pnl-calendar")
    today = timezone.localdate().isoformat()
    assert today in days
    # The transfer cancels inside the team: the days add up to -1,000 + 500, not to a -10,000.
    known = [Decimal(v.replace(",", "").replace("\u2212", "-")) for v in days.values() if v != "—"]
    assert sum(known) == Decimal(-500)


def test_the_polled_fragment_carries_the_pnl_columns(client, team):
    html = signed_in(client).get(FRAGMENT, {"sort": "pnl_24h", "dir": "asc"}).content.decode()
    assert order(html)[0] == "gamma-loser"
    assert pnl_cell(html, team["delta"].pk, "7d").startswith("+500.00")
    assert 'id="team-pnl-7d"' in html


def test_a_sub_account_pnl_carries_its_note(client, team):
    html = signed_in(client).get(OVERVIEW).content.decode()
    row = re.search(rf'<tr[^>]*data-account="{team["beta"].pk}">(.*?)</tr>', html, re.S).group(1)
    assert "may include transfers with other sub-accounts" in row
    # Not on the team's figure: a transfer between two of its accounts cancels in the sum.
    team_cell = re.search(r'<td[^>]*id="team-pnl-24h"[^>]*>', html).group(0)
    assert "sub-accounts" not in team_cell


def test_demo_accounts_have_pnl_but_stay_out_of_the_team(client, team):
    now = timezone.now()
    demo = make_account("paper", environment=Environment.DEMO)
    snap(demo, "1000", at=now - timedelta(hours=25))
    snap(demo, "100", at=now - timedelta(minutes=1))
    html = signed_in(client).get(OVERVIEW).content.decode()
    assert pnl_cell(html, demo.pk).startswith("\u2212900.00")
    assert re.search(r'id="team-pnl-24h"[^>]*>(.*?)</td>', html, re.S).group(1).startswith("\u2212500.00")


def test_the_overview_query_count_is_flat_in_the_number_of_accounts(client):
    signed_in(client)
    counts = []
    now = timezone.now()
    for names in (range(3), range(3, 12)):  # 3 accounts, then 12, each with a flow
        for i in names:
            account = make_account(f"bulk-{i:04d}")
            snap(account, "100", at=now - timedelta(days=8))
            snap(account, "110", at=now - timedelta(seconds=5))
            stored_flow(account, FlowKind.DEPOSIT, "5", now - timedelta(hours=1), f"d{i}")
        client.get(OVERVIEW)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(OVERVIEW)
        assert response.status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


def flow_queries(captured: CaptureQueriesContext) -> list[str]:
    """The queries that read cash flows: working out a PnL reads them, reading it ahead does not."""
    return [q["sql"] for q in captured.captured_queries if "ledger_cashflow" in q["sql"]]


def pnl_texts(html: str, team: dict) -> dict[str, str]:
    """Every PnL figure of the overview as text: each account's two cells, the team's and its calendar."""
    found = {
        f"{name} {key}": pnl_cell(html, account.pk, key)
        for name, account in team.items()
        for key in ("24h", "7d")
    }
    for key in ("24h", "7d"):
        found[f"team {key}"] = " ".join(
            re.sub(
                r"<[^>]+>", " ", re.search(rf'id="team-pnl-{key}"[^>]*>(.*?)</td>', html, re.S).group(1)
            ).split()
        )
    return found | calendar_amounts(html, "team-pnl-calendar")


def test_the_overview_shows_the_pnl_the_task_worked_out_ahead_as_of_its_time(client, team):
    signed_in(client)
    inline = client.get(OVERVIEW).content.decode()  # five accounts: worked out on the page
    assert 'id="pnl-as-of"' not in inline
    assert warm_pnl.apply().get() == [5]  # the team's five live accounts
    with CaptureQueriesContext(connection) as captured:
        ahead = client.get(OVERVIEW).content.decode()
    assert flow_queries(captured) == []
    assert pnl_texts(ahead, team) == pnl_texts(inline, team)
    assert re.search(r'PnL as of <time datetime="[^"]+" id="pnl-as-of">\d\d:\d\d:\d\d</time>', ahead)
    # An account added since the task ran: its figures are worked out on the page, the others read.
    newcomer = make_account("newcomer")
    snap(newcomer, "1000", at=timezone.now() - timedelta(hours=25))
    snap(newcomer, "1100", at=timezone.now() - timedelta(minutes=1))
    html = client.get(OVERVIEW).content.decode()
    assert pnl_cell(html, newcomer.pk) == "+100.00 +10.00%"
    assert pnl_cell(html, team["gamma"].pk) == "\u22121,000.00 \u22122.00%"


def test_a_large_team_says_computing_until_the_task_has_run_never_zero(client, team, monkeypatch):
    """Above INLINE_ACCOUNTS a page does not work out the PnL itself: "—" and "computing" until
    the warm-pnl task has run (beat runs it every refresh interval), then the figures."""
    monkeypatch.setattr(pnl, "INLINE_ACCOUNTS", 2)
    signed_in(client)
    with CaptureQueriesContext(connection) as captured:
        html = client.get(FRAGMENT).content.decode()
    assert flow_queries(captured) == []
    figures = pnl_texts(html, team)
    assert {text for key, text in figures.items() if " " in key} == {"— computing"}  # the cells
    assert {text for key, text in figures.items() if " " not in key} == {"—"}  # the calendar's days
    row = re.search(rf'<tr[^>]*data-account="{team["delta"].pk}">(.*?)</tr>', html, re.S).group(1)
    assert f'title="{pnl.COMPUTING_NOTE}"' in row
    table = html[html.index('id="team-pnl-calendar"') :]
    assert f'title="computing: {pnl.COMPUTING_NOTE}"' in table[: table.index("</table>")]
    warm_pnl.apply()
    html = client.get(FRAGMENT).content.decode()
    assert pnl_cell(html, team["delta"].pk) == "+500.00 +2.50%"
    assert re.search(r'id="team-pnl-24h"[^>]*>(.*?)</td>', html, re.S).group(1).startswith("\u2212500.00")


# -- the account page -----------------------------------------------------------------------------
def test_the_account_page_shows_pnl_per_period_and_its_flows(client, team):
    alpha = team["alpha"]
    LedgerSync.objects.create(
        account=alpha,
        progress={"subaccount_bills": {"oldest_ms": 1_700_000_000_000, "done": True, "rows": 1}},
        last_synced_at=timezone.now(),
    )
    html = signed_in(client).get(f"/accounts/{alpha.pk}/").content.decode()
    section = html[html.index('id="pnl"') : html.index('id="balances-title"')]
    row = re.search(r'<tr data-period="24h"[^>]*>(.*?)</tr>', section, re.S).group(1)
    texts = [
        " ".join(re.sub(r"<[^>]+>", " ", c).split())
        for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    ]
    assert texts == ["Last 24 hours", "0.00 0.00%", "0.00%", "\u221210,000.00", "0.00%"]
    assert "Cumulative PnL (USD), last 7 days" in section
    assert 'id="pnl-calendar"' in section
    # The flows: the transfer, its other side linked, and all of them on the Transfers page.
    flows = section[section.index('id="account-flows"') :]
    assert "\u221210,000.00 USDT" in flows and f'href="/accounts/{team["beta"].pk}/"' in flows
    assert f'href="/transfers/?account={alpha.pk}"' in flows
    progress = " ".join(unescape(re.search(r'id="ledger-progress">(.*?)</p>', flows, re.S).group(1)).split())
    assert progress.startswith(
        "Backfill: master's sub-account transfer history 1 record, back to 2023-11-14 (done)."
    )


def test_a_keyless_sub_account_says_its_breakdown_needs_its_own_key(client, team):
    beta = team["beta"]
    html = signed_in(client).get(f"/accounts/{beta.pk}/").content.decode()
    unknown = re.search(r'id="breakdown-unknown">(.*?)</p>', html, re.S).group(1)
    assert "Unknown: it needs the account&#x27;s own key" in unknown
    notes = re.search(r'id="pnl-notes">(.*?)</ul>', html, re.S).group(1)
    assert "May include transfers with other sub-accounts" in notes
    assert "Read from the master's sub-account transfer history (alpha-desk's key)" in html
    row = re.search(r'<tr data-period="24h"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "+10,000.00" in row  # net inflow: the transfer in


def test_the_fees_of_whole_utc_days_are_never_set_against_a_pnl_of_another_window(client, team):
    gamma = team["gamma"]
    LedgerSync.objects.create(
        account=gamma, progress={BILLS: {"oldest_ms": None, "done": True, "rows": 40, "gaps": []}}
    )
    today = timezone.now().astimezone(UTC).date()
    BillDay.objects.create(
        account=gamma,
        day=today,
        ccy="USDT",
        trading_fees=Decimal("-12.5"),
        funding_fees=Decimal("-3"),
        interest=Decimal("-0.5"),
        trading_fees_usd=Decimal("-12.5"),
        funding_fees_usd=Decimal("-3"),
        interest_usd=Decimal("-0.5"),
        bills=40,
    )
    html = signed_in(client).get(f"/accounts/{gamma.pk}/", {"pnl": "24h"}).content.decode()
    block = html[html.index('id="pnl-breakdown"') : html.index('id="account-flows"')]
    lines = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num[^"]*">([^<]+)</td></tr>', block))
    assert lines == {"trading fees": "\u221212.50", "funding fees": "\u22123.00", "interest": "\u22120.50"}
    # The PnL counts from a reading 25 hours ago to one a minute ago; the fees are of two whole
    # UTC days: their difference would mix two windows, so the rest is not shown.
    rest = " ".join(
        re.sub(r"<[^>]+>", " ", re.search(r'id="breakdown-rest">(.*?)</tr>', block, re.S).group(1)).split()
    )
    assert rest == "the rest (trading and price moves) not shown: fees are counted by whole UTC days"
    # The PnL's window starts with the reading 25 hours ago: its UTC day is the day before
    # (two days before when the test runs between 00:00 and 01:00 UTC).
    yesterday = (timezone.now() - timedelta(hours=25)).astimezone(UTC).date()
    windows = " ".join(
        re.sub(r"<[^>]+>", " ", re.search(r'id="breakdown-windows">(.*?)</p>', block, re.S).group(1)).split()
    )
    assert f"Fees, funding and interest of the UTC days {yesterday:%Y-%m-%d} to {today:%Y-%m-%d}," in windows
    started = (timezone.now() - timedelta(hours=25)).astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE))
    assert f"The PnL runs from {started:%Y-%m-%d %H:%M} to " in windows
    assert "trading bills (fees, funding, interest) 40 records" in " ".join(html.split())


def test_the_rest_is_shown_when_the_pnl_runs_exactly_over_whole_utc_days(client, settings):
    """Readings at 00:00 UTC on 24 and 25 November, 30 s before now: the 24 hours count from
    the first to the second, exactly the UTC day of 24 November, so the rest is the PnL less that
    day's fees: -1,000 - (-16) = -984."""
    settings.DISPLAY_TIME_ZONE = "UTC"
    now = datetime(2026, 11, 25, 0, 0, 30, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        gamma = make_account("gamma-loser")
        give_key(gamma)
        snap(gamma, "50000", at=datetime(2026, 11, 24, tzinfo=UTC))
        snap(gamma, "49000", at=datetime(2026, 11, 25, tzinfo=UTC))
        LedgerSync.objects.create(
            account=gamma, progress={BILLS: {"oldest_ms": None, "done": True, "rows": 40, "gaps": []}}
        )
        for day, fee in ((date(2026, 11, 24), "-12.5"), (date(2026, 11, 25), "-99")):
            BillDay.objects.create(
                account=gamma,
                day=day,
                ccy="USDT",
                trading_fees=Decimal(fee),
                funding_fees=Decimal("-3"),
                interest=Decimal("-0.5"),
                trading_fees_usd=Decimal(fee),
                funding_fees_usd=Decimal("-3"),
                interest_usd=Decimal("-0.5"),
                bills=20,
            )
        html = signed_in(client).get(f"/accounts/{gamma.pk}/", {"pnl": "24h"}).content.decode()
    block = html[html.index('id="pnl-breakdown"') : html.index('id="account-flows"')]
    lines = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num[^"]*">([^<]+)</td></tr>', block))
    assert lines == {
        "trading fees": "\u221212.50",
        "funding fees": "\u22123.00",
        "interest": "\u22120.50",
        "the rest (trading and price moves)": "\u2212984.00",
    }
    assert 'id="breakdown-rest"' not in block
    assert "UTC days 2026-11-24 to 2026-11-24," in block
    assert "The PnL runs from 2026-11-24 00:00 to 2026-11-25 00:00 (UTC)." in block


def test_the_account_page_costs_the_same_queries_for_a_day_or_a_year_of_history(client):
    """The six periods, the chart and the calendar read the account's rows once: a year of
    history (a reading a day, then hourly for 90 days) costs the queries a day does."""
    signed_in(client)
    now = timezone.now()
    counts = []
    for name, times in (
        ("fresh", [now - timedelta(hours=h) for h in (20, 10, 1)]),
        (
            "seasoned",
            [now - timedelta(days=d) for d in range(365, 90, -1)]
            + [now - timedelta(hours=h) for h in range(90 * 24, 0, -1)],
        ),
    ):
        account = make_account(name)
        give_key(account)
        Snapshot.objects.bulk_create(
            Snapshot(
                account=account,
                cycle=n,
                taken_at=when,
                total_equity_usd=Decimal(1000 + n),
                trading_equity_usd=Decimal(1000 + n),
                funding_usd=Decimal(0),
            )
            for n, when in enumerate(times)
        )
        stored_flow(account, FlowKind.DEPOSIT, "5", now - timedelta(hours=2), f"q-{name}", state="2")
        client.get(f"/accounts/{account.pk}/", {"pnl": "ytd"})
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/accounts/{account.pk}/", {"pnl": "ytd"})
        assert response.status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_the_team_return_of_the_first_day_is_the_same_on_the_overview_and_in_the_api(client):
    """Two accounts first read 13 minutes ago and again a minute ago: -546.90 on 841,000 is
    -0.065 %, shown as -0.07% on the overview and given as such by the API."""
    now = timezone.now()
    for name, first, latest in (("alpha", "800000", "799500.10"), ("beta", "41000", "40953.00")):
        account = make_account(name)
        give_key(account)
        snap(account, first, at=now - timedelta(minutes=13))
        snap(account, latest, at=now - timedelta(minutes=1))
    html = signed_in(client).get(OVERVIEW).content.decode()
    cell = re.search(r'id="team-pnl-24h"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert " ".join(re.sub(r"<[^>]+>", " ", cell).split()).startswith("\u2212546.90 \u22120.07%")
    body = client_as(client, "viewer", token=True).get(reverse("api:pnl")).json()
    assert Decimal(body["team"]["return_pct"]).quantize(Decimal("0.001")) == Decimal("-0.065")


def test_the_pnl_period_is_chosen_and_kept_with_the_chart_range(client, team):
    signed_in(client)
    html = client.get(f"/accounts/{team['gamma'].pk}/", {"pnl": "24h", "range": "7d"}).content.decode()
    assert "Cumulative PnL (USD), last 24 hours" in html
    assert 'href="?range=1d&amp;pnl=24h"' in html  # the equity range links keep the PnL period
    assert 'href="?range=7d&amp;pnl=30d#pnl"' in html  # and the other way round
    response = client.get(f"/accounts/{team['gamma'].pk}/", {"pnl": "forever"})
    assert response.status_code == 400
    assert "Unknown PnL period. Use pnl= one of: today, 24h, 7d, 30d, mtd, ytd." in response.content.decode()


# -- the Transfers page ---------------------------------------------------------------------------
def test_the_transfers_page_lists_every_flow_and_filters_them(client, team):
    signed_in(client)
    html = client.get(TRANSFERS).content.decode()
    assert html.count('data-okx-id="900001"') == 2
    assert '<a href="/transfers/" class="current" aria-current="page">Transfers</a>' in html
    html = client.get(TRANSFERS, {"account": team["beta"].pk}).content.decode()
    assert html.count('data-okx-id="900001"') == 1 and "+10,000.00 USDT" in html
    html = client.get(TRANSFERS, {"kind": "transfer_out", "period": "24h"}).content.decode()
    assert html.count('data-kind="transfer_out"') == 1 and 'data-kind="transfer_in"' not in html
    last_week = (timezone.localdate() - timedelta(days=8)).isoformat()
    html = client.get(TRANSFERS, {"period": "custom", "start": last_week, "end": last_week}).content.decode()
    assert "No flows match these filters." in html


def test_a_period_says_that_flows_before_an_accounts_first_reading_are_not_in_its_pnl(client, team):
    html = signed_in(client).get(TRANSFERS, {"period": "7d"}).content.decode()
    note = " ".join(unescape(re.search(r'id="period-note">(.*?)</p>', html, re.S).group(1)).split())
    assert note.endswith(
        "Flows before an account's first reading are listed but are not in its PnL, which starts at "
        "that reading."
    )


def test_the_transfers_page_shows_unpriced_and_pending_flows_as_such(client, team):
    now = timezone.now()
    stored_flow(
        team["gamma"],
        FlowKind.DEPOSIT,
        "0.5",
        now - timedelta(hours=3),
        "dep-7",
        usd=None,
        ccy="ZZZ",
        usd_basis="no USD price for ZZZ",
        state="0",
        counts=False,
    )
    html = signed_in(client).get(TRANSFERS).content.decode()
    row = re.search(r'<tr data-kind="deposit" data-okx-id="dep-7"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert '— <span class="muted unknown">no USD price for ZZZ</span>' in row
    assert "waiting for confirmation" in row and "not counted" in row and "outside OKX" in row


def test_the_transfers_page_is_paginated(client, team):
    start = timezone.now() - timedelta(days=2)
    for i in range(55):
        stored_flow(team["delta"], FlowKind.TRANSFER_IN, "1", start + timedelta(minutes=i), f"p{i}")
    signed_in(client)
    first = client.get(TRANSFERS).content.decode()
    assert first.count("data-okx-id=") == 50 and "57 flows · page 1 of 2" in first
    second = client.get(TRANSFERS, {"page": 2}).content.decode()
    assert second.count("data-okx-id=") == 7


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"kind": "gift"}, "Select a valid choice. gift is not one of the available choices."),
        ({"period": "forever"}, "Select a valid choice. forever is not one of the available choices."),
        ({"period": "custom", "start": "2026-11-01"}, "A custom period needs both a start and an end date."),
        (
            {"start": "2026-11-20", "end": "2026-11-01"},
            "The start date 2026-11-20 is after the end date 2026-11-01.",
        ),
        ({"period": "7d", "start": "2026-11-01", "end": "2026-11-02"}, "only for the custom period"),
        ({"start": "2026-13-01", "end": "2026-11-02"}, "Enter a valid date."),
        ({"start": "9999-12-31", "end": "9999-12-31"}, "Enter a date from 0001-01-02 to 9999-12-30."),
        ({"account": "abc"}, "Select a valid choice."),
    ],
)
def test_bad_filters_get_400_with_a_message(client, team, query, message):
    signed_in(client)
    response = client.get(TRANSFERS, query)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    response = client.get(TRANSFERS_CSV, query)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")


def test_the_csv_has_the_rows_and_guards_a_formula_in_an_account_name(client, team):
    hostile = make_account('=HYPERLINK("http://evil.example","x")')
    stored_flow(
        hostile,
        FlowKind.DEPOSIT,
        "250",
        timezone.now() - timedelta(hours=1),
        "dep-1",
        state="2",
        counterparty_name="@SUM(1+1)",
    )
    response = signed_in(client).get(TRANSFERS_CSV)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="transfers-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 3
    deposit = next(r for r in rows if r["okx_id"] == "dep-1")
    assert deposit["account"] == '\'=HYPERLINK("http://evil.example","x")'
    assert deposit["counterparty"] == "'@SUM(1+1)"
    assert (deposit["kind"], deposit["amount"], deposit["ccy"], deposit["usd_value"]) == (
        "deposit",
        "250",
        "USDT",
        "250",
    )
    assert (deposit["state"], deposit["counted"]) == ("successful", "true")
    out = next(r for r in rows if r["kind"] == "transfer_out")
    assert (out["account"], out["amount"], out["counterparty"]) == ("alpha-desk", "-10000", "beta-sub")
    assert out["time_utc"].endswith("Z")
    # The same filters as the page.
    only = signed_in(client).get(TRANSFERS_CSV, {"account": team["beta"].pk}).content.decode()
    assert len(list(csv.DictReader(io.StringIO(only)))) == 1


# -- access ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [TRANSFERS, TRANSFERS_CSV, "/accounts/{pk}/"])
@pytest.mark.parametrize(("role", "expected"), [("stranger", 403), ("viewer", 200), ("operator", 200)])
def test_the_viewer_role_can_see_all_of_it(client, team, path, role, expected):
    response = signed_in(client, role).get(path.format(pk=team["alpha"].pk))
    assert response.status_code == expected


@pytest.mark.parametrize("path", [TRANSFERS, TRANSFERS_CSV])
def test_anonymous_visitors_are_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith(f"/login/?next={path}")
