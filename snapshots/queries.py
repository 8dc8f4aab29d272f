"""The shared read model of the pages, the API, reports and benchmarks: what the team sees, read
from the rows the workers wrote. Nothing here calls the exchange.

Every function runs a fixed number of SQL queries whatever the number of accounts: the latest
snapshot of each account is found by one correlated subquery per column (an index seek on
snapshot_history_idx (account, taken_at) per account, never a scan of the history).
"""

from __future__ import annotations

import contextlib
import decimal
import hashlib
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from accounts import health
from accounts.health import Policy
from accounts.models import (
    KEY_HEALTH_FIELDS,
    Account,
    Credential,
    CredentialStatus,
    Environment,
    health_policy,
)
from snapshots import pacing
from snapshots.models import Snapshot
from snapshots.money import MoneyAvg, MoneySum
from snapshots.risk import RISK_FIELDS, AccountRisk, account_risk

RANGES: dict[str, timedelta | None] = {
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "all": None,
}
DEFAULT_RANGE = "7d"
MAX_POINTS = 300
# Bucket widths a person reads easily (seconds); the smallest that keeps a range under MAX_POINTS.
BUCKET_WIDTHS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
# Above this many snapshot rows in a series (estimated), the finished buckets are cached: summing
# 500 accounts over 7 days reads millions of rows, too slow for every page view.
SERIES_CACHE_MIN_ROWS = 50_000
CENT = Decimal("0.01")
# What a money column (38 digits, 18 after the point) can hold: 20 digits before the point.
MONEY_LIMIT = Decimal(10) ** 20
# Why a figure is unknown ("—" on every surface, null plus this reason in the API), never zero.
# OKX has no positions endpoint for a sub-account read with the master's key (the master reads
# only its sub-accounts' balances: /api/v5/account/subaccount/balances, /asset/subaccount/balances).
NOT_READABLE_VIA_MASTER = "not readable through the master key"
NEVER_READ = "never read"
NO_TOTAL = "the latest snapshot has no total"
# Why an active account is in no team total (AccountRow.not_in_team_reason; the API's words).
DEMO_TRADING = "demo trading"
EXCLUDED = "excluded from team totals"
# The groups whose sums a page shows apart (AccountRow.group): the team's total, the demo
# subtotal, the subtotal of the live accounts excluded from team totals.
TEAM, DEMO, OUT = "team", "demo", "excluded"


@dataclass(frozen=True)
class Change:
    """A change in equity (USD) over a period: current minus the baseline, the equity at the
    period's start. With less history than the period, the baseline is the first snapshot with a
    total and `since` is its time (the pages say "since <since>"); else `since` is None."""

    usd: Decimal
    baseline_usd: Decimal
    since: datetime | None = None
    # A sum over accounts where some had the whole period and some (since) had less.
    mixed: bool = False

    @property
    def ratio(self) -> Decimal | None:
        """usd / baseline_usd (0.0123 is +1.23 %); None when the baseline is zero or below."""
        return self.usd / self.baseline_usd if self.baseline_usd > 0 else None

    @classmethod
    def of(
        cls, current: Decimal | None, then: Decimal | None, first: Decimal | None, first_at: datetime | None
    ) -> Change | None:
        """The change from the value at the period's start (`then`), else from the first value;
        None when the current equity or both baselines are unknown."""
        if current is None:
            return None
        if then is not None:
            return cls(current - then, then)
        if first is not None:
            return cls(current - first, first, first_at)
        return None

    @classmethod
    def combined(cls, changes: list[Change | None]) -> Change | None:
        """The sum over accounts; `since` is the earliest first-data time used, if any was."""
        known = [c for c in changes if c is not None]
        if not known:
            return None
        sinces = [c.since for c in known if c.since is not None]
        return cls(
            sum((c.usd for c in known), Decimal(0)),
            sum((c.baseline_usd for c in known), Decimal(0)),
            min(sinces) if sinces else None,
            mixed=0 < len(sinces) < len(known),
        )


# The credential columns account_rows() reads (as values, not instances: 500 Credential instances
# cost ~10 ms more): what Credential.facts_from and the warnings need, and the message the overview
# shows for a failing key.
ROW_CREDENTIAL_FIELDS = ("account_id", "health_message", *KEY_HEALTH_FIELDS)


