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
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from accounts.models import Account, AccountKind, Environment
from ledger.models import CashFlow
from ledger.pnl import (
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
    transfers with other sub-accounts. Queries, whatever the number of accounts: one for the
    accounts, one per BOUNDARIES_PER_QUERY daily boundaries (7 days have 9, a year ~366), one for
    the flows."""
    ids = list(dict.fromkeys(account_ids))
    accounts = _accounts(Account.objects.filter(pk__in=ids)) if ids else {}
    tracks = _tracks(list(accounts), day_bounds(period.start, period.end))
    return {
        pk: figure(pk, period, {name: tracks[pk]}, sub_accounts=kind == AccountKind.SUB)
        for pk, (name, kind) in accounts.items()
    }


def team_pnl(period: Period) -> PnL:
    """The team's PnL over `period`: its active live accounts (demo-trading accounts never count)
    summed; transfers between them cancel, so its net inflow is the money that crossed the team's
    boundary (deposits, withdrawals, transfers with accounts not on the dashboard or inactive).
    Accounts without a reading by the period's end are left out and named in the notes."""
    accounts = _team()
    tracks = _tracks(list(accounts), day_bounds(period.start, period.end))
    return figure(
        None,
        period,
        {name: tracks[pk] for pk, (name, _) in accounts.items()},
        team=True,
        sub_accounts=any(kind == AccountKind.SUB for _, kind in accounts.values()),
    )


def daily_pnl(account_id: int | None, first: date, last: date) -> list[DayPnL]:
    """The PnL calendar: one DayPnL per day from `first` to `last` (inclusive dates in the display
    zone) up to today, for one account or the team (account_id None). A day before the account's
    first reading is unknown ("no reading yet"); the day of the first reading counts from it."""
    if last < first:
        raise ValueError(f"the first day {first} is after the last day {last}")
    now, zone = timezone.now(), display_zone()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = [b for b in (local_midnight(d, zone) for d in days) if b < now]
    if not bounds:
        return []
    bounds.append(min(local_midnight(last + timedelta(days=1), zone), now))
    accounts = _scope(account_id)
    tracks = list(_tracks(list(accounts), bounds).values())
    found = []
    for i in range(len(bounds) - 1):
        day = part(tracks, i, team=account_id is None) if tracks else None
        if day is None:
            found.append(DayPnL(days[i], None, None, None, NO_READING_YET))
        else:
            found.append(DayPnL(days[i], day.pnl, percent(day.ret), day.net_inflow, day.reason))
    return found


def pnl_series(account_id: int | None, period: Period) -> list[tuple[datetime, Decimal]]:
    """Cumulative PnL over `period` for a chart, oldest first: (time, PnL from the period's start
    to that time), hourly for periods up to two days, else at each midnight (display zone), ending
    at the period's end on the figure account_pnl / team_pnl give. A time no account has a reading
    by, or whose PnL is unknown (an unpriced flow), has no point."""
    long = period.end - period.start > HOURLY_SERIES_UP_TO
    bounds = day_bounds(period.start, period.end) if long else hour_bounds(period.start, period.end)
    tracks = list(_tracks(list(_scope(account_id)), bounds).values())
    points = []
    for j, at in enumerate(bounds):
        spans = [s for t in tracks if (s := t.until(j)) is not None]
        if spans and all(s.pnl is not None for s in spans):
            points.append((at, sum((s.pnl or ZERO for s in spans), ZERO)))
    return points


def _scope(account_id: int | None) -> dict[int, tuple[str, str]]:
    return _team() if account_id is None else _accounts(Account.objects.filter(pk=account_id))


def _team() -> dict[int, tuple[str, str]]:
    """The team's accounts: active, live (one query)."""
    return _accounts(Account.objects.filter(active=True).exclude(environment=Environment.DEMO))


def _accounts(rows: QuerySet[Account]) -> dict[int, tuple[str, str]]:
    """{pk: (name, kind)} by name (one query)."""
    return {pk: (name, kind) for pk, name, kind in rows.order_by("name").values_list("pk", "name", "kind")}


def _tracks(ids: list[int], bounds: list[datetime]) -> dict[int, Track]:
    """{account id: its Track over `bounds`}: the reading at or before each boundary, the first
    reading, and the counted flows between the earliest and the latest reading used."""
    if not ids:
        return {}
    readings, firsts = _readings(ids, bounds)
    used = [r for pk in ids for r in (readings[pk][0] or firsts[pk], readings[pk][-1]) if r is not None]
    flows = _flows(ids, min(r.at for r in used), max(r.at for r in used)) if used else {}
    return {pk: Track(bounds, readings[pk], firsts[pk], flows.get(pk, [])) for pk in ids}


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


def _readings(
    ids: list[int], bounds: list[datetime]
) -> tuple[dict[int, list[Reading | None]], dict[int, Reading | None]]:
    """Each account's reading at or before each boundary, and its first reading: one query per
    BOUNDARIES_PER_QUERY boundaries (the first also reads the first readings)."""
    readings: dict[int, list[Reading | None]] = {pk: [] for pk in ids}
    firsts: dict[int, Reading | None] = dict.fromkeys(ids)
    for offset in range(0, len(bounds), BOUNDARIES_PER_QUERY):
        chunk = bounds[offset : offset + BOUNDARIES_PER_QUERY]
        columns: dict[str, Subquery] = {}
        for j, when in enumerate(chunk):
            columns |= _reading_columns(f"b{j}", _with_total(taken_at__lte=when).order_by("-taken_at"))
        if offset == 0:
            columns |= _reading_columns("first", _with_total().order_by("taken_at"))
        for row in Account.objects.filter(pk__in=ids).order_by().annotate(**columns).values("pk", *columns):
            readings[row["pk"]] += [_reading(row, f"b{j}") for j in range(len(chunk))]
            if offset == 0:
                firsts[row["pk"]] = _reading(row, "first")
    return readings, firsts


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
