"""Profit and loss net of cash flows, and the time-weighted return: the pure arithmetic (no database;
ledger/performance.py reads the rows and calls this). docs/valuation.md "Profit and loss" says the
same in words.

PnL over a span between two readings (snapshots) r0 and r1 of one account:

    PnL = E(r1) - E(r0) - sum of the counted flows' USD values with r0 < ts <= r1

E is the snapshot's total equity (USD). Flows are windowed on the readings' own times, not on the
period's boundaries: a deposit made after the latest reading is not in that reading's equity, so it
is not subtracted from it either (it would show as a loss until the next refresh).

Return: the time-weighted return (TWR) as GIPS describes it for portfolios without a valuation at
every flow: the period is split into daily sub-periods at midnight in the display zone
(settings.DISPLAY_TIME_ZONE), each sub-period's return is the Modified Dietz return

    R = (E1 - E0 - sum F_i) / (E0 + sum w_i F_i),   w_i = (T - t_i) / T

(T the sub-period's length, t_i the time from its start to flow i: a flow at the start counts fully
in the average capital, one at the end not at all), and the sub-period returns are chain-linked
(geometrically): TWR = prod(1 + R) - 1. References: Wikipedia, "Modified Dietz method"
(https://en.wikipedia.org/wiki/Modified_Dietz_method) and "Time-weighted return"
(https://en.wikipedia.org/wiki/Time-weighted_return); GIPS Guidance Statement on Calculation
Methodology (CFA Institute). Maximum drawdown is the largest peak-to-trough fall of the TWR index.

Money is Decimal throughout; nothing is rounded here (surfaces round for display).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
# Period keys and their labels (decision 7 of issue 19), in the order a period picker shows them.
PERIODS: dict[str, str] = {
    "today": "Today",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "mtd": "Month to date",
    "ytd": "Year to date",
    "custom": "Custom",
}
_SPANS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# The longest custom period, in days (two years): each day is a sub-period of the return, so a
# period of centuries would tie up a worker for minutes.
MAX_CUSTOM_DAYS = 732
# A period counts from the reading at or before its start; one older than this is named in a note
# ("from the reading of ...") and the loss rule does not judge the account on it.
START_READING_SLACK = timedelta(hours=1)
# Why a figure is unknown (the surfaces show "—" with it).
NEVER_READ = "never read"
NO_READING = "no reading at or before the period's end"
UNPRICED_FLOW = "a cash flow has no USD value"
NO_CAPITAL = "the average capital is zero or below"
WITHOUT_EARN = "without Earn"
SUB_ACCOUNT_NOTE = "may include transfers with other sub-accounts (OKX does not report them to the master)"
MASTER_UNREAD = (
    "its transfers with its master are read with the master's key, which the dashboard does not have "
    "(add the master with a read-only key)"
)


def display_zone() -> ZoneInfo:
    """The zone whose midnights split days and periods (settings.DISPLAY_TIME_ZONE)."""
    return ZoneInfo(settings.DISPLAY_TIME_ZONE)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The moment `day` begins in `zone`, in UTC (UTC inside: subtracting two datetimes of one
    zone ignores a DST change between them)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """[start, end) of a figure, aware datetimes; `key` one of PERIODS; `label` for a person
    ("Month to date", "2026-11-01 to 2026-11-20")."""

    key: str
    start: datetime
    end: datetime
    label: str


def period(
    key: str,
    now: datetime,
    *,
    start: date | None = None,
    end: date | None = None,
    zone: ZoneInfo | None = None,
) -> Period:
    """The period `key` as of `now` (aware), days in `zone` (default the display zone).

    "today": since midnight; "24h", "7d", "30d": the last 24 h / 7 / 30 days; "mtd": since the 1st
    of the month; "ytd": since 1 January; "custom": the dates `start` to `end` inclusive, i.e.
    [start 00:00, end + 1 day 00:00), ending at `now` at the latest. Raises ValueError naming the
    problem for an unknown key, a naive `now`, a custom period without both dates, with start after
    end, longer than MAX_CUSTOM_DAYS days, or starting in the future; and for dates given with
    another key."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if key not in PERIODS:
        raise ValueError(f"unknown period {key!r}; one of {', '.join(PERIODS)}")
    if key != "custom" and (start is not None or end is not None):
        raise ValueError(f"start and end dates are only for the custom period, not {key!r}")
    zone = zone or display_zone()
    today = now.astimezone(zone).date()
    if key == "custom":
        return _custom(now, start, end, zone)
    if key in _SPANS:
        return Period(key, now - _SPANS[key], now, PERIODS[key])
    first = {"today": today, "mtd": today.replace(day=1), "ytd": today.replace(month=1, day=1)}[key]
    return Period(key, local_midnight(first, zone), now, PERIODS[key])


