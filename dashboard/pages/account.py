"""The account page: one account's equity and its chart, its profit and loss net of transfers
(dashboard/pages/pnl.py), its margin and liquidation risk (snapshots.risk), balances and positions
of its latest snapshot, its closed positions (OKX's positions history as stored), the health of its
key and its recent errors. It reads rows; it never calls the exchange. An account of a desk the
user does not see (accounts.desks) answers 404, and its master, when the user does not see it, is
"another account"."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts.history import ApiError
from accounts.models import Account
from accounts.roles import OPERATE, viewer_required
from dashboard.pages import charts, pnl
from dashboard.pages.common import (
    BadQuery,
    ChangeText,
    account_or_404,
    amount,
    bad_request,
    chart_range,
    render_page,
    sees,
    shown_name,
    visible,
)
from dashboard.pages.overview import RiskText, key_badge
from snapshots import numbers, pacing, queries, risk
from snapshots.models import FORCED_CLOSES, ClosedPosition, CloseType, Snapshot, Wallet
from snapshots.risk import account_risk, closed_positions, distance_level, distance_text

RECENT_ERRORS = 10
BALANCE_AMOUNTS = ("equity", "available", "frozen")
POSITION_AMOUNTS = ("quantity", "upl_usd_price")
# Prices in their instrument's quote currency (snapshots.numbers.format_price).
POSITION_PRICES = ("avg_price", "mark_price", "liq_price")
CLOSED_SHOWN = 50
CLOSED_PRICES = ("open_avg_price", "close_avg_price", "trigger_price")
# Signed amounts of a closed position, each in its margin currency (ClosedPosition.ccy).
CLOSED_AMOUNTS = ("realized_pnl", "pnl", "fee", "funding_fee", "liq_penalty")
# The page colours' thresholds (percent), as the risk section's legend says them.
RISK_LEVELS = {
    "margin_warn": risk.MARGIN_RATIO_WARN_PCT,
    "margin_danger": risk.MARGIN_RATIO_DANGER_PCT,
    "distance_warn": risk.DISTANCE_WARN_PCT,
    "distance_danger": risk.DISTANCE_DANGER_PCT,
}
LIQUIDATIONS = frozenset({CloseType.LIQUIDATION, CloseType.PARTIAL_LIQUIDATION})
# OKX keeps positions history for three months and gives it to the account's own key only
# (GET /api/v5/account/positions-history; the master has no endpoint for a sub-account's).
NO_CLOSED_POSITIONS = "No position closed in the last 3 months (OKX keeps positions history for 3 months)."
CLOSED_NEED_OWN_KEY = "not readable without the account's own key"
# The latest snapshot's history_note says the stored history may miss rows (still reading back,
# or the last read failed): a list that may be incomplete, or an empty one that means nothing.
CLOSED_UNKNOWN = "Unknown: OKX's positions history {reason}."
CLOSED_INCOMPLETE = "Possibly incomplete: OKX's positions history {reason}."


@require_GET
@viewer_required
def account(request: HttpRequest, pk: int) -> HttpResponse:
    account = account_or_404(request, pk, Account.objects.select_related("master"))
    ids = visible(request)
    snapshot = queries.latest_snapshot(account)
    changes = _changes(account, snapshot)
    try:
        range_key = chart_range(request, queries.default_range(changes["first_data_at"]))
        pnl_key = pnl.chosen_period(request.GET.get("pnl"))
    except BadQuery as error:
        return bad_request(error, request)
    credential = account.active_credential()
    now = timezone.now()
    # The equity chart's and the PnL section's choices each keep the other in their links.
    kept = {name: request.GET[name] for name in ("range", "pnl") if request.GET.get(name)}
    warnings = credential.warnings_at(now) if credential else []
    equity = snapshot.total_equity_usd if snapshot else None
    last = (snapshot.taken_at, equity.quantize(queries.CENT)) if snapshot and equity is not None else None
    points, readings = charts.anchored(
        queries.equity_series(account, range_key),
        first=charts.chart_start(
            range_key, {"24h": changes["raw_24h"], "7d": changes["raw_7d"]}, last[1] if last else None
        ),
        last=last,
    )
    context = {
        **_holdings(snapshot),
        **_closed(account, credential is not None, snapshot),
        "risk": RiskText.of(account_risk([account.pk])[account.pk]),
        "risk_levels": RISK_LEVELS,
        **changes,
        **pnl.account_section(
            account,
            pnl_key,
            now,
            {k: v for k, v in kept.items() if k != "pnl"},
            ids,
            own_key=credential is not None,
        ),
        "account": account,
        # Its master by name and linked only when the user sees it (else "another account").
        "master_name": shown_name(account.master, ids),
        "master_linked": sees(ids, account.master_id),
        "snapshot": snapshot,
        **_reading_pace(account, snapshot, now),
        "credential": credential,
        "warnings": warnings,
        # The key's one word, as in the overview's key column ("rotation due", not "ok").
        "key_badge": key_badge(credential.health_status, warnings) if credential else None,
        "errors": ApiError.objects.filter(account=account).order_by("-last_seen", "-pk")[:RECENT_ERRORS],
        "errors_url": f"{reverse('pages:errors')}?{urlencode({'account': account.pk})}",
        "can_operate": request.user.has_perm(OPERATE),
        "chart": charts.line_chart(points, label=f"Equity of {account.name}", readings=readings),
        "chart_values": charts.values_table(points, readings=readings),
        "ranges": [(key, "?" + urlencode({**kept, "range": key})) for key in queries.RANGES],
        "range_key": range_key,
        "balances_csv": f"/api/v1/accounts/{account.pk}/balances.csv",
        # Unknown is never zero: positions and their PnL are "—" with this reason.
        "positions_unknown_reason": (
            queries.NEVER_READ
            if snapshot is None
            else queries.NOT_READABLE_VIA_MASTER
            if snapshot.via_master
            else None
        ),
    }
    return render_page(request, "dashboard/account.html", context)


def _changes(account: Account, snapshot: Snapshot | None) -> dict[str, Any]:
    """The account's 24 h and 7 d changes as the overview shows them (queries.changes_since: the
    same rule, with percentages and "since <first data>"), and its first data time."""
    equity = snapshot.total_equity_usd if snapshot else None
    found = {
        period: queries.changes_since({account.pk: equity}, span).get(account.pk)
        for period, span in (("24h", timedelta(days=1)), ("7d", timedelta(days=7)))
    }
    return {
        "change_24h": ChangeText.of(found["24h"]),
        "change_7d": ChangeText.of(found["7d"]),
        "raw_24h": found["24h"],  # the chart starts on their baseline (charts.chart_start)
        "raw_7d": found["7d"],
        "first_data_at": queries.first_data_at(account),
    }


def _holdings(snapshot: Snapshot | None) -> dict[str, Any]:
    """Balance and position lines with their amounts as text (crypto amounts keep every digit
    OKX sent, without trailing zeros or exponents; USD values stay Decimal for the template)."""
    lines = list(snapshot.balances.all()) if snapshot else []
    # A size of 0 is no position (rows stored before the refresh dropped OKX's pos "0" rows).
    positions = [p for p in snapshot.positions.all() if p.size != 0] if snapshot else []
    return {
        "balances": [
            {
                "wallet": line.wallet,
                "ccy": line.ccy,
                "usd": line.usd_value,
                **_amounts(line, BALANCE_AMOUNTS, line.ccy),
            }
            for line in sorted(lines, key=lambda line: (line.wallet != Wallet.TRADING, line.ccy))
        ],
        "positions": [
            {
                "line": p,
                **_amounts(p, POSITION_AMOUNTS),
                **_prices(p, POSITION_PRICES, p.inst_id),
                "leverage": numbers.format_leverage(p.leverage),
                # A PnL carries its sign and its currency's decimals (BTC for an inverse swap).
                "upl": numbers.format_amount(p.upl, p.upl_ccy, sign=True, minus=numbers.MINUS),
                "liq_distance": distance_text(p.liq_distance_pct),
                "liq_level": distance_level(p.liq_distance_pct),
            }
            for p in positions
        ],
        # PnL sums USD values only (snapshots.positions.upl_usd); the unpriced ones are counted.
        "upl_total": sum((p.upl_usd for p in positions if p.upl_usd is not None), Decimal(0)),
        "upl_unpriced": sum(1 for p in positions if p.upl_usd is None),
    }


def closed_unknown_reason(own_key: bool, snapshot: Snapshot | None) -> str | None:
    """Why the account's closed positions are unknown or may be incomplete, in the API's short
    words: "not readable without the account's own key" (no active key of its own), "never read"
    (no snapshot yet), else the latest snapshot's history_note (snapshots.refresh: "still reading
    back: 2026-10-02 14:05 UTC reached", "could not be read: exchange busy on
    /api/v5/account/positions-history", ...). None only when the positions history was read up
    to that snapshot and back to OKX's 3 months: an empty list is then none closed in 3 months."""
    if not own_key:
        return CLOSED_NEED_OWN_KEY
    if snapshot is None:
        return queries.NEVER_READ
    return snapshot.history_note or None


