"""PnL net of transfers as the pages show it. ledger.performance computes every figure (change in
equity minus the counted flows, the time-weighted return, the drawdown); this module only turns
them into text and lays them out: a figure with its return and why it is unknown (the overview's
"PnL 24 h" / "PnL 7 d" cells, the account page's period table), and the account page's
"Profit and loss" section (periods, cumulative PnL chart, daily calendar, breakdown, notes, the
ledger's backfill, the newest flows). It reads rows; it never calls the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import Account
from dashboard.pages import charts, transfers
from dashboard.pages.common import BadQuery, sees, shown_name
from ledger import breakdown, performance
from ledger.models import CashFlow, FlowSource, LedgerSync
from ledger.pnl import Period, PnL, local_midnight, period
from ledger.sync import BILLS
from snapshots import numbers

OVERVIEW_PERIODS = ("24h", "7d")
ACCOUNT_PERIODS = ("today", "24h", "7d", "30d", "mtd", "ytd")
DEFAULT_PERIOD = "7d"  # the account page's chart and breakdown without ?pnl=
CALENDAR_WEEKS = 5
REST = "the rest (trading and price moves)"
NEWEST_FLOWS = 50
# The ledger's sources by name, as the backfill line says them (LedgerSync.progress keys).
SOURCE_LABELS = {**dict(FlowSource.choices), BILLS: "trading bills (fees, funding, interest)"}
NEEDS_OWN_KEY = (
    "it needs the account's own key (OKX gives an account's bills, with its fees, funding and "
    "interest, only to that account's key)"
)


@dataclass(frozen=True)
class PnLText:
    """One PnL figure as a page shows it: "+12.30" (USD, sign always; the minus sign on a loss),
    its time-weighted return "+1.23%", the CSS class of its sign, "since 07:10" when the account's
    history starts inside the period, and why it is unknown ("—" and the reason, never 0.00)."""

    value: Decimal | None  # the PnL in USD, for sorting
    amount: str
    percent: str  # "" when the return is unknown (its amount may still be known)
    css_class: str
    since: str
    reason: str
    notes: tuple[str, ...]

    @classmethod
    def of(cls, pnl: PnL | None, zone: ZoneInfo) -> PnLText:
        if pnl is None:
            return cls(None, numbers.UNKNOWN, "", "", "", "no PnL for this account", ())
        value = pnl.pnl
        return cls(
            value,
            numbers.format_amount(value, "USD", sign=True, minus=numbers.MINUS),
            percent(pnl.return_pct),
            numbers.sign_class(value),
            _since(pnl, zone),
            "" if value is not None else pnl.unknown_reason or "unknown",
            tuple(pnl.notes),
        )

    @property
    def title(self) -> str:
        """The notes, for a cell's tooltip (the account page prints them)."""
        return "; ".join(self.notes)


def percent(value_pct: Decimal | None, *, sign: bool = True) -> str:
    """A figure ledger.performance gives in percent (1.23 = 1.23 %) as "+1.23%"; None -> ""."""
    if value_pct is None:
        return ""
    return numbers.format_percent(value_pct / 100, sign=sign, minus=numbers.MINUS)


def _since(pnl: PnL, zone: ZoneInfo) -> str:
    """ "since 07:10" (today) or "since Nov 28 07:10" when the period counts from the account's first
    reading, after the period's start (decision 5 of issue 19)."""
    started = pnl.started_at
    if started is None or started <= pnl.period.start:
        return ""
    local, end = started.astimezone(zone), pnl.period.end.astimezone(zone)
    return f"since {local:%H:%M}" if local.date() == end.date() else f"since {local:%b %d %H:%M}"


def overview_pnl(
    account_ids: list[int], now: datetime, visible: frozenset[int] | None = None
) -> dict[str, Any]:
    """The overview's PnL: {"24h": {account id: PnLText}, "7d": ...} and the team's per period
    ("team": {"24h": PnLText, ...}: the accounts in team totals of `visible`, None for every
    account). One account_pnl call per period, whatever the number of accounts (its query count
    is flat in N), and one team_pnl call per period."""
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    found: dict[str, Any] = {"team": {}}
    for key in OVERVIEW_PERIODS:
        span = period(key, now)
        found[key] = {
            pk: PnLText.of(pnl, zone) for pk, pnl in performance.account_pnl(account_ids, span).items()
        }
        found["team"][key] = PnLText.of(performance.team_pnl(span, visible), zone)
    return found


# --- The account page's "Profit and loss" section ----------------------------------------------
def chosen_period(value: str | None) -> str:
    """The account page's ?pnl= (the chart's and the breakdown's period); BadQuery for another."""
    key = value or DEFAULT_PERIOD
    if key not in ACCOUNT_PERIODS:
        raise BadQuery(f"Unknown PnL period. Use pnl= one of: {', '.join(ACCOUNT_PERIODS)}.")
    return key


