"""A report's data as an e-mail (HTML + plain text), a CSV and the totals kept in its row.

The HTML is made for mail clients: inline styles only, no scripts, layout in tables, and the
chart is a table of coloured cells (it renders in every client, unlike SVG or remote images).
Its data tables carry class "rt" and a data-label per cell, which mail clients ignore and the
report page's stylesheet uses to stack the rows on a phone. Amounts are written by
snapshots.numbers, as on every page; the CSV carries exact Decimal strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ledger.pnl import PnL, since_first_note
from reports import csvfile
from reports.build import USD, AccountFigures, ReportData
from snapshots import numbers
from snapshots.models import PositionLine
from snapshots.queries import Change

# One kind of figure per column, so a spreadsheet's SUM of a column counts nothing twice: balance
# lines in usd_value, each account's equity in account_equity_usd, the team's total in `total`
# (in `currency`), the team's changes in change_usd and each account's in account_change_usd,
# positions in their own columns, the team's PnL over the report's period in pnl_usd (with its
# net inflow) and each account's in account_pnl_usd (and account_net_inflow_usd), returns in
# return_pct, demo trading's paper money in demo_equity_usd only, the equity of accounts excluded
# from team totals in excluded_equity_usd only. `section` says what a row is; a
# change counted from an account's first data says so in `note`, an unknown PnL why.
CSV_COLUMNS = (
    "section",
    "account",
    "snapshot_taken_at",
    "item",
    "currency",
    "amount",
    "usd_value",
    "position_size",
    "notional_usd",
    "upl_usd",
    "account_equity_usd",
    "total",
    "change_usd",
    "account_change_usd",
    "pnl_usd",
    "net_inflow_usd",
    "account_pnl_usd",
    "account_net_inflow_usd",
    "return_pct",
    "demo_equity_usd",
    "excluded_equity_usd",
    "note",
)
# Why a change is "—" (as the overview says it), and why "since previous report" is.
NO_BASELINE = "no snapshot to compare with yet"
NO_PREVIOUS = "no previous report"
NO_PNL = "not computed"  # an account without a PnL figure at all (not expected; never shown as 0)
SINCE_PREVIOUS = "since previous report"
EXCLUDED = "excluded from team totals; not in the total"
# The change windows (reports.build.CHANGE_WINDOWS) as people read them.
WINDOW_LABELS = {"24h": "24 h", "7d": "7 d", "30d": "30 d"}
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


def local(moment: datetime | None, zone: ZoneInfo) -> str:
    return "—" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def since_parts(change: Change | None, zone: ZoneInfo) -> tuple[str, str]:
    """How a change was counted when not over its whole window, in the overview's words, as
    (words, time): ("since first data", "2026-06-10 07:10 CEST"); for a sum where some accounts
    had the whole window and some less, ("accounts with less history since their first data
    from", time); ("", "") over the whole window or when unknown."""
    if change is None or change.since is None:
        return "", ""
    words = "accounts with less history since their first data from" if change.mixed else "since first data"
    return words, local(change.since, zone)


def since_text(change: Change | None, zone: ZoneInfo) -> str:
    """since_parts as one phrase: "since first data 2026-06-10 07:10 CEST"; "" when none."""
    words, when = since_parts(change, zone)
    return f"{words} {when}" if words else ""


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
    """Converts USD to the presentation currency and formats it for reading (snapshots.numbers:
    2 places for USD-like currencies, at most 8 for coins)."""

    def __init__(self, data: ReportData, zone: ZoneInfo) -> None:
        self.currency, self.rate, self.zone = data.currency, data.rate, zone
        # The PnL notes give an account's first reading in the display zone; the report speaks
        # its schedule's zone, with the zone's name, like every other time in it.
        firsts = {row.pnl.started_at for row in data.accounts if row.pnl and row.pnl.started_at}
        self.first_readings = {
            since_first_note(at): f"since the first reading, {local(at, zone)}" for at in firsts
        }

    def notes(self, pnl: PnL) -> str:
        """The PnL's notes as one phrase, times in the report's zone."""
        text = "; ".join(pnl.notes)
        for display, here in self.first_readings.items():
            text = text.replace(display, here)
        return text

    def value(self, usd: Decimal | None) -> Decimal | None:
        return None if usd is None else usd / self.rate

    def show(self, usd: Decimal | None, sign: bool = False) -> str:
        return numbers.format_amount(self.value(usd), self.currency, sign=sign)

    def change(self, change: Change | None, unknown: str = NO_BASELINE) -> dict[str, str]:
        """A change as the report shows it: {"text": "-102.54", "percent": "-1.23%", "since":
        "since first data ..." or "" (and its since_parts), "tone": a colour}; unknown is "—"."""
        usd = change.usd if change is not None else None
        since_words, since_at = since_parts(change, self.zone)
        return {
            "text": self.show(usd, sign=True),
            "percent": numbers.format_percent(change.ratio if change is not None else None),
            "since": since_text(change, self.zone),
            "since_words": since_words,  # the HTML keeps the time on one line
            "since_at": since_at,
            "since_at_html": unbroken(since_at),  # breaks between date and time in a narrow cell
            "unknown": unknown if change is None else "",  # why the figure is "—"
            "tone": _tone(usd),
        }

    def pnl(self, pnl: PnL | None) -> dict[str, str]:
        """A PnL net of transfers as the report shows it: {"text": "+1,234.56", "percent": the
        time-weighted return "+1.23%", "inflow": the net inflow "-500.00", "notes": "without
        Earn; ...", "unknown": why the figure is "—" ("" when known), "tone": a colour}."""
        usd = pnl.pnl if pnl is not None else None
        ratio = pnl.return_pct / 100 if pnl is not None and pnl.return_pct is not None else None
        notes = self.notes(pnl) if pnl is not None else ""
        return {
            "text": self.show(usd, sign=True),
            "percent": numbers.format_percent(ratio),
            "inflow": self.show(pnl.net_inflow if pnl is not None else None, sign=True),
            "notes": notes,
            "notes_html": unbroken(notes),
            "unknown": pnl_unknown(pnl),
            "unknown_html": unbroken(pnl_unknown(pnl)),
            "tone": _tone(usd),
        }


def unbroken(text: str) -> SafeString:
    """`text` as HTML in which a hyphenated word ("2026-06-10", "sub-accounts") never breaks at
    its hyphen in a narrow cell; lines still break between words."""
    nowrap = '<span style="white-space:nowrap;">{}</span>'
    words = ((format_html(nowrap, word) if "-" in word else word,) for word in text.split(" "))
    return format_html_join(" ", "{}", words)


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
    p = Presenter(data, zone)
    largest = max((row.equity_usd or Decimal(0) for row in data.accounts), default=Decimal(0))
    accounts = [
        {
            "name": row.name,
            "equity": p.show(row.equity_usd),
            "taken_at": local(row.snapshot_at, zone),
            "stale": row.stale,
            "changes": {label: p.change(change) for label, change in row.changes.items()},
            "change_cells": [
                {"label": WINDOW_LABELS.get(label, label), **p.change(change)}
                for label, change in row.changes.items()
            ],
            "pnl": p.pnl(row.pnl),
            "bar": _bar_width(row.equity_usd, largest),
            "colour": BAR_COLOURS[i % len(BAR_COLOURS)],
        }
        for i, row in enumerate(data.accounts)
    ]
    pnl_footnotes = _pnl_footnotes(accounts)
    demo_accounts, excluded_accounts = (
        _listed(rows, p) for rows in (data.demo_accounts, data.excluded_accounts)
    )
    return {
        "schedule": schedule_name,
        "desk": data.desk,
        "when": local(data.slot, zone),
        "stale_line": stale_line(data, zone),
        "currency": data.currency,
        "currency_note": data.currency_note,
        "total": p.show(data.total_usd),
        "changes": [
            {"label": WINDOW_LABELS.get(label, label), **p.change(change, _unknown_change(label))}
            for label, change in data.changes.items()
        ],
        "previous": local(data.previous_slot, zone) if data.previous_slot else "",
        "pnl_period": _period_text(data, zone),
        "pnl_period_html": unbroken(_period_text(data, zone)),
        "team_pnl": p.pnl(data.team_pnl),
        "pnl_footnotes": pnl_footnotes,
        "team_scope": data.team_scope,
        "accounts": accounts,
        "balances": [
            {
                "ccy": ccy,
                "amount": numbers.format_amount(amount, ccy),
                "value": _ccy_value(p, ccy, usd, unpriced),
            }
            for ccy, amount, usd, unpriced in data.balances_by_ccy()
        ]
        + [_earn_line(data, p)],
        "account_balances": _account_balances(data, p),
        "positions": [_position(name, line) for name, line in data.positions],
        "upl": numbers.format_amount(data.upl_usd, USD, sign=True),
        "upl_tone": _tone(data.upl_usd),
        "upl_unpriced": data.upl_unpriced,
        # Accounts whose positions are unknown: "—" with the reason, never "0 positions".
        "positions_unknown": [f"{name} ({reason})" for name, reason in data.positions_unknown],
        "demo_accounts": demo_accounts,
        "demo_total": p.show(data.demo_total_usd),
        "excluded_accounts": excluded_accounts,
        "excluded_total": p.show(data.excluded_total_usd),
        "warnings": data.warnings,
    }


def _listed(rows: list[AccountFigures], p: Presenter) -> list[dict[str, str]]:
    """Accounts outside the total (demo trading, excluded from team totals) as their sections
    list them: name, equity, snapshot time."""
    return [
        {"name": row.name, "equity": p.show(row.equity_usd), "taken_at": local(row.snapshot_at, p.zone)}
        for row in rows
    ]


def _period_text(data: ReportData, zone: ZoneInfo) -> str:
    """The PnL period in the reader's zone: "2026-06-09 08:00 CEST to 2026-06-10 08:00 CEST"."""
    if data.period is None:
        return ""
    return f"{local(data.period.start, zone)} to {local(data.period.end, zone)}"


def _pnl_footnotes(accounts: list[dict]) -> list[dict]:
    """The HTML's PnL table states each figure only; what qualifies one (its notes, or why it is
    "—") is a numbered footnote under the table, once per account: [{"name", "text"}], and each
    such account's "pnl_mark" is its footnote's number."""
    found = []
    for account in accounts:
        pnl = account["pnl"]
        text = "; ".join(filter(None, (pnl["unknown"], pnl["notes"])))
        if text:
            found.append({"name": account["name"], "text": unbroken(text)})
            account["pnl_mark"] = len(found)
    return found


def _bar_width(value: Decimal | None, largest: Decimal) -> int:
    if not value or value <= 0 or largest <= 0:
        return 0
    return max(1, int(value * 100 / largest))


def _tone(value: Decimal | None) -> str:
    if not value:
        return "#5b6470"
    return "#2e7d32" if value > 0 else "#c62828"


def _earn_line(data: ReportData, p: Presenter) -> dict:
    """Earn as one line of the per-currency table (OKX values it in USD, not per coin), so the
    table adds up to the total; the accounts whose Earn is unknown are named."""
    unknown = "; ".join(f"{name}: {reason}" for name, reason in data.earn_unknown)
    if len(data.earn_unknown) == len(data.accounts):  # no Earn read at all: unknown, never 0.00
        # Each account's reason is on its own line of the per-account balances.
        return {"ccy": "Earn", "amount": "USD valuation", "value": "— (no account's Earn was read)"}
    value = p.show(data.earn_usd) + (f" (excludes {unknown})" if unknown else "")
    return {"ccy": "Earn", "amount": "USD valuation", "value": value}


def _account_balances(data: ReportData, p: Presenter) -> list[dict]:
    rows = []
    for row in data.accounts:
        for line in row.balances:
            amount = numbers.format_amount(line.equity, line.ccy)
            rows.append(
                {
                    "account": row.name,
                    "wallet": line.wallet,
                    "ccy": line.ccy,
                    "amount": amount,
                    "value": p.show(line.usd_value),
                }
            )
        if row.snapshot_at is not None:
            value = p.show(row.earn_usd) if row.earn_usd is not None else f"— ({row.earn_reason})"
            rows.append({"account": row.name, "wallet": "earn", "ccy": "USD", "amount": "—", "value": value})
    return rows


def _position(account: str, line: PositionLine) -> dict:
    """Side in words, size with its unit, PnL in its own currency and in USD ("—" with the
    reason when it has no USD value), written as the account page writes them: "1,500 USDT",
    "+0.01502923 BTC"."""
    size = numbers.format_amount(line.quantity)
    upl_coin = numbers.format_amount(line.upl, line.upl_ccy, sign=True)
    return {
        "account": account,
        "inst_id": line.inst_id,
        "side": line.side or "—",
        "size": f"{size} {line.size_unit}".strip() if line.size is not None else numbers.UNKNOWN,
        "notional": numbers.format_amount(line.notional_usd, USD),
        "upl_coin": f"{upl_coin} {line.upl_ccy}".strip() if line.upl is not None else numbers.UNKNOWN,
        "upl": numbers.format_amount(line.upl_usd, USD, sign=True),
        "upl_note": "" if line.upl_usd is not None else line.upl_usd_basis,
        "tone": _tone(line.upl_usd),
        "coin_tone": _tone(line.upl),
    }


def to_csv(data: ReportData) -> str:
    """One table (CSV_COLUMNS), one row per figure; the equity rows sum to the total row and the
    priced balance rows to the same figure (an accountant's spreadsheet checks exactly that)."""
    return csvfile.write(CSV_COLUMNS, _csv_rows(data))


def _row(section: str, account: str | None, taken: datetime | None, item: str, **cells: object) -> tuple:
    values = {"section": section, "account": account, "snapshot_taken_at": taken, "item": item, **cells}
    return tuple(values.get(column) for column in CSV_COLUMNS)


def _csv_rows(data: ReportData) -> Iterator[tuple]:
    at = data.slot
    for row in data.stale:
        yield _row("stale", row.name, row.snapshot_at, "stale data", note="snapshot old or missing")
    scope = f"desk {data.desk}: its accounts only" if data.desk else ""
    yield _row("total", None, at, "total equity", currency=USD, total=data.total_usd, note=scope)
    if data.currency != USD:
        total = data.total_usd / data.rate
        yield _row("total", None, at, "total equity", currency=data.currency, total=total, note=scope)
    for label, change in data.changes.items():
        note = _basis(change, _unknown_change(label))
        yield _row("change", None, at, label, currency=USD, change_usd=_usd(change), note=note)
    if data.team_pnl is not None:
        team = data.team_pnl
        note = "; ".join(filter(None, (_pnl_note(team), data.team_scope, scope)))
        yield _row(
            "pnl",
            None,
            at,
            _pnl_item(data),
            currency=USD,
            pnl_usd=team.pnl,
            net_inflow_usd=team.net_inflow,
            return_pct=team.return_pct,
            note=note,
        )
    for row in data.accounts:
        yield from _account_rows(row, _pnl_item(data))
    # Demo trading: paper money, its own column, outside every total above.
    for row in data.demo_accounts:
        note = "demo trading; not in the total" if row.snapshot_at else "demo trading; never read"
        yield _row(
            "demo equity",
            row.name,
            row.snapshot_at,
            "total equity",
            currency=USD,
            demo_equity_usd=row.equity_usd,
            note=note,
        )
    # Accounts excluded from team totals: their own column too, outside every total above.
    for row in data.excluded_accounts:
        note = EXCLUDED + ("" if row.snapshot_at else "; never read")
        yield _row(
            "excluded equity",
            row.name,
            row.snapshot_at,
            "total equity",
            currency=USD,
            excluded_equity_usd=row.equity_usd,
            note=note,
        )
    for warning in data.warnings:
        yield _row("warning", warning["account"], None, warning["severity"], note=warning["message"])


def _pnl_item(data: ReportData) -> str:
    """The CSV's item of a PnL row: its period in UTC ISO times."""
    if data.period is None:
        return "pnl"
    start, end = (moment.astimezone(UTC).isoformat() for moment in (data.period.start, data.period.end))
    return f"pnl net of transfers {start} to {end}"


def pnl_unknown(pnl: PnL | None) -> str:
    """Why a PnL is "—" (its amount cells empty, never 0); "" when it is known."""
    if pnl is None:
        return NO_PNL
    return (pnl.unknown_reason or NO_PNL) if pnl.pnl is None else ""


def _pnl_note(pnl: PnL | None) -> str:
    """The CSV's note on a PnL: why it is unknown, and its notes ("without Earn")."""
    return "; ".join(filter(None, (pnl_unknown(pnl), *(pnl.notes if pnl is not None else ()))))


def _account_rows(row: AccountFigures, pnl_item: str) -> Iterator[tuple]:
    taken = row.snapshot_at
    note = "no snapshot at or before the report time" if taken is None else ""
    yield _row(
        "equity", row.name, taken, "total equity", currency=USD, account_equity_usd=row.equity_usd, note=note
    )
    pnl = row.pnl
    yield _row(
        "account pnl",
        row.name,
        taken,
        pnl_item,
        currency=USD,
        account_pnl_usd=pnl.pnl if pnl else None,
        account_net_inflow_usd=pnl.net_inflow if pnl else None,
        return_pct=pnl.return_pct if pnl else None,
        note=_pnl_note(pnl),
    )
    for label, change in row.changes.items():
        yield _row(
            "account change",
            row.name,
            taken,
            label,
            currency=USD,
            account_change_usd=_usd(change),
            note=_basis(change),
        )
    for line in row.balances:
        yield _row(
            "balance",
            row.name,
            taken,
            line.wallet,
            currency=line.ccy,
            amount=line.equity,
            usd_value=line.usd_value,
            note="" if line.usd_value is not None else "unpriced",
        )
    if taken is not None:
        # Earn is in account_equity_usd: its own balance row, so the priced rows add up to it.
        earn = row.earn_usd
        yield _row(
            "balance",
            row.name,
            taken,
            "earn",
            currency=USD,
            amount=earn,
            usd_value=earn,
            note=row.earn_reason,
        )
    if reason := row.positions_unknown_reason:
        # Unknown is an empty amount with its reason, never "no positions".
        yield _row("position", row.name, taken, "positions unknown", note=reason)
    for position in row.positions:
        # position_size is in `currency` (contracts, or the coin of a MARGIN position); the note
        # gives the PnL in its own currency and, when unknown in USD, why.
        note = f"upl {exact(position.upl)} {position.upl_ccy}".strip() if position.upl is not None else ""
        if position.upl_usd is None:
            note = f"{note}; upl_usd unknown: {position.upl_usd_basis}".lstrip("; ")
        item = f"{position.inst_id} {position.side}".strip()
        yield _row(
            "position",
            row.name,
            taken,
            item,
            currency=position.size_unit,
            position_size=position.size,
            notional_usd=position.notional_usd,
            upl_usd=position.upl_usd,
            note=note,
        )


def _unknown_change(label: str) -> str:
    return NO_PREVIOUS if label == SINCE_PREVIOUS else NO_BASELINE


def _usd(change: Change | None) -> Decimal | None:
    return None if change is None else change.usd


def _basis(change: Change | None, unknown: str = NO_BASELINE) -> str:
    """The CSV's note on a change: "" over the whole window; "since first data <UTC ISO time>"
    when counted from the first snapshot; why it is unknown (empty amount) otherwise."""
    if change is None:
        return unknown
    if change.since is None:
        return ""
    words = "some accounts since first data, from" if change.mixed else "since first data"
    return f"{words} {change.since.astimezone(UTC).isoformat()}"


def totals(data: ReportData) -> dict:
    return {
        "total_usd": exact(data.total_usd),
        "currency": data.currency,
        "usd_per_unit": exact(data.rate),
        "total": exact(data.total_usd / data.rate),
        "accounts": {row.name: exact(row.equity_usd) or None for row in data.accounts},
        "changes_usd": {label: exact(_usd(change)) or None for label, change in data.changes.items()},
        # When a change was counted from the first data (UTC ISO time), else None.
        "changes_since": {
            label: change.since.isoformat() if change is not None and change.since else None
            for label, change in data.changes.items()
        },
        # PnL net of transfers over the report's period (UTC ISO times); None when unknown.
        "pnl_period": [data.period.start.isoformat(), data.period.end.isoformat()] if data.period else None,
        "pnl_usd": exact(data.team_pnl.pnl if data.team_pnl else None) or None,
        "accounts_pnl_usd": {
            row.name: exact(row.pnl.pnl if row.pnl else None) or None for row in data.accounts
        },
        "upl_usd": exact(data.upl_usd),
        "upl_unpriced_positions": data.upl_unpriced,
        "positions_unknown": dict(data.positions_unknown),
        "demo_total_usd": exact(data.demo_total_usd),
        "demo_accounts": {row.name: exact(row.equity_usd) or None for row in data.demo_accounts},
        "excluded_total_usd": exact(data.excluded_total_usd),
        "excluded_accounts": {row.name: exact(row.equity_usd) or None for row in data.excluded_accounts},
        "desk": data.desk or None,
        "open_positions": len(data.positions),
        "warnings": len(data.warnings),
    }


def _ccy_value(p: Presenter, ccy: str, usd: Decimal | None, unpriced: Decimal) -> str:
    """A currency's value in the per-currency table: "unpriced" when no line of it has a price;
    the priced part with what it leaves out when some lines are unpriced."""
    if usd is None:
        return "unpriced"
    if unpriced:
        return f"{p.show(usd)} (excludes {numbers.format_amount(unpriced, ccy)} {ccy} unpriced)"
    return p.show(usd)
