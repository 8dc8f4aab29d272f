"""Prices and instruments: a deterministic random walk per currency, and the contract specs
that the positions and the public instruments endpoint share."""

from __future__ import annotations

import itertools
import math
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

STABLES = {"USDT", "USDC", "USD"}
# Contract sizes as OKX lists them for the majors; anything else gets 1 (linear) / 10 USD (inverse).
LINEAR_CT_VAL = {"BTC": "0.01", "ETH": "0.1"}
INVERSE_CT_VAL = {"BTC": "100"}
# OKX's BTC-USD / ETH-USD options: ctVal 0.01 BTC / 0.1 ETH, priced and settled in the coin.
OPTION_CT_VAL = {"BTC": "0.01", "ETH": "0.1"}
OPTION_TIME_VALUE = Decimal("0.005")
# Spot lot sizes (`lotSz`, "the quantity in base currency") as OKX lists them for these pairs in
# captured answers: BTC-USDT 0.00000001, ETH-USDT, SOL-USDT and DOGE-USDT 0.000001, TON-USDT
# 0.0001; any other coin gets 0.000001. The product shows each coin with these decimals
# (snapshots/precision.py).
SPOT_LOT_SIZES = {"BTC": "0.00000001", "ETH": "0.000001", "SOL": "0.000001", "TON": "0.0001"}
DEFAULT_SPOT_LOT = "0.000001"


