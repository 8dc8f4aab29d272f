"""Margin and liquidation risk as the pages, the API and the alert rules read it (issue 20).

Every figure is OKX's own, stored by the refresh (snapshots.refresh) in the account's latest
snapshot; docs/valuation.md "Risk" cites OKX's definitions:

- an account's margin ratio: OKX's `mgnRatio` (GET /api/v5/account/balance, or for a sub-account
  read through its master GET /api/v5/account/subaccount/balances), a ratio: 1.5 is 150 %. OKX
  liquidates as it approaches 100 %, so lower is riskier. Futures mode has no account-level
  ratio; the refresh stores the lowest per-currency `details[].mgnRatio` and says so in the note.
- a position's distance to liquidation: how far, in percent of the mark price (`markPx`), the
  mark may move against the position before it reaches the estimated liquidation price
  (`liqPx`), by `liq_distance_pct`. Lower is riskier; 0 means at or past it.

Thresholds colour the pages (`level`); the alert rules carry their own, set by a key admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from django.db.models import OuterRef, Subquery

from accounts.models import Account
from snapshots.models import ClosedPosition, PositionLine, Snapshot

Level = Literal["ok", "warn", "danger", "unknown"]
LEVELS_WORST_FIRST: tuple[Level, ...] = ("danger", "warn", "ok")

# Page colours (percent). A margin ratio under 300 % is worth a look, under 150 % is urgent; a
# position within 20 % of its liquidation price is worth a look, within 10 % urgent.
MARGIN_RATIO_WARN_PCT = Decimal(300)
MARGIN_RATIO_DANGER_PCT = Decimal(150)
DISTANCE_WARN_PCT = Decimal(20)
DISTANCE_DANGER_PCT = Decimal(10)

HUNDRED = Decimal(100)
PLACES = Decimal("0.0001")
NO_POSITIONS = "no open positions"
NO_LIQ_PRICE = "OKX gives no liquidation price for this position"
NO_MARK = "OKX sent no mark price"
NO_SIDE = "OKX's answer does not say the position's side"
POSITIONS_VIA_MASTER = "positions are not readable through the master key"
NEVER_READ = "never read"


def liq_distance_pct(side: str, mark: Decimal | None, liq: Decimal | None) -> tuple[Decimal | None, str]:
    """(percent, "") or (None, why). A long is liquidated when the mark falls to `liq`: distance
    (mark - liq) / mark x 100; a short when it rises to it: (liq - mark) / mark x 100. At or past
    the liquidation price the distance is 0. `liq` None or 0 (OKX's liqPx "" for OPTION, or "0"
    when a position cannot be liquidated, e.g. fully collateralised) is unknown, never 0 %.
    Rounded to 4 decimals: a percentage with more says nothing more."""
    if liq is None or liq <= 0:
        return None, NO_LIQ_PRICE
    if mark is None or mark <= 0:
        return None, NO_MARK
    if side == "long":
        gap = mark - liq
    elif side == "short":
        gap = liq - mark
    else:
        return None, NO_SIDE
    return (gap / mark * HUNDRED).quantize(PLACES) if gap > 0 else Decimal(0), ""


def percent(ratio: Decimal | None) -> Decimal | None:
    """OKX's mgnRatio (a ratio) in percent: 1.5 -> 150."""
    return None if ratio is None else ratio * HUNDRED


def margin_level(ratio: Decimal | None) -> Level:
    pct = percent(ratio)
    if pct is None:
        return "unknown"
    return "danger" if pct < MARGIN_RATIO_DANGER_PCT else "warn" if pct < MARGIN_RATIO_WARN_PCT else "ok"


def distance_level(pct: Decimal | None) -> Level:
    if pct is None:
        return "unknown"
    return "danger" if pct < DISTANCE_DANGER_PCT else "warn" if pct < DISTANCE_WARN_PCT else "ok"


