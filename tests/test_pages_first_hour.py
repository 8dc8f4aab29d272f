"""Issue 18 items 4 and 11: the answers at a glance from the first hour. Charts open on a range
that has data, time labels are distinct (the two ends when readings are seconds apart), no chart
label prints over another (a flat chart has one), every change has an amount and a percentage
and says "since <first data>" when the history is shorter than its period, the account page has
the overview's change figures, and numbers read like numbers (2 places for USD, at most 8 for a
coin before OKX's precision is read: tests/test_number_precision.py; a sign on every change and
PnL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dashboard.pages.charts import line_chart, time_ticks
from snapshots import numbers
from snapshots.models import BalanceLine, Wallet
from tests.accounts_support import make_user
from tests.test_pages_queries import give_key, make_account, snap

UTC_ZONE = ZoneInfo("UTC")


def signed_in(client):
    client.force_login(make_user("viewer"))
    return client


def current_range(html: str) -> str:
    return re.search(r'class="current" aria-current="true">(\w+)<', html).group(1)


def kpi(html: str, kpi_id: str) -> tuple[str, str]:
    """(the figure, the line under it) of a change KPI, tags stripped."""
    value = re.search(rf'id="{kpi_id}">(.*?)</div>', html, re.S).group(1)
    basis = re.search(rf'id="{kpi_id}-basis">(.*?)</div>', html, re.S).group(1)
    return re.sub(r"<[^>]+>", "", value).strip(), re.sub(r"<[^>]+>", "", basis).strip()


# -- item 4: a range that has data -----------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(minutes=40), "1d"),
        (timedelta(days=3), "7d"),
        (timedelta(days=20), "30d"),
        (timedelta(days=45), "90d"),
        (timedelta(days=200), "all"),
    ],
)
def test_the_charts_open_on_the_shortest_range_that_holds_the_history(client, age, expected):
    now = timezone.now()
    account = make_account("Alpha")
    give_key(account)
    snap(account, "1000", at=now - age)
    snap(account, "1010", at=now - timedelta(seconds=30))
    signed_in(client)
    for path in ("/", f"/accounts/{account.pk}/"):
        html = client.get(path).content.decode()
        assert current_range(html) == expected, path
    # An explicit range still wins.
    assert current_range(client.get("/?range=30d").content.decode()) == "30d"


@pytest.mark.django_db
def test_on_day_one_the_chart_draws_a_line_not_one_dot(client):
    now = timezone.now()
    account = make_account("Alpha")
    give_key(account)
    for minutes, equity in ((50, "1000"), (30, "1005"), (10, "990"), (0, "1010")):
        snap(account, equity, at=now - timedelta(minutes=minutes))
    html = signed_in(client).get("/").content.decode()
    assert current_range(html) == "1d"
    assert "<polyline" in html and "The one value of this chart" not in html


# -- item 4: time labels -----------------------------------------------------------------------------
START = datetime(2026, 11, 29, 7, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "span",
    [
        timedelta(minutes=2),  # the first minutes: "07:10, 07:10, 07:12" before
        timedelta(minutes=50),
        timedelta(hours=5),
        timedelta(hours=23, minutes=50),
        timedelta(hours=26),
        timedelta(days=7),
        timedelta(days=30),
        timedelta(days=90),
        timedelta(days=800),
    ],
)
@pytest.mark.parametrize("most", [4, 8])
def test_time_labels_are_distinct_round_and_few(span, most):
    ticks = time_ticks(START, START + span, UTC_ZONE, most)
    labels = [label for _, label in ticks]
    assert 2 <= len(labels) <= most, labels
    assert len(set(labels)) == len(labels), labels
    assert all(START <= when <= START + span for when, _ in ticks)
    assert all(when.second == 0 for when, _ in ticks) or span < timedelta(minutes=3)


def test_the_first_minutes_get_labels_with_seconds_on_round_half_minutes():
    labels = [label for _, label in time_ticks(START, START + timedelta(minutes=2), UTC_ZONE, 8)]
    assert labels == ["07:10:30", "07:11:00", "07:11:30", "07:12:00"]
    labels = [label for _, label in time_ticks(START, START + timedelta(minutes=50), UTC_ZONE, 8)]
    assert labels == ["07:20", "07:30", "07:40", "07:50", "08:00"]


def test_a_day_long_axis_names_the_day_at_midnight_and_hours_elsewhere():
    ticks = time_ticks(START, START + timedelta(hours=23, minutes=50), UTC_ZONE, 8)
    labels = [label for _, label in ticks]
    assert "Nov 30" in labels
    assert all(re.fullmatch(r"\d\d:00|Nov 30", label) for label in labels), labels


def test_the_chart_draws_a_narrow_copy_for_phones_with_the_same_labels():
    points = [(START + timedelta(minutes=m), Decimal(1000 + m)) for m in range(0, 120, 5)]
    svg = str(line_chart(points, label="Equity"))
    wide, narrow = svg.split('<svg class="chart narrow"')
    assert 'viewBox="0 0 800 260"' in wide and 'viewBox="0 0 360 240"' in narrow
    assert "last / high 1,115.00 USD" in wide and "last / high 1,115.00 USD" in narrow
    axis = re.findall(r'class="axis" x="[\d.]+" y="244.0" text-anchor="\w+">([^<]+)<', wide)
    assert len(axis) == len(set(axis)) >= 2


def mark_labels(svg: str) -> list[tuple[float, float, str, str]]:
    """(x, y, text-anchor, text) of each high/low/last label of one drawing."""
    found = re.findall(
        r'<text class="mark-label \w+" x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)">([^<]+)<', svg
    )
    return [(float(x), float(y), anchor, text) for x, y, anchor, text in found]


def label_box(x: float, y: float, anchor: str, text: str) -> tuple[float, float, float, float]:
    """A generous box of 12-unit bold text: 7.5 units a character, 12 above the baseline, 4 below."""
    width = 7.5 * len(text)
    left = {"start": x, "end": x - width}.get(anchor, x - width / 2)
    return left, y - 12, left + width, y + 4


def assert_no_label_covers_another(svg: str) -> None:
    boxes = [label_box(*label) for label in mark_labels(svg)]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), mark_labels(svg)


def test_a_flat_chart_has_one_label_for_its_value_not_two_on_top_of_each_other():
    points = [(START + timedelta(minutes=m), Decimal("781484.87")) for m in range(0, 60, 5)]
    wide, narrow = str(line_chart(points, label="Equity")).split('<svg class="chart narrow"')
    for drawing in (wide, narrow):
        assert [text for *_, text in mark_labels(drawing)] == ["last / high / low 781,484.87 USD"]
    # A chart of means between two readings: the first reading joins the one label.
    means = str(line_chart(points, label="Equity", readings=frozenset({0, len(points) - 1})))
    assert [text for *_, text in mark_labels(means.split('<svg class="chart narrow"')[1])] == [
        "first / last / high / low 781,484.87 USD"
    ]


def test_a_high_reached_again_by_the_last_reading_is_one_label():
    values = ("781484.87", "781400.00", "781484.87")
    points = [(START + timedelta(hours=h), Decimal(v)) for h, v in enumerate(values)]
    narrow = str(line_chart(points, label="Equity")).split('<svg class="chart narrow"')[1]
    assert [text for *_, text in mark_labels(narrow)] == ["low 781,400.00 USD", "last / high 781,484.87 USD"]


def test_labels_at_one_height_at_both_ends_of_a_phone_chart_do_not_cover_each_other():
    # Means between two readings of the same value: "first" on the left, "last / high" on the
    # right, both at the top: on the 360-unit drawing they would overlap; one moves below.
    values = ("781484.87", "781300.00", "781420.00", "781484.87")
    points = [(START + timedelta(hours=h), Decimal(v)) for h, v in enumerate(values)]
    svg = str(line_chart(points, label="Equity", readings=frozenset({0, 3})))
    wide, narrow = svg.split('<svg class="chart narrow"')
    texts = [text for *_, text in mark_labels(narrow)]
    assert texts == ["first 781,484.87 USD", "low (mean) 781,300.00 USD", "last / high 781,484.87 USD"]
    assert_no_label_covers_another(wide)
    assert_no_label_covers_another(narrow)


def test_readings_seconds_apart_get_a_time_axis_of_their_two_ends():
    labels = [label for _, label in time_ticks(START, START + timedelta(seconds=6), UTC_ZONE, 8)]
    assert labels == ["07:10:12", "07:10:18"]  # no round 10 s between them
    points = [(START + timedelta(seconds=s), Decimal(1000 + s)) for s in (0, 3, 6)]
    for drawing in str(line_chart(points, label="Equity")).split('<svg class="chart narrow"'):
        bottom = "244.0" if 'viewBox="0 0 800 260"' in drawing else "226.0"
        axis = re.findall(rf'class="axis" x="[\d.]+" y="{bottom}" text-anchor="\w+">([^<]+)<', drawing)
        assert axis == ["07:10:12", "07:10:18"]


# -- item 4: changes with percentages, since the first data --------------------------------------------
@pytest.mark.django_db
def test_a_team_an_hour_old_shows_its_changes_since_the_first_data_with_percentages(client, settings):
    settings.DISPLAY_TIME_ZONE = "UTC"
    now = timezone.now()
    alpha, beta = make_account("Alpha"), make_account("Beta")
    for account in (alpha, beta):
        give_key(account)
    first = now - timedelta(minutes=58)
    snap(alpha, "1000", at=first)
    snap(alpha, "1100", at=now - timedelta(seconds=20))
    snap(beta, "3000", at=now - timedelta(minutes=50))
    snap(beta, "2900", at=now - timedelta(seconds=20))
    html = signed_in(client).get("/").content.decode()
    value, basis = kpi(html, "change-24h")
    assert value == "0.00 USD 0.00%"  # +100 and -100
    assert basis == f"since first data, {first:%Y-%m-%d %H:%M} (UTC): less than 24 h of history"
    value, basis = kpi(html, "change-7d")
    assert value == "0.00 USD 0.00%"
    assert "less than 7 d of history" in basis
    # Each row: the amount, the percentage, and since when.
    row = re.search(rf'data-account="{alpha.pk}">(.*?)</tr>', html, re.S).group(1)
    change = re.search(r'<td class="num change pos">(.*?)</td>', row, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", change).split() == ["+100.00", "+10.00%", "since", f"{first:%H:%M}"]


@pytest.mark.django_db
def test_the_account_page_has_the_overviews_change_figures(client):
    now = timezone.now()
    account = make_account("Alpha")
    give_key(account)
    snap(account, "2000", at=now - timedelta(days=8))
    snap(account, "1000", at=now - timedelta(days=1, minutes=5))
    snap(account, "1250", at=now - timedelta(seconds=20))
    signed_in(client)
    html = client.get(f"/accounts/{account.pk}/").content.decode()
    assert kpi(html, "account-change-24h") == ("+250.00 USD +25.00%", "against the equity 24 h ago")
    assert kpi(html, "account-change-7d") == ("\u2212750.00 USD \u221237.50%", "against the equity 7 d ago")
    overview = client.get("/").content.decode()
    assert kpi(overview, "change-24h")[0] == "+250.00 USD +25.00%"
    assert kpi(overview, "change-7d")[0] == "\u2212750.00 USD \u221237.50%"


@pytest.mark.django_db
def test_an_account_never_read_has_no_change_and_says_so(client):
    account = make_account("Empty")
    html = signed_in(client).get(f"/accounts/{account.pk}/").content.decode()
    assert kpi(html, "account-change-24h") == ("—", "no snapshot to compare with yet")
    assert current_range(html) == "1d"


# -- item 11: numbers for people ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "ccy", "sign", "expected"),
    [
        ("1234.5", "USD", False, "1,234.50"),
        ("1234.5", "USDT", False, "1,234.50"),
        ("0.00012300000000", "BTC", False, "0.000123"),
        ("0.123456789012", "BTC", False, "0.12345679"),
        ("2.000000000000000000", "ETH", False, "2"),
        ("12.5", "USD", True, "+12.50"),
        ("-5.5", "USD", True, "-5.50"),
        ("-0.001", "USD", True, "0.00"),
        ("0.00000001", "BTC", True, "+0.00000001"),
        (None, "BTC", False, "—"),
    ],
)
def test_amounts_have_the_places_of_their_currency_and_a_sign_on_changes(value, ccy, sign, expected):
    amount = None if value is None else Decimal(value)
    assert numbers.format_amount(amount, ccy, sign=sign) == expected


def test_percentages_carry_their_sign():
    assert numbers.format_percent(Decimal("0.0123")) == "+1.23%"
    assert numbers.format_percent(Decimal("-0.005")) == "-0.50%"
    assert numbers.format_percent(Decimal(0)) == "0.00%"
    assert numbers.format_percent(None) == "—"


@pytest.mark.django_db
def test_the_account_page_shows_btc_with_at_most_8_places_and_signed_pnl(client):
    account = make_account("Alpha")
    give_key(account)
    snapshot = snap(account, "1234.5", upls=("30", "-5.5"))
    BalanceLine.objects.create(
        snapshot=snapshot,
        wallet=Wallet.FUNDING,
        ccy="BTC",
        equity=Decimal("0.012345678912345678"),
        available=Decimal("0.01"),
        frozen=Decimal(0),
        usd_value=Decimal("1234.5678"),
    )
    html = signed_in(client).get(f"/accounts/{account.pk}/").content.decode()
    balances = html[html.index('id="balances"') : html.index("</table>", html.index('id="balances"'))]
    cells = re.search(r"<td>BTC</td>(.*?)</tr>", balances).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", cells) == ["0.01234568", "0.01", "0", "1,234.57"]
    assert "0.012345678912" not in html
    assert 'id="account-upl">+24.50 USD<' in html
    positions = html[html.index('id="positions"') :]
    assert "+30.00" in positions and "\u22125.50" in positions
