"""PnL net of cash flows from real rows (ledger/performance.py): Account, Snapshot and CashFlow
rows written directly, known answers a person can check by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, AccountKind, Environment
from ledger.models import FlowKind
from ledger.performance import (
    History,
    account_periods,
    account_pnl,
    daily_pnl,
    figures,
    pnl_series,
    team_pnl,
)
from ledger.pnl import MASTER_UNREAD, SUB_ACCOUNT_NOTE, Period, local_midnight, period
from snapshots.models import Snapshot
from tests.ledger_support import stored_flow
from tests.test_pages_queries import give_key, make_account, snap

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
DAY = date(2026, 11, 20)
MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _utc_and_frozen(settings):
    settings.DISPLAY_TIME_ZONE = "UTC"
    with time_machine.travel(NOW, tick=False):
        yield


def at(hours: float, day: datetime = MIDNIGHT) -> datetime:
    return day + timedelta(hours=hours)


def the_day() -> object:
    """20 November 2026 (the display zone's day), as a custom period."""
    return period("custom", NOW, start=DAY, end=DAY)


def readings(account: Account, *values: tuple[float, str], **fields) -> None:
    for hours, equity in values:
        snap(account, equity, at=at(hours), **fields)


@pytest.fixture
def team():
    master = make_account("alpha")
    sub = make_account("alpha-sub", kind=AccountKind.SUB, master=master, sub_acct_name="alphasub")
    return master, sub


def test_a_transfer_from_master_to_sub_is_no_profit_for_either_nor_for_the_team(team):
    master, sub = team
    readings(master, (0, "50000"), (11, "50000"), (13, "40000"), (24, "40000"))
    readings(sub, (0, "5000"), (11, "5000"), (13, "15000"), (24, "15000"))
    stored_flow(master, FlowKind.TRANSFER_OUT, "-10000", at(12), counterparty=sub)
    stored_flow(sub, FlowKind.TRANSFER_IN, "10000", at(12), counterparty=master)
    figures = account_pnl([master.pk, sub.pk], the_day())
    assert (figures[master.pk].pnl, figures[master.pk].net_inflow) == (0, Decimal(-10000))
    assert (figures[sub.pk].pnl, figures[sub.pk].net_inflow) == (0, Decimal(10000))
    assert figures[master.pk].return_pct == 0 == figures[sub.pk].return_pct
    assert SUB_ACCOUNT_NOTE in figures[sub.pk].notes
    assert SUB_ACCOUNT_NOTE not in figures[master.pk].notes
    whole = team_pnl(the_day())
    assert (whole.start_equity, whole.end_equity) == (Decimal(55000), Decimal(55000))
    assert (whole.pnl, whole.net_inflow, whole.return_pct) == (0, 0, 0)
    assert SUB_ACCOUNT_NOTE not in whole.notes  # transfers between the team's accounts cancel
    assert [(d.pnl, d.net_inflow, d.return_pct) for d in daily_pnl(None, DAY, DAY)] == [(0, 0, 0)]
    series = pnl_series(None, the_day())  # hourly for a day
    assert [t for t, _ in series] == [at(h) for h in range(25)]
    assert all(value == 0 for _, value in series)


def test_a_deposit_is_no_profit_and_shows_as_net_inflow(team):
    master, _ = team
    readings(master, (0, "20000"), (24, "25000"))
    stored_flow(master, FlowKind.DEPOSIT, "5000", at(9), state="2")
    figure = account_pnl([master.pk], the_day())[master.pk]
    assert (figure.pnl, figure.net_inflow, figure.return_pct) == (0, Decimal(5000), 0)
    assert team_pnl(the_day()).net_inflow == Decimal(5000)


def test_a_deposit_not_yet_credited_is_not_a_flow(team):
    master, _ = team
    readings(master, (0, "20000"), (24, "20000"))
    stored_flow(master, FlowKind.DEPOSIT, "5000", at(9), state="0", counts=False)
    assert account_pnl([master.pk], the_day())[master.pk].net_inflow == 0


def test_a_ten_percent_move_of_btc_is_ten_percent_of_the_btc_value(team):
    # 2 BTC at 50,000 plus 20,000 USDT; BTC rises 10 % to 55,000: equity 120,000 -> 130,000.
    master, _ = team
    readings(master, (0, str(2 * 50000 + 20000)), (24, str(2 * 55000 + 20000)))
    figure = account_pnl([master.pk], the_day())[master.pk]
    assert figure.pnl == Decimal("0.10") * 2 * 50000 == Decimal(10000)
    assert figure.return_pct.quantize(CENT) == Decimal("8.33")  # 10,000 / 120,000


def test_the_published_modified_dietz_example_to_the_cent(team):
    """https://fincyclopedia.net/investing/tutorials/modified-dietz-return-an-example: 500 to 600
    with a flow of 60 on day 25 of 30 (weight 5/30) is 7.84 %. One day is the sub-period here: a
    flow at 20:00 has the same weight, (24 - 20) / 24 = 5/30."""
    master, _ = team
    readings(master, (0, "500"), (24, "600"))
    stored_flow(master, FlowKind.DEPOSIT, "60", at(20), state="2")
    figure = account_pnl([master.pk], the_day())[master.pk]
    assert (figure.pnl, figure.net_inflow) == (Decimal(40), Decimal(60))
    assert figure.return_pct.quantize(CENT) == Decimal("7.84")
    assert figure.max_drawdown_pct == 0


def test_demo_accounts_stay_out_and_a_transfer_to_an_untracked_sub_leaves_the_team(team):
    master, _ = team
    readings(master, (0, "50000"), (24, "40000"))
    stored_flow(master, FlowKind.TRANSFER_OUT, "-10000", at(12), counterparty_name="not-on-the-dashboard")
    demo = make_account("paper", environment=Environment.DEMO)
    readings(demo, (0, "100000"), (24, "150000"))
    assert account_pnl([master.pk], the_day())[master.pk].pnl == 0
    assert account_pnl([demo.pk], the_day())[demo.pk].pnl == Decimal(50000)  # its own figure stands
    whole = team_pnl(the_day())
    assert (whole.end_equity, whole.pnl, whole.net_inflow) == (Decimal(40000), 0, Decimal(-10000))


def test_a_transfer_to_an_inactive_account_leaves_the_team(team):
    master, sub = team
    Account.objects.filter(pk=sub.pk).update(active=False)
    readings(master, (0, "50000"), (24, "40000"))
    readings(sub, (0, "0"), (24, "10000"))
    stored_flow(master, FlowKind.TRANSFER_OUT, "-10000", at(12), counterparty=sub)
    stored_flow(sub, FlowKind.TRANSFER_IN, "10000", at(12), counterparty=master)
    whole = team_pnl(the_day())
    assert (whole.pnl, whole.net_inflow) == (0, Decimal(-10000))


def test_today_starts_at_midnight_in_the_display_zone(settings, team):
    settings.DISPLAY_TIME_ZONE = "Asia/Tokyo"  # UTC+9: 25 November begins at 24 November 15:00 UTC
    master, _ = team
    tokyo_midnight = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    for hours, equity in ((-1, "1000"), (0, "1100"), (1, "1200"), (17, "1300")):
        snap(master, equity, at=tokyo_midnight + timedelta(hours=hours))
    figure = account_pnl([master.pk], period("today", NOW))[master.pk]
    assert figure.started_at == tokyo_midnight
    assert (figure.start_equity, figure.end_equity, figure.pnl) == (
        Decimal(1100),
        Decimal(1300),
        Decimal(200),
    )
    # Month and year to date start before the first reading: since it, and they say so.
    month = account_pnl([master.pk], period("mtd", NOW))[master.pk]
    assert (month.start_equity, month.pnl) == (Decimal(1000), Decimal(300))
    assert month.notes == ("since the first reading, 2026-11-24 23:00",)  # Tokyo time


def test_a_flow_without_usd_value_makes_the_pnl_unknown_never_zero(team):
    master, _ = team
    readings(master, (0, "1000"), (24, "2000"))
    stored_flow(
        master, FlowKind.DEPOSIT, "1", at(5), usd=None, ccy="XYZ", state="2", usd_basis="no USD price for XYZ"
    )
    figure = account_pnl([master.pk], the_day())[master.pk]
    assert (figure.pnl, figure.net_inflow, figure.return_pct) == (None, None, None)
    assert figure.unknown_reason == "a cash flow has no USD value (no USD price for XYZ)"
    whole = team_pnl(the_day())
    assert whole.pnl is None
    assert whole.unknown_reason == "alpha: a cash flow has no USD value (no USD price for XYZ)"


def test_an_account_never_read_is_unknown_and_left_out_of_the_team(team):
    master, sub = team
    readings(master, (0, "1000"), (24, "1100"))
    figures = account_pnl([master.pk, sub.pk], the_day())
    assert (figures[sub.pk].pnl, figures[sub.pk].unknown_reason) == (None, "never read")
    whole = team_pnl(the_day())
    assert whole.pnl == Decimal(100)
    assert "leaves out alpha-sub (never read)" in whole.notes


def test_earn_missing_at_one_end_compares_like_with_like(team):
    master, _ = team
    snap(master, "1500", at=at(0), earn_usd=Decimal(500))
    snap(master, "1100", at=at(24), earn_unread="rate limit")  # Earn not read: not in the total
    figure = account_pnl([master.pk], the_day())[master.pk]
    assert (figure.start_equity, figure.end_equity, figure.pnl) == (
        Decimal(1000),
        Decimal(1100),
        Decimal(100),
    )
    assert "without Earn" in figure.notes


def test_the_calendar_the_time_weighted_return_and_the_drawdown_over_three_days(team):
    # Daily returns +20 %, -25 %, +10 % (the third day after a 10 deposit at its start):
    # TWR 1.2 x 0.75 x 1.1 - 1 = -1 %; the index 1, 1.2, 0.9, 0.99 fell 25 % from its high.
    master, _ = team
    readings(master, (0, "100"), (24, "120"), (48, "90"), (72, "110"))
    stored_flow(master, FlowKind.DEPOSIT, "10", at(48, MIDNIGHT) + timedelta(seconds=1), state="2")
    days = daily_pnl(master.pk, DAY, DAY + timedelta(days=2))
    assert [d.day for d in days] == [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert [d.pnl for d in days] == [Decimal(20), Decimal(-30), Decimal(10)]
    assert [d.net_inflow for d in days] == [0, 0, Decimal(10)]
    assert [d.return_pct.quantize(CENT) for d in days] == [
        Decimal("20.00"),
        Decimal("-25.00"),
        Decimal("10.00"),
    ]
    three = period("custom", NOW, start=DAY, end=DAY + timedelta(days=2))
    figure = account_pnl([master.pk], three)[master.pk]
    assert (figure.pnl, figure.net_inflow) == (Decimal(0), Decimal(10))
    assert figure.return_pct.quantize(CENT) == Decimal("-1.00")
    assert figure.max_drawdown_pct.quantize(CENT) == Decimal("25.00")
    # The chart: 0 at the start, the cumulative PnL each hour (three days are hourly), ending on
    # the period's figure.
    series = pnl_series(master.pk, three)
    assert [t for t, _ in series] == [at(h) for h in range(73)]
    points = dict(series)
    assert [points[at(h)] for h in (0, 23, 24, 47, 48, 72)] == [0, 0, 20, 20, -10, 0]
    # A day before the first reading is unknown, never 0.
    before = daily_pnl(master.pk, DAY - timedelta(days=1), DAY - timedelta(days=1))
    assert (before[0].pnl, before[0].unknown_reason) == (None, "no reading yet")


def _queries(ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as captured:
        account_pnl(ids, period("7d", NOW))
    return len(captured.captured_queries)


def test_the_query_count_does_not_grow_with_the_number_of_accounts(django_assert_max_num_queries):
    accounts = [make_account(f"acct-{n:02d}") for n in range(30)]
    for n, account in enumerate(accounts):
        snap(account, "1000", at=NOW - timedelta(days=8))
        snap(account, str(1000 + n), at=NOW - timedelta(minutes=1))
        stored_flow(account, FlowKind.DEPOSIT, "5", NOW - timedelta(days=3), state="2")
    few, many = _queries([a.pk for a in accounts[:3]]), _queries([a.pk for a in accounts])
    assert few == many
    with django_assert_max_num_queries(3):  # accounts, the 9 boundaries' readings, the flows
        figures = account_pnl([a.pk for a in accounts], period("7d", NOW))
    assert figures[accounts[29].pk].pnl == Decimal(29 - 5)


def test_a_long_period_costs_only_the_days_that_have_readings(team, django_assert_max_num_queries):
    """Two years back from today, readings only on the last few days: the days before the first
    reading are not asked for, so the figures cost what a week does, and match the three days'."""
    master, _ = team
    readings(master, (0, "100"), (24, "120"), (48, "90"), (72, "110"))
    stored_flow(master, FlowKind.DEPOSIT, "10", at(48, MIDNIGHT) + timedelta(seconds=1), state="2")
    two_years = period("custom", NOW, start=date(2024, 11, 24), end=date(2026, 11, 22))
    with django_assert_max_num_queries(3):  # accounts, the readings at 6 boundaries, the flows
        figure = account_pnl([master.pk], two_years)[master.pk]
    assert (figure.pnl, figure.net_inflow, figure.started_at) == (0, Decimal(10), at(0))
    assert figure.return_pct.quantize(CENT) == Decimal("-1.00")
    assert figure.max_drawdown_pct.quantize(CENT) == Decimal("25.00")
    assert figure.notes == ("since the first reading, 2026-11-20 00:00",)
    with django_assert_max_num_queries(3):
        whole = team_pnl(two_years)
    assert whole.return_pct == figure.return_pct
    with django_assert_max_num_queries(3):
        days = daily_pnl(master.pk, date(2024, 11, 24), DAY + timedelta(days=2))
    assert len(days) == (DAY + timedelta(days=2) - date(2024, 11, 24)).days + 1
    assert {d.unknown_reason for d in days[:-3]} == {"no reading yet"}
    assert [d.pnl for d in days[-3:]] == [Decimal(20), Decimal(-30), Decimal(10)]
    with django_assert_max_num_queries(3):
        series = pnl_series(master.pk, two_years)
    assert series[-1] == (two_years.end, 0)
    assert [t for t, _ in series] == [at(h) for h in range(73)]  # from the first reading, hourly


def test_a_custom_period_longer_than_two_years_is_refused():
    with pytest.raises(ValueError, match="a custom period is at most 732 days"):
        period("custom", NOW, start=date(1990, 1, 1), end=date(2026, 1, 1))


@pytest.mark.parametrize("master_state", ["keyless", "inactive", "absent"])
def test_a_sub_account_whose_master_is_not_read_has_an_unknown_pnl_and_so_has_the_team(team, master_state):
    """The sub-account's transfers with its master come only from the master's history, read with
    the master's key: without it, a 3,000 transfer to the master would show as a loss of 3,000."""
    master, sub = team
    give_key(sub)
    if master_state == "inactive":
        give_key(master)
        Account.objects.filter(pk=master.pk).update(active=False)
    elif master_state == "absent":
        Account.objects.filter(pk=sub.pk).update(master=None, sub_acct_name="")
    readings(master, (0, "50000"), (24, "53000"))
    readings(sub, (0, "30000"), (24, "27000"))  # 3,000 moved to the master: no row of it here
    figure = account_pnl([sub.pk], the_day())[sub.pk]
    assert (figure.pnl, figure.net_inflow, figure.return_pct) == (None, None, None)
    assert figure.unknown_reason == MASTER_UNREAD
    assert (figure.start_equity, figure.end_equity) == (Decimal(30000), Decimal(27000))
    assert team_pnl(the_day()).unknown_reason == f"alpha-sub: {MASTER_UNREAD}"
    assert [(d.pnl, d.unknown_reason) for d in daily_pnl(sub.pk, DAY, DAY)] == [(None, MASTER_UNREAD)]
    assert pnl_series(sub.pk, the_day()) == []


def test_a_sub_account_whose_master_is_read_with_its_key_has_a_pnl(team):
    master, sub = team
    give_key(master)
    give_key(sub)
    readings(master, (0, "50000"), (24, "53000"))
    readings(sub, (0, "30000"), (24, "27000"))
    stored_flow(master, FlowKind.TRANSFER_IN, "3000", at(12), counterparty=sub)
    stored_flow(sub, FlowKind.TRANSFER_OUT, "-3000", at(12), counterparty=master)
    assert account_pnl([sub.pk], the_day())[sub.pk].pnl == 0
    assert team_pnl(the_day()).pnl == 0


def test_a_start_reading_days_before_the_period_is_its_real_time_with_a_note(team):
    """Readings three days and one minute before now, nothing between: the 24 hours count from the
    reading of three days ago; the figure says so instead of passing it off as the period's start."""
    master, _ = team
    snap(master, "100000", at=NOW - timedelta(days=3))
    snap(master, "90000", at=NOW - timedelta(minutes=1))
    figure = account_pnl([master.pk], period("24h", NOW))[master.pk]
    assert (figure.pnl, figure.started_at, figure.starts_early) == (
        Decimal(-10000),
        NOW - timedelta(days=3),
        True,
    )
    assert figure.notes == ("from the reading of 2026-11-22 09:00 (none nearer the period's start)",)
    team_notes = team_pnl(period("24h", NOW)).notes
    assert "alpha: from the reading of 2026-11-22 09:00 (none nearer the period's start)" in team_notes
    snap(master, "95000", at=NOW - timedelta(hours=24, minutes=20))  # a reading 20 minutes before it
    figure = account_pnl([master.pk], period("24h", NOW))[master.pk]
    assert (figure.pnl, figure.started_at, figure.notes) == (
        Decimal(-5000),
        NOW - timedelta(hours=24, minutes=20),
        (),
    )


def test_the_team_first_read_today_has_the_return_of_one_account_holding_it_all(team):
    """The demo's first refresh: both accounts first read 13 minutes ago, seconds apart, and
    again a minute ago; -546.90 on 841,000 is about -0.065 % (never the -3 % a few minutes'
    share of the day as capital made of it), and the calendar's day says the same."""
    master, sub = team
    snap(master, "800000", at=NOW - timedelta(minutes=13))
    snap(sub, "41000", at=NOW - timedelta(minutes=13))
    snap(master, "799500.10", at=NOW - timedelta(minutes=1))
    snap(sub, "40953.00", at=NOW - timedelta(minutes=1))
    whole = team_pnl(period("24h", NOW))
    assert whole.pnl == Decimal("-546.90")
    assert whole.return_pct.quantize(Decimal("1e-12")) == (Decimal("-546.90") / 841000 * 100).quantize(
        Decimal("1e-12")
    )
    assert whole.return_pct.quantize(Decimal("0.001")) == Decimal("-0.065")
    assert team_pnl(period("7d", NOW)).return_pct == whole.return_pct
    [today] = daily_pnl(None, NOW.date(), NOW.date())
    assert today.pnl == whole.pnl
    assert today.return_pct.quantize(Decimal("1e-12")) == whole.return_pct.quantize(Decimal("1e-12"))


def test_the_chart_of_the_first_day_starts_at_zero_and_has_a_point_each_hour(team):
    """First read at 06:32; 7 days back hold no earlier reading: the chart starts at 0 at 06:32,
    then the PnL at 07:00, 08:00 and 09:00 (now), not one dot at the period's end."""
    master, _ = team
    for when, equity in (("06:32", "1000"), ("07:10", "1010"), ("08:05", "990"), ("08:59", "1005")):
        hours, minutes = map(int, when.split(":"))
        snap(master, equity, at=NOW.replace(hour=hours, minute=minutes))
    assert pnl_series(master.pk, period("7d", NOW)) == [
        (NOW.replace(hour=6, minute=32), 0),
        (NOW.replace(hour=7), 0),  # the reading at or before 07:00 is the first one
        (NOW.replace(hour=8), Decimal(10)),
        (NOW.replace(hour=9), Decimal(5)),
    ]
    # A period the account was read before: 0 at the period's start.
    assert pnl_series(master.pk, period("custom", NOW, start=NOW.date(), end=NOW.date()))[0] == (
        NOW.replace(hour=6, minute=32),
        0,
    )
    later = Period("custom", NOW.replace(hour=7, minute=30), NOW, "since 07:30")
    assert pnl_series(master.pk, later) == [
        (later.start, 0),
        (NOW.replace(hour=8), Decimal(0)),  # 1,010 at 07:10 is the start's reading
        (NOW.replace(hour=9), Decimal(-5)),
    ]


def a_year_of_history(account: Account) -> None:
    """Readings as retention keeps them: daily from a year back, hourly from 90 days, every 10
    minutes for the last 7 days; the equity climbs 1 USD a reading; a deposit every 9 days."""
    times = [NOW - timedelta(days=d) for d in range(365, 90, -1)]
    times += [NOW - timedelta(hours=h) for h in range(90 * 24, 7 * 24, -1)]
    times += [NOW - timedelta(minutes=m) for m in range(7 * 24 * 60, 0, -10)]
    Snapshot.objects.bulk_create(
        Snapshot(
            account=account,
            cycle=n,
            taken_at=when,
            total_equity_usd=Decimal(100000 + n),
            trading_equity_usd=Decimal(100000 + n),
            funding_usd=Decimal(0),
        )
        for n, when in enumerate(times)
    )
    for d in range(1, 365, 9):
        stored_flow(account, FlowKind.DEPOSIT, "250", NOW - timedelta(days=d, minutes=7), state="2")


def test_the_periods_of_one_account_from_one_read_match_account_pnl(team, django_assert_max_num_queries):
    master, _ = team
    a_year_of_history(master)
    periods = [period(key, NOW) for key in ("today", "24h", "7d", "30d", "mtd", "ytd")]
    periods.append(period("custom", NOW, start=date(2025, 11, 1), end=date(2026, 11, 25)))
    with django_assert_max_num_queries(3):  # the account, its readings, its flows
        found = account_periods(master.pk, periods)
    for p in periods:
        assert found[p.key] == account_pnl([master.pk], p)[master.pk]
    assert found["ytd"].net_inflow == Decimal(250) * 37  # the deposits since 1 January
    with django_assert_max_num_queries(3):
        assert account_periods(master.pk, [period("24h", NOW)])["24h"] == found["24h"]
    history = History.read(master.pk, period("custom", NOW, start=date(2026, 10, 19), end=DAY).start)
    assert history.daily(date(2026, 10, 19), NOW.date()) == daily_pnl(
        master.pk, date(2026, 10, 19), NOW.date()
    )
    assert history.series(periods[3]) == pnl_series(master.pk, periods[3])
    with pytest.raises(ValueError, match="the history is read from"):
        history.pnl(periods[-1])


def test_the_overviews_figures_at_once_match_each_accounts_and_each_teams(
    team, django_assert_max_num_queries
):
    """figures(), the warm-pnl task's work: every active account's PnL as account_pnl gives it,
    and the team's and a smaller team's (a desk's accounts) as team_pnl and daily_pnl give them
    over those accounts, all from one read of each period's boundary readings."""
    master, sub = team
    a_year_of_history(master)
    readings(sub, (0, "5000"), (30, "4000"), (80, "4500"))
    stored_flow(master, FlowKind.TRANSFER_OUT, "-1000", at(20), counterparty=sub)
    stored_flow(sub, FlowKind.TRANSFER_IN, "1000", at(20), counterparty=master)
    late = make_account("late")  # first read yesterday: its calendar starts then
    snap(late, "700", at=NOW - timedelta(hours=20))
    snap(late, "800", at=NOW - timedelta(hours=1))
    demo = make_account("paper", environment=Environment.DEMO)
    readings(demo, (0, "100"), (24, "150"))
    never = make_account("never-read")
    spans = [period("24h", NOW), period("7d", NOW)]
    first, last = NOW.date() - timedelta(days=30), NOW.date()
    with django_assert_max_num_queries(10):  # accounts, 2 teams, 2 x (readings, flows), calendar 2 + flows
        per_account, (whole, desk) = figures(spans, [None, {sub.pk, late.pk, demo.pk}], first, last)
    assert (whole.ids, desk.ids) == (tuple(sorted([master.pk, sub.pk, late.pk, never.pk])), (sub.pk, late.pk))
    ids = [master.pk, sub.pk, late.pk, demo.pk, never.pk]
    for span in spans:
        assert per_account[span.key] == account_pnl(ids, span)
        assert whole.pnl[span.key] == team_pnl(span)
    assert whole.days == daily_pnl(None, first, last)
    # The desk's figures are the team's of its two accounts (demo trading is in no team).
    Account.objects.exclude(pk__in=desk.ids).update(active=False)
    for span in spans:
        assert desk.pnl[span.key] == team_pnl(span)
    assert desk.days == daily_pnl(None, first, last)
    assert desk.days[-2].pnl is not None and desk.days[0].unknown_reason == "no reading yet"


def test_one_read_gives_every_figure_at_an_odd_moment_in_a_half_hour_zone(
    team, settings, django_assert_max_num_queries
):
    """History reads each quarter hour's first and last reading and those at the periods' own
    moments: at 09:17:23 UTC in Asia/Kolkata (midnights at 18:30 UTC), over readings 67 s apart
    for 8 days (a few a quarter hour) and deposits at odd times, its figures are those of
    account_pnl, daily_pnl and pnl_series, from four queries."""
    settings.DISPLAY_TIME_ZONE = "Asia/Kolkata"
    now = NOW + timedelta(minutes=17, seconds=23)
    master, _ = team
    times = [now - timedelta(seconds=67 * n + 11) for n in range(8 * 86400 // 67, 0, -1)]
    Snapshot.objects.bulk_create(
        Snapshot(
            account=master,
            cycle=n,
            taken_at=when,
            total_equity_usd=Decimal(100000 + n % 97 - n % 13),
            trading_equity_usd=Decimal(100000),
            funding_usd=Decimal(0),
        )
        for n, when in enumerate(times)
    )
    for d in (1, 3, 6):
        stored_flow(
            master, FlowKind.DEPOSIT, "250", now - timedelta(days=d, minutes=d * 7, seconds=5), state="2"
        )
    with time_machine.travel(now, tick=False):
        periods = [period(key, now) for key in ("today", "24h", "7d", "30d", "mtd")]
        first, last = now.date() - timedelta(days=12), now.date()
        since = min(local_midnight(first, ZoneInfo("Asia/Kolkata")), *(p.start for p in periods))
        with django_assert_max_num_queries(4):  # the account, its readings, at the moments, its flows
            history = History.read(master.pk, since, [t for p in periods for t in (p.start, p.end)])
            found = {p.key: history.pnl(p) for p in periods}
            days = history.daily(first, last)
            series = history.series(periods[2])
        assert len(history.readings) < len(times) / 5
        for p in periods:
            assert found[p.key] == account_pnl([master.pk], p)[master.pk]
        assert days == daily_pnl(master.pk, first, last)
        assert series == pnl_series(master.pk, periods[2])
        # A boundary off the quarter hours that no moment named: read when asked, the same figure.
        odd = Period("custom", now - timedelta(hours=5, seconds=7), now - timedelta(minutes=3), "odd")
        assert history.pnl(odd) == account_pnl([master.pk], odd)[master.pk]