def _closed(account: Account, own_key: bool, snapshot: Snapshot | None) -> dict[str, Any]:
    """The newest closed positions (snapshots.risk.closed_positions) with their amounts as text;
    when there are none, why in a sentence ("none closed" only when the history is known); when
    there are some but the history may be incomplete, why (closed_incomplete)."""
    rows = closed_positions(account, CLOSED_SHOWN)
    reason = closed_unknown_reason(own_key, snapshot)
    if reason == CLOSED_NEED_OWN_KEY:
        through = " (its master's key cannot read it)" if account.master_id else ""
        sentence = (
            f"{reason.capitalize()}: OKX gives positions history only to the account's own key{through}."
        )
    elif reason == queries.NEVER_READ:
        sentence = f"Unknown: {reason} (no snapshot of this account yet)."
    elif reason:
        sentence = CLOSED_UNKNOWN.format(reason=reason)
    else:
        sentence = NO_CLOSED_POSITIONS
    return {
        "closed_positions": [_closed_row(row) for row in rows],
        "closed_more": len(rows) == CLOSED_SHOWN,
        "closed_api": f"/api/v1/accounts/{account.pk}/closed-positions",
        "closed_empty_reason": "" if rows else sentence,
        "closed_incomplete": CLOSED_INCOMPLETE.format(reason=reason) if rows and reason else "",
    }


