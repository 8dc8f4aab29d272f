"""Balances at a chosen moment: per account, the nearest snapshot at or before it, with that
snapshot's own time; accounts with no snapshot that early are listed as such.

Two queries whatever the number of accounts: the accounts annotated with their snapshot (a
correlated Subquery each), then the balance lines of exactly those snapshots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from accounts.models import Account
from reports import csvfile
from reports.build import with_snapshot_at
from snapshots.models import BalanceLine

# Each figure has its own column, so a spreadsheet's SUM of a column never counts a line and its
# total twice: lines in usd_value, each account's total in account_total_usd, the team's in
# team_total_usd; demo trading's paper money in demo_usd_value only, the lines of accounts excluded
# from team totals in excluded_usd_value only. `row` says what a row is.
CSV_COLUMNS = (
    "row",
    "account",
    "snapshot_taken_at",
    "wallet",
    "currency",
    "amount",
    "usd_value",
    "account_total_usd",
    "team_total_usd",
    "demo_usd_value",
    "excluded_usd_value",
    "note",
)


@dataclass
class AccountBalances:
    name: str
    active: bool
    snapshot_at: datetime | None
    equity_usd: Decimal | None
    lines: list[BalanceLine] = field(default_factory=list)
    demo: bool = False  # demo trading: paper money, in no team total
    # Earn (simple earn / savings) in USD, part of equity_usd: OKX's asset valuation gives one USD
    # figure, not an amount per currency. None when not read, and earn_note says why.
    earn_usd: Decimal | None = None
    earn_note: str = ""
    excluded: bool = False  # live, marked "excluded from team totals": in no team total either

    @property
    def earn_reason(self) -> str:
        """Why Earn is unknown ("not readable through the master key"), or how its value was
        carried; "" when it was read with this snapshot."""
        return self.earn_note or ("" if self.earn_usd is not None else "not read")

    @property
    def in_team(self) -> bool:
        """In the team total (Account.in_team_totals): live and not excluded. An account made
        inactive since still counts: it held the team's money back then."""
        return not self.demo and not self.excluded

    @property
    def outside_note(self) -> str:
        """Why the account is in no team total ("" when it is in)."""
        return DEMO_NOTE if self.demo else EXCLUDED_NOTE if self.excluded else ""


@dataclass(frozen=True)
class TeamTotal:
    """The sum of the in-team accounts' totals (USD; live, not excluded from team totals);
    `unknown` names the in-team accounts left out because they have no snapshot at the moment or
    their snapshot has no total."""

    usd: Decimal | None  # None: no in-team account's total is known
    accounts: int
    unknown: list[str]
    demo_accounts: int
    excluded_accounts: int = 0


DEMO_NOTE = "demo trading (paper money, in no team total)"
EXCLUDED_NOTE = "excluded from team totals"


def at(moment: datetime, accounts: QuerySet[Account] | None = None) -> list[AccountBalances]:
    """Every account of `accounts` (default: all; a page passes the user's visible ones,
    accounts.desks.visible_accounts), inactive ones too: an account closed since still held
    money back then."""
    found = with_snapshot_at(Account.objects.all() if accounts is None else accounts, moment)
    accounts_at = list(found.order_by("name"))
    ids = [a.snapshot_id for a in accounts_at if a.snapshot_id]
    lines: defaultdict[int, list[BalanceLine]] = defaultdict(list)  # 0: no snapshot, no lines
    for line in BalanceLine.objects.filter(snapshot_id__in=ids).order_by("wallet", "ccy"):
        lines[line.snapshot_id].append(line)
    return [
        AccountBalances(
            a.name,
            a.active,
            a.snapshot_at,
            a.snapshot_equity,
            lines[a.snapshot_id or 0],
            a.is_demo,
            a.snapshot_earn,
            a.snapshot_earn_unread or "",
            excluded=not a.is_demo and a.excluded_from_totals,
        )
        for a in accounts_at
    ]


def team_total(rows: list[AccountBalances]) -> TeamTotal:
    team = [row for row in rows if row.in_team]
    known = [row.equity_usd for row in team if row.equity_usd is not None]
    unknown = [row.name for row in team if row.equity_usd is None]
    usd = sum(known, Decimal(0)) if known else None
    demo = sum(1 for row in rows if row.demo)
    return TeamTotal(usd, len(known), unknown, demo, sum(1 for row in rows if row.excluded))


def to_csv(rows: list[AccountBalances], moment: datetime) -> str:
    """The page as one CSV table (see CSV_COLUMNS): lines, then each account's total on its own
    row, then the team total; amounts exact, times UTC."""
    return csvfile.write(CSV_COLUMNS, _csv_rows(rows, moment))


def _value_cells(row: AccountBalances, usd: Decimal | None) -> tuple[Decimal | None, ...]:
    """(usd_value, account_total_usd, team_total_usd, demo_usd_value, excluded_usd_value) of a
    balance line worth `usd`: its own column by whether the account is in the team total."""
    if row.demo:
        return (None, None, None, usd, None)
    if row.excluded:
        return (None, None, None, None, usd)
    return (usd, None, None, None, None)


def _csv_rows(rows: list[AccountBalances], moment: datetime) -> Iterator[tuple[Any, ...]]:
    empty = (None,) * 5
    for row in rows:
        if row.snapshot_at is None:
            note = f"no snapshot at or before {csvfile.moment(moment)}"
            yield ("no snapshot", row.name, None, None, None, None, *empty, note)
            continue
        kind = {DEMO_NOTE: "demo balance", EXCLUDED_NOTE: "excluded balance"}.get(row.outside_note, "balance")
        for line in row.lines:
            note = "; ".join(filter(None, (row.outside_note, "unpriced" if line.usd_value is None else "")))
            cells = _value_cells(row, line.usd_value)
            yield (kind, row.name, row.snapshot_at, line.wallet, line.ccy, line.equity, *cells, note)
        note = "; ".join(filter(None, (row.outside_note, row.earn_reason)))
        cells = _value_cells(row, row.earn_usd)
        yield (kind, row.name, row.snapshot_at, "earn", "USD", row.earn_usd, *cells, note)
        if row.in_team:
            note = "" if row.equity_usd is not None else "the snapshot has no total"
            own = (None, row.equity_usd, None, None, None)
            yield ("account total", row.name, row.snapshot_at, None, "USD", None, *own, note)
    total = team_total(rows)
    note = "live accounts; demo trading is in no total"
    if total.excluded_accounts:
        note += "; accounts excluded from team totals are in none either"
    if total.unknown:
        note += f"; without {', '.join(total.unknown)} (total unknown)"
    cells = (None, None, total.usd, None, None)
    yield ("team total", None, moment, None, "USD", None, *cells, note)
