"""Margin and liquidation risk as the pages, the API and the alert rules read it (issue 20).

Every figure is OKX's own, stored by the refresh (snapshots.refresh) in the account's latest
snapshot; docs/valuation.md "Risk" cites OKX's definitions:

- an account's margin ratio: OKX's `mgnRatio` (GET /api/v5/account/balance, or for a sub-account
  read through its master GET /api/v5/account/subaccount/balances), a ratio: 1.5 is 150 %. OKX
  liquidates as it approaches 100 %, so lower is riskier. Futures mode has no account-level
  ratio; the refresh stores the lowest per-currency `details[].mgnRatio` and says so in the note.
- a position's distance to liquidation: how far, in percent of the mark price (`markPx`), the
  mark may move against the position before it reaches the estimated liquidation price
  (`liqPx`), by `liq_distance_pct`. Lower is riskier; 0 means at or past it. None has its reason:
  "not applicable" (NOT_APPLICABLE: OKX gives no liquidation price, `liqPx` "" for OPTION ("Not
  applicable to OPTION", get_positions.md) or "0": the position cannot be liquidated by itself;
  or a distance too large to store) or unknown for a data reason (no mark price, no side).

Thresholds colour the pages (`level`); the alert rules carry their own, set by a key admin. An
account with nothing that can be liquidated (no open position, no cross margin in use) has a level
of its own, "none" (AccountRisk.nothing_at_risk): known, unlike "unknown". The figures are written by
margin_ratio_text and distance_text on every surface (pages, API text, alert previews and messages),
rounded down: toward danger, so a figure is never shown safer than it is and one below a threshold
never reads equal to it; thresholds by threshold_pct_text, as stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from typing import Any, Literal, get_args

from django.db.models import OuterRef, Subquery

from accounts.models import Account
from snapshots import numbers
from snapshots.models import ClosedPosition, PositionLine, Snapshot

# "none": nothing can be liquidated (AccountRisk.nothing_at_risk); "unknown": a figure is missing.
Level = Literal["danger", "warn", "ok", "none", "unknown"]
LEVELS: tuple[Level, ...] = get_args(Level)  # every level, in that order (the API's choices)
LEVELS_WORST_FIRST: tuple[Level, ...] = LEVELS[:3]  # the levels of a known figure
Distance = tuple[Decimal | None, str, str]  # a position's (percent or None, inst_id, why None)

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
DISTANCE_BEYOND = "the liquidation price is more than 10^20 % of the mark price away"
NOT_RECORDED = "not in the latest snapshot"
POSITIONS_VIA_MASTER = "positions are not readable through the master key"
NEVER_READ = "never read"
# Distances that are None although nothing is unknown: the position has no liquidation price, or
# it is farther than the column holds. They do not make an account's nearest distance unknown.
NOT_APPLICABLE = frozenset({NO_LIQ_PRICE, DISTANCE_BEYOND})
# Why adjEq, imr or mmr is None (AccountRisk.figure_reason). Futures mode: okx-reference.md 8.4
# ("Futures mode (acctLv 2) has no account-level risk figures").
FUTURES_NO_FIGURE = "OKX reports none in Futures mode: it gives margin per currency"
OKX_SENT_NONE = "OKX sent none"
# The level "none" (AccountRisk.nothing_at_risk) in words: its short form, and why.
NOTHING_AT_RISK = "nothing at risk"
# OKX's mmr counts cross positions (and pending orders) only: with mmr 0, or in Futures mode with no
# currency's cross ratio, an isolated position may still be open (okx-reference.md 8.4).
NO_CROSS_MARGIN_IN_USE = "no cross margin in use"
NOTHING_AT_RISK_WHY = "nothing can be liquidated"
# Short words for a narrow column (the overview's risk cell; the full reason is its tooltip).
SHORT_REASONS = {
    NEVER_READ: NEVER_READ,
    NO_POSITIONS: "no positions",
    POSITIONS_VIA_MASTER: "not via master",
    NO_LIQ_PRICE: "no liq. price",
    DISTANCE_BEYOND: "far from liq.",
    NO_MARK: "no mark price",
    NO_SIDE: "no side",
    NOT_RECORDED: "not recorded",
}
NO_RATIO_FUTURES_SHORT = "no ratio: Futures mode"
NO_RATIO_SHORT = "no ratio from OKX"

# The distance column is NUMERIC(38, 18) (snapshots.models.MONEY): below 10^20. Computed in a
# context wide enough for any two OKX prices (each below 10^20 with at most 18 decimals: a
# quotient up to 10^40), so a far liquidation price never raises (the default context's 28 digits
# cannot quantize 10^25 to 4 places).
DISTANCE_LIMIT = Decimal(10) ** 20
WIDE = Context(prec=80)


def liq_distance_pct(side: str, mark: Decimal | None, liq: Decimal | None) -> tuple[Decimal | None, str]:
    """(percent, "") or (None, why), from OKX's `markPx` ("Latest Mark price") and `liqPx`
    ("Estimated liquidation price", GET /api/v5/account/positions; okx-reference.md 8.8.2). A long
    is liquidated when the mark falls to `liq`: distance (mark - liq) / mark x 100; a short when
    it rises to it: (liq - mark) / mark x 100. At or past the liquidation price the distance is 0.

    None, never 0 %, with why: `liq` None or 0 (OKX's liqPx "" for OPTION, or "0" when a
    position cannot be liquidated, e.g. fully collateralised): NO_LIQ_PRICE, not applicable; a
    distance of 10^20 % or more (beyond the column): DISTANCE_BEYOND, not applicable either (it
    is as far as can be); no mark price (NO_MARK) or no side (NO_SIDE): unknown. Rounded down to
    4 decimals (toward danger: never stored farther than it is); a percentage with more says
    nothing more. Never raises for two valid prices."""
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
    if gap <= 0:
        return Decimal(0), ""
    with localcontext(WIDE):
        pct = (gap / mark * HUNDRED).quantize(PLACES, rounding=ROUND_FLOOR)
    return (pct, "") if pct < DISTANCE_LIMIT else (None, DISTANCE_BEYOND)


def percent(ratio: Decimal | None) -> Decimal | None:
    """OKX's mgnRatio (a ratio) in percent: 1.5 -> 150. Exact whatever the ratio's digits (a
    shift of the exponent in the wide context: the default 28 digits would round it)."""
    return None if ratio is None else ratio.scaleb(2, context=WIDE)


def margin_ratio_text(pct: Decimal | None) -> str:
    """A margin ratio in percent (percent(): 150 for OKX's 1.5) as every surface writes it:
    "150.0%"; from 1,000 % on without decimals ("76,410%": an account with little margin in use
    has a very large one); None -> "—". Rounded down (149.96 -> "149.9%"): lower is riskier, so
    the text is never safer than the figure, nor equal to a threshold the figure is below."""
    if pct is None:
        return numbers.UNKNOWN
    places = 1 if abs(pct) < 1000 else 0
    return numbers.format_percent(pct / HUNDRED, sign=False, places=places, rounding=ROUND_FLOOR)


def distance_text(pct: Decimal | None) -> str:
    """A distance to liquidation in percent of the mark (8.25) as "8.25%"; None -> "—". Rounded
    down (9.996 -> "9.99%"), as margin_ratio_text and for the same reason."""
    if pct is None:
        return numbers.UNKNOWN
    return numbers.format_percent(pct / HUNDRED, sign=False, rounding=ROUND_FLOOR)


def threshold_pct_text(pct: Decimal) -> str:
    """A threshold in percent (a rule's, or a page colour's) as stored, not rounded: 150 -> "150%",
    150.05 -> "150.05%", 2500.5 -> "2,500.5%" (at most 8 decimals: numbers.format_amount)."""
    return f"{numbers.format_amount(pct)}%"


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
    nearest_note: str  # why there is no nearest distance ("no open positions", NO_MARK, ...)

    @classmethod
    def never_read(cls, account_id: int) -> AccountRisk:
        """An account with no snapshot: every figure None, "never read"."""
        return cls(account_id, None, None, None, None, None, NEVER_READ, "", None, NEVER_READ)

    @property
    def margin_unused(self) -> bool:
        """OKX reports no maintenance margin in use (mmr "0") and so no margin ratio: nothing of
        this account can be liquidated. A known state, unlike a ratio that is unknown."""
        return self.margin_ratio is None and self.mmr_usd is not None and self.mmr_usd == 0

    @property
    def cross_margin_unused(self) -> bool:
        """No cross margin is in use, so OKX reports no margin ratio: mmr "0" (margin_unused), or
        Futures mode with no currency's cross ratio (OKX reports one for each currency with a
        cross position only: snapshots.refresh.NO_RATIO_FUTURES). Isolated positions may be open:
        their own distance to liquidation watches them."""
        return self.margin_unused or (self.futures_mode and self.margin_ratio is None)

    @property
    def liquidation_not_applicable(self) -> bool:
        """No nearest distance, and none is unknown: every open position is one OKX gives no
        liquidation price for (OPTION, liqPx "0") or is farther than can be stored (NOT_APPLICABLE).
        A known state, unlike a distance that is unknown."""
        return self.nearest_distance_pct is None and self.nearest_note in NOT_APPLICABLE

    @property
    def futures_mode(self) -> bool:
        """OKX's answer had no account-level adjEq and mmr: Futures mode (acctLv 2), which reports
        margin per currency only (okx-reference.md 8.4; snapshots.refresh.margin_ratio says so in
        the note). A snapshot stored before the refresh read risk (no note) is no sign of it."""
        read = self.taken_at is not None and bool(self.note)
        return read and self.adj_equity_usd is None and self.mmr_usd is None

    @property
    def nothing_at_risk(self) -> bool:
        """Nothing of this account can be liquidated: its positions were read (its own key) and
        none is open, or none OKX gives a liquidation price for (liquidation_not_applicable); and no
        cross margin is in use (cross_margin_unused). The level "none"."""
        held = self.nearest_note == NO_POSITIONS or self.liquidation_not_applicable
        return self.cross_margin_unused and held

    @property
    def nothing_at_risk_reason(self) -> str:
        """Why the level is "none", in full ("" when it is not)."""
        if not self.nothing_at_risk:
            return ""
        held = NO_POSITIONS if self.nearest_note == NO_POSITIONS else "no position with a liquidation price"
        return f"{NOTHING_AT_RISK_WHY}: {held}; {self.margin_reason}"

    @property
    def margin_reason(self) -> str:
        """Why the margin ratio is None, in full: the refresh's note ("" when known)."""
        if self.margin_ratio is not None:
            return ""
        return self.note or NOT_RECORDED

    @property
    def margin_reason_short(self) -> str:
        """margin_reason in a few words ("no ratio: Futures mode"; "" when known)."""
        if self.margin_ratio is not None:
            return ""
        if self.taken_at is None:
            return NEVER_READ
        if self.margin_unused:
            return NO_CROSS_MARGIN_IN_USE
        if self.futures_mode:
            return NO_RATIO_FUTURES_SHORT
        return NO_RATIO_SHORT if self.note else SHORT_REASONS[NOT_RECORDED]

    @property
    def distance_reason(self) -> str:
        """Why the nearest distance is None, in full ("" when known)."""
        return "" if self.nearest_distance_pct is not None else self.nearest_note

    @property
    def distance_reason_short(self) -> str:
        """distance_reason in a few words ("not via master"; "" when known)."""
        reason = self.distance_reason
        return SHORT_REASONS.get(reason, "unknown") if reason else ""

    def figure_reason(self, value: Decimal | None) -> str:
        """Why an account figure (adj_equity_usd, imr_usd or mmr_usd: OKX's adjEq, imr, mmr) is
        None ("" when it is known): never read; Futures mode (FUTURES_NO_FIGURE); a snapshot
        stored before the refresh read risk (NOT_RECORDED); else OKX sent none."""
        if value is not None:
            return ""
        if self.taken_at is None:
            return NEVER_READ
        if self.futures_mode:
            return FUTURES_NO_FIGURE
        return NOT_RECORDED if not self.note and self.margin_ratio is None else OKX_SENT_NONE

    @property
    def adj_equity_unknown_reason(self) -> str:
        return self.figure_reason(self.adj_equity_usd)

    @property
    def imr_unknown_reason(self) -> str:
        return self.figure_reason(self.imr_usd)

    @property
    def mmr_unknown_reason(self) -> str:
        return self.figure_reason(self.mmr_usd)

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
        """The worse of the two, for sorting and one colour per row; "none" when nothing can be
        liquidated (nothing_at_risk); else "unknown" when both are."""
        if self.nothing_at_risk:
            return "none"
        levels = {self.margin_level, self.distance_level}
        return next((level for level in LEVELS_WORST_FIRST if level in levels), "unknown")


