"""PnL net of transfers as the pages show it. ledger.performance computes every figure (change in
equity minus the counted flows, the time-weighted return, the drawdown); this module only turns
them into text and lays them out: a figure with its return and why it is unknown (the overview's
"PnL 24 h" / "PnL 7 d" cells, the account page's period table), and the account page's
"Profit and loss" section (periods, cumulative PnL chart, daily calendar, breakdown, notes, the
ledger's backfill, the newest flows). It reads rows; it never calls the exchange.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from accounts.models import Account
from dashboard.pages import charts, transfers
from dashboard.pages.common import BadQuery, sees, shown_name
from ledger import breakdown, performance
from ledger.models import CashFlow, FlowSource, LedgerSync
from ledger.pnl import Period, PnL, local_midnight, period
from ledger.sync import BILLS
from snapshots import numbers, queries

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

    @classmethod
    def computing(cls) -> PnLText:
        """A figure the background task has not worked out yet (overview_pnl)."""
        return cls(None, numbers.UNKNOWN, "", "", "", COMPUTING, (COMPUTING_NOTE,))

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


# --- The overview's figures, worked out ahead ------------------------------------------------
# Every account's PnL over OVERVIEW_PERIODS, the team's and the team's calendar take seconds at
# 500 accounts with a year of history: the warm-pnl task (dashboard/tasks.py) works them out each
# refresh interval and keeps them here as text; the overview reads them.
PNL_CACHE = "pages:pnl:1"  # the number changes with the entries' shape (they are pickled)
# On a cache miss a page works out the figures itself for at most this many accounts (a few ms
# each); the others say "computing" until the task has run.
INLINE_ACCOUNTS = 20
# The entries are kept this many refresh intervals: should the task stop, the overview says
# "computing" rather than show old figures for long.
STORED_INTERVALS = 5
COMPUTING = "computing"
Key = TypeVar("Key", str, int)  # a period's key or an account id (_texts)
COMPUTING_NOTE = "worked out in the background each refresh interval; shown after its next run"


@dataclass(frozen=True)
class Stored:
    """One cache entry of the overview's PnL: when its periods end (`at`), each period's text per
    account id (`accounts`: the accounts entry) or the team's (`team`, with its calendar `days`:
    a team's entry)."""

    at: datetime
    accounts: dict[str, dict[int, PnLText]] = field(default_factory=dict)
    team: dict[str, PnLText] = field(default_factory=dict)
    days: tuple[Any, ...] = ()  # ledger.performance.DayPnL


def team_key(team_ids: Iterable[int]) -> str:
    """The cache key of a team's figures: its accounts (the team's, or a desk's)."""
    return f"{PNL_CACHE}:team:{queries.scope_key(team_ids)}"


def warm_overview_pnl(teams: Iterable[Collection[int] | None] = (None,)) -> list[int]:
    """Work out the overview's PnL (every active account's, and each team's: None for the whole
    team, else a set of account ids) and keep it in the cache for a few refresh intervals.
    Returns each team's number of accounts."""
    now = timezone.now()
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    spans = [period(key, now) for key in OVERVIEW_PERIODS]
    per_account, per_team = performance.figures(spans, list(teams), *calendar_days(now, zone))
    texts = {key: _texts(found, zone) for key, found in per_account.items()}
    entries = {f"{PNL_CACHE}:accounts": Stored(now, accounts=texts)} | {
        team_key(found.ids): Stored(now, team=_texts(found.pnl, zone), days=tuple(found.days))
        for found in per_team
    }
    queries.cache_set_many(entries, timeout=STORED_INTERVALS * settings.REFRESH_INTERVAL_SECONDS)
    return [len(found.ids) for found in per_team]


