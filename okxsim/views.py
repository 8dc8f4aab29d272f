"""Response rows with OKX's full field sets; numbers as strings, "" where a field does not apply.
Equity, eqUsd and upl are recomputed from the price walk on every call."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from .scenario import Account, Position

if TYPE_CHECKING:  # annotations only: the exchange's ledger uses these rows
    from .exchange import Exchange

ZERO = Decimal(0)
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


def _margin_numbers(ex: Exchange, p: Position, now: int) -> dict[str, Decimal]:
    """A MARGIN position: `pos` in posCcy, always positive. Long (posCcy = base): bought pos
    base with borrowed quote at avgPx. Short (posCcy = quote): sold borrowed base for pos quote
    at avgPx. upl in the quote currency, converted to the margin ccy when that is the base."""
    inst = ex.instrument(p.instId)
    mark, avg, size = inst.mark(ex.prices, now), Decimal(p.avgPx), Decimal(p.pos)
    lever = Decimal(p.lever)
    long = p.posCcy == inst.base
    if long:
        upl_quote, liab, notional_quote = (mark - avg) * size, size * avg, size * mark
    else:
        upl_quote, liab, notional_quote = size * (1 - mark / avg), size / avg, size / avg * mark
    upl = upl_quote if position_ccy(ex, p) == inst.quote else upl_quote / mark
    imr = notional_quote / lever if position_ccy(ex, p) == inst.quote else notional_quote / lever / mark
    direction = 1 if long else -1
    liq = avg * (1 - Decimal(direction) / lever * Decimal("0.9"))
    notional_usd = notional_quote * ex.prices.usd(inst.quote, now)
    return {
        "mark": mark,
        "upl": upl,
        "imr": imr,
        "mmr": imr / 10,
        "notional_usd": notional_usd,
        "liq": liq,
        "liab": liab,
    }


def position_numbers(ex: Exchange, p: Position, now: int) -> dict[str, Decimal]:
    inst = ex.instrument(p.instId)
    if position_inst_type(ex, p) == "MARGIN":
        return _margin_numbers(ex, p, now)
    mark, avg, size = inst.mark(ex.prices, now), Decimal(p.avgPx), Decimal(p.pos)
    lever = Decimal(p.lever)
    if inst.inst_type == "OPTION":  # contracts of ctVal base coin, premium quoted in the base coin
        upl = (mark - avg) * size * inst.ct_val
        notional_usd = abs(size) * inst.ct_val * ex.prices.usd(inst.base, now)
        imr = abs(size) * inst.ct_val * mark  # a stand-in: the premium at the mark
        return {
            "mark": mark,
            "upl": upl,
            "imr": imr,
            "mmr": imr / 10,
            "notional_usd": notional_usd,
            "liq": ZERO,
        }
    if inst.linear:  # contracts of ctVal base units, settled in the quote currency
        upl = (mark - avg) * size * inst.ct_val
        notional_settle = abs(size) * inst.ct_val * mark
        notional_usd = notional_settle * ex.prices.usd(inst.quote, now)
    else:  # contracts of ctVal USD, settled in the base currency
        upl = size * inst.ct_val * (1 / avg - 1 / mark)
        notional_settle = abs(size) * inst.ct_val / mark
        notional_usd = abs(size) * inst.ct_val
    imr = notional_settle / lever
    direction = 1 if size >= 0 else -1
    liq = avg * (1 - Decimal(direction) / lever * Decimal("0.9"))
    return {"mark": mark, "upl": upl, "imr": imr, "mmr": imr / 10, "notional_usd": notional_usd, "liq": liq}


def position_row(ex: Exchange, account: Account, index: int, p: Position, now: int) -> dict[str, object]:
    inst = ex.instrument(p.instId)
    n = position_numbers(ex, p, now)
    row: dict[str, object] = dict.fromkeys(POSITION_FIELDS, "")
    created = str(ex.start_ms - 2 * 86_400_000)
    cross = p.mgnMode == "cross"
    inst_type, ccy = position_inst_type(ex, p), position_ccy(ex, p)
    derivative = inst_type in ("FUTURES", "SWAP", "OPTION")
    row.update(
        instType=inst_type,
        instId=p.instId,
        mgnMode=p.mgnMode,
        posId=p.posId or f"{account.uid[-6:]}{index:06d}",
        posSide=p.posSide,
        pos=p.pos,
        # posCcy: "Position currency, only applicable to MARGIN positions"
        posCcy=p.posCcy if inst_type == "MARGIN" else "",
        # availPos: "Only applicable to MARGIN and OPTION"
        availPos=p.pos if inst_type in ("MARGIN", "OPTION") else "",
        avgPx=p.avgPx,
        nonSettleAvgPx="",
        markPx=num(n["mark"]),
        last=num(n["mark"]),
        idxPx=num(n["mark"]),
        # usdPx: "Latest USD price of the ccy on the market, only applicable to
        # FUTURES/SWAP/OPTION"; "" for MARGIN.
        usdPx=num(ex.prices.usd(ccy, now)) if derivative else "",
        bePx=p.avgPx,
        # liqPx: "Not applicable to OPTION"
        liqPx="" if inst_type == "OPTION" else num(n["liq"]),
        upl=num(n["upl"]),
        uplRatio=num(n["upl"] / n["imr"]) if n["imr"] else "0",
        uplLastPx=num(n["upl"]),
        uplRatioLastPx=num(n["upl"] / n["imr"]) if n["imr"] else "0",
        realizedPnl="0",
        settledPnl="",
        pnl="0",
        fee="0",
        fundingFee="0",
        liqPenalty="0",
        # lever: "Not applicable to OPTION"
        lever="" if inst_type == "OPTION" else p.lever,
        # liab, liabCcy: "only applicable to MARGIN"
        liab=num(n["liab"]) if inst_type == "MARGIN" else "",
        liabCcy=(inst.quote if p.posCcy == inst.base else inst.base) if inst_type == "MARGIN" else "",
        # optVal: "Option Value, only applicable to OPTION"
        optVal=num(Decimal(p.pos) * inst.ct_val * n["mark"]) if inst_type == "OPTION" else "",
        imr=num(n["imr"]) if cross else "",
        margin="" if cross else num(n["imr"]),
        mgnRatio=num((n["imr"] + n["upl"]) / n["mmr"]) if n["mmr"] else "",
        mmr=num(n["mmr"]),
        notionalUsd=num(n["notional_usd"]),
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
    """Per settle currency: upl, imr, mmr, isolated margin; and USD notional per instrument type."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    notional: dict[str, Decimal] = defaultdict(Decimal)
    for p in account.positions:
        if Decimal(p.pos) == 0:
            continue  # a pos "0" row holds nothing; its currency is not listed for it
        n = position_numbers(ex, p, now)
        bucket = totals[position_ccy(ex, p)]
        for name in ("upl", "imr", "mmr"):
            bucket[name] += n[name]
        bucket["iso"] += ZERO if p.mgnMode == "cross" else n["imr"]
        notional[position_inst_type(ex, p)] += n["notional_usd"]
    return totals, notional


