"""PnL net of cash flows, per account and for the team, read from the rows (snapshots and the
cash-flow ledger); the arithmetic is ledger/pnl.py's. Nothing here calls the exchange.

The number of queries does not grow with the number of accounts: one for the accounts, one per
BOUNDARIES_PER_QUERY period boundaries (each boundary's reading of every account by a correlated
subquery, an index seek on snapshot_history_idx (account, taken_at)), one for the flows (on
flow_account_time_idx). Sums are made in Python as Decimal (snapshots/money.py: MoneySum is a
float on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from accounts.models import Account, AccountKind, Credential, CredentialStatus, Environment
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

__all__ = ["DayPnL", "Period", "PnL", "account_pnl", "daily_pnl", "pnl_series", "team_pnl"]

# Three correlated subqueries (time, total, Earn) per boundary: 20 boundaries make 60 per query.
BOUNDARIES_PER_QUERY = 20
# A chart of a period up to this long has hourly points; longer, daily (midnight, display zone).
HOURLY_SERIES_UP_TO = timedelta(days=2)
NO_READING_YET = "no reading yet"


def account_pnl(account_ids: Iterable[int], period: Period) -> dict[int, PnL]:
    """{account id: its PnL over `period`} for the given accounts (ids of no account are left
    out). Each PnL says how it was made (ledger.pnl.PnL): a sub-account's notes say it may include
    transfers with other sub-accounts; one whose master's transfer history is not read has an
    unknown PnL (ledger.pnl.MASTER_UNREAD). Queries, whatever the number of accounts: one for the
    accounts (with their first readings), one per BOUNDARIES_PER_QUERY daily boundaries from the
    day of the first reading on (7 days have 9, a year ~366), one for the flows."""
    ids = list(dict.fromkeys(account_ids))
    accounts = _accounts(Account.objects.filter(pk__in=ids)) if ids else {}
    tracks = _tracks(accounts, _bounds(accounts, period))
    return {
        pk: figure(pk, period, {one.name: tracks[pk]}, sub_accounts=one.kind == AccountKind.SUB)
        for pk, one in accounts.items()
    }


def team_pnl(period: Period) -> PnL:
    """The team's PnL over `period`: its active live accounts (demo-trading accounts never count)
    summed; transfers between them cancel, so its net inflow is the money that crossed the team's
    boundary (deposits, withdrawals, transfers with accounts not on the dashboard or inactive).
    Accounts without a reading by the period's end are left out and named in the notes; one whose
    PnL is unknown makes the team's unknown. Queries as account_pnl."""
    accounts = _team()
    tracks = _tracks(accounts, _bounds(accounts, period))
    return figure(
        None,
        period,
        {one.name: tracks[pk] for pk, one in accounts.items()},
        team=True,
        sub_accounts=any(one.kind == AccountKind.SUB for one in accounts.values()),
    )


def daily_pnl(account_id: int | None, first: date, last: date) -> list[DayPnL]:
    """The PnL calendar: one DayPnL per day from `first` to `last` (inclusive dates in the display
    zone) up to today, for one account or the team (account_id None). A day before the first
    reading (of any account in scope) is unknown ("no reading yet") without a query; the day of the
    first reading counts from it."""
    if last < first:
        raise ValueError(f"the first day {first} is after the last day {last}")
    now, zone = timezone.now(), display_zone()
    accounts = _scope(account_id)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    days = [d for d in days if local_midnight(d, zone) < now]
    read_from = _first_reading_at(accounts)
    opening = read_from.astimezone(zone).date() if read_from is not None else last + timedelta(days=1)
    unread = [DayPnL(d, None, None, None, NO_READING_YET) for d in days if d < opening]
    read = days[len(unread) :]
    if not read:
        return unread
    bounds = [local_midnight(d, zone) for d in read]
    bounds.append(min(local_midnight(last + timedelta(days=1), zone), now))
    tracks = list(_tracks(accounts, bounds).values())
    found = unread
    for i, day in enumerate(read):
        got = part(tracks, i, team=account_id is None)
        if got is None:
            found.append(DayPnL(day, None, None, None, NO_READING_YET))
        else:
            found.append(DayPnL(day, got.pnl, percent(got.ret), got.net_inflow, got.reason))
    return found


def pnl_series(account_id: int | None, period: Period) -> list[tuple[datetime, Decimal]]:
    """Cumulative PnL over `period` for a chart, oldest first: (time, PnL from the period's start
    to that time), hourly for periods up to two days, else at each midnight (display zone), ending
    at the period's end on the figure account_pnl / team_pnl give. A time no account has a reading
    by, or whose PnL is unknown (an unpriced flow), has no point."""
    accounts = _scope(account_id)
    hourly = period.end - period.start <= HOURLY_SERIES_UP_TO
    tracks = list(_tracks(accounts, _bounds(accounts, period, hourly=hourly)).values())
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


def _scope(account_id: int | None) -> dict[int, Scoped]:
    return _team() if account_id is None else _accounts(Account.objects.filter(pk=account_id))


def _team() -> dict[int, Scoped]:
    """The team's accounts: active, live (one query)."""
    return _accounts(Account.objects.filter(active=True).exclude(environment=Environment.DEMO))


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


def _bounds(accounts: dict[int, Scoped], period: Period, *, hourly: bool = False) -> list[datetime]:
    """The boundaries of `period`'s sub-periods (daily at midnight in the display zone, or
    `hourly`) that can hold a reading: those before the midnight (hour) that opens the day (hour)
    of the accounts' first reading are left out, so a long period costs only the days it has data
    for (no account has a reading there: the figures are the same). The period's start stays
    (a figure counts from the reading at or before it)."""
    cut = hour_bounds if hourly else day_bounds
    start, end = period.start, period.end
    first = _first_reading_at(accounts)
    if first is None or first >= end:
        return [start, end] if end > start else [start]
    if hourly:
        opening = first.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    else:
        opening = local_midnight(first.astimezone(display_zone()).date(), display_zone())
    return cut(start, end) if opening <= start else [start, *cut(opening, end)]


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