def overview_pnl(account_ids: list[int], team_ids: list[int], now: datetime) -> dict[str, Any]:
    """The overview's PnL: {"24h": {account id: PnLText}, "7d": ...} for `account_ids`, the team's
    per period ("team": {"24h": PnLText, ...}) over `team_ids`, its calendar ("calendar":
    calendar()'s weeks) and "as_of": when the task worked out what is shown (None: this page
    did). Read from warm_overview_pnl's entries (one cache read); on a miss the page works out
    the figures of at most INLINE_ACCOUNTS accounts itself (a fixed number of queries, whatever
    their number), else they say "computing"."""
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    keys = [f"{PNL_CACHE}:accounts", team_key(team_ids)]
    cached = queries.cache_get_many(keys)
    stored, team = cached.get(keys[0]), cached.get(keys[1])
    as_of = min((entry.at for entry in (stored, team) if entry is not None), default=None)
    # Only `account_ids`' texts: the entry holds every active account's, of every desk.
    texts: dict[str, dict[int, PnLText]] = {key: {} for key in OVERVIEW_PERIODS}
    if stored:
        for key, shown in texts.items():
            every = stored.accounts[key]
            shown.update((pk, every[pk]) for pk in account_ids if pk in every)
    missing = [pk for pk in account_ids if pk not in texts[OVERVIEW_PERIODS[0]]]
    inline = missing if len(missing) <= INLINE_ACCOUNTS else []
    teams = [team_ids] if team is None and len(team_ids) <= INLINE_ACCOUNTS else []
    if inline or teams:
        spans = [period(key, now) for key in OVERVIEW_PERIODS]
        per_account, per_team = performance.figures(
            spans, teams, *calendar_days(now, zone), account_ids=inline
        )
        for key, found in per_account.items():
            texts[key] |= _texts(found, zone)
        if per_team:
            team = Stored(now, team=_texts(per_team[0].pnl, zone), days=tuple(per_team[0].days))
    computing = PnLText.computing()
    for shown in texts.values():
        shown |= {pk: computing for pk in account_ids if pk not in shown}
    if team is None:
        team_texts = dict.fromkeys(OVERVIEW_PERIODS, computing)
        weeks = calendar([], now, zone, missing=f"{COMPUTING}: {COMPUTING_NOTE}")
    else:
        team_texts, weeks = team.team, calendar(list(team.days), team.at, zone)
    return {**texts, "team": team_texts, "calendar": weeks, "as_of": as_of}


def _texts(found: dict[Key, PnL], zone: ZoneInfo) -> dict[Key, PnLText]:
    """Each figure as text, by the same key (a period's, or an account id)."""
    return {key: PnLText.of(p, zone) for key, p in found.items()}


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
    *,
    own_key: bool,
) -> dict[str, Any]:
    """The context of the account page's "Profit and loss" section. `chosen`: a key of
    ACCOUNT_PERIODS (chosen_period); `query`: the page's other parameters, kept by the links;
    `visible`: the accounts the user sees (a flow's other side and the master whose key reads
    the flows are named only when visible); `own_key`: the account has an active key of its own
    (the page has read it: Account.active_credential).
    The six periods, the chart and the calendar come from one read of the account's rows
    (ledger.performance.History), so the page's queries do not grow with the periods' length."""
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    spans = [period(key, now) for key in ACCOUNT_PERIODS]
    first_day, last_day = calendar_days(now, zone)
    since = min(local_midnight(first_day, zone), *(span.start for span in spans))
    history = performance.History.read(
        account.pk, since, [t for span in spans for t in (span.start, span.end)]
    )
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
        "pnl_breakdown": _breakdown(account, current["period"], current["pnl"], zone, own_key),
        "pnl_notes": notes,
        "ledger_sync": ledger_progress(account, own_key, visible),
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


def _breakdown(
    account: Account, span: Period, pnl: PnL | None, zone: ZoneInfo, own_key: bool
) -> dict[str, Any]:
    """Trading fees, funding fees, interest (OKX's signs: negative = paid) of the whole UTC days
    that hold the PnL's own window (its readings' times, `started_at` to `ended_at`; the period's
    bounds when the PnL has none), and the rest of the PnL only when those days are exactly that
    window: OKX's bills are summed per UTC day, and a PnL since 16:32 less a whole day's fees
    would mix two windows. Only an account's own key reads its bills."""
    if not own_key:
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


def ledger_progress(account: Account, own: bool, visible: frozenset[int] | None = None) -> dict[str, Any]:
    """Where the ledger's backfill stands for this account's flows: its own LedgerSync (own key),
    or, for a sub-account read through its master, the master's (its transfers come from the
    master's sub-account transfer history). Each source: records read, back to which day, done.
    "holder_name": the master's name, or "another account" when the user does not see it.
    `own`: the account has an active key of its own."""
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


def calendar(
    days: list[Any], now: datetime, zone: ZoneInfo, missing: str = "no reading that day"
) -> list[list[dict[str, Any]]]:
    """Weeks (Monday first) of cells: each {"day", "amount" ("+1,234.56"), "short" ("+1.2k", for
    a phone), "css" (pos/neg/unknown/future), "title" (the return or why unknown: `missing` for a
    day not in `days`)}; days after today are empty cells. `days`: ledger.performance.daily_pnl's
    DayPnL list."""
    first, today = calendar_days(now, zone)
    by_day = {day.day: day for day in days}
    weeks = []
    for week in range(CALENDAR_WEEKS):
        cells = []
        for offset in range(7):
            day = first + timedelta(weeks=week, days=offset)
            cells.append(_calendar_cell(day, by_day.get(day), day > today, missing))
        weeks.append(cells)
    return weeks


def _calendar_cell(day: date, found: Any, future: bool, missing: str) -> dict[str, Any]:
    if future:
        return {"day": day, "amount": "", "short": "", "css": "future", "title": ""}
    value = found.pnl if found is not None else None
    if value is None:
        reason = (found.unknown_reason if found is not None else "") or missing
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