def account_section(
    account: Account,
    chosen: str,
    now: datetime,
    query: dict[str, str],
    visible: frozenset[int] | None = None,
) -> dict[str, Any]:
    """The context of the account page's "Profit and loss" section. `chosen`: a key of
    ACCOUNT_PERIODS (chosen_period); `query`: the page's other parameters, kept by the links;
    `visible`: the accounts the user sees (a flow's other side and the master whose key reads
    the flows are named only when visible).
    The six periods, the chart and the calendar come from one read of the account's rows
    (ledger.performance.History), so the page's queries do not grow with the periods' length."""
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    spans = [period(key, now) for key in ACCOUNT_PERIODS]
    first_day, last_day = calendar_days(now, zone)
    since = min(local_midnight(first_day, zone), *(span.start for span in spans))
    history = performance.History.read(account.pk, since)
    figures = [
        {**_figure(span.key, span, history.pnl(span), zone), "href": _link(query, pnl=span.key)}
        for span in spans
    ]
    current = next(figure for figure in figures if figure["key"] == chosen)
    points = history.series(current["period"])
    notes = list(dict.fromkeys(note for figure in figures for note in figure["text"].notes))
    return {
        "pnl_figures": figures,
        "pnl_current": current,
        "pnl_periods": [(f["key"], f["period"].label, f["href"]) for f in figures],
        "pnl_chart": charts.line_chart(
            points,
            label=f"Cumulative PnL of {account.name}, {current['period'].label}",
            signed=True,
            what="PnL",
        ),
        "pnl_chart_values": charts.values_table(points, signed=True, what="cumulative PnL"),
        "pnl_calendar": calendar(history.daily(first_day, last_day), now, zone),
        "pnl_breakdown": _breakdown(account, current["period"], current["pnl"], zone),
        "pnl_notes": notes,
        "ledger_sync": ledger_progress(account, visible),
        "flow_lines": transfers.flow_lines(
            CashFlow.objects.filter(account=account).select_related("counterparty")[:NEWEST_FLOWS], visible
        ),
        "newest_flows": NEWEST_FLOWS,
        "flows_url": f"{reverse('pages:transfers')}?{urlencode({'account': account.pk})}",
    }


def _figure(key: str, span: Period, pnl: PnL | None, zone: ZoneInfo) -> dict[str, Any]:
    inflow = pnl.net_inflow if pnl is not None else None
    drawdown = pnl.max_drawdown_pct if pnl is not None else None
    return {
        "key": key,
        "period": span,
        "pnl": pnl,
        "text": PnLText.of(pnl, zone),
        "net_inflow": _signed(inflow),
        "drawdown": percent(drawdown, sign=False) or numbers.UNKNOWN,
    }


def _link(query: dict[str, str], **changes: str) -> str:
    return "?" + urlencode({**query, **changes}) + "#pnl"


def _breakdown(account: Account, span: Period, pnl: PnL | None, zone: ZoneInfo) -> dict[str, Any]:
    """Trading fees, funding fees, interest (OKX's signs: negative = paid) of the whole UTC days
    that hold the PnL's own window (its readings' times, `started_at` to `ended_at`; the period's
    bounds when the PnL has none), and the rest of the PnL only when those days are exactly that
    window: OKX's bills are summed per UTC day, and a PnL since 16:32 less a whole day's fees
    would mix two windows. Only an account's own key reads its bills."""
    if account.active_credential() is None:
        return {"reason": NEEDS_OWN_KEY, "lines": []}
    start, end = span.start, span.end
    if pnl is not None and pnl.started_at is not None and pnl.ended_at is not None:
        start, end = pnl.started_at, pnl.ended_at
    found = breakdown.breakdown(account.pk, start, end)
    if found.unknown_reason:
        return {"reason": found.unknown_reason, "lines": []}
    parts = {
        "trading fees": found.trading_fees_usd,
        "funding fees": found.funding_fees_usd,
        "interest": found.interest_usd,
    }
    lines = [(name, _signed(value), numbers.sign_class(value)) for name, value in parts.items()]
    total = pnl.pnl if pnl is not None else None
    rest_reason = ""
    if total is None:
        rest_reason = "the period's PnL is unknown"
    elif not found.covers(start, end):
        rest_reason = "fees are counted by whole UTC days"
    else:  # known together: breakdown() gives all three or none (unknown_reason)
        rest = total - sum((v or Decimal(0) for v in parts.values()), Decimal(0))
        lines.append((REST, _signed(rest), numbers.sign_class(rest)))
    local = f"{start.astimezone(zone):%Y-%m-%d %H:%M} to {end.astimezone(zone):%Y-%m-%d %H:%M}"
    return {
        "reason": "",
        "days": (found.first_day, found.last_day),
        "window": local,
        "lines": lines,
        "rest_reason": rest_reason,
    }


