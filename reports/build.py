"""The numbers of a report as of one moment, read from the snapshot history (never from OKX).

Every figure is taken from each account's nearest snapshot at or before the moment, found with a
correlated Subquery, so the number of queries does not grow with the number of accounts.

The PnL of a report is over its period, from the schedule's previous slot to this one (24 hours
when there is none): per account and for the team, net of transfers (ledger.performance), so a
deposit is not a gain and a transfer out is not a loss.

A change over a window follows the overview's rule (snapshots.queries.Change): the equity at the
moment minus the equity at the window's start; an account with less history than the window
counts from its first snapshot with a total (Change.since says when), so a young desk's report
shows the same "since first data" figure as the overview, not "—".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.health import ACTION_SEVERITIES, HealthStatus, Severity
from accounts.models import Account, Credential, CredentialStatus, Environment
from ledger.performance import account_pnl, team_pnl
from ledger.pnl import Period, PnL
from snapshots.models import BalanceLine, PositionLine, Snapshot
from snapshots.pacing import read_intervals
from snapshots.queries import NEVER_READ, NOT_READABLE_VIA_MASTER, Change, is_stale

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class SnapshotAt(TypedDict):
    """The annotations with_snapshot_at() adds to each account."""

    snapshot_id: int | None
    snapshot_at: datetime | None
    snapshot_equity: Decimal | None  # USD
    snapshot_via_master: bool | None  # read with the master's key: positions unknown
    snapshot_earn: Decimal | None  # Earn (USD), in snapshot_equity; None when not read
    snapshot_earn_unread: str | None  # why Earn was not read, or how its value was carried


CHANGE_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
USD = "USD"
# A report's PnL period when its schedule has no earlier slot (a report made on demand).
DEFAULT_PNL_SPAN = timedelta(hours=24)


def _latest(field_name: str, moment: datetime) -> Subquery:
    rows = Snapshot.objects.filter(account=OuterRef("pk"), taken_at__lte=moment).order_by("-taken_at", "-pk")
    return Subquery(rows.values(field_name)[:1])


def with_snapshot_at(
    accounts: QuerySet[Account], moment: datetime
) -> QuerySet[WithAnnotations[Account, SnapshotAt]]:
    """Annotate each account with its nearest snapshot at or before `moment` (id, time, equity)."""
    return accounts.annotate(
        snapshot_id=_latest("pk", moment),
        snapshot_at=_latest("taken_at", moment),
        snapshot_equity=_latest("total_equity_usd", moment),
        snapshot_via_master=_latest("via_master", moment),
        snapshot_earn=_latest("earn_usd", moment),
        snapshot_earn_unread=_latest("earn_unread", moment),
    )


def _with_total(field_name: str, moment: datetime, *, first: bool = False) -> Subquery:
    """The outer account's snapshot with a total at or before `moment`: the newest, or the oldest."""
    rows = Snapshot.objects.filter(account=OuterRef("pk"), taken_at__lte=moment)
    rows = rows.exclude(total_equity_usd=None)
    order = ("taken_at", "pk") if first else ("-taken_at", "-pk")
    return Subquery(rows.order_by(*order).values(field_name)[:1])


def equity_at(accounts: QuerySet[Account], moment: datetime) -> dict[int, Decimal]:
    """Account id -> total equity (USD) of its newest snapshot with a total at or before `moment`
    (one query); accounts without one are left out."""
    rows = accounts.annotate(equity=_with_total("total_equity_usd", moment)).values_list("pk", "equity")
    return {pk: equity for pk, equity in rows if equity is not None}


def first_totals(accounts: QuerySet[Account], moment: datetime) -> dict[int, tuple[Decimal, datetime]]:
    """Account id -> (total equity USD, time) of its first snapshot with a total at or before
    `moment` (one query): the baseline of a change over a window longer than its history."""
    rows = accounts.annotate(
        first=_with_total("total_equity_usd", moment, first=True),
        first_at=_with_total("taken_at", moment, first=True),
    ).values_list("pk", "first", "first_at")
    return {pk: (first, at) for pk, first, at in rows if first is not None}


def usd_rate(ccy: str, moment: datetime) -> Decimal | None:
    """USD per unit of `ccy` from the newest stored balance line of a live account at or before
    `moment` that has both an amount and a USD value (a demo-trading account's paper prices never
    price a live report); None when the history cannot price it."""
    if ccy == USD:
        return Decimal(1)
    line = (
        BalanceLine.objects.filter(ccy=ccy, snapshot__taken_at__lte=moment, equity__gt=0, usd_value__gt=0)
        .exclude(snapshot__account__environment=Environment.DEMO)
        .order_by("-snapshot__taken_at")
        .values_list("equity", "usd_value")
        .first()
    )
    if line is None or not line[0] or line[1] is None:  # the filter excludes these: for mypy
        return None
    return line[1] / line[0]


