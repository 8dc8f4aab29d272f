"""PnL net of cash flows, per account and for the team, read from the rows (snapshots and the
cash-flow ledger); the arithmetic is ledger/pnl.py's. Nothing here calls the exchange.

The number of queries does not grow with the number of accounts: one for the accounts, one per
BOUNDARIES_PER_QUERY period boundaries (each boundary's reading of every account by a correlated
subquery, an index seek on snapshot_history_idx (account, taken_at)), one for the flows (on
flow_account_time_idx). Many figures of one account (the account page: six periods, the chart,
the calendar) come from History instead: its rows read once (three or four queries, whatever the
periods' length), each boundary's reading found in Python. The overview's figures of every account and of
its teams (figures()) share one read of each period's boundary readings. Sums are made in Python
as Decimal (snapshots/money.py: MoneySum is a float on SQLite).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Exists, Max, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account, AccountKind, Credential, CredentialStatus
from ledger.models import CashFlow
from ledger.pnl import (
    MASTER_UNREAD,
    ZERO,
    DayPnL,
    Flow,
    Period,
    PnL,
    Reading,
    Track,
    day_bounds,
    display_zone,
    figure,
    hour_bounds,
    local_midnight,
    part,
    percent,
)
from snapshots.models import Snapshot
from snapshots.queries import TimeBucket

__all__ = [
    "DayPnL",
    "History",
    "Period",
    "PnL",
    "TeamFigures",
    "account_periods",
    "account_pnl",
    "daily_pnl",
    "figures",
    "pnl_series",
    "team_pnl",
]

# Three correlated subqueries (time, total, Earn) per boundary: 20 boundaries make 60 per query.
BOUNDARIES_PER_QUERY = 20
# A chart that spans up to this long has a point each hour (raw readings are kept 7 days); longer,
# each midnight (display zone).
HOURLY_SERIES_UP_TO = timedelta(days=7)
NO_READING_YET = "no reading yet"


def account_pnl(account_ids: Iterable[int], period: Period) -> dict[int, PnL]:
    """{account id: its PnL over `period`} for the given accounts (ids of no account are left
    out). Each PnL says how it was made (ledger.pnl.PnL): a sub-account's notes say it may include
    transfers with other sub-accounts; one whose master's transfer history is not read has an
    unknown PnL (ledger.pnl.MASTER_UNREAD). Queries, whatever the number of accounts: one for the
    accounts (with their first readings), one per BOUNDARIES_PER_QUERY daily boundaries from the
    day of the first reading on (7 days have 9, a year ~366), one for the flows. For several
    periods of one account, account_periods reads its rows once."""
    ids = list(dict.fromkeys(account_ids))
    accounts = _accounts(Account.objects.filter(pk__in=ids)) if ids else {}
    tracks = _tracks(accounts, _bounds(accounts, period))
    return {pk: _one(pk, one, period, tracks[pk]) for pk, one in accounts.items()}


def team_pnl(period: Period, visible: Collection[int] | None = None) -> PnL:
    """The team's PnL over `period`: its accounts (Account.objects.in_team_totals: active, live,
    not excluded from team totals; of `visible` when it is not None, a desk-limited user's or a
    desk's team) summed; transfers between them cancel, so its net inflow is the money that
    crossed the team's boundary (deposits, withdrawals, transfers with accounts not on the
    dashboard, inactive, excluded or outside `visible`), and it carries no "may include transfers
    with other sub-accounts" note. Accounts without a reading by the period's end are left out
    and named in the notes; one whose PnL is unknown makes the team's unknown. Queries as
    account_pnl (none for an empty `visible`)."""
    accounts = _team(visible)
    tracks = _tracks(accounts, _bounds(accounts, period))
    return figure(None, period, {one.name: tracks[pk] for pk, one in accounts.items()}, team=True)


def daily_pnl(
    account_id: int | None, first: date, last: date, visible: Collection[int] | None = None
) -> list[DayPnL]:
    """The PnL calendar: one DayPnL per day from `first` to `last` (inclusive dates in the display
    zone) up to today, for one account or the team (account_id None: as team_pnl, of `visible`).
    A day before the first reading (of any account in scope) is unknown ("no reading yet") without
    a query; the day of the first reading counts from it. ValueError when `last` is before `first`."""
    accounts = _team(visible) if account_id is None else _accounts(Account.objects.filter(pk=account_id))
    return _daily(accounts, first, last, functools.partial(_tracks, accounts))


def pnl_series(
    account_id: int | None, period: Period, visible: Collection[int] | None = None
) -> list[tuple[datetime, Decimal]]:
    """Cumulative PnL over `period` for a chart, oldest first: (time, PnL from the period's start
    to that time, USD). It starts at 0 at the period's start, or at the first reading when that is
    later (the figure counts from it); then the PnL at each whole hour (UTC) when that start is
    at most HOURLY_SERIES_UP_TO before the period's end, else at each midnight (display zone);
    and it ends at the period's end on the figure account_pnl / team_pnl give. A time no account
    has a reading by, or whose PnL is unknown (an unpriced flow), has no point. One account's
    comes from its History (three queries); the team's (of `visible`, as team_pnl) from each
    boundary's readings."""
    if account_id is not None:
        return History.read(account_id, period.start, (period.end,)).series(period)
    accounts = _team(visible)
    return _series(accounts, period, functools.partial(_tracks, accounts))