@dataclass(frozen=True)
class AccountRisk:
    """One account's risk from its latest snapshot. Amounts are USD (OKX's adjEq, imr, mmr);
    `margin_ratio` is OKX's ratio (percent() for pages); the nearest position is the open one
    closest to its liquidation price. Each None has its reason in the matching note."""

    account_id: int
    taken_at: datetime | None
    margin_ratio: Decimal | None
    adj_equity_usd: Decimal | None
    imr_usd: Decimal | None
    mmr_usd: Decimal | None
    note: str  # why the account figures are absent or how they were taken (Snapshot.risk_note)
    nearest_inst_id: str
    nearest_distance_pct: Decimal | None
    nearest_note: str  # why there is no nearest distance ("no open positions", ...)

    @property
    def margin_unused(self) -> bool:
        """OKX reports no maintenance margin in use (mmr "0") and so no margin ratio: nothing of
        this account can be liquidated. A known state, unlike a ratio that is unknown."""
        return self.margin_ratio is None and self.mmr_usd is not None and self.mmr_usd == 0

    @property
    def margin_ratio_pct(self) -> Decimal | None:
        return percent(self.margin_ratio)

    @property
    def margin_level(self) -> Level:
        return margin_level(self.margin_ratio)

    @property
    def distance_level(self) -> Level:
        return distance_level(self.nearest_distance_pct)

    @property
    def level(self) -> Level:
        """The worse of the two, for sorting and one colour per row ("unknown" when both are)."""
        levels = {self.margin_level, self.distance_level}
        return next((level for level in LEVELS_WORST_FIRST if level in levels), "unknown")


def account_risk(account_ids: Iterable[int] | None = None) -> dict[int, AccountRisk]:
    """account id -> AccountRisk for the given accounts (every active one when None), from each
    account's latest snapshot: two queries whatever the number. An account never read maps to
    an AccountRisk of Nones with note "never read"."""
    accounts = (
        Account.objects.all() if account_ids is None else Account.objects.filter(pk__in=list(account_ids))
    )
    if account_ids is None:
        accounts = accounts.filter(active=True)
    latest = Snapshot.objects.filter(account=OuterRef("pk")).order_by("-taken_at").values("id")[:1]
    snapshot_ids = dict(accounts.annotate(latest_id=Subquery(latest)).values_list("pk", "latest_id"))
    snapshots = {
        s["id"]: s
        for s in Snapshot.objects.filter(id__in=[i for i in snapshot_ids.values() if i is not None])
        .order_by()
        .values(
            "id",
            "taken_at",
            "via_master",
            "margin_ratio",
            "adj_equity_usd",
            "imr_usd",
            "mmr_usd",
            "risk_note",
        )
    }
    nearest: dict[int, tuple[Decimal | None, str, str]] = {}  # snapshot id -> (pct, inst, note)
    rows = (
        PositionLine.objects.filter(snapshot_id__in=list(snapshots))
        .order_by()
        .values_list("snapshot_id", "inst_id", "liq_distance_pct", "size")
    )
    for snapshot_id, inst_id, pct, size in rows:
        if size is not None and size == 0:
            continue  # pos "0": no position (rows stored before the refresh dropped them)
        best = nearest.get(snapshot_id)
        if best is None or (pct is not None and (best[0] is None or pct < best[0])):
            nearest[snapshot_id] = (pct, inst_id, "" if pct is not None else NO_LIQ_PRICE)
    result = {}
    for account_id, snapshot_id in snapshot_ids.items():
        snap = snapshots.get(snapshot_id) if snapshot_id is not None else None
        if snap is None:
            result[account_id] = AccountRisk(
                account_id, None, None, None, None, None, NEVER_READ, "", None, NEVER_READ
            )
            continue
        if snap["via_master"]:
            pct, inst, why = None, "", POSITIONS_VIA_MASTER
        else:
            pct, inst, why = nearest.get(snapshot_id, (None, "", NO_POSITIONS))
        result[account_id] = AccountRisk(
            account_id=account_id,
            taken_at=snap["taken_at"],
            margin_ratio=snap["margin_ratio"],
            adj_equity_usd=snap["adj_equity_usd"],
            imr_usd=snap["imr_usd"],
            mmr_usd=snap["mmr_usd"],
            note=snap["risk_note"],
            nearest_inst_id=inst,
            nearest_distance_pct=pct,
            nearest_note=why,
        )
    return result


def closed_positions(account: Account, limit: int = 50) -> list[ClosedPosition]:
    """The account's newest closed positions (OKX's positions history as stored), newest first."""
    return list(ClosedPosition.objects.filter(account=account).order_by("-closed_at", "-id")[:limit])