def _custom(now: datetime, start: date | None, end: date | None, zone: ZoneInfo) -> Period:
    if start is None or end is None:
        raise ValueError("a custom period needs both a start and an end date")
    if start > end:
        raise ValueError(f"the start date {start} is after the end date {end}")
    if (end - start).days + 1 > MAX_CUSTOM_DAYS:
        raise ValueError(
            f"a custom period is at most {MAX_CUSTOM_DAYS} days (two years); {start} to {end} is longer"
        )
    begins = local_midnight(start, zone)
    if begins > now:
        raise ValueError(f"the start date {start} is in the future")
    ends = min(local_midnight(end + timedelta(days=1), zone), now)
    return Period("custom", begins, ends, f"{start:%Y-%m-%d} to {end:%Y-%m-%d}")


def day_bounds(start: datetime, end: datetime, zone: ZoneInfo | None = None) -> list[datetime]:
    """[start, each midnight in `zone` strictly between start and end, end]: the daily sub-periods
    of [start, end], the first and last clipped to it. A day is 23 or 25 hours across a DST change."""
    zone = zone or display_zone()
    bounds = [start]
    day = start.astimezone(zone).date() + timedelta(days=1)
    while (midnight := local_midnight(day, zone)) < end:
        if midnight > bounds[-1]:
            bounds.append(midnight)
        day += timedelta(days=1)
    if end > start:
        bounds.append(end)
    return bounds


def hour_bounds(start: datetime, end: datetime) -> list[datetime]:
    """[start, each whole UTC hour strictly between, end] (hours are whole in every zone that
    matters here; the few half-hour zones see points at :30)."""
    bounds = [start]
    hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while hour < end:
        bounds.append(hour)
        hour += timedelta(hours=1)
    if end > start:
        bounds.append(end)
    return bounds


# -- The formulas ------------------------------------------------------------------------------