@dataclass
class AccountFigures:
    name: str
    snapshot_at: datetime | None
    equity_usd: Decimal | None
    stale: bool
    # Window label ("24h", "7d", "30d") -> the change of equity_usd over it (snapshots.queries.Change:
    # USD, with `since` when counted from the first data); None when unknown.
    changes: dict[str, Change | None] = field(default_factory=dict)
    balances: list[BalanceLine] = field(default_factory=list)
    positions: list[PositionLine] = field(default_factory=list)
    demo: bool = False  # a demo-trading account: its own section, never in the report's totals
    # A live account marked "excluded from team totals" (Account.excluded_from_totals): listed in
    # its own section, never in the report's totals.
    excluded: bool = False
    via_master: bool = False  # its snapshot was read with the master's key
    # Earn (simple earn / savings) in USD, part of equity_usd (OKX's asset valuation: one USD
    # figure, no amounts per currency); None when not read, earn_note says why.
    earn_usd: Decimal | None = None
    earn_note: str = ""
    account_id: int | None = None
    # PnL over the report's period, net of transfers (ledger.performance); live accounts only.
    pnl: PnL | None = None

    @property
    def in_team(self) -> bool:
        """Counted in the report's totals (Account.in_team_totals): live, not excluded."""
        return not self.demo and not self.excluded

    @property
    def earn_reason(self) -> str:
        """Why Earn is unknown, or how its value was carried; "" when read with the snapshot."""
        if self.snapshot_at is None:
            return NEVER_READ
        return self.earn_note or ("" if self.earn_usd is not None else "not read")

    @property
    def positions_unknown_reason(self) -> str | None:
        """Why this account's positions (and their PnL) are unknown, else None: never zero."""
        if self.snapshot_at is None:
            return NEVER_READ
        return NOT_READABLE_VIA_MASTER if self.via_master else None


@dataclass
class ReportData:
    slot: datetime
    currency: str
    rate: Decimal  # USD per unit of the presentation currency
    accounts: list[AccountFigures]
    total_usd: Decimal
    # Window label -> change of the total (Change, USD; Change.combined over the accounts), and
    # "since previous report" against the last report's total.
    changes: dict[str, Change | None]
    previous_slot: datetime | None
    warnings: list[dict]
    currency_note: str = ""
    # Demo-trading accounts (paper money): listed in their own section with their own subtotal;
    # `accounts`, total_usd, the changes, balances and positions are the in-team accounts' only.
    demo_accounts: list[AccountFigures] = field(default_factory=list)
    demo_total_usd: Decimal = Decimal(0)
    # Live accounts excluded from team totals (a test account, a client's money): like the demo
    # ones, their own section and subtotal, outside every figure above.
    excluded_accounts: list[AccountFigures] = field(default_factory=list)
    excluded_total_usd: Decimal = Decimal(0)
    # The PnL period (report_period) and the team's PnL over it (every in-team account, transfers
    # between them cancelling); `team_scope` says so when the report lists only some of them. A
    # desk's report (`desk`, its name) has the desk's PnL instead: its in-team accounts only.
    period: Period | None = None
    team_pnl: PnL | None = None
    team_scope: str = ""
    desk: str = ""

    @property
    def stale(self) -> list[AccountFigures]:
        return [row for row in [*self.accounts, *self.excluded_accounts, *self.demo_accounts] if row.stale]

    @property
    def positions_unknown(self) -> list[tuple[str, str]]:
        """(account name, reason) of each live account whose positions are unknown: they are not
        in the positions count or the PnL, and the report says so."""
        return [(row.name, reason) for row in self.accounts if (reason := row.positions_unknown_reason)]

    @property
    def earn_usd(self) -> Decimal:
        """The live accounts' Earn (USD) in total_usd; accounts whose Earn is unknown add nothing
        and are named by earn_unknown."""
        return sum((row.earn_usd for row in self.accounts if row.earn_usd is not None), Decimal(0))

    @property
    def earn_unknown(self) -> list[tuple[str, str]]:
        """(account name, reason) of each live account whose Earn is not in the total."""
        return [(row.name, row.earn_reason) for row in self.accounts if row.earn_usd is None]

    def balances_by_ccy(self) -> list[tuple[str, Decimal, Decimal | None, Decimal]]:
        """(currency, amount, USD value of its priced part, unpriced amount) across accounts and
        wallets. The value covers only the priced lines, so a currency held partly unpriced
        says how much of its amount the value leaves out (SOL 460 of which 120 unpriced: never
        a value of 340 SOL next to the amount 460); a currency with no priced line has None."""
        amounts: dict[str, Decimal] = defaultdict(Decimal)
        values: dict[str, Decimal] = {}
        unpriced: dict[str, Decimal] = defaultdict(Decimal)
        for row in self.accounts:
            for line in row.balances:
                amounts[line.ccy] += line.equity or 0
                if line.usd_value is None:
                    unpriced[line.ccy] += line.equity or 0
                else:
                    values[line.ccy] = values.get(line.ccy, Decimal(0)) + line.usd_value
        return sorted(
            ((ccy, amounts[ccy], values.get(ccy), unpriced[ccy]) for ccy in amounts),
            key=lambda r: -(r[2] or Decimal(0)),
        )

    @property
    def positions(self) -> list[tuple[str, PositionLine]]:
        return [(row.name, line) for row in self.accounts for line in row.positions]

    @property
    def upl_usd(self) -> Decimal:
        """The positions' PnL in USD (PositionLine.upl_usd, never a coin amount); those without a
        USD value are left out and counted by upl_unpriced."""
        return sum((line.upl_usd for _, line in self.positions if line.upl_usd is not None), Decimal(0))

    @property
    def upl_unpriced(self) -> int:
        return sum(1 for _, line in self.positions if line.upl_usd is None)


