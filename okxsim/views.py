"""Response rows with OKX's full field sets; numbers as strings, "" where a field does not apply.
Equity, eqUsd and upl are recomputed from the price walk on every call."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from .exchange import Exchange
from .scenario import Account, Position

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


# -- positions ---------------------------------------------------------------------------
def position_numbers(ex: Exchange, p: Position, now: int) -> dict[str, Decimal]:
    inst = ex.instrument(p.instId)
    mark, avg, size = inst.mark(ex.prices, now), Decimal(p.avgPx), Decimal(p.pos)
    lever = Decimal(p.lever)
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
    row.update(
        instType=inst.inst_type,
        instId=p.instId,
        mgnMode=p.mgnMode,
        posId=p.posId or f"{account.uid[-6:]}{index:06d}",
        posSide=p.posSide,
        pos=p.pos,
        availPos=p.pos if not cross else "",
        avgPx=p.avgPx,
        nonSettleAvgPx="",
        markPx=num(n["mark"]),
        last=num(n["mark"]),
        idxPx=num(n["mark"]),
        usdPx=num(ex.prices.usd(inst.settle, now)),
        bePx=p.avgPx,
        liqPx=num(n["liq"]),
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
        lever=p.lever,
        imr=num(n["imr"]) if cross else "",
        margin="" if cross else num(n["imr"]),
        mgnRatio=num((n["imr"] + n["upl"]) / n["mmr"]) if n["mmr"] else "",
        mmr=num(n["mmr"]),
        notionalUsd=num(n["notional_usd"]),
        adl="1",
        ccy=inst.settle,
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
        inst = ex.instrument(p.instId)
        n = position_numbers(ex, p, now)
        bucket = totals[inst.settle]
        for name in ("upl", "imr", "mmr"):
            bucket[name] += n[name]
        bucket["iso"] += ZERO if p.mgnMode == "cross" else n["imr"]
        notional[inst.inst_type] += n["notional_usd"]
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
        "notionalUsdForOption": "0",
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
        eq=num(eq),
        cashBal=num(cash),
        uTime=stamp,
        isoEq=num(pos.get("iso", ZERO)),
        availEq=num(eq - frozen),
        disEq=num(_usd(ex, ccy, eq, now)),
        fixedBal="0",
        availBal=num(cash - frozen),
        frozenBal=num(frozen),
        ordFrozen=num(ord_frozen),
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
        spotBal=num(cash),
        collateralEnabled=False,
        autoLendStatus="off",
        autoLendMtAmt="0",
    )
    return row


def funding_rows(account: Account, ccys: set[str] | None) -> list[dict[str, str]]:
    # OKX lists only currencies with a balance above zero.
    return [
        {"availBal": num(Decimal(v)), "bal": num(Decimal(v)), "ccy": ccy, "frozenBal": "0"}
        for ccy, v in account.funding.items()
        if Decimal(v) > 0 and (ccys is None or ccy in ccys)
    ]


def valuation_row(ex: Exchange, account: Account, unit: str) -> dict[str, object]:
    now = ex.clock.sim_ms()
    unit_usd = ex.prices.usd(unit, now) or Decimal(1)
    trading = Decimal(str(balance_row(ex, account, None)["totalEq"])) / unit_usd
    funding = sum((_usd(ex, c, Decimal(v), now) for c, v in account.funding.items()), ZERO) / unit_usd
    return {
        "details": {"classic": "0", "earn": "0", "funding": num(funding), "trading": num(trading)},
        "totalBal": num(trading + funding),
        "ts": str(ex.clock.server_ms()),
    }