def _signed(value: Decimal | None) -> str:
    return numbers.format_amount(value, "USD", sign=True, minus=numbers.MINUS)


def ledger_progress(account: Account, visible: frozenset[int] | None = None) -> dict[str, Any]:
    """Where the ledger's backfill stands for this account's flows: its own LedgerSync (own key),
    or, for a sub-account read through its master, the master's (its transfers come from the
    master's sub-account transfer history). Each source: records read, back to which day, done.
    "holder_name": the master's name, or "another account" when the user does not see it."""
    own = account.active_credential() is not None
    holder = account if own or account.master_id is None else account.master
    if holder is not None and holder != account and not sees(visible, holder.pk):
        # The master is on a desk this user does not see: not even its ledger's counts or problems.
        return {"holder": holder, "holder_name": shown_name(holder, visible), "through_master": True,
                "holder_hidden": True, "sync": None, "lines": []}  # fmt: skip
    sync = LedgerSync.objects.filter(account=holder).first() if holder is not None else None
    sources = [FlowSource.SUBACCOUNT_BILLS] if not own else None
    lines = []
    for source, state in sorted((sync.progress if sync else {}).items()):
        if sources is not None and source not in sources:
            continue
        oldest = state.get("oldest_ms")
        lines.append(
            {
                "source": SOURCE_LABELS.get(source, source),
                "rows": state.get("rows", 0),
                "oldest": datetime.fromtimestamp(oldest / 1000, tz=ZoneInfo("UTC")) if oldest else None,
                "done": bool(state.get("done")),
            }
        )
    return {
        "holder": holder,
        "holder_name": shown_name(holder, visible),
        "through_master": holder != account,
        "sync": sync,
        "lines": lines,
    }


# --- The daily calendar -------------------------------------------------------------------------
def calendar_days(now: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """(first, last): from the Monday CALENDAR_WEEKS - 1 weeks before this week's, through today
    (display zone)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=today.weekday(), weeks=CALENDAR_WEEKS - 1)
    return first, today


def calendar(days: list[Any], now: datetime, zone: ZoneInfo) -> list[list[dict[str, Any]]]:
    """Weeks (Monday first) of cells: each {"day", "amount" ("+1,234.56"), "short" ("+1.2k", for
    a phone), "css" (pos/neg/unknown/future), "title" (the return or why unknown)}; days after
    today are empty cells. `days`: ledger.performance.daily_pnl's DayPnL list."""
    first, today = calendar_days(now, zone)
    by_day = {day.day: day for day in days}
    weeks = []
    for week in range(CALENDAR_WEEKS):
        cells = []
        for offset in range(7):
            day = first + timedelta(weeks=week, days=offset)
            cells.append(_calendar_cell(day, by_day.get(day), day > today))
        weeks.append(cells)
    return weeks


def _calendar_cell(day: date, found: Any, future: bool) -> dict[str, Any]:
    if future:
        return {"day": day, "amount": "", "short": "", "css": "future", "title": ""}
    value = found.pnl if found is not None else None
    if value is None:
        reason = (found.unknown_reason if found is not None else "") or "no reading that day"
        return {
            "day": day,
            "amount": numbers.UNKNOWN,
            "short": numbers.UNKNOWN,
            "css": "unknown",
            "title": reason,
        }
    title = f"return {percent(found.return_pct)}" if found.return_pct is not None else "return unknown"
    if found.net_inflow:
        title += f"; net inflow {_signed(found.net_inflow)} USD"
    return {
        "day": day,
        "amount": _signed(value),
        "short": compact(value),
        "css": numbers.sign_class(value) or "flat",
        "title": title,
    }


# (from which size, divisor, unit): from 999.5 on, "1.0k" rather than "1000"
UNITS = ((Decimal(999_950), Decimal(10) ** 6, "M"), (Decimal("999.5"), Decimal(1000), "k"))


def compact(value: Decimal) -> str:
    """A day's PnL in a phone's calendar cell: "+12", "\u22121.2k", "+35k", "+1.2M" (whole USD
    below a thousand; one decimal below ten of a unit; the minus sign as on every page)."""
    size = abs(value)
    divisor, unit = next(((d, u) for start, d, u in UNITS if size >= start), (Decimal(1), ""))
    scaled = size / divisor
    text = f"{scaled:.1f}" if unit and scaled < 10 else f"{scaled:.0f}"
    if text.rstrip("0.") == "":
        return "0"
    return ("+" if value > 0 else numbers.MINUS) + text + unit