def account_figures(accounts: QuerySet[Account], slot: datetime) -> list[AccountFigures]:
    """1. Each account's snapshot at or before the slot (one query).
    2. Its balance and position lines (one query each, for all accounts).
    3. Equity 24 h / 7 d / 30 d earlier (one query per window) and the first equity at or before
       the slot (one query): each change is Change.of(now, then, first), the overview's rule."""
    fields = (
        "pk",
        "name",
        "environment",
        "excluded_from_totals",
        "snapshot_id",
        "snapshot_at",
        "snapshot_equity",
        "snapshot_via_master",
        "snapshot_earn",
        "snapshot_earn_unread",
    )
    rows: list[dict[str, Any]] = list(with_snapshot_at(accounts, slot).order_by("name").values(*fields))
    ids = [row["snapshot_id"] for row in rows if row["snapshot_id"]]
    balances = _lines_by_snapshot(BalanceLine.objects.filter(snapshot_id__in=ids).order_by("wallet", "ccy"))
    # A size of 0 is no position (rows stored before the refresh dropped OKX's pos "0" rows).
    positions = _lines_by_snapshot(
        PositionLine.objects.filter(snapshot_id__in=ids).exclude(size=0).order_by("inst_id")
    )
    earlier = {label: equity_at(accounts, slot - span) for label, span in CHANGE_WINDOWS.items()}
    firsts = first_totals(accounts, slot)
    figures = []
    read = read_intervals()  # keyless sub-accounts are read round-robin, maybe less often
    for row in rows:
        pk, equity = row["pk"], row["snapshot_equity"]
        stale = is_stale(row["snapshot_at"], slot, read.get(pk, 0))
        figure = AccountFigures(row["name"], row["snapshot_at"], equity, stale)
        figure.account_id = pk
        figure.demo = row["environment"] == Environment.DEMO
        figure.excluded = not figure.demo and row["excluded_from_totals"]
        figure.via_master = bool(row["snapshot_via_master"])
        figure.earn_usd, figure.earn_note = row["snapshot_earn"], row["snapshot_earn_unread"] or ""
        figure.balances = balances.get(row["snapshot_id"], [])
        figure.positions = positions.get(row["snapshot_id"], [])
        first, first_at = firsts.get(pk, (None, None))
        for label, then in earlier.items():
            figure.changes[label] = Change.of(equity, then.get(pk), first, first_at)
        figures.append(figure)
    return figures


def _lines_by_snapshot(lines: QuerySet) -> dict[int, list]:
    grouped: dict[int, list] = defaultdict(list)
    for line in lines:
        grouped[line.snapshot_id].append(line)
    return grouped


def total_changes(figures: list[AccountFigures]) -> dict[str, Change | None]:
    """The change of the total per window: the sum of the accounts' changes (Change.combined), so
    an account that is new within the window counts from its first data, never its whole equity
    as a gain; None when no account has a current equity and a baseline."""
    return {label: Change.combined([f.changes.get(label) for f in figures]) for label in CHANGE_WINDOWS}