def _seconds(later: datetime, earlier: datetime) -> Decimal:
    """later - earlier in exact Decimal seconds (microseconds, no float), as instants (in UTC)."""
    delta = later.astimezone(UTC) - earlier.astimezone(UTC)
    return Decimal(delta // timedelta(microseconds=1)) / Decimal(1_000_000)


def dietz_parts(
    start: Decimal, end: Decimal, flows: Sequence[tuple[datetime, Decimal]], t0: datetime, t1: datetime
) -> tuple[Decimal, Decimal]:
    """(gain, average capital) of the Modified Dietz method over [t0, t1]: gain = end - start -
    sum F_i; average capital = start + sum w_i F_i with w_i = (t1 - t_i) / (t1 - t0). A flow's time
    is clamped into [t0, t1] (one read between a reading and the boundary counts at the boundary).
    Gains and capitals of several accounts over the same sub-period add up to the team's (the
    method is money-weighted: Wikipedia, "Modified Dietz method", section "Money-weighted return").
    Raises ValueError when t1 <= t0."""
    length = _seconds(t1, t0)
    if length <= 0:
        raise ValueError(f"a sub-period must end after it starts: {t0} .. {t1}")
    net = sum((amount for _, amount in flows), ZERO)
    weighted = sum((_seconds(t1, min(max(at, t0), t1)) / length * amount for at, amount in flows), ZERO)
    return end - start - net, start + weighted


def modified_dietz(
    start: Decimal, end: Decimal, flows: Sequence[tuple[datetime, Decimal]], t0: datetime, t1: datetime
) -> Decimal | None:
    """The Modified Dietz return over [t0, t1] as a fraction (0.0784 is 7.84 %):
    (end - start - sum F_i) / (start + sum w_i F_i), w_i = (t1 - t_i) / (t1 - t0). `start`, `end`:
    the values at t0 and t1 (USD); `flows`: (time, signed USD amount), + into the portfolio. None
    when the average capital (the denominator) is zero or below: no meaningful return
    (https://en.wikipedia.org/wiki/Modified_Dietz_method, "Negative or zero average capital")."""
    gain, capital = dietz_parts(start, end, flows, t0, t1)
    return gain / capital if capital > 0 else None


def chain(returns: Iterable[Decimal | None]) -> Decimal | None:
    """Chain-linked (geometrically linked) return of consecutive sub-period returns, as a fraction:
    prod(1 + R_i) - 1 (GIPS; Wikipedia, "Time-weighted return"). 0 for no sub-period; None when any
    sub-period's return is unknown."""
    growth = ONE
    for value in returns:
        if value is None:
            return None
        growth *= ONE + value
    return growth - ONE


def index_path(returns: Iterable[Decimal]) -> list[Decimal]:
    """The TWR index: 1, then the running product of (1 + R_i), one value per sub-period end."""
    path = [ONE]
    for value in returns:
        path.append(path[-1] * (ONE + value))
    return path


def max_drawdown(index_values: Iterable[Decimal]) -> Decimal:
    """The largest peak-to-trough fall of an index (a value series, peaks before troughs), as a
    positive fraction of the peak (0.25: fell 25 % from its high); 0 when it never falls. An index
    at or below 0 (a loss of everything) is a fall of 100 %."""
    peak: Decimal | None = None
    worst = ZERO
    for value in index_values:
        if peak is None or value > peak:
            peak = value
        elif peak > 0:
            worst = max(worst, min(ONE, (peak - value) / peak))
    return worst


# -- Readings, flows and spans -----------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One snapshot's figures: `at` (its taken_at), `total` (total_equity_usd), `earn` (earn_usd,
    None when Earn was not read: then `total` does not include it)."""

    at: datetime
    total: Decimal
    earn: Decimal | None = None

    def equity(self, without_earn: bool) -> Decimal:
        """The total, or the total less Earn when comparing with a reading that has no Earn."""
        return self.total - (self.earn or ZERO) if without_earn else self.total


@dataclass(frozen=True)
class Flow:
    """One counted cash flow of one account: time, signed USD value (None: not priced, `reason`
    says why: CashFlow.usd_basis)."""

    at: datetime
    usd: Decimal | None
    reason: str = ""


@dataclass(frozen=True)
class Span:
    """The PnL between two readings. Without Earn (`without_earn`) when one of them has Earn and
    the other not: both equities are then the totals less Earn (like with like). pnl and
    net_inflow are None when a flow in the window has no USD value (`unknown_reason`)."""

    start: Reading
    end: Reading
    start_equity: Decimal
    end_equity: Decimal
    flows: tuple[Flow, ...]
    net_inflow: Decimal | None
    pnl: Decimal | None
    without_earn: bool
    unknown_reason: str = ""

    def parts(self, t0: datetime, t1: datetime, joined: bool = False) -> tuple[Decimal, Decimal] | None:
        """The Modified Dietz (gain, average capital) of this span over the sub-period [t0, t1];
        `joined`: the span starts at the account's first reading, after t0 (a team's sub-period
        that began with another account's reading), so its start equity enters like an inflow at
        that reading. None when the PnL is unknown."""
        if self.pnl is None:
            return None
        flows = [(f.at, f.usd) for f in self.flows if f.usd is not None]
        if joined:
            return dietz_parts(ZERO, self.end_equity, [(self.start.at, self.start_equity), *flows], t0, t1)
        return dietz_parts(self.start_equity, self.end_equity, flows, t0, t1)


def span(start: Reading, end: Reading, flows: Iterable[Flow], unread: str = "") -> Span:
    """The PnL from reading `start` to reading `end`: flows with start.at < at <= end.at count.
    `unread`: why some of the account's flows are not read at all (MASTER_UNREAD); the PnL is then
    unknown for that reason, whatever flows were read."""
    window = tuple(f for f in flows if start.at < f.at <= end.at)
    without_earn = (start.earn is None) != (end.earn is None)
    e0, e1 = start.equity(without_earn), end.equity(without_earn)
    unpriced = [f for f in window if f.usd is None]
    if unread or unpriced:
        reason = unread or (
            f"{UNPRICED_FLOW} ({unpriced[0].reason})" if unpriced[0].reason else UNPRICED_FLOW
        )
        return Span(start, end, e0, e1, window, None, None, without_earn, reason)
    net = sum((f.usd for f in window if f.usd is not None), ZERO)
    return Span(start, end, e0, e1, window, net, e1 - e0 - net, without_earn)


@dataclass(frozen=True)
class Track:
    """One account over a period cut at `bounds` (bounds[0] = period start, bounds[-1] = its end):
    `readings[j]` the reading at or before bounds[j] (None before the first reading), `first` its
    first reading, `flows` its counted flows; `unread`: why some of its flows are not read at all
    ("" when they are; see span()). Built by ledger/performance.py."""

    bounds: Sequence[datetime]
    readings: Sequence[Reading | None]
    first: Reading | None
    flows: Sequence[Flow] = ()
    unread: str = ""

    @property
    def unknown_reason(self) -> str:
        """Why the account has no figure for the period ("" when it has one)."""
        if self.first is None:
            return NEVER_READ
        return NO_READING if self.readings[-1] is None else ""

    @property
    def start(self) -> Reading | None:
        """The reading the period counts from: at or before its start, else the first reading."""
        if self.unknown_reason:
            return None
        return self.readings[0] or self.first

    @property
    def since_first(self) -> bool:
        """The account has no reading at or before the period's start: it counts from its first."""
        return not self.unknown_reason and self.readings[0] is None

    def total(self) -> Span | None:
        """The span over the whole period (None when unknown_reason)."""
        start = self.start
        return None if start is None else span(start, self.readings[-1] or start, self.flows, self.unread)

    def until(self, j: int) -> Span | None:
        """The span from the period's start to bounds[j] (None before the first reading)."""
        start, end = self.start, self.readings[j]
        return None if start is None or end is None else span(start, end, self.flows, self.unread)

    def sub_period(self, i: int) -> tuple[Span, datetime] | None:
        """Sub-period i ([bounds[i], bounds[i+1]]): its span and the time it starts for this
        account (bounds[i], or its first reading's time when that falls inside). None when the
        account has no reading by bounds[i+1]."""
        end = self.readings[i + 1]
        if end is None or self.first is None:
            return None
        begin = self.readings[i]
        if begin is None and self.first.at >= self.bounds[i + 1]:
            return None  # first read exactly at the sub-period's end: it starts the next one
        if begin is None:  # the first reading falls in this sub-period
            return span(self.first, end, self.flows, self.unread), self.first.at
        return span(begin, end, self.flows, self.unread), self.bounds[i]