# The snapshot columns an AccountRisk is made of (with the snapshot's open positions).
RISK_FIELDS = (
    "id",
    "taken_at",
    "via_master",
    "margin_ratio",
    "adj_equity_usd",
    "imr_usd",
    "mmr_usd",
    "risk_note",
)


def account_risk(
    account_ids: Iterable[int] | None = None,
    latest: dict[int, int | None] | None = None,
    figures: dict[int, dict[str, Any]] | None = None,
) -> dict[int, AccountRisk]:
    """account id -> AccountRisk for the given accounts (every active one when None), from each
    account's latest snapshot: two queries whatever the number. An account never read maps to
    an AccountRisk of Nones with note "never read".

    The nearest distance (nearest_position): the smallest known one; unknown (None, with that
    position's stored reason PositionLine.liq_distance_note) as soon as one open position's
    distance is unknown for a data reason (no mark price, no side): that position may be the
    nearest. Positions that cannot be liquidated by themselves (NOT_APPLICABLE) are left out; if
    every open position is such, None with the reason ("OKX gives no liquidation price ...").

    `latest`: {account id: its latest snapshot's id, None when never read} when the caller has
    just read them (snapshots.queries.AccountRow.snapshot_id): then those accounts, one query
    fewer, and account_ids is not read. `figures`: {snapshot id: its RISK_FIELDS} of those
    snapshots when the caller has read them too (AccountRow.risk_figures): one query fewer."""
    if latest is not None:
        snapshot_ids: dict[int, int | None] = dict(latest)
    else:
        accounts = (
            Account.objects.all() if account_ids is None else Account.objects.filter(pk__in=list(account_ids))
        )
        if account_ids is None:
            accounts = accounts.filter(active=True)
        newest = Snapshot.objects.filter(account=OuterRef("pk")).order_by("-taken_at").values("id")[:1]
        snapshot_ids = dict(accounts.annotate(latest_id=Subquery(newest)).values_list("pk", "latest_id"))
    wanted = [i for i in snapshot_ids.values() if i is not None]
    if figures is not None and all(i in figures for i in wanted):
        snapshots = {i: figures[i] for i in wanted}
    else:
        snapshots = {
            s["id"]: s for s in Snapshot.objects.filter(id__in=wanted).order_by().values(*RISK_FIELDS)
        }
    lines: dict[int, list[Distance]] = {}  # snapshot id -> its open positions' distances
    rows = (
        PositionLine.objects.filter(snapshot_id__in=list(snapshots))
        .order_by("snapshot_id", "inst_id", "id")
        .values_list("snapshot_id", "inst_id", "liq_distance_pct", "liq_distance_note", "size")
    )
    for snapshot_id, inst_id, pct, note, size in rows:
        if size is not None and size == 0:
            continue  # pos "0": no position (rows stored before the refresh dropped them)
        lines.setdefault(snapshot_id, []).append((pct, inst_id, note))
    nearest = {snapshot_id: nearest_position(found) for snapshot_id, found in lines.items()}
    result = {}
    for account_id, latest_id in snapshot_ids.items():
        snap = snapshots.get(latest_id) if latest_id is not None else None
        if snap is None:
            result[account_id] = AccountRisk.never_read(account_id)
            continue
        if snap["via_master"]:
            pct, inst, why = None, "", POSITIONS_VIA_MASTER
        else:
            pct, inst, why = nearest.get(snap["id"], (None, "", NO_POSITIONS))
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


def nearest_position(positions: list[Distance]) -> Distance:
    """(pct, inst_id, note) of the open position nearest its liquidation price among an
    account's `positions` (each (liq_distance_pct, inst_id, liq_distance_note) as stored), by
    the rule of account_risk: a distance unknown for a data reason first (the position's own
    reason; "not in the latest snapshot" for a row stored without one), else the smallest known
    one, else (None, "", the reason none applies)."""
    unknown = [
        (inst, note or NOT_RECORDED)
        for pct, inst, note in positions
        if pct is None and note not in NOT_APPLICABLE
    ]
    if unknown:
        inst, note = unknown[0]
        return None, inst, note
    known = [(pct, inst) for pct, inst, _ in positions if pct is not None]
    if known:
        pct, inst = min(known, key=lambda found: found[0])
        return pct, inst, ""
    return None, "", positions[0][2] if positions else NO_POSITIONS


def closed_positions(account: Account, limit: int = 50) -> list[ClosedPosition]:
    """The account's newest closed positions (OKX's positions history as stored), newest first."""
    return list(ClosedPosition.objects.filter(account=account).order_by("-closed_at", "-id")[:limit])