def account_periods(account_id: int, periods: Iterable[Period]) -> dict[str, PnL]:
    """{period key: the account's PnL over it}: the figures account_pnl gives, from one read of
    the account's rows (History: three queries, whatever the periods' number and length). {} for
    no such account."""
    periods = list(periods)
    if not periods:
        return {}
    found = History.read(
        account_id, min(p.start for p in periods), [t for p in periods for t in (p.start, p.end)]
    )
    return {p.key: pnl for p in periods if (pnl := found.pnl(p)) is not None}


@dataclass(frozen=True)
class TeamFigures:
    """One team's figures from figures(): its accounts (ids, ascending), its PnL per period key
    (as team_pnl) and its calendar (as daily_pnl)."""

    ids: tuple[int, ...]
    pnl: dict[str, PnL]
    days: list[DayPnL]


def figures(
    periods: Iterable[Period],
    teams: Iterable[Collection[int] | None],
    first: date,
    last: date,
    account_ids: Collection[int] | None = None,
) -> tuple[dict[str, dict[int, PnL]], list[TeamFigures]]:
    """Many accounts' and teams' figures at once: each account's PnL over each period ({period
    key: {account id: PnL}}, as account_pnl; `account_ids` None: every active account), and each
    team's PnL over each period and its calendar from `first` to `last` (as team_pnl and
    daily_pnl; a team is a set of account ids, None for every one, narrowed to the team's
    accounts). Each period's boundary readings, and the calendar's, are read once for all of them
    (the teams' sums reuse the accounts' readings): a fixed number of queries per period, plus
    one per team. A year of history at 500 accounts takes seconds: a task's work, not a page's."""
    scopes = [_team(scope) for scope in teams]
    rows = Account.objects.filter(active=True)
    accounts = _accounts(rows if account_ids is None else rows.filter(pk__in=list(account_ids)))
    every = accounts | {pk: one for scope in scopes for pk, one in scope.items()}
    per_account: dict[str, dict[int, PnL]] = {}
    per_team: list[dict[str, PnL]] = [{} for _ in scopes]
    for span in periods:
        tracks = _tracks(every, _bounds(every, span))
        per_account[span.key] = {pk: _one(pk, one, span, tracks[pk]) for pk, one in accounts.items()}
        for found, scope in zip(per_team, scopes, strict=True):
            named = {one.name: tracks[pk] for pk, one in scope.items()}
            found[span.key] = figure(None, span, named, team=True)
    # Every day's boundaries from `first` on; a team's calendar starts on the day of its first
    # reading (_daily), so it takes the last boundaries of each track.
    now = timezone.now()
    days = _tracks(every, _day_bounds(first, last, now)) if scopes else {}

    def load(scope: dict[int, Scoped]) -> Load:
        return lambda bounds: {pk: _last_bounds(days[pk], len(bounds)) for pk in scope}

    return per_account, [
        TeamFigures(tuple(sorted(scope)), found, _daily(scope, first, last, load(scope), now))
        for scope, found in zip(scopes, per_team, strict=True)
    ]


def _last_bounds(track: Track, n: int) -> Track:
    """The track over its last n boundaries (the same readings and flows)."""
    return replace(track, bounds=track.bounds[-n:], readings=track.readings[-n:])