def _closed_row(row: ClosedPosition) -> dict[str, Any]:
    return {
        "row": row,
        "forced": _forced(row.close_type),
        "size": amount(row.closed_size),
        # OKX's closeTotalPos counts contracts for derivatives (a MARGIN position's is in the coin).
        "size_unit": "contracts" if row.inst_type in ("SWAP", "FUTURES", "OPTION") else "",
        **_prices(row, CLOSED_PRICES, row.inst_id),
        # "62,000.00 → 56,100.50 USDT": the currency once, so the table fits a laptop.
        "open_avg_price": numbers.format_price(
            row.open_avg_price, numbers.price_ccy(row.inst_id), minus=numbers.MINUS, code=False
        ),
        "leverage": numbers.format_leverage(row.leverage),
        **{
            name: numbers.format_amount(getattr(row, name), row.ccy, sign=True, minus=numbers.MINUS)
            for name in CLOSED_AMOUNTS
        },
        "pnl_class": numbers.sign_class(row.realized_pnl),
    }


def _forced(close_type: str) -> str:
    """ "liquidation" (types 3, 4), "adl" (5, 6) or "" (the trader's own close, 1, 2)."""
    if close_type in LIQUIDATIONS:
        return "liquidation"
    return "adl" if close_type in FORCED_CLOSES else ""


def _amounts(line: Any, names: tuple[str, ...], ccy: str | None = None) -> dict[str, str]:
    return {name: amount(getattr(line, name), ccy) for name in names}


def _prices(line: Any, names: tuple[str, ...], inst_id: str) -> dict[str, str]:
    """Each price with its currency, as alerts write it: "3,150.00 USDT" (numbers.format_price)."""
    ccy = numbers.price_ccy(inst_id)
    return {name: numbers.format_price(getattr(line, name), ccy, minus=numbers.MINUS) for name in names}


def _reading_pace(account: Account, snapshot: Snapshot | None, now: Any) -> dict[str, Any]:
    """Stale past this account's own limit (a keyless sub-account read round-robin through its
    master is read less often than every interval: snapshots.pacing), and how often it, or each
    keyless sub-account through this master's key, is read."""
    through = pacing.active_accounts()[1]  # {master id: its keyless sub-accounts}
    intervals = pacing.read_intervals(through)
    limit = queries.stale_after(intervals.get(account.pk, 0))
    subs = through.get(account.pk)
    through_key = timedelta(seconds=pacing.round_robin_interval(len(subs))) if subs else None
    return {
        "stale": snapshot is None or now - snapshot.taken_at > limit,
        "stale_minutes": int(limit.total_seconds() // 60),
        "read_every": _span(timedelta(seconds=intervals[account.pk])) if account.pk in intervals else "",
        "subs_read_every": _span(through_key) if through_key else "",
    }


def _span(duration: timedelta) -> str:
    """ "5 min 40 s", "1 min", "45 s"."""
    minutes, seconds = divmod(round(duration.total_seconds()), 60)
    return " ".join(
        part for part in (f"{minutes} min" if minutes else "", f"{seconds} s" if seconds else "") if part
    )