@dataclass(frozen=True)
class AccountRow:
    account: Account  # with .master loaded (no extra query per row)
    equity_usd: Decimal | None  # latest snapshot's total_equity_usd
    share: Decimal | None  # equity_usd / total (0..1), None when total is 0/None
    change_24h_usd: Decimal | None  # latest minus the latest snapshot at or before now-24h
    # Sum of the latest snapshot's PositionLine.upl_usd (the priced ones); 0 with no positions;
    # None when the positions are unknown (positions_unknown_reason) or none of them is priced.
    upl_usd: Decimal | None
    # Positions with a size other than 0 (OKX's pos "0" rows are no position); None when unknown
    # (positions_unknown_reason says why), never 0.
    open_positions: int | None
    key_status: str  # "ok" | "grace" | "failing" | "unchecked" | "none" (no key of its own)
    warnings: list[dict]  # the credential's warnings as of now (Credential.warnings_at)
    needs_action: bool  # the key is failing or has a warning/danger (accounts.health.needs_action)
    last_refresh_at: datetime | None
    stale: bool  # no snapshot within stale_after() of the account's read interval
    # Positions whose PnL has no USD value (snapshots.positions.upl_usd): left out of upl_usd,
    # and every surface says so.
    upl_unpriced: int = 0
    # The latest snapshot was read with the master's key: its positions (and their PnL) are unknown.
    via_master: bool = False
    # Holdings the latest snapshot could not price (Snapshot.unpriced_funding: currencies the
    # cycle's price table has no USD price for): left out of equity_usd, and the totals say so.
    unpriced_holdings: tuple[str, ...] = ()
    # The 24 h change with its percentage; since the first snapshot when it is under a day old.
    change_24h: Change | None = None
    first_data_at: datetime | None = None  # the account's first snapshot with a total
    first_equity_usd: Decimal | None = None  # that snapshot's total (the baseline of a short history)
    # The latest snapshot's id (None: never read), so snapshots.risk.account_risk(latest=...) and
    # the 7 d change need not look it up again.
    snapshot_id: int | None = None
    # Why the account's own key failed, in words (Credential.health_reason); "" otherwise.
    key_reason: str = ""
    # The latest snapshot's risk columns (snapshots.risk.RISK_FIELDS), for account_risk(figures=...).
    risk_figures: dict[str, Any] | None = None

    @property
    def is_demo(self) -> bool:
        """A demo-trading account: never in the team's totals, charts, reports' totals or equity alerts
        (its key and staleness alerts still fire: a demo key that fails is still a key to fix)."""
        return self.account.is_demo

    @property
    def in_team_totals(self) -> bool:
        """Counted in the team's totals, chart and PnL (Account.in_team_totals): live, and not
        marked "excluded from team totals" (a test account, a client's money)."""
        return self.account.in_team_totals

    @property
    def not_in_team_reason(self) -> str | None:
        """Why the account is in no team total (not_in_team_reason); None when it is counted."""
        return not_in_team_reason(self.account)

    @property
    def group(self) -> str:
        """Which sum the row belongs to: TEAM, DEMO or OUT (live, excluded from team totals)."""
        return DEMO if self.is_demo else TEAM if self.in_team_totals else OUT

    @property
    def equity_unknown_reason(self) -> str | None:
        """Why equity_usd is None ("never read": no snapshot yet), else None."""
        return (
            None if self.equity_usd is not None else NEVER_READ if self.last_refresh_at is None else NO_TOTAL
        )

    @property
    def positions_unknown_reason(self) -> str | None:
        """Why open_positions and upl_usd are None, else None."""
        if self.last_refresh_at is None:
            return NEVER_READ
        return NOT_READABLE_VIA_MASTER if self.via_master else None


@dataclass(frozen=True)
class Excluded:
    """An account a total leaves out, and why ("never read")."""

    account: Account
    reason: str