@dataclass(frozen=True)
class History:
    """One account's rows from `since` on, read once: its readings (from the latest at or before
    `since` on; a snapshot without a total is no reading) and its counted flows after the first
    of them. Every figure over boundaries at or after `since` (periods, the calendar, the chart)
    is then made in Python, each boundary's reading found by bisection, by the same arithmetic as
    account_pnl, daily_pnl and pnl_series.

    Of the readings, only those a boundary can be answered with are read: the first and the last
    of each quarter of an hour (UTC), which answer every boundary on a quarter hour (the chart's
    hours, every zone's midnights) and the latest reading, and the one at or before each of
    `moments` (the periods' starts and ends). A year of history after retention is ~12,400
    readings, 10,000 of them the last seven days' (a reading a minute), read as ~3,500; another
    boundary costs one query when a figure asks for it."""

    since: datetime
    accounts: dict[int, Scoped]  # the account; empty when there is none
    readings: tuple[Reading, ...]
    flows: tuple[Flow, ...]
    moments: frozenset[datetime] = frozenset()  # boundaries off the quarter hours read too

    @classmethod
    def read(cls, account_id: int, since: datetime, moments: Iterable[datetime] = ()) -> History:
        """Three queries: the account (with its first reading), its readings, its flows; and one
        for `moments` off the quarter hours."""
        accounts = _accounts(Account.objects.filter(pk=account_id))
        if not accounts:
            return cls(since, {}, (), ())
        kept = Snapshot.objects.filter(account_id=account_id).exclude(total_equity_usd=None)
        opening = kept.filter(taken_at__lte=since).order_by("-taken_at").values("taken_at")[:1]
        rows = kept.filter(taken_at__gte=Coalesce(Subquery(opening), Value(since)))
        quarters = rows.annotate(quarter=TimeBucket("taken_at", QUARTER)).order_by().values("quarter")
        ends = Q(taken_at__in=quarters.annotate(at=Min("taken_at")).values("at"))
        ends |= Q(taken_at__in=quarters.annotate(at=Max("taken_at")).values("at"))
        found = rows.filter(ends).order_by("taken_at").values_list("taken_at", "total_equity_usd", "earn_usd")
        readings = [Reading(at, total, earn) for at, total, earn in found if total is not None]
        odd = sorted({when for when in moments if when >= since and not _on_a_quarter(when)})
        readings += [r for r in _readings([account_id], odd).get(account_id, []) if r is not None]
        readings = sorted(set(readings), key=lambda r: r.at)
        flows = _flows([account_id], readings[0].at, readings[-1].at) if readings else {}
        # `since` is answered by the first reading read: the one at or before it.
        exact = frozenset([since, *odd])
        return cls(since, accounts, tuple(readings), tuple(flows.get(account_id, ())), exact)

    def pnl(self, period: Period) -> PnL | None:
        """The account's PnL over `period` (as account_pnl); None when there is no account."""
        tracks = self._tracks(_bounds(self.accounts, period))
        return next((_one(pk, one, period, tracks[pk]) for pk, one in self.accounts.items()), None)

    def daily(self, first: date, last: date) -> list[DayPnL]:
        """The calendar from `first` to `last` (as daily_pnl)."""
        return _daily(self.accounts, first, last, self._tracks)

    def series(self, period: Period) -> list[tuple[datetime, Decimal]]:
        """The cumulative PnL over `period` (as pnl_series)."""
        return _series(self.accounts, period, self._tracks)

    def _tracks(self, bounds: list[datetime]) -> dict[int, Track]:
        """Each boundary's reading by bisection (one query for those neither on a quarter hour, nor
        among the moments, nor a reading's time); ValueError for a boundary before `since`."""
        if bounds and bounds[0] < self.since:
            raise ValueError(f"the history is read from {self.since}, not from {bounds[0]}")
        times = [r.at for r in self.readings]
        found = [bisect.bisect_right(times, when) - 1 for when in bounds]
        readings = [self.readings[j] if j >= 0 else None for j in found]
        exact = self.moments.union(times)  # a reading's own time is answered by that reading
        odd = [j for j, when in enumerate(bounds) if not _on_a_quarter(when) and when not in exact]
        if odd and self.accounts:
            [pk] = self.accounts
            for j, reading in zip(odd, _readings([pk], [bounds[j] for j in odd])[pk], strict=True):
                readings[j] = reading
        return {
            pk: Track(bounds, readings, one.first, self.flows, one.unread)
            for pk, one in self.accounts.items()
        }


