"""Balances at a chosen moment: per account, the nearest snapshot at or before it, with that
snapshot's own time; accounts with no snapshot that early are listed as such.

Two queries whatever the number of accounts: the accounts annotated with their snapshot (a
correlated Subquery each), then the balance lines of exactly those snapshots.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from accounts.models import Account
from reports.build import with_snapshot_at
from reports.render import exact
from snapshots.models import BalanceLine

CSV_COLUMNS = ("account", "snapshot_taken_at", "wallet", "currency", "amount", "usd_value", "note")


@dataclass
class AccountBalances:
    name: str
    active: bool
    snapshot_at: datetime | None
    equity_usd: Decimal | None
    lines: list[BalanceLine] = field(default_factory=list)
    demo: bool = False  # demo trading: paper money, in no team total


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
            a.name, a.active, a.snapshot_at, a.snapshot_equity, lines[a.snapshot_id or 0], a.is_demo
        )
        for a in accounts
    ]


def to_csv(rows: list[AccountBalances], moment: datetime) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        if row.snapshot_at is None:
            note = f"no snapshot at or before {moment.isoformat()}"
            writer.writerow((row.name, "", "", "", "", "", note))
            continue
        taken, demo = row.snapshot_at.isoformat(), DEMO_NOTE if row.demo else ""
        for line in row.lines:
            unpriced = "unpriced" if line.usd_value is None else ""
            note = "; ".join(filter(None, (demo, unpriced)))
            writer.writerow(
                (row.name, taken, line.wallet, line.ccy, exact(line.equity), exact(line.usd_value), note)
            )
        total_note = "; ".join(filter(None, ("total equity (USD)", demo)))
        writer.writerow((row.name, taken, "", "", "", exact(row.equity_usd), total_note))
    return out.getvalue()