@dataclass(frozen=True)
class Totals:
    """Sums over the accounts of one group (the team's: live and not excluded from team totals;
    the demo subtotal: demo trading)."""

    equity_usd: Decimal
    change_24h_usd: Decimal | None
    change_7d_usd: Decimal | None
    last_refresh_at: datetime | None
    stale_accounts: int
    environment: str = Environment.LIVE
    # The changes the pages show: with percentages, and since the first data when shorter.
    change_24h: Change | None = None
    change_7d: Change | None = None
    first_data_at: datetime | None = None  # the earliest first snapshot of the counted accounts
    accounts: int = 0  # active accounts of the group
    # Each account of the group whose equity is not in equity_usd, with the reason.
    not_in_total: tuple[Excluded, ...] = ()
    # Holdings of the counted accounts that have no USD price and are left out of equity_usd
    # ("excludes 2 unpriced holdings"): one per account and currency.
    unpriced_holdings: int = 0

    @property
    def counted(self) -> int:
        """How many accounts equity_usd covers."""
        return self.accounts - len(self.not_in_total)


def not_in_team_reason(account: Account) -> str | None:
    """Why an active account is in no team total: "demo trading" or "excluded from team totals";
    None when it is counted (Account.in_team_totals)."""
    return DEMO_TRADING if account.is_demo else None if account.in_team_totals else EXCLUDED


def stale_after(read_interval_s: float = 0) -> timedelta:
    """accounts.health.stale_after at the configured refresh interval (REFRESH_INTERVAL_SECONDS)
    and the account's read interval: for a keyless sub-account, its entry in
    snapshots.pacing.read_intervals() (seconds); 0 (the default) for the others."""
    return health.stale_after(settings.REFRESH_INTERVAL_SECONDS, read_interval_s)


def is_stale(last_refresh_at: datetime | None, now: datetime, read_interval_s: float = 0) -> bool:
    """accounts.health.is_stale at the configured refresh interval and the account's read
    interval (as stale_after): None (never) is stale."""
    return health.is_stale(last_refresh_at, now, settings.REFRESH_INTERVAL_SECONDS, read_interval_s)


def _latest_before(when: datetime | None = None) -> models.QuerySet:
    """The snapshots of the outer account, newest first (optionally at or before `when`)."""
    rows = Snapshot.objects.filter(account=OuterRef("pk"))
    if when is not None:
        rows = rows.filter(taken_at__lte=when)
    return rows.order_by("-taken_at")


def _first_total() -> models.QuerySet:
    """The outer account's snapshots with a total, oldest first."""
    return Snapshot.objects.filter(account=OuterRef("pk")).exclude(total_equity_usd=None).order_by("taken_at")


def account_rows(visible: Collection[int] | None = None) -> list[AccountRow]:
    """Active accounts by name, with their latest figures: three queries for any number (a fourth
    only when a sub-account's master is not itself among the rows: paused, or of another desk).
    `visible`: the ids of the accounts a user may see (accounts.desks.visible_account_ids), None
    for every account; shares are of the visible accounts' sums."""
    now = timezone.now()
    scope = Account.objects.filter(active=True)
    if visible is not None:
        scope = scope.filter(pk__in=list(visible))
    accounts = list(
        scope.annotate(
            latest_id=Subquery(_latest_before().values("id")[:1]),
            equity_24h_ago=Subquery(_latest_before(now - timedelta(days=1)).values("total_equity_usd")[:1]),
            first_equity=Subquery(_first_total().values("total_equity_usd")[:1]),
            first_at=Subquery(_first_total().values("taken_at")[:1]),
        )
    )
    link_masters(accounts)
    latest = _latest_snapshots([a.latest_id for a in accounts if a.latest_id is not None])
    # Each account's active key (one at most), unordered (the model's ordering joins the accounts
    # table), with the accounts in a subquery rather than 500 parameters.
    keys = {
        key["account_id"]: key
        for key in Credential.objects.filter(status=CredentialStatus.ACTIVE, account__in=scope.values("pk"))
        .order_by()
        .values(*ROW_CREDENTIAL_FIELDS)
    }
    # Keyless sub-accounts are read round-robin through their master: stale is per account.
    keyed = ((a.pk, a.master_id, a.pk in keys) for a in accounts)
    read = pacing.read_intervals(pacing.split_accounts(keyed)[1])
    policy = health_policy()
    parts = [
        _row_parts(
            account, latest.get(account.latest_id), keys.get(account.pk), now, read.get(account.pk, 0), policy
        )
        for account in accounts
    ]
    # A share is of the account's own group's sum (AccountRow.group): paper money and accounts
    # excluded from team totals are no part of the team's.
    sums: dict[str, Decimal] = {}
    for part in parts:
        equity = part["equity_usd"]
        if equity is not None:
            group = _group(part["account"])
            sums[group] = sums.get(group, Decimal(0)) + equity
    rows = []
    for part in parts:
        equity, total = part["equity_usd"], sums.get(_group(part["account"]))
        rows.append(AccountRow(**part, share=equity / total if equity is not None and total else None))
    return rows


