"""Positions that close: liquidation (an isolated position when its mark reaches its liqPx, a
cross one when the margin ratio it shares with its account, or in Futures mode with its
currency, reaches 100 %: views.cross_margin, views.liquidation_px), a trader's close, partial
liquidation and auto-deleveraging, and the positions history OKX keeps of them (GET
/api/v5/account/positions-history; okx-reference 8.8.4).

A close settles at its price: the trading cash of the margin currency moves by pnl + fee +
liqPenalty, in one trading bill (okx-reference 8.7.3: type 2 trade, subType 5/6 close long/short;
type 5 liquidation, 104/105 liquidation long/short, 100/101 partial liquidation close long/short;
type 9 ADL, 125/126 ADL close long/short), and the position's row in the history is written or
updated: one row per posId, `type` the latest close type, `closeTotalPos` and `closeAvgPx` over
every close, `realizedPnl` = pnl + fee + fundingFee + liqPenalty + settledPnl.

A liquidation settles at liqPx whatever the mark did past it (the insurance fund takes the gap):
pnl is the upl at liqPx, and liqPenalty takes what margin is left there (the maintenance
margin), so an isolated position's account loses its posted margin plus the closing fee; a cross
position's liqPenalty is its maintenance margin at liqPx, where the account's equity has fallen
to its mmr; `triggerPx` is the mark that triggered it. A partial liquidation closes half the
position at the mark with the maintenance margin of that half as penalty; the rest stays open.
ADL closes the whole position at the mark without fee or penalty. The liquidation check runs in
the ledger's calendar (Ledger.catch_up), at every moment a price changes, in time order with the
scheduled bills.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from .scenario import Account, PastClose, Position, resolve_time
from .views import (
    FUTURES_MODE,
    STEP,
    TAKER_FEE,
    cross_margin,
    liquidation_px,
    num,
    position_ccy,
    position_inst_type,
    position_numbers,
)

if TYPE_CHECKING:
    from .ledger import Ledger

ZERO = Decimal(0)
TRADE, LIQUIDATION, PARTIAL_LIQUIDATION, ADL = "2", "3", "4", "6"
# close_position(how=...) -> OKX's positions-history `type`
CLOSE_TYPES = {"close": TRADE, "partial_liquidation": PARTIAL_LIQUIDATION, "adl": ADL}
# positions-history `type` -> trading bill (type, subType closing a long, subType closing a short)
CLOSE_BILLS = {
    TRADE: ("2", "5", "6"),
    LIQUIDATION: ("5", "104", "105"),
    PARTIAL_LIQUIDATION: ("5", "100", "101"),
    ADL: ("9", "125", "126"),
}
FORCED = {LIQUIDATION, PARTIAL_LIQUIDATION, "5", ADL}  # triggerPx: the mark that triggered it
PARTIAL = {"1", PARTIAL_LIQUIDATION, "5"}  # the position stays open


@dataclass
class ClosedRecord:
    """One row of the positions history, amounts in `ccy` (the margin currency), times in ms."""

    uid: str
    inst_type: str
    inst_id: str
    mgn_mode: str
    pos_id: str
    pos_side: str
    direction: str  # "long" / "short"
    ccy: str
    uly: str
    lever: str
    type: str
    open_avg_px: Decimal
    open_max_pos: Decimal
    margin: Decimal  # the initial margin posted at open, for pnlRatio
    c_time: int
    u_time: int
    close_total_pos: Decimal = ZERO
    close_value: Decimal = ZERO  # sum of closed size x close price, for closeAvgPx
    trigger_px: Decimal | None = None
    pnl: Decimal = ZERO
    fee: Decimal = ZERO
    funding_fee: Decimal = ZERO
    liq_penalty: Decimal = ZERO

    @property
    def realized_pnl(self) -> Decimal:
        return self.pnl + self.fee + self.funding_fee + self.liq_penalty

    def add_close(self, ts: int, kind: str, size: Decimal, px: Decimal, trigger: Decimal | None) -> None:
        self.type, self.u_time = kind, ts
        self.close_total_pos += size
        self.close_value += size * px
        self.trigger_px = trigger if kind in FORCED else None


class Closer:
    """The closes of one exchange; its state is guarded by the ledger's lock."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.ex = ledger.ex
        self.records: list[ClosedRecord] = []
        self._partly: dict[tuple[str, str], ClosedRecord] = {}  # (uid, posId) of open positions

    # -- the liquidation check ----------------------------------------------------------------
    def liquidations_due(self, after: int, upto: int) -> list[tuple[int, Account, Position]]:
        """Each open position's first moment in (after, upto] where it is due for liquidation
        (crossed), checked at every price change."""
        found = []
        moments: list[int] | None = None
        shared: dict[tuple[str, str], int | None] = {}  # cross positions sharing a ratio cross together
        for acct, p in self.open_positions():
            if position_inst_type(self.ex, p) == "OPTION":
                continue  # no liqPx (OKX: "Not applicable to OPTION")
            if p.mgnMode != "cross" and not position_numbers(self.ex, p, upto).iso_liq:
                continue
            if moments is None:
                moments = self.ex.prices.changes(after, upto)
            if p.mgnMode == "cross":
                ratio = (acct.uid, position_ccy(self.ex, p) if acct.acct_lv == FUTURES_MODE else "")
                if ratio not in shared:
                    shared[ratio] = self._first_crossing(acct, p, moments)
                ts = shared[ratio]
            else:
                ts = self._first_crossing(acct, p, moments)
            if ts is not None:
                found.append((ts, acct, p))
        return found

    def watching(self) -> bool:
        """True when some open position can be liquidated (the calendar then wakes at every
        price change)."""
        return any(position_inst_type(self.ex, p) != "OPTION" for _, p in self.open_positions())

    def open_positions(self) -> Iterator[tuple[Account, Position]]:
        for acct in self.ex.accounts.values():
            for p in list(acct.positions):
                if Decimal(p.pos) != 0:
                    yield acct, p

    def _first_crossing(self, acct: Account, p: Position, moments: list[int]) -> int | None:
        if not moments:
            return None
        if p.mgnMode != "cross":
            inst = self.ex.instrument(p.instId)
            if not self._may_cross(p, inst.base, inst.quote, moments[0], moments[-1]):
                return None
        for ts in moments:
            if self._crossed(acct, p, ts):
                return ts
        return None

    def _may_cross(self, p: Position, base: str, quote: str, first: int, last: int) -> bool:
        """An isolated position's cheap bound first: its liqPx against the lowest and highest
        index the interval can reach (a margin for float rounding)."""
        low_b, high_b = self.ex.prices.usd_range(base, first, last)
        low_q, high_q = self.ex.prices.usd_range(quote, first, last)
        low, high = low_b / high_q * (1 - 1e-6), high_b / (low_q or math.inf) * (1 + 1e-6)
        liq = position_numbers(self.ex, p, last).iso_liq
        assert liq is not None
        return low <= float(liq) if self._long(p) else high >= float(liq)

    def _crossed(self, acct: Account, p: Position, ts: int) -> bool:
        """Due for liquidation at `ts`. ISOLATED: its mark is at or past its liqPx (long: mark <=
        liqPx; short: mark >= liqPx), i.e. its own margin ratio is at or below 100 %. CROSS: the
        ratio it shares (views.cross_margin: the account's mgnRatio; in Futures mode the
        currency's details[].mgnRatio) is at or below 100 %, which is its mark reaching its
        cross liqPx (views.liquidation_px)."""
        if p.mgnMode == "cross":
            equity, mmr, _ = cross_margin(self.ex, acct, position_ccy(self.ex, p), ts)
            return mmr > 0 and equity <= mmr
        n = position_numbers(self.ex, p, ts)
        if n.iso_liq is None or n.iso_liq <= 0:
            return False
        return n.mark <= n.iso_liq if self._long(p) else n.mark >= n.iso_liq

    def _long(self, p: Position) -> bool:
        if position_inst_type(self.ex, p) == "MARGIN":
            return p.posCcy == self.ex.instrument(p.instId).base
        return Decimal(p.pos) > 0

    def liquidate(self, acct: Account, p: Position, ts: int) -> str | None:
        """The liquidation the check found, if the position is still open and still past its
        liqPx at `ts`; its posId, else None."""
        if not any(q is p for q in acct.positions) or not self._crossed(acct, p, ts):
            return None
        return self.close(acct, p, ts, LIQUIDATION)

    # -- closing -----------------------------------------------------------------------------
    def close(self, acct: Account, p: Position, ts: int, kind: str) -> str:
        """Close `p` (all of it; half for a partial liquidation) at `ts`: book the bill, move the
        cash, write the history row, and take a fully closed position off the account."""
        ex, ledger = self.ex, self.ledger
        inst, ccy = ex.instrument(p.instId), position_ccy(ex, p)
        at_mark = position_numbers(ex, p, ts)
        liq = liquidation_px(ex, acct, p, ts) if kind == LIQUIDATION else None
        px = liq or at_mark.mark
        n = position_numbers(ex, p, ts, mark=px)
        size = abs(Decimal(p.pos))
        closed = _half(size, position_inst_type(ex, p)) if kind == PARTIAL_LIQUIDATION else size
        part = closed / size
        pnl = n.upl * part
        fee = ZERO if kind == ADL else -(n.imr * Decimal(p.lever) * part * TAKER_FEE).quantize(STEP)
        # what is left at liqPx: an isolated position's margin + upl (its mmr there); a cross one's
        # share of the account's equity there, its mmr
        left = n.mmr if p.mgnMode == "cross" else n.margin + n.upl
        penalty = {LIQUIDATION: -left, PARTIAL_LIQUIDATION: -n.mmr * part}.get(kind, ZERO)
        penalty = min(penalty, ZERO).quantize(STEP)
        record = self._record(acct, p, ts)
        record.add_close(ts, kind, closed, px, at_mark.mark)
        record.pnl += pnl.quantize(STEP)
        record.fee += fee
        record.liq_penalty += penalty
        record.funding_fee = self._funding_fees(acct, p, record.c_time)
        bill_type, sub_long, sub_short = CLOSE_BILLS[kind]
        ledger.bill_trade(
            acct, ts, ccy, bill_type, pnl.quantize(STEP) + fee + penalty,
            subType=sub_long if self._long(p) else sub_short, instType=record.inst_type, instId=p.instId,
            mgnMode=p.mgnMode, sz=num(closed), px=num(px), pnl=num(pnl), fee=num(fee),
            fillMarkPx=num(at_mark.mark), fillIdxPx=num(ex.prices.index(inst.base, inst.quote, ts)),
        )  # fmt: skip
        if closed < size:
            p.pos = num(size - closed) if Decimal(p.pos) > 0 else num(-(size - closed))
        else:
            acct.positions[:] = [q for q in acct.positions if q is not p]
            self._partly.pop((acct.uid, p.posId), None)
        return p.posId

    def _record(self, acct: Account, p: Position, ts: int) -> ClosedRecord:
        key = (acct.uid, p.posId)
        if key not in self._partly:
            opened = resolve_time(p.created, self.ex.start_ms) or self.ex.start_ms
            record = self._new_record(acct, p, opened, ts)
            record.fee = self._opening_fees(acct, p, opened)
            self.records.append(record)
            self._partly[key] = record
        return self._partly[key]

    def _new_record(self, acct: Account, p: Position, opened: int, ts: int) -> ClosedRecord:
        ex = self.ex
        inst, inst_type = ex.instrument(p.instId), position_inst_type(ex, p)
        at_open = position_numbers(ex, p, opened, mark=Decimal(p.avgPx))
        return ClosedRecord(
            uid=acct.uid,
            inst_type=inst_type,
            inst_id=p.instId,
            mgn_mode=p.mgnMode,
            pos_id=p.posId,
            pos_side=p.posSide,
            direction="long" if self._long(p) else "short",
            ccy=position_ccy(ex, p),
            uly="" if inst_type == "MARGIN" else f"{inst.base}-{inst.quote}",
            lever=p.lever,
            type=TRADE,
            open_avg_px=Decimal(p.avgPx),
            open_max_pos=abs(Decimal(p.pos)),
            margin=at_open.margin,
            c_time=opened,
            u_time=ts,
        )

    def _opening_fees(self, acct: Account, p: Position, opened: int) -> Decimal:
        return sum(
            (Decimal(b.extra.get("fee", "0")) for b in self._bills(acct, p, opened) if b.type == "2"), ZERO
        )

    def _funding_fees(self, acct: Account, p: Position, opened: int) -> Decimal:
        return sum((b.bal_chg for b in self._bills(acct, p, opened) if b.type == "8"), ZERO)

    def _bills(self, acct: Account, p: Position, opened: int) -> list:
        return [
            b
            for b in self.ledger.bills
            if b.uid == acct.uid and b.extra.get("instId") == p.instId and b.ts >= opened
        ]

    # -- history from the scenario -----------------------------------------------------------
    def past(self, acct: Account, spec: PastClose) -> None:
        """A scenario's closed position (history only: no bill, no balance moves)."""
        start = self.ex.start_ms
        opened = resolve_time(spec.opened, start) or start
        closed = resolve_time(spec.closed, start) or start
        p = Position(spec.instId, spec.pos, spec.avgPx, spec.lever, spec.mgnMode, spec.posSide)
        p.posId = spec.posId or f"{acct.uid[-6:]}9{len(self.records):05d}"
        # the liqPx on the position's own margin: the account around a past close is not known
        liq = position_numbers(self.ex, p, closed, mark=Decimal(spec.avgPx)).iso_liq
        px = Decimal(spec.closeAvgPx) if spec.closeAvgPx else liq
        if px is None:
            raise ValueError(f"{spec.instId}: a closed position needs closeAvgPx")
        n = position_numbers(self.ex, p, closed, mark=px)
        record = self._new_record(acct, p, opened, closed)
        size = abs(Decimal(spec.pos))
        closed_size = _half(size, record.inst_type) if spec.type in PARTIAL else size
        part = closed_size / size
        trigger = Decimal(spec.triggerPx) if spec.triggerPx else px
        record.add_close(closed, spec.type, closed_size, px, trigger)
        record.pnl = (n.upl * part).quantize(STEP)
        open_fee = Decimal(1) if spec.type == ADL else Decimal(2)  # opening (+ closing) fill
        record.fee = -(n.imr * Decimal(p.lever) * part * TAKER_FEE * open_fee).quantize(STEP)
        record.funding_fee = Decimal(spec.fundingFee)
        if spec.type == LIQUIDATION:
            record.liq_penalty = min(-(n.margin + n.upl), ZERO).quantize(STEP)
        self.records.append(record)


