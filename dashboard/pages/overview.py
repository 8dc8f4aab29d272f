"""The overview: total equity, its chart, the accounts table, keys needing attention first.

The table's "risk" column is each account's margin ratio and its nearest position's distance to
liquidation (snapshots.risk; RiskText here is how every page writes them).

It reads rows through snapshots.queries; it never calls the exchange. A desk-limited user
(accounts.desks) sees the accounts of their desks only: the table, the totals, the chart, the PnL
and the keys needing attention are all over those. Sorting is done on the
server from ?sort=<column>&dir=asc|desc links, so the table sorts with JavaScript off; the
overview's live part is also served alone (overview_fragment) for overview.js to poll.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import redis
from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts import callstats, desks
from accounts.health import ACTION_SEVERITIES, DEADLINE_CODES, HealthStatus, Severity, WarningCode
from accounts.models import Account
from accounts.roles import viewer_required
from dashboard.pages import charts, context_processors, pnl
from dashboard.pages.common import (
    BadQuery,
    ChangeText,
    bad_request,
    chart_range,
    render_page,
    render_partial,
    shown_name,
    visible,
)
from snapshots import numbers, queries
from snapshots.risk import (
    LEVELS_WORST_FIRST,
    NO_POSITIONS,
    NOTHING_AT_RISK,
    SHORT_REASONS,
    AccountRisk,
    Level,
    distance_text,
    margin_ratio_text,
)

STATUS_ORDER = {"failing": 0, "grace": 1, "unchecked": 2, "none": 3, "ok": 4}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort_key: Callable[[Ranked], Any]
    numeric: bool = False
    optional: bool = False  # hidden on a phone (class "opt" in app.css)
    # Also hidden below a wide screen (class "wide" in app.css): at a laptop's 1366 px the twelve
    # columns do not fit, and the environment says least (demo trading has its own table).
    wide_only: bool = False
    note: str = ""  # a second header line: what the cells' figures are

    @property
    def css(self) -> str:
        """The header's and the cells' classes: "num", "opt", "wide"."""
        flags = (("num", self.numeric), ("opt", self.optional or self.wide_only), ("wide", self.wide_only))
        return " ".join(name for name, on in flags if on)


COLUMNS = (
    Column("name", "account", lambda r: r.row.account.name.lower()),
    Column("kind", "master/sub", lambda r: r.row.account.kind, optional=True),
    Column("environment", "environment", lambda r: r.row.account.environment, wide_only=True),
    Column("equity", "equity (USD)", lambda r: r.row.equity_usd, numeric=True),
    Column("share", "share", lambda r: r.row.share, numeric=True, optional=True),
    # The change in equity includes transfers: a phone keeps the PnL 24 h beside the equity instead.
    Column(
        "change",
        "24 h change (USD)",
        lambda r: r.row.change_24h.usd if r.row.change_24h else None,
        numeric=True,
        optional=True,
    ),
    # PnL net of transfers (ledger.performance): what the account earned or lost, with its return.
    Column("pnl_24h", "PnL 24 h (USD)", lambda r: r.pnl_24h.value, numeric=True),
    Column("pnl_7d", "PnL 7 d (USD)", lambda r: r.pnl_7d.value, numeric=True, optional=True),
    Column("upl", "unrealised PnL (USD)", lambda r: r.row.upl_usd, numeric=True, optional=True),
    Column("positions", "open positions", lambda r: r.row.open_positions, numeric=True, optional=True),
    Column("key", "key status", lambda r: _key_order(r.row), optional=True),
    Column("refreshed", "last refresh", lambda r: r.row.last_refresh_at, numeric=True, optional=True),
    # Riskiest first on the first click (numbers sort descending first); unknown last. A phone
    # hides the column and shows a warn/danger level as a badge under the name (phone_status).
    Column("risk", "risk", lambda r: r.risk.order, numeric=True, optional=True, note="margin ratio, to liq."),
)
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
DEFAULT_SORT = ("equity", "desc")
# The team's table shows this many rows a page (?page=2; ?page=all for every row): at 500 accounts
# the whole table was 727 KiB of HTML, rendered and sent on every poll of every open overview.
ROWS_PER_PAGE = 100
ALL_PAGES = "all"


def _sort(request: HttpRequest) -> tuple[str, str]:
    key = request.GET.get("sort") or DEFAULT_SORT[0]
    direction = request.GET.get("dir") or (DEFAULT_SORT[1] if key == DEFAULT_SORT[0] else _first_dir(key))
    if key not in COLUMN_BY_KEY or direction not in ("asc", "desc"):
        raise BadQuery(f"Unknown sort. Use sort= one of {', '.join(COLUMN_BY_KEY)} and dir=asc or dir=desc.")
    return key, direction


def _page_number(request: HttpRequest) -> int | None:
    """?page=N (1-based; past the last page, the last page) or ?page=all (None: every row)."""
    raw = request.GET.get("page") or "1"
    if raw == ALL_PAGES:
        return None
    # ASCII digits only ("²".isdigit() is true) and few of them (int() refuses 5,000 digits).
    if not re.fullmatch(r"[0-9]{1,6}", raw) or int(raw) < 1:
        raise BadQuery(f"Unknown page. Use page= a number from 1, or page={ALL_PAGES} for every account.")
    return int(raw)


def paged(rows: list[Ranked], number: int | None) -> tuple[list[Ranked], dict[str, Any]]:
    """The rows of page `number` (ROWS_PER_PAGE each, django.core.paginator; None: all of them) and
    what the pager says: first and last row shown (1-based), of how many, the page, the pages."""
    if number is None or len(rows) <= ROWS_PER_PAGE:
        return rows, {"first": 1, "last": len(rows), "count": len(rows), "number": None, "pages": 1}
    page = Paginator(rows, ROWS_PER_PAGE).get_page(number)
    facts = {
        "first": page.start_index(),
        "last": page.end_index(),
        "count": len(rows),
        "number": page.number,
        "pages": page.paginator.num_pages,
    }
    return list(page.object_list), facts


def _pager(query: dict[str, str], facts: dict[str, Any]) -> dict[str, Any] | None:
    """The links under the team's table ("Accounts 101-200 of 500", each page, all); None when
    every row fits one page."""
    if facts["count"] <= ROWS_PER_PAGE:
        return None
    current = facts["number"]
    return {
        **facts,
        "links": [(str(n), _link(query, page=str(n)), n == current) for n in range(1, facts["pages"] + 1)],
        "all": (_link(query, page=ALL_PAGES), current is None),
        "previous": _link(query, page=str(current - 1)) if current and current > 1 else "",
        "next": _link(query, page=str(current + 1)) if current and current < facts["pages"] else "",
    }


def _first_dir(key: str) -> str:
    """Numbers sort largest first on the first click, words from A."""
    column = COLUMN_BY_KEY.get(key)
    return "desc" if column and column.numeric else "asc"


def sort_rows(rows: list[Ranked], key: str, direction: str) -> list[Ranked]:
    """Rows without a value (no snapshot yet, an unknown PnL) go last in both directions; ties
    keep name order."""
    value = COLUMN_BY_KEY[key].sort_key
    known = [row for row in rows if value(row) is not None]
    unknown = [row for row in rows if value(row) is None]
    return sorted(known, key=value, reverse=direction == "desc") + unknown


# --- The overview ------------------------------------------------------------------------------
@require_GET
@viewer_required
def overview(request: HttpRequest) -> HttpResponse:
    try:
        context = _overview_context(request)
    except BadQuery as error:
        return bad_request(error, request)
    # The top bar's facts are in the rows: every active account's (the user sees) key and newest
    # snapshot.
    rows = [row.row for row in (*context["rows"], *context["demo_rows"], *context["excluded_rows"])]
    refreshed = [row.last_refresh_at for row in rows if row.last_refresh_at is not None]
    context_processors.known(
        request, warnings=sum(row.needs_action for row in rows), refreshed_at=max(refreshed, default=None)
    )
    return render_page(request, "dashboard/overview.html", context)


@require_GET
@viewer_required
def overview_fragment(request: HttpRequest) -> HttpResponse:
    """The live part of the overview alone, for overview.js to swap in place."""
    try:
        context = _overview_context(request)
    except BadQuery as error:
        return bad_request(error, request)
    return render_page(request, "dashboard/_overview_fragment.html", context)


def _overview_context(request: HttpRequest) -> dict[str, Any]:
    sort, direction = _sort(request)
    number = _page_number(request)
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    ids = visible(request)  # None: every account; else the user's desks' accounts
    rows = queries.account_rows(ids)
    # Demo-trading accounts are paper money, and an account excluded from team totals (a test
    # account, a client's money) is not the team's either: each group has its own table and
    # subtotal, never in the team's total, chart or PnL (queries.totals, equity_series and
    # ledger.performance.team_pnl count Account.objects.in_team_totals only).
    live = [row for row in rows if row.group == queries.TEAM]
    demo = [row for row in rows if row.group == queries.DEMO]
    excluded = [row for row in rows if row.group == queries.OUT]
    # Without ?range=, the shortest range that holds the team's history.
    firsts = [row.first_data_at for row in live if row.first_data_at is not None]
    range_key = chart_range(request, queries.default_range(min(firsts) if firsts else None))
    query = {"range": range_key, "sort": sort, "dir": direction}
    now = timezone.now()
    # Every account's PnL (all groups) and the team's (the in-team accounts the user sees), worked
    # out ahead by the warm-pnl task (dashboard/tasks.py).
    found = pnl.overview_pnl([row.account.pk for row in rows], [row.account.pk for row in live], now)
    # Of the rows' latest snapshots (account_rows has their ids: no second look-up per account).
    risks = queries.rows_risk(rows)

    def ranked(group: list[queries.AccountRow]) -> list[Ranked]:
        return sort_rows([Ranked.of(row, zone, found, risks) for row in group], sort, direction)

    def formatted(group: list[Ranked]) -> list[TableRow]:
        return [TableRow.of(row, zone, ids) for row in group]

    table_rows = ranked(live)
    demo_rows, excluded_rows = formatted(ranked(demo)), formatted(ranked(excluded))
    shown_rows, page_facts = paged(table_rows, number)
    page_rows = formatted(shown_rows)
    # The page stays on the range links and the poll; a new sort starts on page 1.
    pager = _pager(query, page_facts)
    shown = {**query, **({"page": str(page_facts["number"] or ALL_PAGES)} if pager else {})}
    totals = queries.totals(rows)
    total_shown = _shown_sum(live)
    # The chart starts on the reading its change figure counts from and ends on the total shown.
    last = (totals.last_refresh_at, total_shown) if totals.counted and totals.last_refresh_at else None
    points, readings = charts.anchored(
        queries.equity_series(
            None, range_key, ids, latest=last[1] if last else None, first=min(firsts) if firsts else None
        ),
        first=charts.chart_start(
            range_key, {"24h": totals.change_24h, "7d": totals.change_7d}, last[1] if last else None
        ),
        last=last,
    )
    return {
        "rows": table_rows,
        "table_body": render_partial(request, "dashboard/_account_rows.html", {"rows": page_rows}),
        "pager": pager,
        "totals": totals,
        # The sum of the rows as shown (each rounded to cents), so the figure adds up on screen;
        # the exact sum is in the API.
        "total_shown": total_shown,
        # Before any live account was read there is no total: "—" and why, never 0.00.
        "no_total_reason": "" if totals.counted else no_total_reason(live),
        # "gamma never read": the accounts the count has and the total has not, and why.
        "not_in_total": ", ".join(f"{out.account.name} {out.reason}" for out in totals.not_in_total),
        # Counted accounts read through their master: their Earn is in no total (OKX has no master
        # endpoint for a sub-account's Earn), and the total says so.
        "earn_unread": [r.account.name for r in live if r.via_master and r.equity_usd is not None],
        "demo_rows": demo_rows,
        "demo_table_body": render_partial(request, "dashboard/_account_rows.html", {"rows": demo_rows})
        if demo_rows
        else "",
        # The demo subtotal sums its rows as shown; no 7 d change (it would cost a query).
        "demo_total_shown": _shown_sum(demo),
        "demo_change_24h": ChangeText.of(queries.Change.combined([r.change_24h for r in demo])),
        # Live accounts excluded from team totals: listed apart with their own subtotal, like demo.
        "excluded_rows": excluded_rows,
        "excluded_table_body": (
            render_partial(request, "dashboard/_account_rows.html", {"rows": excluded_rows})
            if excluded_rows
            else ""
        ),
        "excluded_total_shown": _shown_sum(excluded),
        "excluded_change_24h": ChangeText.of(queries.Change.combined([r.change_24h for r in excluded])),
        "excluded_names": ", ".join(row.account.name for row in excluded),
        # A desk-limited user's desks, said above the figures (empty for a user who sees all).
        "desk_names": desks.visible_desk_names(request.user),
        "change_24h": ChangeText.of(totals.change_24h),
        "change_7d": ChangeText.of(totals.change_7d),
        # The team's PnL (its accounts in team totals; transfers between them cancel): the total row.
        "team_pnl_24h": found["team"]["24h"],
        "team_pnl_7d": found["team"]["7d"],
        # The team's daily PnL, the account page's calendar (pnl.calendar) over the same weeks.
        "team_calendar": found["calendar"],
        "pnl_as_of": found["as_of"],
        "keys_needing_attention": keys_needing_attention(rows),
        "shortfall": refresh_shortfall(rows, now),
        "chart": charts.line_chart(
            points, label="Total equity of the team's live accounts", readings=readings
        ),
        "chart_values": charts.values_table(points, readings=readings),
        "ranges": [(key, _link(shown, range=key)) for key in queries.RANGES],
        "range_key": range_key,
        # A new sort starts on page 1, or stays on every row.
        "headers": _headers({**query, "page": ALL_PAGES} if number is None else query, sort, direction),
        "sort": sort,
        "sort_label": COLUMN_BY_KEY[sort].label,  # the caption says the column's words
        "dir": direction,
        "fragment_url": f"{reverse('pages:overview_fragment')}?{urlencode(shown)}",
        "refresh_seconds": settings.REFRESH_INTERVAL_SECONDS,
        "stale_minutes": int(queries.stale_after().total_seconds() // 60),
        "now": now,
    }


# How many accounts "the workers cannot keep up" names before "and N more".
SHORTFALL_NAMES = 5


def refresh_shortfall(rows: list[queries.AccountRow], now: datetime) -> dict[str, Any] | None:
    """The rows' planned refreshes that expired unrun within the stale window (queries.stale_after:
    no worker was free before their refresh interval ended, so those accounts go stale), for the
    overview's note that the workers cannot keep up: {"count", "names" (the first SHORTFALL_NAMES
    accounts by name), "more" (how many others), "minutes" (the window)}. None when none expired,
    or when Redis cannot say (the top bar then says the broker does not answer)."""
    window = queries.stale_after()
    try:
        expired = callstats.expired_since((now - window).timestamp())
    except (redis.RedisError, OSError):
        return None
    hit = sorted((row.account.name for row in rows if row.account.pk in expired), key=str.lower)
    if not hit:
        return None
    return {
        "count": sum(expired[row.account.pk] for row in rows if row.account.pk in expired),
        "names": hit[:SHORTFALL_NAMES],
        "more": len(hit) - SHORTFALL_NAMES if len(hit) > SHORTFALL_NAMES else 0,
        "minutes": max(1, round(window.total_seconds() / 60)),
    }


def no_total_reason(rows: list[queries.AccountRow]) -> str:
    """Why there is no total yet: no account read ("the first refresh runs within a minute"),
    or no account with a total in its latest snapshot."""
    if not rows:
        return "no live account yet"
    if any(row.last_refresh_at is not None for row in rows):
        return f"no live account has a total yet ({queries.NO_TOTAL})"
    return f"no account read yet: the first refresh runs within {_interval()}"


def _interval() -> str:
    """REFRESH_INTERVAL_SECONDS in words: "a minute", "5 minutes", "90 seconds"."""
    seconds = settings.REFRESH_INTERVAL_SECONDS
    if seconds == 60:
        return "a minute"
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


def _shown_sum(rows: list[queries.AccountRow]) -> Decimal:
    return sum((r.equity_usd.quantize(queries.CENT) for r in rows if r.equity_usd is not None), Decimal(0))


# The badge class of a risk level ("ok" draws no badge) and the words of each figure.
RISK_BADGES: dict[Level, str] = {"warn": "grace", "danger": "failing"}


@dataclass(frozen=True)
class RiskText:
    """An account's risk (snapshots.risk.AccountRisk) as the pages write it: its margin ratio
    (OKX's mgnRatio in percent, "312.5%") and its nearest position's distance to liquidation
    (percent of the mark price, "8.25%"), each with its level (ok, warn, danger: the CSS class)
    and, when unknown, "—" and why (never 0); with nothing to liquidate (level "none"), "no
    positions" and why."""

    risk: AccountRisk
    margin: str
    distance: str

    @classmethod
    def of(cls, risk: AccountRisk) -> RiskText:
        return cls(risk, margin_ratio_text(risk.margin_ratio_pct), distance_text(risk.nearest_distance_pct))

    @property
    def nothing_at_risk(self) -> bool:
        return self.risk.level == "none"

    @property
    def none_text(self) -> str:
        """The level "none" in a few words: "no positions" (or, with positions OKX gives no
        liquidation price for, "nothing at risk")."""
        return SHORT_REASONS[NO_POSITIONS] if self.risk.nearest_note == NO_POSITIONS else NOTHING_AT_RISK

    @property
    def none_title(self) -> str:
        return self.risk.nothing_at_risk_reason

    @property
    def margin_reason(self) -> str:
        """Why the margin ratio is unknown ("" when known)."""
        return self.risk.margin_reason

    @property
    def margin_title(self) -> str:
        """The tooltip: what the figure is, and how it was taken when OKX gives no account figure
        (Futures mode: the lowest per-currency ratio), or why it is unknown."""
        if self.risk.margin_ratio is None:
            return f"margin ratio unknown: {self.margin_reason}"
        note = f"; {self.risk.note}" if self.risk.note else ""
        return f"margin ratio (OKX mgnRatio): the lower, the nearer liquidation{note}"

    @property
    def distance_reason(self) -> str:
        return self.risk.distance_reason

    @property
    def distance_title(self) -> str:
        if self.risk.nearest_distance_pct is None:
            return f"distance to liquidation unknown: {self.risk.nearest_note}"
        return (
            f"nearest liquidation: {self.risk.nearest_inst_id}, the mark price {self.distance} away "
            "from its estimated liquidation price"
        )

    @property
    def reasons(self) -> list[tuple[str, str]]:
        """Why the unknown figures are unknown, for a narrow cell: (a few words, the full reason
        for its title), each once ("never read" covers both)."""
        found = [
            (self.risk.margin_reason_short, self.margin_reason),
            (self.risk.distance_reason_short, self.distance_reason),
        ]
        return [pair for i, pair in enumerate(found) if pair[0] and pair[0] not in (p[0] for p in found[:i])]

    @property
    def order(self) -> tuple[int, Decimal, Decimal] | None:
        """The overview's sort key: level (danger highest, then warn, ok and "none": nothing to
        liquidate), then the nearer liquidation, then the lower margin ratio; None (last either
        way) when both figures are unknown."""
        level = self.risk.level
        if level == "unknown":
            return None
        far = Decimal("Infinity")
        distance, ratio = self.risk.nearest_distance_pct, self.risk.margin_ratio
        return (
            LEVELS_WORST_FIRST[::-1].index(level) if level != "none" else -1,
            -(far if distance is None else distance),
            -(far if ratio is None else ratio),
        )

    @property
    def badges(self) -> list[tuple[str, str]]:
        """(CSS class, text) of each figure at warn or danger, for a phone's row status."""
        found = []
        if self.risk.margin_level in RISK_BADGES:
            found.append((RISK_BADGES[self.risk.margin_level], f"margin {self.margin}"))
        if self.risk.distance_level in RISK_BADGES:
            found.append((RISK_BADGES[self.risk.distance_level], f"liq. {self.distance} away"))
        return found


@dataclass(frozen=True)
class Ranked:
    """An accounts-table row with what its columns sort on (COLUMNS' sort_key): the row, its PnL
    and its risk. Every row is ranked; only the shown page's rows are formatted (TableRow)."""

    row: queries.AccountRow
    pnl_24h: pnl.PnLText  # PnL net of transfers with its time-weighted return
    pnl_7d: pnl.PnLText
    risk: RiskText  # margin ratio and the nearest distance to liquidation

    @classmethod
    def of(
        cls, row: queries.AccountRow, zone: ZoneInfo, found: dict[str, Any], risks: dict[int, AccountRisk]
    ) -> Ranked:
        """`found`: dashboard.pages.pnl.overview_pnl (each period's PnLText per account id);
        `risks`: snapshots.risk.account_risk (AccountRisk per account id)."""
        pk = row.account.pk
        return cls(
            row=row,
            pnl_24h=found["24h"].get(pk) or pnl.PnLText.of(None, zone),
            pnl_7d=found["7d"].get(pk) or pnl.PnLText.of(None, zone),
            # An account activated between the two reads has no risk row yet: never read.
            risk=RiskText.of(risks.get(pk) or AccountRisk.never_read(pk)),
        )


@dataclass(frozen=True)
class TableRow:
    """One accounts-table row's values as text, for templates/jinja2/dashboard/_account_rows.html:
    formatted here once, because 500 rows through template filters (floatformat, date) cost more
    than the queries behind them."""

    row: queries.AccountRow
    equity: str
    share: str
    change: str
    change_pct: str  # "+1.23%"; "" when unknown (the change's one "—" has change_reason beside it)
    change_since: str  # "since 07:10" when the account has less than a day of history, else ""
    change_reason: str  # why the change is unknown ("never read"), else ""
    upl: str
    refreshed: str
    refreshed_iso: str
    key_badge: str  # CSS class of the key's badge
    key_label: str  # its word: the most urgent reason when it needs attention, else its status
    pnl_24h: pnl.PnLText  # PnL net of transfers with its time-weighted return
    pnl_7d: pnl.PnLText
    risk: RiskText  # margin ratio and the nearest distance to liquidation
    # A sub-account's master by name, or "another account" when the user does not see it; "".
    master: str = ""

    @classmethod
    def of(cls, ranked: Ranked, zone: ZoneInfo, ids: frozenset[int] | None = None) -> TableRow:
        """`ranked`: the row with its PnL and risk (Ranked.of); `ids`: the accounts the user sees
        (common.visible), to name a master only when it is one of them."""
        row = ranked.row
        refreshed = row.last_refresh_at.astimezone(zone) if row.last_refresh_at else None
        change = row.change_24h
        since = change.since.astimezone(zone) if change is not None and change.since else None
        ratio = change.ratio if change else None
        badge, label = key_badge(row.key_status, row.warnings)
        return cls(
            row=row,
            equity=charts.money(row.equity_usd),
            share="—" if row.share is None else numbers.format_percent(row.share, sign=False, places=1),
            change=charts.money(change.usd if change else None, sign=True),
            change_pct="" if ratio is None else numbers.format_percent(ratio, minus=numbers.MINUS),
            change_since=f"since {since:%H:%M}" if since else "",
            change_reason="" if change else row.equity_unknown_reason or "no earlier snapshot",
            # "—" when unknown; the row says why
            upl=numbers.format_amount(row.upl_usd, "USD", sign=True, minus=numbers.MINUS),
            refreshed=refreshed.strftime("%Y-%m-%d %H:%M") if refreshed else "never",
            refreshed_iso=refreshed.isoformat() if refreshed else "",
            key_badge=badge,
            key_label=label,
            pnl_24h=ranked.pnl_24h,
            pnl_7d=ranked.pnl_7d,
            risk=ranked.risk,
            master=shown_name(row.account.master, ids),
        )

    @property
    def team_label(self) -> str:
        """ "excluded from team totals" for a live account marked so; else ""."""
        return queries.EXCLUDED if self.row.group == queries.OUT else ""

    @property
    def phone_status(self) -> list[tuple[str, str]]:
        """What the phone layout shows under the account's name, as (CSS class, text) badges, since
        it hides the key, unrealised PnL, positions, risk and refresh columns: a key that is not fine,
        "stale" with the time of the last reading, and a margin ratio or a distance to liquidation at
        warn or danger (why an unknown equity is unknown, "never read", is in the PnL 24 h cell,
        which a phone shows)."""
        found = []
        if self.key_badge not in ("ok", "none"):
            found.append((self.key_badge, f"key {self.key_label}"))
        if self.row.stale and self.row.last_refresh_at is not None:
            found.append(("grace", f"stale: read {self.refreshed}"))
        found.extend(self.risk.badges)
        return found

    @property
    def change_class(self) -> str:
        return numbers.sign_class(self.row.change_24h.usd if self.row.change_24h else None)

    @property
    def upl_class(self) -> str:
        return numbers.sign_class(self.row.upl_usd)


def _link(query: dict[str, str], **changes: str) -> str:
    return "?" + urlencode({**query, **changes})


def _headers(query: dict[str, str], sort: str, direction: str) -> list[dict[str, Any]]:
    """One header per column: its link sorts by it (again: the other way round)."""
    headers = []
    for column in COLUMNS:
        current = column.key == sort
        next_dir = ("asc" if direction == "desc" else "desc") if current else _first_dir(column.key)
        headers.append(
            {
                "column": column,
                "href": _link(query, sort=column.key, dir=next_dir),
                "current": current,
                "aria_sort": ("ascending" if direction == "asc" else "descending") if current else "none",
            }
        )
    return headers


# The badge (CSS class, text) of a key's line in "Keys needing attention".
WARNING_BADGES = {
    "failing": ("failing", "failing"),
    WarningCode.EXPIRED.value: ("failing", "expired"),
    WarningCode.IDLE_DELETION.value: ("failing", "deletion due"),
    WarningCode.EXPIRES_SOON.value: ("grace", "expires soon"),
}
SEVERITY_BADGES = {Severity.DANGER.value: "failing", Severity.WARNING.value: "grace"}


def keys_needing_attention(rows: list[queries.AccountRow]) -> list[dict[str, Any]]:
    """The overview's first block: one line per account whose own key needs action (the keys the
    top bar counts: AccountRow.needs_action), with its most urgent reason. Failing keys first,
    then the nearest deletion or expiry, then the rest."""
    found = [line for line in map(_attention, rows) if line is not None]
    return sorted(found, key=lambda item: (item["order"], item["account"].name))


def _attention(row: queries.AccountRow) -> dict[str, Any] | None:
    """The row's line in "Keys needing attention" (badge, label, message, date, order), None when
    its key needs no action; the table's key column shows the same badge and word."""
    if not row.needs_action:
        return None
    if row.key_status == HealthStatus.FAILING:
        badge, message = WARNING_BADGES["failing"], row.key_reason
        return _line(row.account, badge, message, None, (0, date.min))
    warning = min((w for w in row.warnings if w.get("severity") in ACTION_SEVERITIES), key=_urgency)
    on = date.fromisoformat(warning["date"]) if warning.get("date") else None
    order = (1, on or date.max) if warning["code"] in DEADLINE_CODES else (2, date.max)
    return _line(row.account, _badge(warning), warning.get("message", ""), on, order)


def key_badge(status: str, warnings: list[dict[str, Any]]) -> tuple[str, str]:
    """(CSS class, word) of a key's one badge (the overview's key column, the account page): "failing";
    else its most urgent warning a person must act on, in the words "Keys needing attention" uses
    ("rotation due", "deletion due", "expires soon"); else its status ("ok", "grace", "unchecked";
    "none", no key of its own: "via master"). `warnings`: Credential.warnings_at(now)."""
    if status == HealthStatus.FAILING:
        return WARNING_BADGES["failing"]
    acting = [w for w in warnings if w.get("severity") in ACTION_SEVERITIES]
    if acting:
        return _badge(min(acting, key=_urgency))
    status = status or "unchecked"
    return status, "via master" if status == "none" else status


def _key_order(row: queries.AccountRow) -> tuple[int, date]:
    """The key column's order: keys needing attention first, as the block above lists them
    (failing, nearest deadline, the rest), then by status (STATUS_ORDER)."""
    attention = _attention(row)
    if attention is not None:
        return attention["order"]
    return 3 + STATUS_ORDER.get(row.key_status, 9), date.max


def _urgency(warning: dict[str, Any]) -> tuple:
    """Deadlines first (the nearest first), then danger before warning."""
    deadline = warning.get("code") in DEADLINE_CODES and warning.get("date")
    return (0 if deadline else 1, warning.get("date") or "", warning.get("severity") != Severity.DANGER)


def _badge(warning: dict[str, Any]) -> tuple[str, str]:
    """(CSS class, text): a deadline's own words; else the severity's colour and the code's label."""
    code = warning["code"]
    if code in WARNING_BADGES:
        return WARNING_BADGES[code]
    label = WarningCode(code).label if code in WarningCode.values else code
    return SEVERITY_BADGES.get(warning.get("severity", ""), "grace"), label


def _line(
    account: Account, badge: tuple[str, str], message: str, on: date | None, order: tuple
) -> dict[str, Any]:
    return {
        "account": account,
        "badge": badge[0],
        "label": badge[1],
        "message": message,
        "date": on,
        "order": order,
    }