def rows_risk(rows: list[AccountRow]) -> dict[int, AccountRisk]:
    """snapshots.risk.account_risk of the rows' accounts from what account_rows read (each
    latest snapshot's id and risk figures): one query, for their positions."""
    return account_risk(
        latest={row.account.pk: row.snapshot_id for row in rows},
        figures={row.snapshot_id: row.risk_figures for row in rows if row.snapshot_id and row.risk_figures},
    )


def _group(account: Account) -> str:
    """AccountRow.group of the account's row."""
    return DEMO if account.is_demo else TEAM if account.in_team_totals else OUT


def link_masters(accounts: Iterable[Account]) -> None:
    """Set each sub-account's .master (unless already loaded): the instance among `accounts` when
    it is one of them (no second copy of it per sub-account, as select_related("master") makes),
    else from one query for those that are not (a paused master, one of another desk); no query
    when every master is listed."""
    listed = list(accounts)
    by_pk = {account.pk: account for account in listed}
    subs = [(a, a.master_id) for a in listed if a.master_id is not None and not Account.master.is_cached(a)]
    missing = {pk for _, pk in subs if pk not in by_pk}
    if missing:
        by_pk.update(Account.objects.in_bulk(list(missing)))
    for account, master_id in subs:
        account.master = by_pk[master_id]


def _latest_snapshots(ids: list[int]) -> dict[int, dict[str, Any]]:
    """id -> {taken_at, total_equity_usd, via_master, unpriced_funding, upl, position_count,
    upl_unpriced, and the risk columns (snapshots.risk.RISK_FIELDS)}: one GROUP BY over the
    positions. upl sums the USD values (never coin amounts); a size of 0 is no position (rows
    stored before the refresh dropped them)."""
    if not ids:
        return {}
    # Positive conditions only: a negated Q over a reverse relation would become a subquery.
    real = Q(positions__size__gt=0) | Q(positions__size__lt=0) | Q(positions__size=None, positions__id__gt=0)
    rows = (
        Snapshot.objects.filter(id__in=ids)
        .order_by()
        .values(*dict.fromkeys((*RISK_FIELDS, "total_equity_usd", "unpriced_funding")))
        .annotate(
            upl=MoneySum("positions__upl_usd", filter=real),
            position_count=Count("positions", filter=real),
            upl_unpriced=Count("positions", filter=real & Q(positions__upl_usd=None)),
        )
    )
    return {row["id"]: dict(row) for row in rows}


def _row_parts(
    account: Account,
    snapshot: dict[str, Any] | None,
    key: dict[str, Any] | None,
    now: datetime,
    read_interval_s: float,
    policy: Policy,
) -> dict[str, Any]:
    """An AccountRow's fields but its share (account_rows adds it once the group sums are known).
    `key`: the active credential's ROW_CREDENTIAL_FIELDS, None without one."""
    equity = snapshot["total_equity_usd"] if snapshot else None
    taken_at = snapshot["taken_at"] if snapshot else None
    # Set by account_rows()'s annotations, unknown to the stubs.
    ago = account.equity_24h_ago  # type: ignore[attr-defined]
    # Credential.warnings_at, with the policy read once for all the rows.
    warnings = (
        health.warnings_at(
            key["warnings"],
            Credential.facts_from({**key, "account__environment": account.environment}),
            now,
            policy,
        )
        if key
        else []
    )
    status = (key["health_status"] or "unchecked") if key else "none"
    # Positions are known only from a snapshot read with the account's own key.
    seen: dict[str, Any] = snapshot or {}
    known = snapshot is not None and not seen["via_master"]
    upl = seen.get("upl")
    if known and upl is None and not seen["upl_unpriced"]:
        upl = Decimal(0)  # no positions: a known zero
    first_at = account.first_at  # type: ignore[attr-defined]
    change = Change.of(equity, ago, account.first_equity, first_at)  # type: ignore[attr-defined]
    return {
        "account": account,
        "equity_usd": equity,
        "change_24h_usd": change.usd if change is not None and change.since is None else None,
        "change_24h": change,
        "first_data_at": first_at,
        "first_equity_usd": account.first_equity,  # type: ignore[attr-defined]
        "snapshot_id": snapshot["id"] if snapshot else None,
        "risk_figures": {name: snapshot[name] for name in RISK_FIELDS} if snapshot else None,
        "upl_usd": upl if known else None,
        "open_positions": seen["position_count"] if known else None,
        "upl_unpriced": seen["upl_unpriced"] if known else 0,
        "via_master": bool(seen.get("via_master")),
        "unpriced_holdings": tuple(seen.get("unpriced_funding") or ()),
        "key_status": status,
        "key_reason": health.without_endpoint(key["health_message"]) if key else "",
        "warnings": warnings,
        # The rule Credential.needs_action applies, on the warnings just computed.
        "needs_action": key is not None and health.needs_action(key["health_status"], warnings),
        "last_refresh_at": taken_at,
        "stale": is_stale(taken_at, now, read_interval_s),
    }