class PriceWalk:
    """USD prices that drift in steps of `step_s` simulated seconds. The path depends only on
    the seed and the currency, so two runs (and two simulators) agree at every moment."""

    def __init__(self, specs: dict[str, dict[str, Any]], seed: int, start_ms: int, step_s: float):
        self._base = {ccy: float(spec["usd"]) for ccy, spec in specs.items()}
        self._vol = {ccy: float(spec.get("vol", 0.0)) for ccy, spec in specs.items()}
        self._paths: dict[str, list[float]] = {ccy: [0.0] for ccy in specs}
        self._rngs = {ccy: random.Random(f"{seed}:{ccy}") for ccy in specs}
        self._start_ms = start_ms
        self._step_ms = max(1, int(step_s * 1000))
        self._lock = threading.Lock()
        # Moves (set_price, a scenario's price_path): per currency, (from ms, USD) in time order.
        self._anchors: dict[str, list[tuple[int, Decimal]]] = {ccy: [] for ccy in specs}

    def currencies(self) -> list[str]:
        return list(self._base)

    def move(self, ccy: str, usd: Decimal, at_ms: int) -> None:
        """From `at_ms` on, `ccy` is worth `usd`; the walk goes on from there (its later steps
        multiply this price as they multiplied the old one). KeyError for an unpriced currency,
        ValueError for a price that is not above zero."""
        if ccy not in self._base:
            raise KeyError(f"{ccy} is not priced in this scenario")
        if not usd > 0:
            raise ValueError(f"a price must be above zero, not {usd}")
        with self._lock:
            anchors = [a for a in self._anchors[ccy] if a[0] != at_ms] + [(at_ms, usd)]
            self._anchors[ccy] = sorted(anchors, key=lambda a: a[0])

    def usd(self, ccy: str, at_ms: int) -> Decimal:
        if ccy not in self._base:
            return Decimal(1) if ccy in STABLES else Decimal(0)
        anchor = self._anchor(ccy, at_ms)
        if self._vol[ccy] == 0:
            return anchor[1] if anchor else Decimal(str(self._base[ccy]))
        step = self._step(at_ms)
        if anchor is None:
            price = self._base[ccy] * math.exp(self._log_return(ccy, step))
            return Decimal(f"{price:.8g}")
        since, base = anchor
        moved = self._log_return(ccy, step) - self._log_return(ccy, self._step(since))
        return base if moved == 0 else Decimal(f"{float(base) * math.exp(moved):.8g}")

    def changes(self, from_ms: int, to_ms: int) -> list[int]:
        """The moments in (from_ms, to_ms] where some price may change: the walk's steps and the
        moves. Between two of them every price is constant."""
        steps = self.step_starts(from_ms, to_ms + 1) if any(self._vol.values()) else []
        moves = [t for anchors in self._anchors.values() for t, _ in anchors if from_ms < t <= to_ms]
        return sorted({*steps, *moves})

    def next_change(self, after_ms: int) -> float:
        """The first moment after `after_ms` where a price may change (inf: never)."""
        found: list[float] = [t for anchors in self._anchors.values() for t, _ in anchors if t > after_ms]
        if any(self._vol.values()):
            found.append(self._start_ms + (self._step(after_ms) + 1) * self._step_ms)
        return min(found, default=math.inf)

    def usd_range(self, ccy: str, from_ms: int, to_ms: int) -> tuple[float, float]:
        """The lowest and highest USD price of `ccy` over [from_ms, to_ms], as floats (a bound
        for the liquidation check, which then looks at each moment in Decimal)."""
        if ccy not in self._base:
            value = float(self.usd(ccy, from_ms))
            return value, value
        moves = [t for t, _ in self._anchors[ccy] if from_ms < t <= to_ms]
        cuts = [from_ms, *moves, to_ms + 1]
        lows, highs = [], []
        for begin, end in itertools.pairwise(cuts):
            anchor = self._anchor(ccy, begin)
            ref = float(anchor[1]) if anchor else self._base[ccy]
            if self._vol[ccy] == 0:
                lows.append(ref)
                highs.append(ref)
                continue
            first, last = self._step(begin), self._step(end - 1)
            ref_log = self._log_return(ccy, self._step(anchor[0])) if anchor else 0.0
            self._log_return(ccy, last)  # the path reaches `last`
            segment = self._paths[ccy][first : last + 1]
            lows.append(ref * math.exp(min(segment) - ref_log))
            highs.append(ref * math.exp(max(segment) - ref_log))
        return min(lows), max(highs)

    def _step(self, at_ms: int) -> int:
        return max(0, (at_ms - self._start_ms) // self._step_ms)

    def _anchor(self, ccy: str, at_ms: int) -> tuple[int, Decimal] | None:
        found = None
        for anchor in self._anchors[ccy]:
            if anchor[0] > at_ms:
                break
            found = anchor
        return found

    def index(self, base: str, quote: str, at_ms: int) -> Decimal:
        """The index BASE-QUOTE (e.g. BTC-USD, SOL-USDT): base's USD price over quote's."""
        return self.usd(base, at_ms) / (self.usd(quote, at_ms) or Decimal(1))

    def step_starts(self, from_ms: int, to_ms: int) -> list[int]:
        """The moments in (from_ms, to_ms) where the walk takes a step or a move sets a price:
        the price is constant between two of them (and before the start), so these are the only
        ones a candle's high and low need."""
        first = max(from_ms + 1, self._start_ms + self._step_ms)
        k = -(-(first - self._start_ms) // self._step_ms)
        steps = range(self._start_ms + k * self._step_ms, to_ms, self._step_ms)
        moves = {t for anchors in self._anchors.values() for t, _ in anchors if from_ms < t < to_ms}
        return sorted(moves.union(steps)) if moves else list(steps)

    def _log_return(self, ccy: str, step: int) -> float:
        path = self._paths[ccy]
        if step >= len(path):
            with self._lock:
                rng, vol = self._rngs[ccy], self._vol[ccy]
                while len(path) <= step:
                    path.append(path[-1] + rng.gauss(0.0, vol))
        return path[step]


@dataclass(frozen=True)
class Instrument:
    inst_id: str
    inst_type: str  # SPOT, SWAP, FUTURES, OPTION
    base: str
    quote: str
    exp_ms: int | None = None
    strike: Decimal | None = None  # OPTION only
    opt_type: str = ""  # OPTION only: "C" call, "P" put

    @property
    def linear(self) -> bool:
        return self.quote != "USD"

    @property
    def settle(self) -> str:
        return self.quote if self.linear else self.base

    @property
    def ct_val(self) -> Decimal:
        if self.inst_type == "OPTION":
            return Decimal(OPTION_CT_VAL.get(self.base, "1"))
        table, default = (LINEAR_CT_VAL, "1") if self.linear else (INVERSE_CT_VAL, "10")
        return Decimal(table.get(self.base, default))

    def mark(self, prices: PriceWalk, at_ms: int) -> Decimal:
        """Futures and swaps: the index (base in quote). Options (coin-margined, quoted in the
        base coin as OKX quotes BTC-USD options): intrinsic value in the base coin plus a fixed
        time value, a stand-in for a pricing model that keeps upl moving with the walk."""
        index = prices.index(self.base, self.quote, at_ms)
        if self.inst_type != "OPTION" or self.strike is None or not index:
            return index
        intrinsic = (
            max(index - self.strike, Decimal(0))
            if self.opt_type == "C"
            else max(self.strike - index, Decimal(0))
        )
        return (intrinsic / index + OPTION_TIME_VALUE).quantize(Decimal("0.0001"))


def parse_inst_id(inst_id: str) -> Instrument:
    """BTC-USDT (SPOT), BTC-USDT-SWAP (SWAP), BTC-USD-261225 (FUTURES, expiry at 08:00 UTC),
    BTC-USD-261225-60000-C (OPTION)."""
    parts = inst_id.split("-")
    if len(parts) == 2:
        return Instrument(inst_id, "SPOT", parts[0], parts[1])
    if len(parts) == 3 and parts[2] == "SWAP":
        return Instrument(inst_id, "SWAP", parts[0], parts[1])
    if len(parts) == 3 and parts[2].isdigit() and len(parts[2]) == 6:
        expiry = datetime.strptime(parts[2] + "08", "%y%m%d%H").replace(tzinfo=UTC)
        return Instrument(inst_id, "FUTURES", parts[0], parts[1], int(expiry.timestamp() * 1000))
    if len(parts) == 5 and parts[2].isdigit() and len(parts[2]) == 6 and parts[4] in ("C", "P"):
        # BTC-USD-270326-60000-C: underlying, expiry, strike, call/put (OKX's option instId)
        expiry = datetime.strptime(parts[2] + "08", "%y%m%d%H").replace(tzinfo=UTC)
        exp_ms = int(expiry.timestamp() * 1000)
        return Instrument(inst_id, "OPTION", parts[0], parts[1], exp_ms, Decimal(parts[3]), parts[4])
    raise ValueError(f"unsupported instrument id {inst_id!r}")


def catalog(currencies: list[str], position_ids: list[str]) -> dict[str, Instrument]:
    """Spot and perpetuals for every priced non-stable currency, plus whatever positions hold."""
    ids: list[str] = []
    for ccy in currencies:
        if ccy not in STABLES:
            ids += [f"{ccy}-USDT", f"{ccy}-USDT-SWAP", f"{ccy}-USD-SWAP"]
        elif ccy not in ("USDT", "USD"):
            ids.append(f"{ccy}-USDT")  # OKX lists stablecoin pairs such as USDC-USDT as spot
    ids += position_ids
    return {inst_id: parse_inst_id(inst_id) for inst_id in dict.fromkeys(ids)}


def instrument_row(inst: Instrument, list_ms: int) -> dict[str, str | bool]:
    """One row of GET /api/v5/public/instruments, with "" where a field does not apply."""
    spot = inst.inst_type == "SPOT"
    option = inst.inst_type == "OPTION"
    family = "" if spot else f"{inst.base}-{inst.quote}"
    return {
        "instType": inst.inst_type,
        "instId": inst.inst_id,
        "uly": family,
        "instFamily": family,
        "category": "1",
        "baseCcy": inst.base if spot else "",
        "quoteCcy": inst.quote if spot else "",
        "settleCcy": "" if spot else inst.settle,
        "ctVal": "" if spot else str(inst.ct_val),
        "ctMult": "" if spot else "1",
        "ctValCcy": "" if spot else (inst.base if inst.linear or option else "USD"),
        # ctType: "Only applicable to FUTURES/SWAP"
        "ctType": "" if spot or option else ("linear" if inst.linear else "inverse"),
        "optType": inst.opt_type,
        "stk": str(inst.strike) if inst.strike is not None else "",
        "listTime": str(list_ms),
        "auctionEndTime": "",
        "contTdSwTime": "",
        "preMktSwTime": "",
        "openType": "",
        "expTime": str(inst.exp_ms) if inst.exp_ms else "",
        "lever": "10" if spot else "100",
        "tickSz": "0.1" if inst.base == "BTC" else "0.01",
        "lotSz": SPOT_LOT_SIZES.get(inst.base, DEFAULT_SPOT_LOT) if spot else "1",
        "minSz": "0.00001" if spot else "1",
        "alias": "quarter" if inst.inst_type in ("FUTURES", "OPTION") else "",
        "state": "live",
        "ruleType": "normal",
        "maxLmtSz": "9999999999",
        "maxMktSz": "1000000",
        "maxLmtAmt": "20000000",
        "maxMktAmt": "1000000" if spot else "",
        "maxTwapSz": "9999999999",
        "maxIcebergSz": "9999999999",
        "maxTriggerSz": "9999999999",
        "maxStopSz": "1000000",
        "futureSettlement": False,
    }
