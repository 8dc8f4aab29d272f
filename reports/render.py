"""A report's data as an e-mail (HTML + plain text), a CSV and the totals kept in its row.

The HTML is made for mail clients: inline styles only, no scripts, layout in tables, and the
chart is a table of coloured cells (it renders in every client, unlike SVG or remote images).
The CSV carries exact Decimal strings; the e-mail rounds for reading.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string

from reports.build import USD, ReportData
from snapshots.models import PositionLine

CSV_COLUMNS = (
    "section",
    "account",
    "snapshot_taken_at",
    "item",
    "currency",
    "amount",
    "usd_value",
    "upl_usd",
    "note",
)
TOTAL = "ALL"
# Calm, distinct hues; red and amber are kept for losses and warnings.
BAR_COLOURS = ("#0b5fff", "#00838f", "#6a1b9a", "#3949ab", "#00897b", "#5e35b1", "#0277bd", "#546e7a")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    csv: str
    totals: dict


def exact(value: Decimal | None) -> str:
    """A Decimal as a plain string without trailing zeros or exponent ("" for unknown)."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def readable(value: Decimal | None, places: int = 2, sign: bool = False) -> str:
    if value is None:
        return "—"
    quantum = Decimal(1).scaleb(-places)
    return format(value.quantize(quantum), "+,f" if sign else ",f")


def local(moment: datetime | None, zone: ZoneInfo) -> str:
    return "—" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def stale_line(data: ReportData, zone: ZoneInfo) -> str:
    """The first line of a report whose accounts' data is old: name them, say how old."""
    if not data.stale:
        return ""
    parts = [
        f"{row.name} (last snapshot {local(row.snapshot_at, zone)})"
        if row.snapshot_at
        else f"{row.name} (no snapshot)"
        for row in data.stale
    ]
    return f"STALE DATA: not current for {', '.join(parts)}. Their numbers below are old or missing."


class Presenter:
    """Converts USD to the presentation currency and formats it for reading."""

    def __init__(self, data: ReportData) -> None:
        self.currency, self.rate = data.currency, data.rate
        self.places = 2 if data.rate < 100 else 6

    def value(self, usd: Decimal | None) -> Decimal | None:
        return None if usd is None else usd / self.rate

    def show(self, usd: Decimal | None, sign: bool = False) -> str:
        return readable(self.value(usd), self.places, sign)


def render(data: ReportData, schedule_name: str, zone_name: str) -> Rendered:
    zone = ZoneInfo(zone_name)
    context = _context(data, schedule_name, zone)
    prefix = "[STALE] " if data.stale else ""
    subject = f"{prefix}{schedule_name}: {context['total']} {data.currency} at {context['when']}"
    return Rendered(
        subject=subject,
        text=render_to_string("reports/email.txt", context).strip() + "\n",
        html=render_to_string("reports/email.html", context),
        csv=to_csv(data),
        totals=totals(data),
    )


def _context(data: ReportData, schedule_name: str, zone: ZoneInfo) -> dict:
    p = Presenter(data)
    largest = max((row.equity_usd or Decimal(0) for row in data.accounts), default=Decimal(0))
    accounts = [
        {
            "name": row.name,
            "equity": p.show(row.equity_usd),
            "taken_at": local(row.snapshot_at, zone),
            "stale": row.stale,
            "changes": {
                label: {"text": p.show(change, sign=True), "tone": _tone(change)}
                for label, change in row.changes.items()
            },
            "bar": _bar_width(row.equity_usd, largest),
            "colour": BAR_COLOURS[i % len(BAR_COLOURS)],
        }
        for i, row in enumerate(data.accounts)
    ]
    demo_accounts = [
        {"name": row.name, "equity": p.show(row.equity_usd), "taken_at": local(row.snapshot_at, zone)}
        for row in data.demo_accounts
    ]
    return {
        "schedule": schedule_name,
        "when": local(data.slot, zone),
        "stale_line": stale_line(data, zone),
        "currency": data.currency,
        "currency_note": data.currency_note,
        "total": p.show(data.total_usd),
        "changes": [
            (label, p.show(change, sign=True), _tone(change)) for label, change in data.changes.items()
        ],
        "previous": local(data.previous_slot, zone) if data.previous_slot else "",
        "accounts": accounts,
        "balances": [
            {
                "ccy": ccy,
                "amount": readable(amount, 8).rstrip("0").rstrip("."),
                "value": _ccy_value(p, ccy, usd, unpriced),
            }
            for ccy, amount, usd, unpriced in data.balances_by_ccy()
        ],
        "account_balances": _account_balances(data, p),
        "positions": [_position(name, line) for name, line in data.positions],
        "upl": readable(data.upl_usd, 2, sign=True),
        "upl_tone": _tone(data.upl_usd),
        "upl_unpriced": data.upl_unpriced,
        # Accounts whose positions are unknown: "—" with the reason, never "0 positions".
        "positions_unknown": [f"{name} ({reason})" for name, reason in data.positions_unknown],
        "demo_accounts": demo_accounts,
        "demo_total": p.show(data.demo_total_usd),
        "warnings": data.warnings,
    }


def _bar_width(value: Decimal | None, largest: Decimal) -> int:
    if not value or value <= 0 or largest <= 0:
        return 0
    return max(1, int(value * 100 / largest))


def _tone(value: Decimal | None) -> str:
    if not value:
        return "#5b6470"
    return "#2e7d32" if value > 0 else "#c62828"