def warnings_needing_action(accounts: QuerySet[Account], moment: datetime) -> list[dict]:
    """What someone must act on at `moment`, by account name: a failing key, and each warning of
    ACTION_SEVERITIES (Credential.warnings_at), as {"account", "code", "severity", "message"}; an
    account is listed exactly when Credential.needs_action says so."""
    found: list[dict[str, Any]] = []
    credentials = Credential.objects.filter(account__in=accounts, status=CredentialStatus.ACTIVE)
    for credential in credentials.select_related("account").order_by("account__name"):
        name = credential.account.name
        if credential.health_status == HealthStatus.FAILING:
            message = credential.health_reason or "the key is failing"
            found.append(
                {"account": name, "code": "failing", "severity": Severity.DANGER, "message": message}
            )
        for warning in credential.warnings_at(moment):
            if warning.get("severity") in ACTION_SEVERITIES:
                found.append(
                    {"account": name, **{k: warning.get(k) for k in ("code", "severity", "message")}}
                )
    return found


def report_period(slot: datetime, since: datetime | None = None) -> Period:
    """What a report's PnL covers: from `since` (its schedule's previous slot) to `slot`; the
    DEFAULT_PNL_SPAN before `slot` without one."""
    start = since if since is not None and since < slot else slot - DEFAULT_PNL_SPAN
    return Period("custom", start, slot, f"{start:%Y-%m-%d %H:%M} to {slot:%Y-%m-%d %H:%M} UTC")


def with_pnl(figures: list[AccountFigures], window: Period) -> None:
    """Set each account's PnL over `window` (ledger.performance.account_pnl: a fixed number of
    queries for any number of accounts)."""
    found = account_pnl([f.account_id for f in figures if f.account_id is not None], window)
    for figure in figures:
        figure.pnl = found.get(figure.account_id) if figure.account_id is not None else None


def _team_scope(figures: list[AccountFigures]) -> str:
    """ "" when the report lists every account in the team's totals, else what the team's PnL
    covers."""
    team = Account.objects.in_team_totals().count()
    if len(figures) >= team:
        return ""
    return f"all {team} accounts in the team's totals, not only the {len(figures)} in this report"


def _subtotal(figures: list[AccountFigures]) -> Decimal:
    return sum((f.equity_usd for f in figures if f.equity_usd is not None), Decimal(0))


def build(
    accounts: QuerySet[Account],
    slot: datetime,
    currency: str = USD,
    previous: tuple[datetime, Decimal] | None = None,
    since: datetime | None = None,
    desk: str = "",
) -> ReportData:
    """Everything a report shows, as of `slot`. `previous` is the last report's (slot, total USD);
    `since` the schedule's previous slot, where the PnL period starts (report_period). The total,
    its changes, the PnL, balances and positions cover the in-team accounts (live, not excluded
    from team totals); demo-trading ones (paper money) come as demo_accounts with their own
    demo_total_usd, excluded ones as excluded_accounts with excluded_total_usd. `desk` (a desk's
    name) makes it a desk's report: `accounts` are that desk's, and the PnL over them is the
    desk's, never the whole team's (whose figure would tell of other desks' accounts)."""
    every = account_figures(accounts, slot)
    figures = [f for f in every if f.in_team]
    demo = [f for f in every if f.demo]
    excluded = [f for f in every if f.excluded]
    window = report_period(slot, since)
    with_pnl(figures, window)
    total = _subtotal(figures)
    changes = total_changes(figures)
    changes["since previous report"] = Change(total - previous[1], previous[1]) if previous else None
    rate, note = usd_rate(currency, slot), ""
    if rate is None:
        rate, note = Decimal(1), f"No USD price of {currency} is stored at this time; amounts are in USD."
        currency = USD
    if desk:
        ids = [f.account_id for f in figures if f.account_id is not None]
        pnl, scope = team_pnl(window, visible=ids), ""
    else:
        pnl, scope = team_pnl(window), _team_scope(figures)
    return ReportData(
        slot=slot,
        currency=currency,
        rate=rate,
        accounts=figures,
        total_usd=total,
        changes=changes,
        previous_slot=previous[0] if previous else None,
        warnings=warnings_needing_action(accounts, slot),
        currency_note=note,
        demo_accounts=demo,
        demo_total_usd=_subtotal(demo),
        excluded_accounts=excluded,
        excluded_total_usd=_subtotal(excluded),
        period=window,
        team_pnl=pnl,
        team_scope=scope,
        desk=desk,
    )