def balance_row(ex: Exchange, account: Account, ccys: set[str] | None) -> dict[str, object]:
    now, stamp = ex.clock.sim_ms(), str(ex.clock.server_ms())
    totals, notional = _position_totals(ex, account, now)
    names = [c for c in dict.fromkeys([*account.trading, *totals]) if ccys is None or c in ccys]
    details = [_detail(ex, account, ccy, totals.get(ccy, {}), now, stamp) for ccy in names]
    usd = {
        name: sum((_usd(ex, c, t.get(name, ZERO), now) for c, t in totals.items()), ZERO)
        for name in ("upl", "imr", "mmr", "iso")
    }
    total_eq = sum((Decimal(str(d["eqUsd"])) for d in details), ZERO)
    ord_froz = sum((_usd(ex, c, Decimal(v), now) for c, v in account.frozen.items()), ZERO)
    return {
        "uTime": stamp,
        "totalEq": num(total_eq),
        "isoEq": num(usd["iso"]),
        "adjEq": num(total_eq),
        "availEq": num(total_eq - usd["imr"] - ord_froz),
        "ordFroz": num(ord_froz),
        "imr": num(usd["imr"]),
        "mmr": num(usd["mmr"]),
        "borrowFroz": "",
        "mgnRatio": num(total_eq / usd["mmr"]) if usd["mmr"] else "",
        "notionalUsd": num(sum(notional.values(), ZERO)),
        "notionalUsdForBorrow": "0",
        "notionalUsdForSwap": num(notional["SWAP"]),
        "notionalUsdForFutures": num(notional["FUTURES"]),
        "notionalUsdForOption": num(notional["OPTION"]),
        "upl": num(usd["upl"]),
        "details": details,
    }


def _usd(ex: Exchange, ccy: str, amount: Decimal, now: int) -> Decimal:
    return amount * ex.prices.usd(ccy, now)


def _detail(ex: Exchange, account: Account, ccy: str, pos: dict, now: int, stamp: str) -> dict[str, object]:
    cash = Decimal(account.trading.get(ccy, "0"))
    ord_frozen = Decimal(account.frozen.get(ccy, "0"))
    upl, imr = pos.get("upl", ZERO), pos.get("imr", ZERO)
    eq = cash + upl
    frozen = ord_frozen + imr
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
        imr=num(imr),
        mmr=num(pos.get("mmr", ZERO)),
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