# Every zone's midnight falls on a quarter hour (UTC): History reads each quarter's first and last.
QUARTER = 900


def _on_a_quarter(when: datetime) -> bool:
    """A whole quarter hour (UTC): its reading is the first or the last of a quarter (History)."""
    return when.timestamp() % QUARTER == 0


Load = Callable[[list[datetime]], dict[int, Track]]


def _one(pk: int, one: Scoped, period: Period, track: Track) -> PnL:
    return figure(pk, period, {one.name: track}, sub_accounts=one.kind == AccountKind.SUB)


def _daily(
    accounts: dict[int, Scoped], first: date, last: date, load: Load, now: datetime | None = None
) -> list[DayPnL]:
    if last < first:
        raise ValueError(f"the first day {first} is after the last day {last}")
    now, zone = now or timezone.now(), display_zone()
    days = _days(first, last, now, zone)
    read_from = _first_reading_at(accounts)
    opening = read_from.astimezone(zone).date() if read_from is not None else last + timedelta(days=1)
    unread = [DayPnL(d, None, None, None, NO_READING_YET) for d in days if d < opening]
    read = days[len(unread) :]
    if not read:
        return unread
    tracks = list(load(_day_bounds(read[0], last, now)).values())
    found = unread
    for i, day in enumerate(read):
        got = part(tracks, i)
        if got is None:
            found.append(DayPnL(day, None, None, None, NO_READING_YET))
        else:
            found.append(DayPnL(day, got.pnl, percent(got.ret), got.net_inflow, got.reason))
    return found


def _days(first: date, last: date, now: datetime, zone: ZoneInfo) -> list[date]:
    """The days from `first` to `last` that have begun by `now`."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [d for d in days if local_midnight(d, zone) < now]


def _day_bounds(first: date, last: date, now: datetime) -> list[datetime]:
    """The calendar's boundaries: each day's midnight from `first` on (display zone), and the end
    of `last` or `now`, whichever is earlier."""
    zone = display_zone()
    bounds = [local_midnight(d, zone) for d in _days(first, last, now, zone)]
    return [*bounds, min(local_midnight(last + timedelta(days=1), zone), now)]


def _series(accounts: dict[int, Scoped], period: Period, load: Load) -> list[tuple[datetime, Decimal]]:
    first = _first_reading_at(accounts)
    if first is None or first > period.end:
        return []
    origin = max(period.start, first)  # where the figure counts from: 0 there
    cut = hour_bounds if period.end - origin <= HOURLY_SERIES_UP_TO else day_bounds
    tracks = list(load(cut(origin, period.end) if period.end > origin else [origin]).values())
    points = []
    for j, at in enumerate(tracks[0].bounds if tracks else ()):
        spans = [s for t in tracks if (s := t.until(j)) is not None]
        if spans and all(s.pnl is not None for s in spans):
            points.append((at, sum((s.pnl or ZERO for s in spans), ZERO)))
    return points


@dataclass(frozen=True)
class Scoped:
    """One account a figure is made of: its name, kind, first reading (None: never read), and
    `unread`: why some of its flows are not read at all ("" when they are: ledger.pnl.Track)."""

    name: str
    kind: str
    first: Reading | None
    unread: str = ""


def _team(visible: Collection[int] | None = None) -> dict[int, Scoped]:
    """The team's accounts (Account.objects.in_team_totals), of `visible` when it is not None
    (one query; none for an empty `visible`)."""
    if visible is not None and not visible:
        return {}
    team = Account.objects.in_team_totals()
    return _accounts(team if visible is None else team.filter(pk__in=list(visible)))


def _accounts(rows: QuerySet[Account]) -> dict[int, Scoped]:
    """{pk: Scoped} by name (one query). A sub-account's transfers with its master come only from
    the master's history (GET /api/v5/asset/subaccount/bills, master key: decision 1 of issue 19),
    read only for an active master with an active key: a sub-account read (with its own key or
    its master's) while its master's history is not is `unread` (MASTER_UNREAD)."""
    keyed = Credential.objects.filter(status=CredentialStatus.ACTIVE)
    columns = _reading_columns("first", _with_total().order_by("taken_at")) | {
        "own_key": Exists(keyed.filter(account=OuterRef("pk"))),
        "master_key": Exists(keyed.filter(account=OuterRef("master"))),
    }
    found = {}
    for row in (
        rows.order_by("name").annotate(**columns).values("pk", "name", "kind", "master__active", *columns)
    ):
        blind = row["kind"] == AccountKind.SUB and (row["own_key"] or row["master_key"])
        master_read = bool(row["master__active"]) and row["master_key"]
        unread = MASTER_UNREAD if blind and not master_read else ""
        found[row["pk"]] = Scoped(row["name"], row["kind"], _reading(row, "first"), unread)
    return found


def _first_reading_at(accounts: dict[int, Scoped]) -> datetime | None:
    return min((one.first.at for one in accounts.values() if one.first is not None), default=None)


def _bounds(accounts: dict[int, Scoped], period: Period) -> list[datetime]:
    """The boundaries of `period`'s daily sub-periods (midnight in the display zone) that can hold
    a reading: those before the midnight that opens the day of the accounts' first reading are
    left out, so a long period costs only the days it has data for (no account has a reading
    there: the figures are the same). The period's start stays (a figure counts from the reading
    at or before it)."""
    start, end = period.start, period.end
    first = _first_reading_at(accounts)
    if first is None or first >= end:
        return [start, end] if end > start else [start]
    zone = display_zone()
    opening = local_midnight(first.astimezone(zone).date(), zone)
    return day_bounds(start, end) if opening <= start else [start, *day_bounds(opening, end)]


def _tracks(accounts: dict[int, Scoped], bounds: list[datetime]) -> dict[int, Track]:
    """{account id: its Track over `bounds`}: the reading at or before each boundary, the first
    reading, and the counted flows between the earliest and the latest reading used."""
    if not accounts:
        return {}
    ids = list(accounts)
    readings = _readings(ids, bounds)
    used = [
        r for pk in ids for r in (readings[pk][0] or accounts[pk].first, readings[pk][-1]) if r is not None
    ]
    flows = _flows(ids, min(r.at for r in used), max(r.at for r in used)) if used else {}
    return {
        pk: Track(bounds, readings[pk], one.first, flows.get(pk, []), one.unread)
        for pk, one in accounts.items()
    }


def _with_total(**filters: Any) -> QuerySet[Snapshot]:
    """The outer account's snapshots that have a total (a snapshot without one is no reading)."""
    return Snapshot.objects.filter(account=OuterRef("pk"), **filters).exclude(total_equity_usd=None)


