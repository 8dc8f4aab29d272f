"""Money that moves, and the records OKX keeps of it.

Transfers between the master and its sub-accounts, deposits and withdrawals move funding
balances and write the rows OKX serves from its history endpoints: the master's sub-account
transfer history (`type` "0" master -> sub, "1" sub -> master), deposit and withdrawal history,
and funding bills (okx-reference 8.7.2: 1 deposit, 2 withdrawal, 13 cancelled withdrawal, 20/21
to/from a sub-account on the master, 22/23 out to/in from the master on the sub-account).
Positions write trading bills (8.7.3): the opening trade's fee (type 2), funding fees on swaps
every 8 h (type 8, subType 173 expense / 174 income, the amount in `pnl`) and hourly interest on
MARGIN liabilities (type 7, subType 9). Closes (okxsim/risk.py: liquidation, a trader's close,
partial liquidation, ADL) book theirs in the same calendar, in time order.

Time: scheduled movements (the scenario's `flows`, the positions' fees) are booked when the
calendar reaches them, at their own time, by `catch_up` (each request and `advance()` call
it). Occurrences before the simulator's start are history: they are booked at construction and
then the balances are wound back by what they moved, so that today's balances are the
scenario's and the history leads up to them. Funding fees and interest fall at multiples of 8 h
and 1 h from the start, not at OKX's fixed clock times, so no test crosses one by chance.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from .risk import Closer
from .scenario import Account, Flow, Position, duration_ms, resolve_time
from .views import STEP, TAKER_FEE, amount, num, position_ccy, position_inst_type, position_numbers

if TYPE_CHECKING:
    from .exchange import Exchange

log = logging.getLogger(__name__)

FUNDING, TRADING = "funding", "trading"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
HISTORY_MS = 92 * DAY_MS  # positions' bills are kept as far back as bills-archive reaches
FUNDING_INTERVAL_MS = 8 * HOUR_MS
FUNDING_RATE = Decimal("0.0001")  # per interval; positive: longs pay shorts
HOURLY_INTEREST = Decimal("0.000002")  # on a MARGIN position's liability
DEPOSIT_STATES = {"0", "1", "2", "8", "11", "12", "13", "14", "17"}
CREDITED = {"1", "2"}  # "deposit credited", "deposit successful"
WITHDRAWAL_STATES = {"19", "17", "10", "0", "4", "5", "6", "8", "9", "12", "7", "1", "15", "16", "-3"}
WITHDRAWAL_STATES |= {"-2", "-1", "2"}
FINAL, RETURNED = {"-2", "-1", "2"}, {"-2", "-1"}  # cancelled and failed give the money back
ON_CHAIN = {"1", "15", "16", "2"}  # stages with a transaction hash


@dataclass
class Bill:
    """A funding bill (asset/bills) or a trading bill (account/bills): `extra` holds the row's
    other fields as OKX names them."""

    uid: str
    wallet: str
    bill_id: int
    ts: int
    ccy: str
    type: str
    bal_chg: Decimal
    bal: Decimal
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Deposit:
    dep_id: str
    uid: str
    ccy: str
    amt: Decimal
    state: str
    ts: int
    credited: bool = False


@dataclass
class Withdrawal:
    wd_id: str
    uid: str
    ccy: str
    amt: Decimal
    fee: Decimal
    state: str
    ts: int


@dataclass
class SubTransfer:
    """A row of the master's sub-account transfer history."""

    bill_id: int
    ccy: str
    amt: Decimal
    type: str  # "0" master -> sub, "1" sub -> master
    sub: str
    ts: int