def totals(rows: list[AccountRow], environment: str = Environment.LIVE) -> Totals:
    """Sums over the rows of one group: live (the default), the team's total over the accounts in
    team totals (Account.in_team_totals: an account excluded from team totals is left out, as
    demo trading is); demo, the demo-trading subtotal (paper money). Total equity is exactly the
    sum of those rows' equity; not_in_total names the rows it leaves out and why. A change sums
    the accounts that have a value then and now, so a new account does not count as a gain. One
    query (the 7 d change) when some row of the group has equity, else none."""
    group = DEMO if environment == Environment.DEMO else TEAM
    rows = [r for r in rows if r.group == group]
    equities = [r.equity_usd for r in rows if r.equity_usd is not None]
    changes = [r.change_24h_usd for r in rows if r.change_24h_usd is not None]
    refreshed = [r.last_refresh_at for r in rows if r.last_refresh_at is not None]
    week = _week_changes(rows)
    full_week = [c.usd for c in week.values() if c.since is None]
    firsts = [r.first_data_at for r in rows if r.first_data_at is not None and r.equity_usd is not None]
    return Totals(
        equity_usd=sum(equities, Decimal(0)),
        change_24h_usd=sum(changes, Decimal(0)) if changes else None,
        change_7d_usd=sum(full_week, Decimal(0)) if full_week else None,
        change_24h=Change.combined([r.change_24h for r in rows]),
        change_7d=Change.combined(list(week.values())),
        first_data_at=min(firsts) if firsts else None,
        last_refresh_at=max(refreshed) if refreshed else None,
        stale_accounts=sum(1 for r in rows if r.stale),
        environment=environment,
        accounts=len(rows),
        not_in_total=tuple(
            Excluded(r.account, r.equity_unknown_reason or "") for r in rows if r.equity_usd is None
        ),
        unpriced_holdings=sum(len(r.unpriced_holdings) for r in rows if r.equity_usd is not None),
    )


def changes_since(equity_by_id: dict[int, Decimal | None], ago: timedelta) -> dict[int, Change]:
    """{account id: its Change over the last `ago`} for the accounts whose current equity is known:
    the current equity minus the one at or before now-ago, or minus the first snapshot's when the
    account's history is shorter (Change.since). One query; none when no equity is known."""
    current = {pk: value for pk, value in equity_by_id.items() if value is not None}
    if not current:
        return {}
    rows = (
        Account.objects.filter(pk__in=list(current))
        .annotate(
            then=Subquery(
                _latest_before(timezone.now() - ago)
                .exclude(total_equity_usd=None)
                .values("total_equity_usd")[:1]
            ),
            first=Subquery(_first_total().values("total_equity_usd")[:1]),
            first_at=Subquery(_first_total().values("taken_at")[:1]),
        )
        .values_list("pk", "then", "first", "first_at")
    )
    found = {pk: Change.of(current[pk], then, first, first_at) for pk, then, first, first_at in rows}
    return {pk: change for pk, change in found.items() if change is not None}