def _reading_columns(prefix: str, rows: QuerySet[Snapshot]) -> dict[str, Subquery]:
    return {
        f"{prefix}_at": Subquery(rows.values("taken_at")[:1]),
        f"{prefix}_total": Subquery(rows.values("total_equity_usd")[:1]),
        f"{prefix}_earn": Subquery(rows.values("earn_usd")[:1]),
    }


def _reading(row: dict[str, Any], prefix: str) -> Reading | None:
    at, total = row[f"{prefix}_at"], row[f"{prefix}_total"]
    return None if at is None or total is None else Reading(at, total, row[f"{prefix}_earn"])


def _readings(ids: list[int], bounds: list[datetime]) -> dict[int, list[Reading | None]]:
    """Each account's reading at or before each boundary: one query per BOUNDARIES_PER_QUERY
    boundaries."""
    readings: dict[int, list[Reading | None]] = {pk: [] for pk in ids}
    for offset in range(0, len(bounds), BOUNDARIES_PER_QUERY):
        chunk = bounds[offset : offset + BOUNDARIES_PER_QUERY]
        columns: dict[str, Subquery] = {}
        for j, when in enumerate(chunk):
            columns |= _reading_columns(f"b{j}", _with_total(taken_at__lte=when).order_by("-taken_at"))
        for row in Account.objects.filter(pk__in=ids).order_by().annotate(**columns).values("pk", *columns):
            readings[row["pk"]] += [_reading(row, f"b{j}") for j in range(len(chunk))]
    return readings


def _flows(ids: list[int], after: datetime, until: datetime) -> dict[int, list[Flow]]:
    """{account id: its counted flows with after < occurred_at <= until, oldest first} (one query)."""
    rows = (
        CashFlow.objects.filter(
            account_id__in=ids, counts=True, occurred_at__gt=after, occurred_at__lte=until
        )
        .order_by("occurred_at", "id")
        .values_list("account_id", "occurred_at", "usd_value", "usd_basis")
    )
    found: dict[int, list[Flow]] = {}
    for pk, at, usd, basis in rows:
        found.setdefault(pk, []).append(Flow(at, usd, basis))
    return found