@dataclass
class Schedule:
    """Occurrences at first + k * every (once at `first` when every is 0), none before since."""

    first: int
    every: int
    since: int
    action: Callable[[int], None]

    def due(self, after: int, upto: int) -> list[int]:
        low = max(after + 1, self.since)
        if not self.every:
            return [self.first] if low <= self.first <= upto else []
        k0, k1 = -((self.first - low) // self.every), (upto - self.first) // self.every
        return [self.first + k * self.every for k in range(k0, k1 + 1)]

    def next_after(self, after: int) -> float:
        low = max(after + 1, self.since)
        if not self.every:
            return self.first if self.first >= low else math.inf
        return self.first - (self.first - low) // self.every * self.every


class Ledger:
    def __init__(self, ex: Exchange):
        self.ex = ex
        self.bills: list[Bill] = []
        self.deposits: list[Deposit] = []
        self.withdrawals: list[Withdrawal] = []
        self.sub_transfers: list[SubTransfer] = []
        self.lock = threading.RLock()
        self._bill_ids = itertools.count(600_000_000_000_000_001)
        self._record_ids = itertools.count(80_000_001)
        self._last_ts = 0
        self.closer = Closer(self)  # liquidations and closes; the positions history
        self.schedules = [self._flow_schedule(f) for f in ex.scenario.flows] + self._position_schedules()
        self._booked_to = min([s.since for s in self.schedules] + [ex.start_ms]) - 1
        self._next_due: float = -math.inf
        self.catch_up(ex.start_ms)
        self._wind_back()
        for acct in ex.accounts.values():
            for spec in acct.closed_positions:
                self.closer.past(acct, spec)

    # -- the calendar ------------------------------------------------------------------------
    def catch_up(self, now: int) -> list[str]:
        """Book every scheduled movement due up to `now`, and liquidate every position whose
        mark reached its liqPx by then, in time order; returns the posIds liquidated."""
        with self.lock:
            if now < self._next_due:
                return []
            due: list[tuple[int, int, Callable[[int], object]]] = [
                (ts, 1, s.action) for s in self.schedules for ts in s.due(self._booked_to, now)
            ]
            due += [
                (ts, 0, partial(self._liquidate, acct, p))
                for ts, acct, p in self.closer.liquidations_due(self._booked_to, now)
            ]
            self._booked_to = now
            liquidated = []
            for ts, _, action in sorted(due, key=lambda d: d[:2]):
                pos_id = action(ts)
                if isinstance(pos_id, str):
                    liquidated.append(pos_id)
            wake = [s.next_after(now) for s in self.schedules]
            if self.closer.watching():
                wake.append(self.ex.prices.next_change(now))
            self._next_due = min(wake, default=math.inf)
            return liquidated

    def recheck(self, now: int) -> list[str]:
        """Liquidate what a price just set for `now` pushed past its liqPx; the posIds."""
        with self.lock:
            self.catch_up(now)
            due = self.closer.liquidations_due(now - 1, now)
            self._next_due = -math.inf  # a new price may need a wake-up sooner
            return [pos_id for ts, acct, p in due if (pos_id := self._liquidate(acct, p, ts))]

    def close(self, acct: Account, inst_id: str, kind: str) -> str:
        """Close `acct`'s open position in `inst_id` now (risk.Closer.close); KeyError if it
        holds none (any more: the calendar may just have liquidated it)."""
        with self.lock:
            ts = self._now()
            p = next((q for q in acct.positions if q.instId == inst_id and Decimal(q.pos) != 0), None)
            if p is None:
                raise KeyError(f"{acct.name} holds no open {inst_id} position")
            return self.closer.close(acct, p, ts, kind)

    def _liquidate(self, acct: Account, p: Position, ts: int) -> str | None:
        return self.closer.liquidate(acct, p, self._stamp(ts))

    def bill_trade(self, acct: Account, ts: int, ccy: str, kind: str, change: Decimal, **extra: str) -> None:
        """A trading bill of a close (risk.Closer), with an order and trade id of its own."""
        extra |= {"ordId": str(next(self._record_ids)), "tradeId": str(next(self._record_ids))}
        self._bill(acct, TRADING, ts, ccy, kind, change, execType="T", fillTime=str(ts), **extra)

    def _open(self, acct: Account, p: Position) -> bool:
        return any(q is p for q in acct.positions)

    def _wind_back(self) -> None:
        """Take history's net movement off today's balances, and off each history bill's
        balance, so that the scenario's balances are the ones after the last history bill."""
        moved: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for bill in self.bills:
            moved[(bill.uid, bill.wallet, bill.ccy)] += bill.bal_chg
        for bill in self.bills:
            bill.bal -= moved[(bill.uid, bill.wallet, bill.ccy)]
        for (uid, wallet, ccy), change in moved.items():
            self._move(self.ex.accounts[uid], wallet, ccy, -change)

    def _stamp(self, ts: int) -> int:
        # One record per millisecond: OKX pages these histories by `ts`, so two rows sharing one
        # would make a page boundary skip one.
        self._last_ts = max(ts, self._last_ts + 1)
        return self._last_ts

    def _now(self) -> int:
        now = self.ex.clock.sim_ms()
        self.catch_up(now)
        return self._stamp(now)

    # -- money movements: the simulator's API ------------------------------------------------
    def transfer(self, ccy: str, amt: Decimal, source: str, target: str) -> str:
        with self.lock:
            src, dst = self.account(source), self.account(target)
            if src.uid == dst.uid:
                raise ValueError("a transfer needs two different accounts")
            _positive(amt)
            if Decimal(src.funding.get(ccy, "0")) < amt:
                raise ValueError(f"{src.name} holds less than {amt} {ccy} in its funding account")
            return self._transfer(self._now(), ccy, amt, src, dst)

    def deposit(self, account: str, ccy: str, amt: Decimal, state: str) -> str:
        with self.lock:
            _positive(amt)
            _check_state(state, DEPOSIT_STATES, "deposit")
            return self._deposit(self._now(), self.account(account), ccy, amt, state)

    def withdraw(self, account: str, ccy: str, amt: Decimal, fee: Decimal, state: str) -> str:
        with self.lock:
            acct = self.account(account)
            if not acct.is_master:  # OKX 59504, and "Common sub-account does not support withdrawal"
                raise ValueError("Sub-accounts don't support withdrawals. Please use your main account.")
            _positive(amt)
            _check_state(state, WITHDRAWAL_STATES, "withdrawal")
            if fee < 0 or Decimal(acct.funding.get(ccy, "0")) < amt + fee:
                raise ValueError(f"{acct.name} cannot pay {amt} {ccy} plus a fee of {fee}")
            ts = self._now()
            wd = Withdrawal(str(next(self._record_ids)), acct.uid, ccy, amt, fee, state, ts)
            self.withdrawals.append(wd)
            self._bill(acct, FUNDING, ts, ccy, "2", -(amt + fee))
            if state in RETURNED:
                self._bill(acct, FUNDING, self._stamp(ts), ccy, "13", amt + fee)
            return wd.wd_id

    def set_deposit_state(self, dep_id: str, state: str) -> None:
        with self.lock:
            _check_state(state, DEPOSIT_STATES, "deposit")
            dep = next((d for d in self.deposits if d.dep_id == dep_id), None)
            if dep is None:
                raise KeyError(dep_id)
            if dep.credited and state not in CREDITED:
                raise ValueError(f"deposit {dep_id} is already credited")
            dep.state = state
            if state in CREDITED and not dep.credited:
                self._credit(dep, self._now())

    def set_withdrawal_state(self, wd_id: str, state: str) -> None:
        with self.lock:
            _check_state(state, WITHDRAWAL_STATES, "withdrawal")
            wd = next((w for w in self.withdrawals if w.wd_id == wd_id), None)
            if wd is None:
                raise KeyError(wd_id)
            if wd.state in FINAL:
                raise ValueError(f"withdrawal {wd_id} is final ({wd.state})")
            wd.state = state
            if state in RETURNED:
                self._bill(self.ex.accounts[wd.uid], FUNDING, self._now(), wd.ccy, "13", wd.amt + wd.fee)

    def account(self, name_or_uid: str) -> Account:
        for account in self.ex.accounts.values():
            if name_or_uid in (account.uid, account.name):
                return account
        raise KeyError(name_or_uid)

    # -- booking -------------------------------------------------------------------------------
    def _transfer(self, ts: int, ccy: str, amt: Decimal, src: Account, dst: Account) -> str:
        if not src.is_master and not dst.is_master:
            # Sub -> sub: OKX documents no record of it anywhere (okx-reference 8.7.6).
            self._move(src, FUNDING, ccy, -amt)
            self._move(dst, FUNDING, ccy, amt)
            return ""
        to_sub = src.is_master
        sub = dst if to_sub else src
        row = SubTransfer(next(self._bill_ids), ccy, amt, "0" if to_sub else "1", sub.name, ts)
        self.sub_transfers.append(row)
        master = src if to_sub else dst
        self._bill(master, FUNDING, ts, ccy, "20" if to_sub else "21", -amt if to_sub else amt)
        self._bill(sub, FUNDING, ts, ccy, "23" if to_sub else "22", amt if to_sub else -amt)
        return str(row.bill_id)

    def _deposit(self, ts: int, acct: Account, ccy: str, amt: Decimal, state: str) -> str:
        dep = Deposit(str(next(self._record_ids)), acct.uid, ccy, amt, state, ts)
        self.deposits.append(dep)
        if state in CREDITED:
            self._credit(dep, ts)
        return dep.dep_id

    def _credit(self, dep: Deposit, ts: int) -> None:
        dep.credited = True
        self._bill(self.ex.accounts[dep.uid], FUNDING, ts, dep.ccy, "1", dep.amt)

    def _bill(
        self, acct: Account, wallet: str, ts: int, ccy: str, kind: str, change: Decimal, **extra: str
    ) -> None:
        bal = self._move(acct, wallet, ccy, change)
        self.bills.append(Bill(acct.uid, wallet, next(self._bill_ids), ts, ccy, kind, change, bal, extra))

    @staticmethod
    def _move(acct: Account, wallet: str, ccy: str, change: Decimal) -> Decimal:
        book = acct.funding if wallet == FUNDING else acct.trading
        bal = Decimal(book.get(ccy, "0")) + change
        book[ccy] = amount(bal)
        return bal

    # -- schedules -------------------------------------------------------------------------------
    def _flow_schedule(self, flow: Flow) -> Schedule:
        start, amt = self.ex.start_ms, Decimal(flow.amount)
        since = resolve_time(flow.since, start) or start + 1  # no `since`: from the start on
        first, every = start + duration_ms(flow.at), duration_ms(flow.every)
        if flow.kind == "transfer":
            src, dst = self.account(flow.source), self.account(flow.target)
            return Schedule(first, every, since, partial(self._scheduled_transfer, flow.ccy, amt, src, dst))
        if flow.kind == "deposit":
            acct = self.account(flow.account)
            return Schedule(first, every, since, partial(self._scheduled_deposit, acct, flow.ccy, amt))
        raise ValueError(f"unknown flow kind {flow.kind!r} (transfer or deposit)")

    def _scheduled_transfer(self, ccy: str, amt: Decimal, src: Account, dst: Account, ts: int) -> None:
        self._transfer(self._stamp(ts), ccy, amt, src, dst)

    def _scheduled_deposit(self, acct: Account, ccy: str, amt: Decimal, ts: int) -> None:
        self._deposit(self._stamp(ts), acct, ccy, amt, "2")

    def _position_schedules(self) -> list[Schedule]:
        start, found = self.ex.start_ms, []
        for acct in self.ex.accounts.values():
            for p in acct.positions:
                if Decimal(p.pos) == 0:
                    continue
                opened = resolve_time(p.created, start) or start
                since = max(opened, start - HISTORY_MS)
                found.append(Schedule(opened, 0, since, partial(self._trade_fee, acct, p)))
                kind = position_inst_type(self.ex, p)
                if kind == "SWAP":
                    charge = partial(self._funding_fee, acct, p)
                    found.append(Schedule(start, FUNDING_INTERVAL_MS, since + 1, charge))
                elif kind == "MARGIN":
                    found.append(Schedule(start, HOUR_MS, since + 1, partial(self._interest, acct, p)))
        return found

    def _trade_fee(self, acct: Account, p: Position, ts: int) -> None:
        """The opening fill's taker fee, in the position's margin currency (`fee` negative)."""
        ex, inst = self.ex, self.ex.instrument(p.instId)
        kind, ccy = position_inst_type(ex, p), position_ccy(ex, p)
        size, avg = abs(Decimal(p.pos)), Decimal(p.avgPx)
        if kind == "MARGIN":
            long = p.posCcy == inst.base
            value = size * avg if long else size  # in the quote currency
            value = value if ccy == inst.quote else value / avg
        else:
            long = Decimal(p.pos) > 0
            value = size * inst.ct_val * avg if inst.linear or kind == "OPTION" else size * inst.ct_val / avg
        fee = -(value * TAKER_FEE).quantize(STEP)
        derivative = kind in ("SWAP", "FUTURES", "OPTION")
        mark = inst.mark(ex.prices, ts)
        self._bill(
            acct, TRADING, self._stamp(ts), ccy, "2", fee,
            subType="1" if long else "2", instType=kind, instId=p.instId, mgnMode=p.mgnMode,
            sz=num(size), px=p.avgPx, fee=num(fee), ordId=str(next(self._record_ids)),
            tradeId=str(next(self._record_ids)), execType="T", fillTime=str(ts),
            fillIdxPx=num(ex.prices.index(inst.base, inst.quote, ts)),
            fillMarkPx=num(mark) if derivative else "",
        )  # fmt: skip

    def _funding_fee(self, acct: Account, p: Position, ts: int) -> None:
        """A swap's funding payment at the mark: longs pay shorts FUNDING_RATE of the notional."""
        if not self._open(acct, p):
            return  # closed before this funding time
        inst, size = self.ex.instrument(p.instId), Decimal(p.pos)
        mark = inst.mark(self.ex.prices, ts)
        notional = abs(size) * inst.ct_val * mark if inst.linear else abs(size) * inst.ct_val / mark
        pay = (notional * FUNDING_RATE).quantize(STEP) * (-1 if size > 0 else 1)
        self._bill(
            acct, TRADING, self._stamp(ts), inst.settle, "8", pay, subType="173" if pay < 0 else "174",
            instType="SWAP", instId=p.instId, mgnMode=p.mgnMode, sz=num(abs(size)), px=num(mark),
            pnl=num(pay),
        )  # fmt: skip

    def _interest(self, acct: Account, p: Position, ts: int) -> None:
        """An hour's interest on a MARGIN position's liability, in the liability's currency."""
        if not self._open(acct, p):
            return
        inst = self.ex.instrument(p.instId)
        liab_ccy = inst.quote if p.posCcy == inst.base else inst.base
        interest = (position_numbers(self.ex, p, ts).liab * HOURLY_INTEREST).quantize(STEP)
        self._bill(
            acct, TRADING, self._stamp(ts), liab_ccy, "7", -interest, subType="9", instType="MARGIN",
            instId=p.instId, mgnMode=p.mgnMode, interest=num(interest),
        )  # fmt: skip


def _positive(amt: Decimal) -> None:
    if not amt > 0:
        raise ValueError(f"the amount must be above zero, not {amt}")


def _check_state(state: str, known: set[str], what: str) -> None:
    if state not in known:
        raise ValueError(f"{state!r} is not an OKX {what} state ({', '.join(sorted(known))})")


# -- rows as OKX serves them -----------------------------------------------------------------------
ACCOUNT_BILL_FIELDS = [
    "bal", "balChg", "billId", "ccy", "clOrdId", "earnAmt", "earnApr", "execType", "fee", "fillFwdPx",
    "fillIdxPx", "fillMarkPx", "fillMarkVol", "fillPxUsd", "fillPxVol", "fillTime", "from", "instId",
    "instType", "interest", "mgnMode", "notes", "ordId", "pnl", "posBal", "posBalChg", "px", "subType",
    "sz", "tag", "to", "tradeId", "ts", "type",
]  # fmt: skip
ZERO_FIELDS = ("fee", "interest", "pnl", "posBal", "posBalChg")


def account_bill_row(bill: Bill) -> dict[str, str]:
    """GET /api/v5/account/bills and bills-archive ("Get bills details")."""
    row = dict.fromkeys(ACCOUNT_BILL_FIELDS, "") | dict.fromkeys(ZERO_FIELDS, "0") | bill.extra
    return row | _bill_core(bill)


def funding_bill_row(bill: Bill) -> dict[str, str]:
    """GET /api/v5/asset/bills ("Asset bills details")."""
    return {"clientId": "", "notes": ""} | _bill_core(bill)


def _bill_core(bill: Bill) -> dict[str, str]:
    return {
        "billId": str(bill.bill_id),
        "ccy": bill.ccy,
        "balChg": amount(bill.bal_chg),
        "bal": amount(bill.bal),
        "type": bill.type,
        "ts": str(bill.ts),
    }


def sub_transfer_row(t: SubTransfer) -> dict[str, str]:
    """GET /api/v5/asset/subaccount/bills ("Get history of sub-account transfer")."""
    return {
        "billId": str(t.bill_id),
        "ccy": t.ccy,
        "amt": amount(t.amt),
        "type": t.type,
        "subAcct": t.sub,
        "ts": str(t.ts),
    }


def deposit_row(d: Deposit) -> dict[str, str]:
    """GET /api/v5/asset/deposit-history ("Get deposit history"): on-chain deposits."""
    return {
        "actualDepBlkConfirm": "2" if d.state in CREDITED else "0",
        "amt": amount(d.amt),
        "areaCodeFrom": "",
        "ccy": d.ccy,
        "chain": f"{d.ccy}-{d.ccy}",
        "depId": d.dep_id,
        "from": "",
        "fromWdId": "",
        "state": d.state,
        "to": _fake_hash("address", d.uid, d.ccy)[:42],
        "ts": str(d.ts),
        "txId": _fake_hash("deposit", d.dep_id),
    }


def withdrawal_row(w: Withdrawal) -> dict[str, object]:
    """GET /api/v5/asset/withdrawal-history ("Get withdrawal history"): on-chain withdrawals,
    the fee in the withdrawn currency; `txId` once the transaction is on its way."""
    return {
        "note": "",
        "chain": f"{w.ccy}-{w.ccy}",
        "fee": amount(w.fee),
        "feeCcy": w.ccy,
        "ccy": w.ccy,
        "clientId": "",
        "toAddrType": "1",
        "amt": amount(w.amt),
        "txId": _fake_hash("withdrawal", w.wd_id) if w.state in ON_CHAIN else "",
        "from": "",
        "areaCodeFrom": "",
        "to": _fake_hash("payee", w.wd_id)[:42],
        "areaCodeTo": "",
        "state": w.state,
        "ts": str(w.ts),
        "nonTradableAsset": False,
        "wdId": w.wd_id,
    }


def _fake_hash(*parts: str) -> str:
    return "0x" + hashlib.sha256(":".join(parts).encode()).hexdigest()
