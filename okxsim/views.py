"""Response rows with OKX's full field sets; numbers as strings, "" where a field does not apply.
Equity, eqUsd and upl are recomputed from the price walk on every call."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from .scenario import Account, Position, resolve_time

if TYPE_CHECKING:  # annotations only: the exchange's ledger uses these rows
    from .exchange import Exchange

ZERO = Decimal(0)
# Maintenance margin as a share of the initial margin: a stand-in for OKX's tiered maintenance
# margin rates, the same for every instrument here.
MMR_SHARE = Decimal("0.1")
TAKER_FEE = Decimal("0.0005")  # every fill here is a taker's
STEP = Decimal("1e-12")  # computed amounts are rounded to this
DETAIL_FIELDS = [
    "ccy",
    "eq",
    "cashBal",
    "uTime",
    "isoEq",
    "availEq",
    "disEq",
    "fixedBal",
    "availBal",
    "frozenBal",
    "ordFrozen",
    "eqUsd",
    "liab",
    "uplLiab",
    "crossLiab",
    "isoLiab",
    "interest",
    "upl",
    "isoUpl",
    "mgnRatio",
    "imr",
    "mmr",
    "maxLoan",
    "borrowFroz",
    "notionalLever",
    "twap",
    "frpType",
    "rewardBal",
    "stgyEq",
    "spotInUseAmt",
    "clSpotInUseAmt",
    "maxSpotInUse",
    "maxSpotInUseAmt",
    "spotIsoBal",
    "smtSyncEq",
    "spotCopyTradingEq",
    "spotBal",
    "openAvgPx",
    "accAvgPx",
    "spotUpl",
    "spotUplRatio",
    "totalPnl",
    "totalPnlRatio",
    "colRes",
    "colBorrAutoConversion",
    "collateralRestrict",
    "collateralEnabled",
    "autoLendStatus",
    "autoLendMtAmt",
]
POSITION_FIELDS = [
    "instType",
    "instId",
    "mgnMode",
    "posId",
    "posSide",
    "pos",
    "posCcy",
    "availPos",
    "avgPx",
    "nonSettleAvgPx",
    "markPx",
    "last",
    "idxPx",
    "usdPx",
    "bePx",
    "liqPx",
    "upl",
    "uplRatio",
    "uplLastPx",
    "uplRatioLastPx",
    "realizedPnl",
    "settledPnl",
    "pnl",
    "fee",
    "fundingFee",
    "liqPenalty",
    "lever",
    "imr",
    "margin",
    "mgnRatio",
    "mmr",
    "notionalUsd",
    "adl",
    "ccy",
    "liab",
    "liabCcy",
    "interest",
    "pendingCloseOrdLiabVal",
    "optVal",
    "deltaBS",
    "deltaPA",
    "gammaBS",
    "gammaPA",
    "thetaBS",
    "thetaPA",
    "vegaBS",
    "vegaPA",
    "spotInUseAmt",
    "spotInUseCcy",
    "clSpotInUseAmt",
    "maxSpotInUseAmt",
    "tradeId",
    "bizRefId",
    "bizRefType",
    "cTime",
    "uTime",
    "baseBal",
    "quoteBal",
    "baseBorrowed",
    "baseInterest",
    "quoteBorrowed",
    "quoteInterest",
]


def num(value: Decimal) -> str:
    """A decimal as OKX prints it: plain notation, no exponent, no trailing zeros."""
    text = format(value.quantize(Decimal("1e-12")).normalize(), "f")
    return "0" if text in ("-0", "") else text


def amount(value: Decimal) -> str:
    """A currency amount as OKX prints a balance: plain notation, up to 18 decimals (OKX's token
    precision; an account's `eq` such as "1.0095984098559447" keeps every digit), no trailing
    zeros. `num` rounds computed USD figures to 12 places; a balance must not lose digits."""
    text = format(value.quantize(Decimal("1e-18")).normalize(), "f")
    return "0" if text in ("-0", "") else text


# -- positions ---------------------------------------------------------------------------
def position_id(account: Account, index: int) -> str:
    """The posId of a scenario position without one: the account's uid tail and its place."""
    return f"{account.uid[-6:]}{index:06d}"


def position_inst_type(ex: Exchange, p: Position) -> str:
    """MARGIN positions name a spot pair; the others' type is their instrument's."""
    return p.instType or ex.instrument(p.instId).inst_type


def position_ccy(ex: Exchange, p: Position) -> str:
    """OKX's `ccy`, "Currency used for margin": the settlement currency of a contract; for
    MARGIN the scenario's choice, else the quote currency."""
    inst = ex.instrument(p.instId)
    if position_inst_type(ex, p) == "MARGIN":
        return p.ccy or inst.quote
    return inst.settle


@dataclass(frozen=True)
class Figures:
    """A position's figures in its margin currency (`ccy`) unless named *_usd: mark, upl, imr
    (initial margin at the mark), mmr (maintenance margin, MMR_SHARE of imr), margin (posted at
    avgPx: what an isolated position holds and a liquidation loses), notional_usd, iso_liq (the
    liqPx on the position's own posted margin: an ISOLATED position's liqPx; None: none; a
    cross position's liqPx depends on its account: see liquidation_px), liab (MARGIN only: the
    borrowed amount)."""

    mark: Decimal
    upl: Decimal
    imr: Decimal
    mmr: Decimal
    margin: Decimal
    notional_usd: Decimal
    iso_liq: Decimal | None
    liab: Decimal = ZERO

    @property
    def mgn_ratio(self) -> Decimal | None:
        """The position's maintenance margin ratio: (margin + upl) / mmr; 1 at iso_liq."""
        return (self.margin + self.upl) / self.mmr if self.mmr else None


def liquidation_price(long: bool, linear: bool, avg: Decimal, lever: Decimal) -> Decimal | None:
    """An ISOLATED position's estimated liquidation price (liqPx) in this simulator's margin
    model (OKX "Get positions": liqPx "Estimated liquidation price"): the mark at
    which the position's margin (posted at avgPx: notional / lever) plus its unrealised PnL has
    fallen to the maintenance margin (MMR_SHARE of the initial margin at the mark), i.e. where
    the position's mgnRatio reaches 1 (100 %). Linear contracts and MARGIN positions (PnL in the
    quote currency), inverse contracts (PnL in the coin) solve that equation differently. None
    when no price reaches it (an inverse short at 1x); 0 when only a price of 0 would (a
    linear long at 1x)."""
    rate = MMR_SHARE / lever  # maintenance margin per unit of notional
    if linear:
        return avg * (1 - 1 / lever) / (1 - rate) if long else avg * (1 + 1 / lever) / (1 + rate)
    if long:
        return avg * (1 + rate) / (1 + 1 / lever)
    return avg * (1 - rate) / (1 - 1 / lever) if lever > 1 else None


def _margin_numbers(ex: Exchange, p: Position, mark: Decimal, now: int) -> Figures:
    """A MARGIN position: `pos` in posCcy, always positive. Long (posCcy = base): bought pos
    base with borrowed quote at avgPx. Short (posCcy = quote): sold borrowed base for pos quote
    at avgPx. upl in the quote currency, converted to the margin ccy when that is the base."""
    inst = ex.instrument(p.instId)
    avg, size = Decimal(p.avgPx), Decimal(p.pos)
    lever = Decimal(p.lever)
    long = p.posCcy == inst.base
    if long:  # `opened`: the quote currency the position was worth at avgPx
        upl_quote, liab, notional_quote, opened = (mark - avg) * size, size * avg, size * mark, size * avg
    else:
        upl_quote, liab, notional_quote, opened = size * (1 - mark / avg), size / avg, size / avg * mark, size
    in_quote = position_ccy(ex, p) == inst.quote
    to_ccy = Decimal(1) if in_quote else 1 / mark
    imr = notional_quote / lever * to_ccy
    notional_usd = notional_quote * ex.prices.usd(inst.quote, now)
    return Figures(
        mark=mark,
        upl=upl_quote * to_ccy,
        imr=imr,
        mmr=imr * MMR_SHARE,
        margin=opened / lever * to_ccy,
        notional_usd=notional_usd,
        iso_liq=liquidation_price(long, True, avg, lever),
        liab=liab,
    )


def position_numbers(ex: Exchange, p: Position, now: int, mark: Decimal | None = None) -> Figures:
    """A position's figures at `now`, at the price walk's mark or at `mark` if given."""
    inst = ex.instrument(p.instId)
    mark = inst.mark(ex.prices, now) if mark is None else mark
    if position_inst_type(ex, p) == "MARGIN":
        return _margin_numbers(ex, p, mark, now)
    avg, size = Decimal(p.avgPx), Decimal(p.pos)
    lever = Decimal(p.lever)
    if inst.inst_type == "OPTION":  # contracts of ctVal base coin, premium quoted in the base coin
        upl = (mark - avg) * size * inst.ct_val
        notional_usd = abs(size) * inst.ct_val * ex.prices.usd(inst.base, now)
        imr = abs(size) * inst.ct_val * mark  # a stand-in: the premium at the mark
        return Figures(
            mark=mark,
            upl=upl,
            imr=imr,
            mmr=imr * MMR_SHARE,
            margin=abs(size) * inst.ct_val * avg,
            notional_usd=notional_usd,
            iso_liq=None,
        )
    if inst.linear:  # contracts of ctVal base units, settled in the quote currency
        upl = (mark - avg) * size * inst.ct_val
        notional_settle = abs(size) * inst.ct_val * mark
        opened_settle = abs(size) * inst.ct_val * avg
        notional_usd = notional_settle * ex.prices.usd(inst.quote, now)
    else:  # contracts of ctVal USD, settled in the base currency
        upl = size * inst.ct_val * (1 / avg - 1 / mark)
        notional_settle = abs(size) * inst.ct_val / mark
        opened_settle = abs(size) * inst.ct_val / avg
        notional_usd = abs(size) * inst.ct_val
    imr = notional_settle / lever
    return Figures(
        mark=mark,
        upl=upl,
        imr=imr,
        mmr=imr * MMR_SHARE,
        margin=opened_settle / lever,
        notional_usd=notional_usd,
        iso_liq=liquidation_price(size >= 0, inst.linear, avg, lever),
    )


def position_row(ex: Exchange, account: Account, index: int, p: Position, now: int) -> dict[str, object]:
    inst = ex.instrument(p.instId)
    n = position_numbers(ex, p, now)
    liq = liquidation_px(ex, account, p, now)
    row: dict[str, object] = dict.fromkeys(POSITION_FIELDS, "")
    created = str(resolve_time(p.created, ex.start_ms) or ex.start_ms)
    cross = p.mgnMode == "cross"
    inst_type, ccy = position_inst_type(ex, p), position_ccy(ex, p)
    derivative = inst_type in ("FUTURES", "SWAP", "OPTION")
    row.update(
        instType=inst_type,
        instId=p.instId,
        mgnMode=p.mgnMode,
        posId=p.posId or position_id(account, index),
        posSide=p.posSide,
        pos=p.pos,
        # posCcy: "Position currency, only applicable to MARGIN positions"
        posCcy=p.posCcy if inst_type == "MARGIN" else "",
        # availPos: "Only applicable to MARGIN and OPTION"
        availPos=p.pos if inst_type in ("MARGIN", "OPTION") else "",
        avgPx=p.avgPx,
        nonSettleAvgPx="",
        markPx=num(n.mark),
        last=num(n.mark),
        idxPx=num(n.mark),
        # usdPx: "Latest USD price of the ccy on the market, only applicable to
        # FUTURES/SWAP/OPTION"; "" for MARGIN.
        usdPx=num(ex.prices.usd(ccy, now)) if derivative else "",
        bePx=p.avgPx,
        # liqPx: "Not applicable to OPTION"
        liqPx="" if liq is None else num(liq),
        upl=num(n.upl),
        uplRatio=num(n.upl / n.imr) if n.imr else "0",
        uplLastPx=num(n.upl),
        uplRatioLastPx=num(n.upl / n.imr) if n.imr else "0",
        realizedPnl="0",
        settledPnl="",
        pnl="0",
        fee="0",
        fundingFee="0",
        liqPenalty="0",
        # lever: "Not applicable to OPTION"
        lever="" if inst_type == "OPTION" else p.lever,
        # liab, liabCcy: "only applicable to MARGIN"
        liab=num(n.liab) if inst_type == "MARGIN" else "",
        liabCcy=(inst.quote if p.posCcy == inst.base else inst.base) if inst_type == "MARGIN" else "",
        # optVal: "Option Value, only applicable to OPTION"
        optVal=num(Decimal(p.pos) * inst.ct_val * n.mark) if inst_type == "OPTION" else "",
        imr=num(n.imr) if cross else "",
        # margin: "Margin, can be added or reduced. Only applicable to isolated": what was posted
        margin="" if cross else num(n.margin),
        mgnRatio="" if n.mgn_ratio is None else num(n.mgn_ratio),
        mmr=num(n.mmr),
        notionalUsd=num(n.notional_usd),
        adl="1" if derivative else "",
        ccy=ccy,
        interest="0",
        closeOrderAlgo=[],
        cTime=created,
        uTime=str(ex.clock.server_ms()),
    )
    return row


# -- balances ----------------------------------------------------------------------------
def _position_totals(ex: Exchange, account: Account, now: int) -> tuple[dict, dict[str, Decimal]]:
    """Per settle currency: upl, imr, mmr, isolated margin (iso, at the mark) and, for the risk
    figures, cross imr/mmr (ximr, xmmr), the isolated positions' equity (isoeq: posted margin +
    upl) and whether a cross position exists (cross 1); and USD notional per instrument type."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    notional: dict[str, Decimal] = defaultdict(Decimal)
    for p in account.positions:
        if Decimal(p.pos) == 0:
            continue  # a pos "0" row holds nothing; its currency is not listed for it
        n = position_numbers(ex, p, now)
        bucket = totals[position_ccy(ex, p)]
        bucket["upl"] += n.upl
        bucket["imr"] += n.imr
        bucket["mmr"] += n.mmr
        if p.mgnMode == "cross":
            bucket["ximr"] += n.imr
            bucket["xmmr"] += n.mmr
            bucket["cross"] = Decimal(1)
        else:
            bucket["iso"] += n.imr
            bucket["isoeq"] += n.margin + n.upl
        notional[position_inst_type(ex, p)] += n.notional_usd
    return totals, notional


FUTURES_MODE = "2"  # acctLv: 1 Spot, 2 Futures, 3 Multi-currency margin, 4 Portfolio margin
# Account-level fields OKX leaves "" in Futures mode (okx-reference 8.4: "Futures mode (acctLv 2)
# has no account-level risk figures"; notionalUsdForSwap/Futures: Multi-currency and PM only).
ACCOUNT_RISK_FIELDS = (
    "adjEq", "imr", "mmr", "mgnRatio", "notionalUsd", "notionalUsdForBorrow", "notionalUsdForSwap",
    "notionalUsdForFutures", "notionalUsdForOption",
)  # fmt: skip


def cross_margin(ex: Exchange, account: Account, ccy: str, now: int) -> tuple[Decimal, Decimal, Decimal]:
    """The margin ratio whose reaching 1 (100 %) liquidates `account`'s cross positions margined
    in `ccy`, as (equity, mmr, per_ccy), the ratio being equity / mmr (okx-reference 8.4, 8.8.1),
    the figures balance_row reports:
    - Futures mode (acctLv 2): the currency's details[].mgnRatio, in `ccy`: its equity less the
      isolated positions' margin and upl, over its cross positions' mmr; per_ccy 1.
    - the other modes: the account's mgnRatio, in USD: adjEq (totalEq: no discount rates here)
      over the cross positions' mmr; per_ccy the USD price of `ccy`.
    per_ccy is the ratio's unit per 1 `ccy`; mmr 0: no cross position, no ratio."""
    totals, _ = _position_totals(ex, account, now)
    if account.acct_lv == FUTURES_MODE:
        bucket = totals.get(ccy, {})
        return _cross_equity(account, ccy, bucket), bucket.get("xmmr", ZERO), Decimal(1)
    equity = sum(
        (
            _usd(ex, c, Decimal(account.trading.get(c, "0")) + t.get("upl", ZERO), now)
            for c, t in _by_ccy(account, totals)
        ),
        ZERO,
    )
    mmr = sum((_usd(ex, c, t.get("xmmr", ZERO), now) for c, t in totals.items()), ZERO)
    return equity, mmr, ex.prices.usd(ccy, now)


def _by_ccy(account: Account, totals: dict) -> list[tuple[str, dict]]:
    return [(c, totals.get(c, {})) for c in dict.fromkeys([*account.trading, *totals])]


def _cross_equity(account: Account, ccy: str, bucket: dict) -> Decimal:
    """Futures mode: a currency's equity (cash + upl) less its isolated positions' margin and upl."""
    return Decimal(account.trading.get(ccy, "0")) + bucket.get("upl", ZERO) - bucket.get("isoeq", ZERO)


def liquidation_px(ex: Exchange, account: Account, p: Position, now: int) -> Decimal | None:
    """OKX's liqPx, "Estimated liquidation price" (GET /api/v5/account/positions, okx-reference
    8.8.2), in the instrument's quote currency; None where OKX sends "": an OPTION ("Not
    applicable to OPTION"), or no price above 0 reaches it.
    - ISOLATED: the mark at which the position's own margin ratio, (posted margin + upl) / mmr,
      reaches 1 (liquidation_price).
    - CROSS: a cross position is liquidated when the ratio it shares reaches 100 % (cross_margin:
      the account's mgnRatio; in Futures mode its currency's details[].mgnRatio), so its liqPx
      is the mark of its instrument at which that happens, every other price and balance held:
      equity + the change in this position's upl = mmr, with this position's mmr at that mark.
      None when no such price exists (a long whose account cannot fall to its mmr before 0, a
      short whose account cannot at any price)."""
    if position_inst_type(ex, p) == "OPTION":
        return None
    here = position_numbers(ex, p, now)
    if p.mgnMode != "cross":
        return here.iso_liq
    ccy = position_ccy(ex, p)
    equity, mmr, per_ccy = cross_margin(ex, account, ccy, now)
    # Margined in the quote currency a position's upl and mmr are affine in its mark; margined in
    # the coin (inverse contracts, a MARGIN position with the base as ccy) affine in 1 / mark. So
    # equity - mmr is a line in x (the mark, or 1 / mark), which two points fix.
    coin = ccy != ex.instrument(p.instId).quote

    def excess(x: Decimal) -> Decimal:  # equity - mmr with this position's mark at x
        n = position_numbers(ex, p, now, mark=1 / x if coin else x)
        return equity - mmr + (n.upl - here.upl - (n.mmr - here.mmr)) * per_ccy

    x0 = 1 / here.mark if coin else here.mark
    at_x0 = excess(x0)
    slope = (excess(2 * x0) - at_x0) / x0
    root = x0 - at_x0 / slope if slope else ZERO
    if root <= 0:
        return None
    return 1 / root if coin else root


def balance_row(ex: Exchange, account: Account, ccys: set[str] | None) -> dict[str, object]:
    """GET /api/v5/account/balance (and the master's account/subaccount/balances), by account
    mode as OKX's "Distribution of applicable fields" gives it (okx-reference 8.4, 8.8.1):
    Futures mode (acctLv 2) leaves the account-level adjEq/imr/mmr/mgnRatio/notionalUsd* "" and
    reports details[].imr/mmr/mgnRatio per currency, only for a currency with a cross position;
    the other modes report the account-level figures (imr/mmr: cross positions; adjEq: totalEq,
    no discount rates here; mgnRatio = adjEq / mmr) and leave details[].imr/mmr/mgnRatio ""."""
    now, stamp = ex.clock.sim_ms(), str(ex.clock.server_ms())
    futures_mode = account.acct_lv == FUTURES_MODE
    totals, notional = _position_totals(ex, account, now)
    names = [c for c in dict.fromkeys([*account.trading, *totals]) if ccys is None or c in ccys]
    details = [_detail(ex, account, ccy, totals.get(ccy, {}), now, stamp, futures_mode) for ccy in names]
    usd = {
        name: sum((_usd(ex, c, t.get(name, ZERO), now) for c, t in totals.items()), ZERO)
        for name in ("upl", "imr", "iso", "ximr", "xmmr")
    }
    total_eq = sum((Decimal(str(d["eqUsd"])) for d in details), ZERO)
    ord_froz = sum((_usd(ex, c, Decimal(v), now) for c, v in account.frozen.items()), ZERO)
    row: dict[str, object] = {
        "uTime": stamp,
        "totalEq": num(total_eq),
        "isoEq": num(usd["iso"]),
        "adjEq": num(total_eq),
        "availEq": num(total_eq - usd["imr"] - ord_froz),
        "ordFroz": num(ord_froz),
        "imr": num(usd["ximr"]),
        "mmr": num(usd["xmmr"]),
        "borrowFroz": "",
        "mgnRatio": num(total_eq / usd["xmmr"]) if usd["xmmr"] else "",
        "notionalUsd": num(sum(notional.values(), ZERO)),
        "notionalUsdForBorrow": "0",
        "notionalUsdForSwap": num(notional["SWAP"]),
        "notionalUsdForFutures": num(notional["FUTURES"]),
        "notionalUsdForOption": num(notional["OPTION"]),
        "upl": num(usd["upl"]),
        "details": details,
    }
    if futures_mode:
        row.update(dict.fromkeys(ACCOUNT_RISK_FIELDS, ""))
    return row


def _usd(ex: Exchange, ccy: str, amount: Decimal, now: int) -> Decimal:
    return amount * ex.prices.usd(ccy, now)


def _detail(
    ex: Exchange, account: Account, ccy: str, pos: dict, now: int, stamp: str, futures_mode: bool
) -> dict[str, object]:
    cash = Decimal(account.trading.get(ccy, "0"))
    ord_frozen = Decimal(account.frozen.get(ccy, "0"))
    upl, imr = pos.get("upl", ZERO), pos.get("imr", ZERO)
    eq = cash + upl
    frozen = ord_frozen + imr
    cross_risk = futures_mode and bool(pos.get("cross"))
    row: dict[str, object] = dict.fromkeys(DETAIL_FIELDS, "")
    row.update(
        ccy=ccy,
        eq=amount(eq),
        cashBal=amount(cash),
        uTime=stamp,
        isoEq=num(pos.get("iso", ZERO)),
        availEq=amount(eq - frozen),
        disEq=num(_usd(ex, ccy, eq, now)),
        fixedBal="0",
        availBal=amount(cash - frozen),
        frozenBal=amount(frozen),
        ordFrozen=amount(ord_frozen),
        eqUsd=num(_usd(ex, ccy, eq, now)),
        liab="0",
        crossLiab="0",
        isoLiab="0",
        interest="0",
        upl=num(upl),
        isoUpl="0",
        # details[].imr/mmr/mgnRatio: "Applicable to Futures mode and when there is cross
        # position"; the ratio here is the currency's cross equity (eq less the isolated
        # positions' margin and upl) over its cross maintenance margin.
        imr=num(pos["ximr"]) if cross_risk else "",
        mmr=num(pos["xmmr"]) if cross_risk else "",
        mgnRatio=num(_cross_equity(account, ccy, pos) / pos["xmmr"]) if cross_risk and pos["xmmr"] else "",
        rewardBal="0",
        stgyEq="0",
        spotIsoBal="0",
        smtSyncEq="0",
        spotCopyTradingEq="0",
        spotBal=amount(cash),
        collateralEnabled=False,
        autoLendStatus="off",
        autoLendMtAmt="0",
    )
    return row


def funding_rows(account: Account, ccys: set[str] | None) -> list[dict[str, str]]:
    # OKX lists only currencies with a balance above zero.
    return [
        {"availBal": amount(Decimal(v)), "bal": amount(Decimal(v)), "ccy": ccy, "frozenBal": "0"}
        for ccy, v in account.funding.items()
        if Decimal(v) > 0 and (ccys is None or ccy in ccys)
    ]


def valuation_row(ex: Exchange, account: Account, unit: str) -> dict[str, object]:
    now = ex.clock.sim_ms()
    unit_usd = ex.prices.usd(unit, now) or Decimal(1)
    trading = Decimal(str(balance_row(ex, account, None)["totalEq"])) / unit_usd
    funding = sum((_usd(ex, c, Decimal(v), now) for c, v in account.funding.items()), ZERO) / unit_usd
    earn = sum((_usd(ex, c, Decimal(v), now) for c, v in account.earn.items()), ZERO) / unit_usd
    return {
        "details": {"classic": "0", "earn": num(earn), "funding": num(funding), "trading": num(trading)},
        "totalBal": num(trading + funding + earn),
        "ts": str(ex.clock.server_ms()),
    }


# -- public market data --------------------------------------------------------------------
TICKER_FIELDS = [
    "instType",
    "instId",
    "last",
    "lastSz",
    "askPx",
    "askSz",
    "bidPx",
    "bidSz",
    "open24h",
    "high24h",
    "low24h",
    "volCcy24h",
    "vol24h",
    "sodUtc0",
    "sodUtc8",
    "ts",
]


def ticker_row(ex: Exchange, inst_id: str, inst_type: str, now: int) -> dict[str, str]:
    """One row of GET /api/v5/market/tickers ("Get tickers"): `last` is the walk's price of the
    base in the quote currency (SOL-USDT: USD price of SOL / USD price of USDT); the book is a
    one-tick spread around it; the 24 h fields repeat it (the walk keeps no day history)."""
    last = ex.instrument(inst_id).mark(ex.prices, now)
    row = dict.fromkeys(TICKER_FIELDS, "")
    row.update(
        instType=inst_type,
        instId=inst_id,
        last=num(last),
        lastSz="0.1",
        askPx=num(last * Decimal("1.0001")),
        askSz="10",
        bidPx=num(last * Decimal("0.9999")),
        bidSz="10",
        open24h=num(last),
        high24h=num(last),
        low24h=num(last),
        volCcy24h="1000000",
        vol24h="1000",
        sodUtc0=num(last),
        sodUtc8=num(last),
        ts=str(ex.clock.server_ms()),
    )
    return row


def index_row(ex: Exchange, base: str, quote: str, now: int) -> dict[str, str]:
    """One row of GET /api/v5/market/index-tickers ("Get index tickers"): index `BASE-QUOTE`,
    `idxPx` the walk's USD price of base over quote's (a stablecoin off its peg shows here:
    USDC-USD 0.9994)."""
    px = num(ex.prices.index(base, quote, now))
    return {
        "instId": f"{base}-{quote}",
        "idxPx": px,
        "high24h": px,
        "low24h": px,
        "open24h": px,
        "sodUtc0": px,
        "sodUtc8": px,
        "ts": str(ex.clock.server_ms()),
    }