@dataclass(frozen=True)
class PnL:
    """PnL of one account (account_id) or of the team (None) over `period`, in USD.

    start_equity / end_equity: total equity at `started_at` / `ended_at`, the readings counted
    from and to (from the latest at or before the period's start, at its own time, or from the
    first reading when that is later; the team's times are its accounts' earliest and latest;
    "without Earn" in `notes` when they are totals less Earn); net_inflow: the counted
    flows between them (+ in); pnl = end_equity - start_equity - net_inflow; return_pct: the
    time-weighted return in percent (daily Modified Dietz, chain-linked); max_drawdown_pct: the
    largest fall of the TWR index in percent (positive; 0 when none). A None figure is unknown:
    `unknown_reason` says why for pnl (and everything after it); a return alone can be unknown
    (the notes say why). `notes` qualify a known figure ("since the first reading, ...")."""

    account_id: int | None
    period: Period
    start_equity: Decimal | None = None
    end_equity: Decimal | None = None
    net_inflow: Decimal | None = None
    pnl: Decimal | None = None
    return_pct: Decimal | None = None
    max_drawdown_pct: Decimal | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    unknown_reason: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def starts_early(self) -> bool:
        """The figure counts from a reading more than START_READING_SLACK before the period's
        start (no reading nearer it): it spans more than the period (a note says from when)."""
        return self.started_at is not None and self.started_at < self.period.start - START_READING_SLACK


@dataclass(frozen=True)
class DayPnL:
    """One day of the PnL calendar (a day in the display zone): pnl, net_inflow (USD),
    return_pct (the day's Modified Dietz return in percent); None with unknown_reason when unknown
    (no reading yet, an unpriced flow, no capital)."""

    day: date
    pnl: Decimal | None
    return_pct: Decimal | None
    net_inflow: Decimal | None
    unknown_reason: str = ""


@dataclass(frozen=True)
class Part:
    """One sub-period of one account or of the team: pnl and net_inflow (USD), ret (the Modified
    Dietz return, a fraction); None with `reason` when unknown."""

    pnl: Decimal | None
    net_inflow: Decimal | None
    ret: Decimal | None
    reason: str = ""


def part(tracks: Sequence[Track], i: int) -> Part | None:
    """Sub-period i of the tracks' common bounds; None when no track has a reading by its end.

    The sub-period starts at bounds[i], or, when no track has a reading by then, at the earliest
    first reading inside it: one account's first day counts from its first reading, and so does
    the team's when all its accounts are first read that day. The tracks' Modified Dietz gains
    and average capitals over it are added (the method is money-weighted); an account first read
    after the sub-period's start enters like an inflow of its equity at that reading."""
    found = [got for track in tracks if (got := track.sub_period(i)) is not None]
    if not found:
        return None
    t0, t1 = min(begins for _, begins in found), tracks[0].bounds[i + 1]
    pnl, net, gain, capital = ZERO, ZERO, ZERO, ZERO
    reason = ""
    for sub_span, begins in found:
        parts = sub_span.parts(t0, t1, joined=begins > t0)
        if parts is None or sub_span.pnl is None or sub_span.net_inflow is None:
            reason = reason or sub_span.unknown_reason
            continue
        pnl, net = pnl + sub_span.pnl, net + sub_span.net_inflow
        gain, capital = gain + parts[0], capital + parts[1]
    if reason:
        return Part(None, None, None, reason)
    if capital <= 0:
        return Part(pnl, net, None, NO_CAPITAL)
    return Part(pnl, net, gain / capital)