def _half(size: Decimal, inst_type: str) -> Decimal:
    """Half a position: whole contracts (at least one) for contracts, exactly half otherwise."""
    if inst_type == "MARGIN":
        return size / 2
    return max((size / 2).quantize(Decimal(1), rounding=ROUND_DOWN), min(size, Decimal(1)))


def history_row(r: ClosedRecord) -> dict[str, str]:
    """One row of GET /api/v5/account/positions-history ("Get positions history", okx-reference
    8.8.4): numbers as strings; triggerPx "" for a trader's close (types 1, 2); nonSettleAvgPx
    (cross FUTURES in some modes) and settledPnl "" here; pnlRatio the realised PnL over the
    initial margin posted at open."""
    close_avg = r.close_value / r.close_total_pos if r.close_total_pos else ZERO
    return {
        "instType": r.inst_type,
        "instId": r.inst_id,
        "mgnMode": r.mgn_mode,
        "type": r.type,
        "cTime": str(r.c_time),
        "uTime": str(r.u_time),
        "openAvgPx": num(r.open_avg_px),
        "nonSettleAvgPx": "",
        "closeAvgPx": num(close_avg),
        "posId": r.pos_id,
        "openMaxPos": num(r.open_max_pos),
        "closeTotalPos": num(r.close_total_pos),
        "realizedPnl": num(r.realized_pnl),
        "settledPnl": "",
        "pnlRatio": num(r.realized_pnl / r.margin) if r.margin else "",
        "fee": num(r.fee),
        "fundingFee": num(r.funding_fee),
        "liqPenalty": num(r.liq_penalty),
        "pnl": num(r.pnl),
        "posSide": r.pos_side,
        "lever": r.lever,
        "direction": r.direction,
        "triggerPx": "" if r.trigger_px is None else num(r.trigger_px),
        "uly": r.uly,
        "ccy": r.ccy,
    }