def _account_balances(data: ReportData, p: Presenter) -> list[dict]:
    return [
        {
            "account": row.name,
            "wallet": line.wallet,
            "ccy": line.ccy,
            "amount": readable(line.equity, 8).rstrip("0").rstrip(".") if line.equity is not None else "—",
            "value": p.show(line.usd_value),
        }
        for row in data.accounts
        for line in row.balances
    ]


def _position(account: str, line: PositionLine) -> dict:
    """Side in words, size with its unit, PnL in its own currency and in USD ("—" with the
    reason when it has no USD value)."""
    return {
        "account": account,
        "inst_id": line.inst_id,
        "side": line.side or "—",
        "size": f"{exact(line.quantity)} {line.size_unit}".strip() if line.size is not None else "—",
        "notional": readable(line.notional_usd, 2),
        "upl_coin": f"{exact(line.upl)} {line.upl_ccy}".strip() if line.upl is not None else "—",
        "upl": readable(line.upl_usd, 2, sign=True),
        "upl_note": "" if line.upl_usd is not None else line.upl_usd_basis,
        "tone": _tone(line.upl_usd),
    }


def to_csv(data: ReportData) -> str:
    """One table, one row per figure; `section` says what a row is. Sums of the equity rows give
    the total row (the test and an accountant's spreadsheet check exactly that)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    at = data.slot.isoformat()
    for row in data.stale:
        taken = row.snapshot_at.isoformat() if row.snapshot_at else ""
        writer.writerow(("stale", row.name, taken, "stale data", "", "", "", "", "snapshot old or missing"))
    writer.writerow(
        ("total", TOTAL, at, "total equity", USD, exact(data.total_usd), exact(data.total_usd), "", "")
    )
    if data.currency != USD:
        value = exact(data.total_usd / data.rate)
        writer.writerow(
            ("total", TOTAL, at, "total equity", data.currency, value, exact(data.total_usd), "", "")
        )
    for label, change in data.changes.items():
        writer.writerow(("change", TOTAL, at, label, USD, exact(change), exact(change), "", ""))
    for row in data.accounts:
        taken = row.snapshot_at.isoformat() if row.snapshot_at else ""
        note = "no snapshot at or before the report time" if row.snapshot_at is None else ""
        writer.writerow(
            (
                "equity",
                row.name,
                taken,
                "total equity",
                USD,
                exact(row.equity_usd),
                exact(row.equity_usd),
                "",
                note,
            )
        )
        for line in row.balances:
            writer.writerow(
                (
                    "balance",
                    row.name,
                    taken,
                    line.wallet,
                    line.ccy,
                    exact(line.equity),
                    exact(line.usd_value),
                    "",
                    "",
                )
            )
        if reason := row.positions_unknown_reason:
            # Unknown is an empty amount with its reason, never "no positions".
            writer.writerow(("position", row.name, taken, "positions unknown", "", "", "", "", reason))
        for position in row.positions:
            # amount: the size in `currency` (contracts, or the coin of a MARGIN position); the
            # note gives the PnL in its own currency and, when unknown in USD, why.
            item = f"{position.inst_id} {position.side}".strip()
            note = f"upl {exact(position.upl)} {position.upl_ccy}".strip() if position.upl is not None else ""
            if position.upl_usd is None:
                note = f"{note}; upl_usd unknown: {position.upl_usd_basis}".lstrip("; ")
            writer.writerow(
                (
                    "position",
                    row.name,
                    taken,
                    item,
                    position.size_unit,
                    exact(position.size),
                    exact(position.notional_usd),
                    exact(position.upl_usd),
                    note,
                )
            )
    # Demo trading: paper money, its own section and subtotal, outside every total above.
    if data.demo_accounts:
        demo = exact(data.demo_total_usd)
        writer.writerow(
            ("demo total", TOTAL, at, "demo trading equity", USD, demo, demo, "", "not in the total")
        )
    for row in data.demo_accounts:
        taken = row.snapshot_at.isoformat() if row.snapshot_at else ""
        value = exact(row.equity_usd)
        note = "demo trading" if row.snapshot_at else "demo trading; never read"
        writer.writerow(("demo equity", row.name, taken, "total equity", USD, value, value, "", note))
    for warning in data.warnings:
        writer.writerow(
            ("warning", warning["account"], "", warning["code"], "", "", "", "", warning["message"])
        )
    return out.getvalue()


def totals(data: ReportData) -> dict:
    return {
        "total_usd": exact(data.total_usd),
        "currency": data.currency,
        "usd_per_unit": exact(data.rate),
        "total": exact(data.total_usd / data.rate),
        "accounts": {row.name: exact(row.equity_usd) or None for row in data.accounts},
        "changes_usd": {label: exact(change) or None for label, change in data.changes.items()},
        "upl_usd": exact(data.upl_usd),
        "upl_unpriced_positions": data.upl_unpriced,
        "positions_unknown": dict(data.positions_unknown),
        "demo_total_usd": exact(data.demo_total_usd),
        "demo_accounts": {row.name: exact(row.equity_usd) or None for row in data.demo_accounts},
        "open_positions": len(data.positions),
        "warnings": len(data.warnings),
    }


def _ccy_value(p: Presenter, ccy: str, usd: Decimal | None, unpriced: Decimal) -> str:
    """A currency's value in the per-currency table: "unpriced" when no line of it has a price;
    the priced part with what it leaves out when some lines are unpriced."""
    if usd is None:
        return "unpriced"
    if unpriced:
        return f"{p.show(usd)} (excludes {readable(unpriced, 8).rstrip('0').rstrip('.')} {ccy} unpriced)"
    return p.show(usd)
