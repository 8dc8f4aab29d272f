"""The PnL arithmetic (ledger/pnl.py), against published worked examples and known answers.

No database: the formulas, the periods in the display zone and the day splitting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ledger.pnl import (
    MASTER_UNREAD,
    MAX_CUSTOM_DAYS,
    Flow,
    Reading,
    Track,
    chain,
    day_bounds,
    dietz_parts,
    figure,
    index_path,
    max_drawdown,
    modified_dietz,
    period,
    span,
)

CENT = Decimal("0.01")
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def pct(fraction: Decimal | None) -> Decimal:
    assert fraction is not None
    return (fraction * 100).quantize(CENT)


# -- Modified Dietz: published worked examples ---------------------------------------------------


def test_the_wikipedia_modified_dietz_example_gives_120_percent():
    """https://en.wikipedia.org/wiki/Modified_Dietz_method, "Example": a portfolio worth $100 at the
    beginning of the first year and $300 at the end of the second, with an inflow of $50 at the
    end of the first year (two years of equal length): gain 300 - 100 - 50 = 150, average capital
    100 + 50 x 1/2 = 125, return 150 / 125 = 120 %."""
    start, end = utc(2001, 1, 1), utc(2003, 1, 1)  # 2001 and 2002: 365 days each
    flows = [(utc(2002, 1, 1), Decimal(50))]
    assert dietz_parts(Decimal(100), Decimal(300), flows, start, end) == (Decimal(150), Decimal(125))
    assert modified_dietz(Decimal(100), Decimal(300), flows, start, end) == Decimal("1.2")


def test_the_fincyclopedia_example_gives_7_84_percent():
    """https://fincyclopedia.net/investing/tutorials/modified-dietz-return-an-example: beginning
    and end values $500 and $600, a cash flow of $60 on the 25th of a 30-day month: adjustment
    factor (30 - 25) / 30, adjusted flow $10, return (600 - 500 - 60) / (500 + 10) = 7.84 %."""
    start = utc(2026, 4, 1)  # April: 30 days
    flows = [(start + timedelta(days=25), Decimal(60))]
    gain, capital = dietz_parts(Decimal(500), Decimal(600), flows, start, utc(2026, 5, 1))
    assert (gain, capital) == (Decimal(40), Decimal(510))
    assert pct(modified_dietz(Decimal(500), Decimal(600), flows, start, utc(2026, 5, 1))) == Decimal("7.84")


def test_a_flow_at_the_start_counts_fully_and_one_at_the_end_not_at_all():
    t0, t1 = utc(2026, 1, 1), utc(2026, 1, 2)
    assert dietz_parts(Decimal(100), Decimal(200), [(t0, Decimal(50))], t0, t1)[1] == Decimal(150)
    assert dietz_parts(Decimal(100), Decimal(200), [(t1, Decimal(50))], t0, t1)[1] == Decimal(100)


def test_no_return_when_the_average_capital_is_zero_or_below():
    t0, t1 = utc(2026, 1, 1), utc(2026, 1, 2)
    assert modified_dietz(Decimal(0), Decimal(10), [], t0, t1) is None
    # Everything withdrawn at the start: the average capital is 100 - 100 = 0.
    assert modified_dietz(Decimal(100), Decimal(0), [(t0, Decimal(-100))], t0, t1) is None
    with pytest.raises(ValueError, match="must end after it starts"):
        dietz_parts(Decimal(1), Decimal(1), [], t1, t0)


# -- Chain-linking and drawdown --------------------------------------------------------------------


def test_chain_linking_matches_the_published_examples():
    """https://en.wikipedia.org/wiki/Time-weighted_return (linked rates): 4 %, 9 %, 5 % and 11 %
    link to 1.04 x 1.09 x 1.05 x 1.11 - 1 = 32.12 %. Investopedia's time-weighted return
    (https://www.investopedia.com/terms/t/time-weightedror.asp): (1 + 16.25 %) x (1 - 5.56 %) - 1
    = 9.79 %."""
    assert pct(chain([Decimal("0.04"), Decimal("0.09"), Decimal("0.05"), Decimal("0.11")])) == Decimal(
        "32.12"
    )
    assert pct(chain([Decimal("0.1625"), Decimal("-0.0556")])) == Decimal("9.79")
    assert chain([]) == 0
    assert chain([Decimal("0.1"), None]) is None


def test_max_drawdown_of_a_known_index_path():
    # 100 -> 120 (peak) -> 90 -> 110 -> 60 (trough: half the peak) -> 130.
    path = [Decimal(v) for v in (100, 120, 90, 110, 60, 130)]
    assert max_drawdown(path) == Decimal("0.5")
    assert max_drawdown([Decimal(v) for v in (1, 2, 3)]) == 0
    assert max_drawdown([]) == 0
    # +20 %, -25 %, +10 %: the index 1, 1.2, 0.9, 0.99 fell 25 % from its high; TWR -1 %.
    returns = [Decimal("0.2"), Decimal("-0.25"), Decimal("0.1")]
    assert index_path(returns) == [Decimal(1), Decimal("1.2"), Decimal("0.9"), Decimal("0.99")]
    assert max_drawdown(index_path(returns)) == Decimal("0.25")
    assert pct(chain(returns)) == Decimal("-1.00")


# -- Periods in the display zone -------------------------------------------------------------------


def test_today_month_and_year_to_date_start_at_midnight_in_the_display_zone():
    now = utc(2026, 3, 1, 2, 0)  # 11:00 on 1 March in Tokyo; 21:00 on 28 February in New York
    tokyo = {key: period(key, now, zone=TOKYO) for key in ("today", "mtd", "ytd")}
    assert tokyo["today"].start == utc(2026, 2, 28, 15, 0) == tokyo["mtd"].start
    assert tokyo["ytd"].start == utc(2025, 12, 31, 15, 0)
    new_york = {key: period(key, now, zone=NEW_YORK) for key in ("today", "mtd", "ytd")}
    assert new_york["today"].start == utc(2026, 2, 28, 5, 0)
    assert new_york["mtd"].start == utc(2026, 2, 1, 5, 0)
    assert new_york["ytd"].start == utc(2026, 1, 1, 5, 0)
    assert all(p.end == now for p in [*tokyo.values(), *new_york.values()])
    assert tokyo["mtd"].label == "Month to date"


def test_rolling_and_custom_periods():
    now = utc(2026, 3, 10, 12, 0)
    assert period("24h", now).start == now - timedelta(hours=24)
    assert period("7d", now).start == now - timedelta(days=7)
    assert period("30d", now).start == now - timedelta(days=30)
    custom = period("custom", now, start=date(2026, 3, 1), end=date(2026, 3, 2), zone=TOKYO)
    # Inclusive dates: [1 March 00:00, 3 March 00:00) in Tokyo.
    assert (custom.start, custom.end) == (utc(2026, 2, 28, 15, 0), utc(2026, 3, 2, 15, 0))
    assert custom.label == "2026-03-01 to 2026-03-02"
    # A custom period running into the future ends now.
    assert period("custom", now, start=date(2026, 3, 10), end=date(2026, 3, 31), zone=TOKYO).end == now


@pytest.mark.parametrize(
    ("key", "dates", "message"),
    [
        ("week", {}, "unknown period 'week'"),
        ("custom", {"start": date(2026, 3, 1)}, "needs both a start and an end date"),
        ("custom", {"start": date(2026, 3, 2), "end": date(2026, 3, 1)}, "is after the end date"),
        ("custom", {"start": date(2027, 1, 1), "end": date(2027, 1, 2)}, "is in the future"),
        ("today", {"start": date(2026, 3, 1)}, "only for the custom period"),
        # 733 days: one more than two years' worth of daily sub-periods.
        ("custom", {"start": date(2024, 3, 1), "end": date(2026, 3, 3)}, "at most 732 days"),
        ("custom", {"start": date(1990, 1, 1), "end": date(2026, 1, 1)}, "at most 732 days"),
    ],
)
def test_a_bad_period_is_refused_with_a_clear_message(key, dates, message):
    with pytest.raises(ValueError, match=message):
        period(key, utc(2026, 3, 10), zone=TOKYO, **dates)


def test_a_custom_period_of_exactly_two_years_is_allowed():
    longest = period("custom", utc(2026, 3, 10), start=date(2024, 3, 1), end=date(2026, 3, 2), zone=TOKYO)
    assert MAX_CUSTOM_DAYS == 732
    assert longest.end - longest.start == timedelta(days=732)


def test_days_split_at_local_midnight_and_a_dst_day_has_23_hours():
    bounds = day_bounds(utc(2026, 3, 28, 12, 0), utc(2026, 3, 30, 12, 0), LONDON)
    # London: midnight 29 March is 00:00 UTC (GMT); midnight 30 March is 23:00 UTC (BST).
    assert bounds == [utc(2026, 3, 28, 12), utc(2026, 3, 29, 0), utc(2026, 3, 29, 23), utc(2026, 3, 30, 12)]
    assert bounds[2] - bounds[1] == timedelta(hours=23)
    start = utc(2026, 3, 1, 15, 0)  # a Tokyo midnight
    assert day_bounds(start, start + timedelta(days=2), TOKYO) == [
        start,
        start + timedelta(days=1),
        start + timedelta(days=2),
    ]


# -- Spans and tracks ------------------------------------------------------------------------------


def test_a_flow_after_the_latest_reading_is_not_subtracted_yet():
    r0, r1 = Reading(utc(2026, 1, 1), Decimal(1000)), Reading(utc(2026, 1, 2), Decimal(1000))
    late = Flow(utc(2026, 1, 2, 0, 0, 30), Decimal(5000))
    result = span(r0, r1, [late])
    assert (result.net_inflow, result.pnl) == (0, 0)


def test_like_with_like_when_one_end_has_no_earn():
    r0 = Reading(utc(2026, 1, 1), Decimal(1500), earn=Decimal(500))
    r1 = Reading(utc(2026, 1, 2), Decimal(1100), earn=None)  # Earn not read: not in the total
    result = span(r0, r1, [])
    assert (result.start_equity, result.end_equity, result.pnl, result.without_earn) == (
        Decimal(1000),
        Decimal(1100),
        Decimal(100),
        True,
    )


def test_an_unpriced_flow_makes_the_pnl_unknown_with_its_reason():
    r0, r1 = Reading(utc(2026, 1, 1), Decimal(1000)), Reading(utc(2026, 1, 2), Decimal(2000))
    result = span(r0, r1, [Flow(utc(2026, 1, 1, 12), None, "no USD index for XYZ")])
    assert result.pnl is None
    assert result.unknown_reason == "a cash flow has no USD value (no USD index for XYZ)"


def test_the_team_return_adds_gains_and_capitals_and_a_late_account_joins_like_an_inflow():
    p = period("custom", utc(2026, 1, 3), start=date(2026, 1, 1), end=date(2026, 1, 1), zone=ZoneInfo("UTC"))
    bounds = [p.start, p.end]
    # alpha: 1000 -> 1100 over the day; beta: first read at 12:00 with 1000, 1000 at the end.
    opening = Reading(p.start, Decimal(1000))
    alpha = Track(bounds, [opening, Reading(p.end, Decimal(1100))], opening)
    first = Reading(utc(2026, 1, 1, 12), Decimal(1000))
    beta = Track(bounds, [None, Reading(p.end, Decimal(1000))], first)
    team = figure(None, p, {"alpha": alpha, "beta": beta}, team=True)
    # Gain 100 + 0; average capital 1000 + 1000 x 1/2: 100 / 1500 = 6.67 %.
    assert (team.pnl, team.net_inflow) == (Decimal(100), Decimal(0))
    assert team.return_pct.quantize(CENT) == Decimal("6.67")
    assert team.notes == ("beta: since the first reading, 2026-01-01 12:00",)


def test_flows_that_are_not_read_make_the_pnl_unknown_even_without_a_flow_in_sight():
    """A sub-account whose master's transfer history is not read: a drop of 3,000 may be a transfer
    to the master, so the PnL is unknown with the reason, and the team's too (it sums it)."""
    p = period("custom", utc(2026, 1, 3), start=date(2026, 1, 1), end=date(2026, 1, 1), zone=ZoneInfo("UTC"))
    r0, r1 = Reading(p.start, Decimal(30000)), Reading(p.end, Decimal(27000))
    blind = Track([p.start, p.end], [r0, r1], r0, unread=MASTER_UNREAD)
    alone = figure(1, p, {"sub": blind})
    assert (alone.pnl, alone.net_inflow, alone.return_pct) == (None, None, None)
    assert alone.unknown_reason == MASTER_UNREAD
    assert (alone.start_equity, alone.end_equity) == (Decimal(30000), Decimal(27000))
    master = Track([p.start, p.end], [r0, r0], r0)
    team = figure(None, p, {"master": master, "sub": blind}, team=True)
    assert (team.pnl, team.unknown_reason) == (None, f"sub: {MASTER_UNREAD}")


def test_a_start_reading_long_before_the_period_is_named_and_not_taken_for_its_start():
    """Readings three days and one minute before now, nothing between: the 24 hours count from the
    reading of three days ago, and say so; one 30 minutes before the start needs no note."""
    now = utc(2026, 1, 10, 12, 0)
    p = period("24h", now, zone=ZoneInfo("UTC"))
    old, latest = (
        Reading(now - timedelta(days=3), Decimal(100000)),
        Reading(now - timedelta(minutes=1), Decimal(90000)),
    )
    bounds = day_bounds(p.start, p.end, ZoneInfo("UTC"))
    track = Track(bounds, [old, old, latest], old)
    found = figure(1, p, {"desk": track})
    assert (found.pnl, found.started_at, found.starts_early) == (Decimal(-10000), old.at, True)
    assert found.notes == ("from the reading of 2026-01-07 12:00 (none nearer the period's start)",)
    team = figure(None, p, {"desk": track}, team=True)
    assert team.notes == ("desk: from the reading of 2026-01-07 12:00 (none nearer the period's start)",)
    near = Reading(p.start - timedelta(minutes=30), Decimal(100000))
    found = figure(1, p, {"desk": Track(bounds, [near, near, latest], near)})
    assert (found.started_at, found.starts_early, found.notes) == (near.at, False, ())


def test_a_team_first_read_inside_a_day_starts_that_day_at_its_first_reading_like_one_account():
    """The demo's first day: both accounts first read at 16:32 (seconds apart), read again at
    16:45; the 24 hours hold the midnight before. The team's day starts at its first reading with
    the accounts' equity as its capital: -546.90 on 841,000 is -0.065 %, as for one account that
    held both, not -546.90 on the few minutes' share of the day a late inflow would weigh."""
    now = utc(2026, 11, 29, 16, 45)
    p = period("24h", now, zone=ZoneInfo("UTC"))
    bounds = day_bounds(p.start, p.end, ZoneInfo("UTC"))  # yesterday 16:45, midnight, now
    alpha_first = Reading(utc(2026, 11, 29, 16, 32, 1), Decimal(800000))
    beta_first = Reading(utc(2026, 11, 29, 16, 32, 9), Decimal(41000))
    alpha = Track(bounds, [None, None, Reading(now, Decimal("799500.10"))], alpha_first)
    beta = Track(bounds, [None, None, Reading(now, Decimal("40953.00"))], beta_first)
    team = figure(None, p, {"alpha": alpha, "beta": beta}, team=True)
    assert team.pnl == Decimal("-546.90")
    # beta comes 8 s after alpha, with 771 of the team day's 779 s left.
    capital = Decimal(800000) + Decimal(41000) * Decimal(771) / Decimal(779)
    assert team.return_pct.quantize(Decimal("1e-12")) == (Decimal("-546.90") / capital * 100).quantize(
        Decimal("1e-12")
    )
    assert team.return_pct.quantize(Decimal("0.001")) == Decimal("-0.065")  # ~ -546.90 / 841,000
    # One account holding both from the first reading gives the same return.
    both_first = Reading(alpha_first.at, Decimal(841000))
    both = Track(bounds, [None, None, Reading(now, Decimal("840453.10"))], both_first)
    alone = figure(1, p, {"both": both}).return_pct
    assert alone.quantize(Decimal("1e-12")) == (Decimal("-546.90") / Decimal(841000) * 100).quantize(
        Decimal("1e-12")
    )
    assert alone.quantize(Decimal("0.001")) == Decimal("-0.065")


def test_an_account_first_read_later_in_the_teams_day_enters_as_an_inflow_from_the_first_reading():
    """alpha first read at 06:00 with 1,000, 1,100 at midnight; beta first read at 15:00 with
    1,000, 1,000 at midnight. The team's day runs from 06:00 (18 h); beta enters at 15:00 like an
    inflow with 9/18 of the day left: 100 / (1,000 + 1,000 x 1/2) = 6.67 %."""
    p = period("custom", utc(2026, 1, 3), start=date(2026, 1, 1), end=date(2026, 1, 1), zone=ZoneInfo("UTC"))
    alpha = Track(
        [p.start, p.end], [None, Reading(p.end, Decimal(1100))], Reading(utc(2026, 1, 1, 6), Decimal(1000))
    )
    beta = Track(
        [p.start, p.end], [None, Reading(p.end, Decimal(1000))], Reading(utc(2026, 1, 1, 15), Decimal(1000))
    )
    team = figure(None, p, {"alpha": alpha, "beta": beta}, team=True)
    assert team.return_pct.quantize(CENT) == Decimal("6.67")
