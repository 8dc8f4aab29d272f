"""Positions as a trader reads them: which rows are positions, their side in words, their size's
unit, and the one rule that turns a position's unrealised PnL into USD (`upl_usd`).

OKX reports a position's `upl` in its margin currency `ccy` (GET /api/v5/account/positions:
"ccy: Currency used for margin"; the doc example's inverse ETH-USD-210430 has upl
-0.0000009932766034 with ccy ETH, a coin amount: okx-reference.md 8.3). So an inverse
(coin-margined) BTC-USD-SWAP's upl 0.0128205128 is BTC, not USD.

`upl_usd` is the single place where a position's PnL becomes USD (OKX's usdPx, else the cycle's
price table); nothing else prices a position.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from okxapi import Position

# Why a USD value is missing, as the pages, API, CSV and reports say it.
NO_UPL = "OKX sent no unrealised PnL"
NO_PRICE = "no USD price of {ccy}: OKX sent no usdPx and the cycle's price table has no {ccy}"
NO_CCY = "OKX sent no margin currency (ccy)"


@dataclass(frozen=True)
class PricedUpl:
    """A position's unrealised PnL in USD: `usd` (None when unknown), the USD price of the
    margin currency used, and `basis`: how it was priced, or why it is unknown."""

    usd: Decimal | None
    price: Decimal | None
    basis: str


def open_positions(positions: list[Position]) -> list[Position]:
    """The rows that are positions: OKX's `pos` "0" rows (isolated margin after a manual margin
    transfer, or an instrument that had a position) hold nothing and are dropped here, at the
    refresh, so no surface counts or lists them. The client keeps them: it returns what OKX
    said."""
    return [p for p in positions if p.is_open]


def upl_usd(position: Position, ccy_prices: dict[str, Decimal]) -> PricedUpl:
    """The position's `upl` (in its margin currency `ccy`) in USD.

    1. OKX's own `usdPx` ("Latest USD price of the ccy on the market", FUTURES/SWAP/OPTION):
       upl x usdPx. BTC-USD-SWAP upl 0.0128205128 BTC, usdPx 65000 -> 833.33 USD.
    2. Else the cycle's price table (`ccy_prices`, {ccy: USD price}, snapshots/prices.py: OKX's
       USD index, or USDT spot x the USDT-USD index): MARGIN rows have no usdPx, and older OKX
       answers leave it "" on SWAP rows too. BTC-USDT-SWAP upl 200.2 USDT with USDT at 1 -> 200.2.
    3. Else unknown (None) with the reason: never the raw coin amount counted as USD.
    """
    if position.upl is None:
        return PricedUpl(None, None, NO_UPL)
    ccy = position.ccy
    if not ccy:
        return PricedUpl(None, None, NO_CCY)
    if position.usd_px is not None and position.usd_px > 0:
        return PricedUpl(position.upl * position.usd_px, position.usd_px, f"upl x OKX usdPx of {ccy}")
    price = ccy_prices.get(ccy)
    if price is not None:
        return PricedUpl(position.upl * price, price, f"upl x price table USD price of {ccy}")
    return PricedUpl(None, None, NO_PRICE.format(ccy=ccy))