def returns(tracks: Sequence[Track]) -> tuple[list[Decimal | None], str]:
    """The Modified Dietz return (a fraction) of each sub-period some track has a reading for (see
    part()), and the first reason one is unknown ("" when all are known)."""
    bounds = tracks[0].bounds if tracks else []
    parts = [p for i in range(len(bounds) - 1) if (p := part(tracks, i)) is not None]
    return [p.ret for p in parts], next((p.reason for p in parts if p.ret is None), "")


def since_first_note(at: datetime, zone: ZoneInfo | None = None) -> str:
    """ "since the first reading, 2026-11-20 14:00" (in the display zone)."""
    return f"since the first reading, {at.astimezone(zone or display_zone()):%Y-%m-%d %H:%M}"


def older_reading_note(at: datetime, zone: ZoneInfo | None = None) -> str:
    """ "from the reading of 2026-11-17 09:00 (none nearer the period's start)" (display zone): the
    period counts from a reading more than START_READING_SLACK before its start."""
    local = at.astimezone(zone or display_zone())
    return f"from the reading of {local:%Y-%m-%d %H:%M} (none nearer the period's start)"


def figure(
    account_id: int | None,
    period_: Period,
    tracks: dict[str, Track],
    *,
    team: bool = False,
    sub_accounts: bool = False,
) -> PnL:
    """The PnL of one account (one track, account_id) or of the team (account_id None, `team`:
    one track per account, keyed by the account's name) over `period_`. `sub_accounts`: the account
    is a sub-account (its transfers with other sub-accounts are not in OKX's master history:
    decision 3 of issue 19; the team passes False: a transfer between two of its accounts
    cancels in the sum). The team's figures are the sums of its accounts' (one
    side's outflow is the other's inflow); an account never read, or not read by the period's
    end, is left out and named in the notes."""
    notes: list[str] = []
    known = {name: t for name, t in tracks.items() if not t.unknown_reason}
    if team:
        notes += [f"leaves out {name} ({t.unknown_reason})" for name, t in tracks.items() if t.unknown_reason]
    if not known:
        reason = next(iter(tracks.values())).unknown_reason if tracks and not team else NO_READING
        return PnL(account_id, period_, unknown_reason=reason, notes=tuple(notes))
    spans = {name: s for name, t in known.items() if (s := t.total()) is not None}
    late = {name: since_first_note(t.first.at) for name, t in known.items() if t.since_first and t.first}
    early = {
        name: older_reading_note(s.start.at)
        for name, s in spans.items()
        if s.start.at < period_.start - START_READING_SLACK
    }
    notes += [note if not team else f"{name}: {note}" for name, note in (late | early).items()]
    if any(s.without_earn for s in spans.values()):
        notes.append(WITHOUT_EARN)
    if sub_accounts:
        notes.append(SUB_ACCOUNT_NOTE)
    base = PnL(
        account_id,
        period_,
        start_equity=sum((s.start_equity for s in spans.values()), ZERO),
        end_equity=sum((s.end_equity for s in spans.values()), ZERO),
        started_at=min(s.start.at for s in spans.values()),
        ended_at=max(s.end.at for s in spans.values()),
        notes=tuple(notes),
    )
    unknown = [(name, s.unknown_reason) for name, s in spans.items() if s.pnl is None]
    if unknown:
        name, reason = unknown[0]
        return replace(base, unknown_reason=f"{name}: {reason}" if team else reason)
    found, why = returns(list(known.values()))
    twr = chain(found)
    if twr is None:
        notes.append(f"return unknown: {why}")
    return replace(
        base,
        net_inflow=sum((s.net_inflow or ZERO for s in spans.values()), ZERO),
        pnl=sum((s.pnl or ZERO for s in spans.values()), ZERO),
        return_pct=percent(twr),
        max_drawdown_pct=None if twr is None else percent(max_drawdown(index_path(r or ZERO for r in found))),
        notes=tuple(notes),
    )


def percent(fraction: Decimal | None) -> Decimal | None:
    """A fraction in percent (0.0784 -> 7.84); None stays None."""
    return None if fraction is None else fraction * HUNDRED