def _week_changes(rows: list[AccountRow]) -> dict[int, Change]:
    """changes_since(..., 7 days) of the rows, with each row's first figures (account_rows read
    them): one query, for the equity a week ago only; none when no equity is known."""
    current = {r.account.pk: r for r in rows if r.equity_usd is not None}
    if not current:
        return {}
    then = _values_at(list(current), timezone.now() - timedelta(days=7))
    found = {
        pk: Change.of(row.equity_usd, then.get(pk), row.first_equity_usd, row.first_data_at)
        for pk, row in current.items()
    }
    return {pk: change for pk, change in found.items() if change is not None}


def first_data_at(account: Account) -> datetime | None:
    """The time of the account's first snapshot with a total (one query); None without one."""
    return (
        Snapshot.objects.filter(account=account)
        .exclude(total_equity_usd=None)
        .order_by("taken_at")
        .values_list("taken_at", flat=True)
        .first()
    )


def default_range(first_data_at: datetime | None, now: datetime | None = None) -> str:
    """The chart range a page opens on: the shortest that holds all the history there is (a day
    old team: "1d", not a 7 d chart with one dot); "1d" without any history."""
    if first_data_at is None:
        return "1d"
    age = (now or timezone.now()) - first_data_at
    return next((key for key, span in RANGES.items() if span is not None and age <= span), "all")


def latest_snapshot(account: Account) -> Snapshot | None:
    """The account's newest snapshot with its balance and position lines (three queries)."""
    return (
        Snapshot.objects.filter(account=account)
        .order_by("-taken_at")
        .prefetch_related("balances", "positions")
        .first()
    )


def range_or_none(value: str | None, default: str = DEFAULT_RANGE) -> str | None:
    """The range key for a query parameter: `default` when absent, None when not a range."""
    if value is None or value == "":
        return default
    return value if value in RANGES else None


class TimeBucket(models.Func):
    """floor(epoch seconds / width): the index of the time bucket a timestamp falls in."""

    output_field = models.BigIntegerField()

    def __init__(self, expression: Any, width: int) -> None:
        super().__init__(expression)
        self.width = int(width)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template=f"(unixepoch(%(expressions)s) / {self.width})")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = f"CAST(FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / {self.width}) AS BIGINT)"
        return self.as_sql(compiler, connection, template=template)


