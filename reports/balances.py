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

from accounts.models import Account
from reports import csvfile
from reports.build import with_snapshot_at
from snapshots.models import BalanceLine

# Each figure has its own column, so a spreadsheet's SUM of a column never counts a line and its
# total twice: lines in usd_value, each account's total in account_total_usd, the team's in
# team_total_usd; demo trading's paper money in demo_usd_value only. `row` says what a row is.
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

    @property
    def earn_reason(self) -> str:
        """Why Earn is unknown ("not readable through the master key"), or how its value was
        carried; "" when it was read with this snapshot."""
        return self.earn_note or ("" if self.earn_usd is not None else "not read")


@dataclass(frozen=True)
class TeamTotal:
    """The sum of the live accounts' totals (USD); `unknown` names the live accounts left out
    because they have no snapshot at the moment or their snapshot has no total."""

    usd: Decimal | None  # None: no live account's total is known
    accounts: int
    unknown: list[str]
    demo_accounts: int


DEMO_NOTE = "demo trading (paper money, in no team total)"


def at(moment: datetime) -> list[AccountBalances]:
    """Every account, inactive ones too: an account closed since still held money back then."""
    accounts = list(with_snapshot_at(Account.objects.all(), moment).order_by("name"))
    ids = [a.snapshot_id for a in accounts if a.snapshot_id]
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
        )
        for a in accounts
    ]


def team_total(rows: list[AccountBalances]) -> TeamTotal:
    live = [row for row in rows if not row.demo]
    known = [row.equity_usd for row in live if row.equity_usd is not None]
    unknown = [row.name for row in live if row.equity_usd is None]
    usd = sum(known, Decimal(0)) if known else None
    return TeamTotal(usd, len(known), unknown, len(rows) - len(live))


def to_csv(rows: list[AccountBalances], moment: datetime) -> str:
    """The page as one CSV table (see CSV_COLUMNS): lines, then each account's total on its own
    row, then the team total; amounts exact, times UTC."""
    return csvfile.write(CSV_COLUMNS, _csv_rows(rows, moment))


def _csv_rows(rows: list[AccountBalances], moment: datetime) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        if row.snapshot_at is None:
            note = f"no snapshot at or before {csvfile.moment(moment)}"
            yield ("no snapshot", row.name, None, None, None, None, None, None, None, None, note)
            continue
        for line in row.lines:
            note = "unpriced" if line.usd_value is None else ""
            if row.demo:
                note = "; ".join(filter(None, (DEMO_NOTE, note)))
                yield (
                    "demo balance",
                    row.name,
                    row.snapshot_at,
                    line.wallet,
                    line.ccy,
                    line.equity,
                    None,
                    None,
                    None,
                    line.usd_value,
                    note,
                )
            else:
                yield (
                    "balance",
                    row.name,
                    row.snapshot_at,
                    line.wallet,
                    line.ccy,
                    line.equity,
                    line.usd_value,
                    None,
                    None,
                    None,
                    note,
                )
        earn = (row.earn_usd, None) if not row.demo else (None, row.earn_usd)
        kind, note = ("demo balance", DEMO_NOTE) if row.demo else ("balance", "")
        note = "; ".join(filter(None, (note, row.earn_reason)))
        yield (
            kind,
            row.name,
            row.snapshot_at,
            "earn",
            "USD",
            row.earn_usd,
            earn[0],
            None,
            None,
            earn[1],
            note,
        )
        if not row.demo:
            note = "" if row.equity_usd is not None else "the snapshot has no total"
            yield (
                "account total",
                row.name,
                row.snapshot_at,
                None,
                "USD",
                None,
                None,
                row.equity_usd,
                None,
                None,
                note,
            )
    total = team_total(rows)
    note = "live accounts; demo trading is in no total"
    if total.unknown:
        note += f"; without {', '.join(total.unknown)} (total unknown)"
    yield ("team total", None, moment, None, "USD", None, None, None, total.usd, None, note)