def equity_series(
    account: Account | None,
    range_key: str,
    visible: Collection[int] | None = None,
    latest: Decimal | None = None,
    first: datetime | None = None,
) -> list[tuple[datetime, Decimal]]:
    """The equity over a range, one point per time bucket (at most ~MAX_POINTS), oldest first.
    A bucket's value sums, over the accounts (account None: the team's, Account.in_team_totals,
    of those in `visible` when it is not None: a desk-limited user's team), each account's mean in
    the bucket, or its last known value when it has no snapshot there (a refresh that failed for
    a while is not a loss); the newest point sums the latest snapshots. The time of a point is
    the start of its bucket (UTC). A large series caches its settled buckets under its sorted
    account ids, so every user who sees the same accounts shares them (warm_charts fills them).
    `latest`: the sum of the latest snapshots when the caller has it (the overview's total shown),
    for the newest point without reading it again; `first`: the accounts' earliest first reading
    with a total (the rows' first_data_at), for the "all" range's start without reading it."""
    if range_key not in RANGES:
        raise ValueError(f"unknown range {range_key!r}; one of {', '.join(RANGES)}")
    now = timezone.now()
    ids = [account.pk] if account is not None else team_ids(visible)
    start = _series_start(account, ids, RANGES[range_key], now, first)
    if start is None or not ids:
        return []
    width = _bucket_width(now - start)
    # Buckets start on multiples of their width, so cached buckets keep their keys for a while.
    start = datetime.fromtimestamp(start.timestamp() // width * width, tz=UTC)
    settled_end = _settled_end(now, width)
    if not _uses_cache(len(ids), start, settled_end, now):
        sums, _ = _filled(_bucket_means(ids, start, now, width), _values_at(ids, start))
    else:
        settled, carry = _cached_settled(ids, start, settled_end, width)
        sums = [*settled, *_unsettled(ids, settled_end, now, width, carry)]
    return _points(_ending_on_latest(sums, ids, now, latest), width)


def team_ids(visible: Collection[int] | None = None) -> list[int]:
    """The accounts the team's chart sums (Account.objects.in_team_totals: active, live, not
    excluded), of `visible` when it is not None (one query; none for an empty `visible`)."""
    if visible is not None and not visible:
        return []
    team = Account.objects.in_team_totals()
    if visible is not None:
        team = team.filter(pk__in=list(visible))
    return list(team.order_by("pk").values_list("pk", flat=True))


def _unsettled(
    ids: list[int], settled_end: datetime, now: datetime, width: int, carry: dict[int, Decimal]
) -> list[tuple[int, Decimal]]:
    """The buckets after the cached ones, as _filled gives them: the bucket before the open one
    while it has not settled (its means read live), then the open bucket, whose value
    _ending_on_latest replaces by the latest snapshots' sum: of it only whether it has a
    snapshot is read (its means would read up to a whole bucket of raw snapshots of every
    account, two days of them for the "all" range, for a value no one sees)."""
    opened = datetime.fromtimestamp(now.timestamp() // width * width, tz=UTC)
    sums = _filled(_bucket_means(ids, settled_end, opened, width), carry)[0] if settled_end < opened else []
    rows = Snapshot.objects.filter(account_id__in=ids, taken_at__gte=opened, taken_at__lt=now)
    if rows.exclude(total_equity_usd=None).exists():
        sums.append((int(opened.timestamp()) // width, Decimal(0)))  # replaced by _ending_on_latest
    return sums


def _uses_cache(accounts: int, start: datetime, settled_end: datetime, now: datetime) -> bool:
    estimated_rows = accounts * (now - start).total_seconds() / settings.REFRESH_INTERVAL_SECONDS
    return estimated_rows >= SERIES_CACHE_MIN_ROWS and settled_end > start


def cached_ranges(visible: Collection[int] | None = None) -> list[str]:
    """The ranges whose team series (of `visible`, as equity_series) keeps its settled buckets in
    the cache (what the chart-warming task computes ahead of the pages)."""
    now = timezone.now()
    ids = team_ids(visible)
    found = []
    for key, span in RANGES.items():
        start = _series_start(None, ids, span, now) if ids else None
        if start is not None and _uses_cache(
            len(ids), start, _settled_end(now, _bucket_width(now - start)), now
        ):
            found.append(key)
    return found


def _ending_on_latest(
    sums: list[tuple[int, Decimal]], ids: list[int], now: datetime, latest: Decimal | None = None
) -> list[tuple[int, Decimal]]:
    """The newest point is the sum of each account's latest snapshot, not the bucket's mean, each
    rounded to cents as its row is: the chart ends on the total the page shows beside it (read
    here unless `latest` gives it)."""
    if not sums:
        return sums
    if latest is None:
        latest = sum((value.quantize(CENT) for value in _values_at(ids, now).values()), Decimal(0))
    return [*sums[:-1], (sums[-1][0], latest)]


def _series_start(
    account: Account | None,
    ids: list[int],
    span: timedelta | None,
    now: datetime,
    first: datetime | None = None,
) -> datetime | None:
    """Where a series of `span` starts: now - span; for the whole history (span None), an
    account's first snapshot, or the team's earliest first snapshot with a total (the first
    reading any sum can have; `first` when the caller has it: AccountRow.first_data_at)."""
    if span is not None:
        return now - span
    if account is not None:
        found = (
            Snapshot.objects.filter(account=account).order_by("taken_at").values_list("taken_at", flat=True)
        )
        return found.first()
    if first is not None:
        return first
    # One seek per account on (account, taken_at) instead of a MIN over the whole history.
    firsts = Account.objects.filter(pk__in=ids).annotate(
        first=Subquery(_first_total().values("taken_at")[:1])
    )
    return firsts.aggregate(start=models.Min("first"))["start"]


def _bucket_width(span: timedelta) -> int:
    needed = max(span.total_seconds(), 1) / MAX_POINTS
    return next((w for w in BUCKET_WIDTHS if w >= needed), math.ceil(needed))


def _settled_end(now: datetime, width: int) -> datetime:
    """The end of the last bucket no late snapshot can still land in (refreshes write at most a
    cycle late; stale_after() is two)."""
    settled = (now - stale_after()).timestamp()
    return datetime.fromtimestamp(settled // width * width, tz=UTC)


def _values_at(ids: list[int], when: datetime) -> dict[int, Decimal]:
    """Each account's equity at or before `when` (one seek per account): the value carried into
    a range until the account's first snapshot inside it."""
    rows = (
        Account.objects.filter(pk__in=ids)
        .annotate(
            value=Subquery(_latest_before(when).exclude(total_equity_usd=None).values("total_equity_usd")[:1])
        )
        .values_list("pk", "value")
    )
    return {pk: value for pk, value in rows if value is not None}


def _bucket_means(
    ids: list[int], start: datetime, end: datetime, width: int
) -> list[tuple[int, int, Decimal]]:
    """(bucket, account id, the account's mean equity in the bucket), by bucket: one query."""
    rows = (
        Snapshot.objects.filter(account_id__in=ids, taken_at__gte=start, taken_at__lt=end)
        .exclude(total_equity_usd=None)
        .annotate(bucket=TimeBucket("taken_at", width))
        .order_by()
        .values("bucket", "account_id")
        .annotate(mean=MoneyAvg("total_equity_usd"))
        .order_by("bucket")
        .values_list("bucket", "account_id", "mean")
    )
    means = [(int(bucket), pk, _decimal(mean)) for bucket, pk, mean in rows]
    return [(bucket, pk, mean) for bucket, pk, mean in means if mean is not None]


def _filled(
    means: list[tuple[int, int, Decimal]], carry: dict[int, Decimal]
) -> tuple[list[tuple[int, Decimal]], dict[int, Decimal]]:
    """Per bucket, the sum of every account's latest value so far; and the values at the end.
    The total is kept as a running sum (re-summing every account per row made 500 accounts x 7
    days cost 7 s); the wide context keeps it exact, as a fresh sum of these values would be."""
    last = dict(carry)
    sums: list[tuple[int, Decimal]] = []
    shown = decimal.getcontext()  # each sum is rounded as a fresh sum would be
    with decimal.localcontext(prec=80):
        total = sum(last.values(), Decimal(0))
        for bucket, pk, mean in means:
            total += mean - last.get(pk, 0)
            last[pk] = mean
            if sums and sums[-1][0] == bucket:
                sums[-1] = (bucket, shown.plus(total))
            else:
                sums.append((bucket, shown.plus(total)))
    return sums, last


def _cached_settled(
    ids: list[int], start: datetime, end: datetime, width: int
) -> tuple[list[tuple[int, Decimal]], dict[int, Decimal]]:
    """The settled buckets of a large series and the values they end on, cached until the next
    bucket settles. The key names the accounts: activating or deactivating one computes afresh."""
    key = f"pages:series:{scope_key(ids)}:{width}:{start.timestamp():.0f}:{end.timestamp():.0f}"
    cached = cache_get_many([key]).get(key)
    if cached is not None:
        sums, carry = cached
        return [(b, Decimal(v)) for b, v in sums], {int(pk): Decimal(v) for pk, v in carry.items()}
    sums, carry = _filled(_bucket_means(ids, start, end, width), _values_at(ids, start))
    payload = ([(b, str(v)) for b, v in sums], {pk: str(v) for pk, v in carry.items()})
    cache_set_many({key: payload}, timeout=width + settings.REFRESH_INTERVAL_SECONDS)
    return sums, carry


def scope_key(ids: Iterable[int]) -> str:
    """A short name of a set of accounts, for the keys of cached figures over them."""
    return hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]


def cache_get_many(keys: list[str]) -> dict[str, Any]:
    """{key: value} of the keys found in the cache. The cache is Redis: when it is down, nothing
    is found and pages compute afresh instead of failing."""
    try:
        return cache.get_many(keys)
    except redis.RedisError:
        return {}


def cache_set_many(values: dict[str, Any], timeout: int) -> None:
    """Keep the values for `timeout` seconds (nothing when Redis is down)."""
    with contextlib.suppress(redis.RedisError):
        cache.set_many(values, timeout=timeout)


def _points(sums: list[tuple[int, Decimal]], width: int) -> list[tuple[datetime, Decimal]]:
    return [(datetime.fromtimestamp(b * width, tz=UTC), value) for b, value in sums]


def _decimal(value: Any) -> Decimal | None:
    """SQLite returns floats for decimal means (PostgreSQL exact Decimals): both to cents. None
    for a mean that is no amount (a row stored before validation held 1e400, which SQLite
    averages to inf): that bucket's value is unknown, never a crash."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(value)
        return amount.quantize(CENT) if amount.is_finite() and abs(amount) < MONEY_LIMIT else None
    except decimal.InvalidOperation:
        return None
