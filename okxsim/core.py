"""Simulator: the control surface tests, benchmarks and the demo use."""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import replace
from decimal import Decimal
from typing import Any

from .exchange import DAY_MS, Exchange, LiveKey
from .faults import FaultBook
from .ratelimit import RateLimiter
from .risk import CLOSE_TYPES
from .scenario import Fault, Key, Scenario
from .server import SimServer, jitter

log = logging.getLogger(__name__)


class Simulator:
    """A local OKX v5 REST exchange. Start it in a background thread:

    with Simulator(Scenario.load("demo")).start() as sim:
        requests.get(sim.url + "/api/v5/public/time")
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        rate_limits_enabled: bool = True,
        timestamp_window_s: float | None = None,
        clock_offset_ms: int | None = None,
        latency_ms: tuple[float, float] | None = None,
    ):
        self.scenario = scenario if scenario is not None else Scenario.load("demo")
        self.exchange = Exchange(self.scenario)
        self.limiter = RateLimiter(enabled=rate_limits_enabled)
        self.faults = FaultBook(self.scenario.seed)
        for fault in self.scenario.faults:
            self.faults.add(fault)
        window = timestamp_window_s if timestamp_window_s is not None else self.scenario.timestamp_window_s
        self.timestamp_window_s = window
        if clock_offset_ms is not None:
            self.set_clock_offset(clock_offset_ms)
        self.latency_ms = latency_ms if latency_ms is not None else self.scenario.latency_ms
        self._latency_rng = random.Random(f"latency:{self.scenario.seed}")
        self.stopping = threading.Event()
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle of the server -------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        self.stopping.clear()
        self._server = SimServer((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="okx-simulator", daemon=True
        )
        self._thread.start()
        log.info("OKX simulator (%s) listening on %s", self.scenario.name, self.url)
        return self

    def serve_forever(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = SimServer((host, port), self)
        log.info("OKX simulator (%s) listening on %s", self.scenario.name, self.url)
        self._server.serve_forever()

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "the simulator is not started"
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # a TCP server: never a Unix socket's bytes path
        return f"http://{host}:{port}"

    # -- time ----------------------------------------------------------------------------------
    def advance(self, seconds: float = 0, days: float = 0) -> list[str]:
        """Move the simulated calendar forward; returns the api keys deleted for idleness."""
        self.exchange.clock.advanced_ms += int(seconds * 1000 + days * DAY_MS)
        self.exchange.ledger.catch_up(self.now_ms())
        return self.exchange.sweep_idle_keys()

    def set_clock_offset(self, ms: int) -> None:
        """Skew the server clock (what /public/time reports and signatures are checked against)."""
        self.exchange.clock.clock_offset_ms = ms

    def now_ms(self) -> int:
        return self.exchange.clock.sim_ms()

    def server_time_ms(self) -> int:
        return self.exchange.clock.server_ms()

    # -- limits, latency, faults -----------------------------------------------------------------
    @property
    def rate_limits_enabled(self) -> bool:
        return self.limiter.enabled

    @rate_limits_enabled.setter
    def rate_limits_enabled(self, value: bool) -> None:
        self.limiter.enabled = value

    def set_latency(self, fixed_ms: float = 0, jitter_ms: float = 0) -> None:
        self.latency_ms = (fixed_ms, jitter_ms)

    def latency_s(self) -> float:
        fixed, spread = self.latency_ms
        return jitter(fixed, spread, self._latency_rng) if fixed or spread else 0.0

    def inject_fault(
        self,
        path: str,
        *,
        code: str | int | None = None,
        http_status: int | None = None,
        body: str | None = None,
        delay: float | None = None,
        drop: bool = False,
        times: int | None = 1,
        probability: float | None = None,
        msg: str | None = None,
        envelope: Any = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """Make calls to `path` ("*" = any) fail: an OKX error `code` (official message and HTTP
        status unless given), a raw non-JSON `body`, a bare `http_status`, a `delay` in seconds
        (alone: a stall before the normal answer), or a dropped connection. A malformed success
        (served after authentication and the rate limit, to a call that would have succeeded):
        `envelope`, the whole JSON answer (e.g. {"code": "0", "msg": "", "data": [{}]}), or
        `fields`, the real answer with these fields set in every data row ({"totalEq": "1e400"},
        {"details.0.eq": "NaN"}). Hits the next `times` calls (None = until cleared), each with
        `probability` if given."""
        fault = Fault(
            path,
            None if code is None else str(code),
            http_status,
            body,
            delay,
            drop,
            times,
            probability,
            msg,
            envelope,
            fields,
        )
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def fault_hits(self) -> dict[int, int]:
        """Calls hit per injected fault, keyed by injection order (scenario faults first)."""
        return self.faults.hits()

    def stats(self) -> dict[tuple[str, str], dict[str, int]]:
        """Per (path, uid or ip): calls, rejected (50011), max_window (peak in one window)."""
        return self.limiter.stats()

    def total_rejected(self) -> int:
        return self.limiter.total_rejected()

    def reset_stats(self) -> None:
        self.limiter.reset()

    # -- money movements (docs/simulator.md "Money") ----------------------------------------------
    def transfer(self, ccy: str, amount: Decimal | str, source: str, target: str) -> str:
        """Move `amount` of `ccy` from the funding account of `source` to that of `target`
        (names or uids). Master <-> sub: the master's sub-account transfer history gets a row
        (type "0" to the sub, "1" from it) and both sides a funding bill (20/21 on the master,
        23/22 on the sub); returns that row's billId. Sub -> sub: the balances move and nothing
        is recorded (OKX documents no record of it); returns "". ValueError when the source's
        funding balance is short, KeyError for an unknown account."""
        return self.exchange.ledger.transfer(ccy, Decimal(amount), source, target)

    def deposit(self, account: str, ccy: str, amount: Decimal | str, state: str = "2") -> str:
        """An on-chain deposit into `account`'s funding account, now; returns its depId. It is
        credited (balance, funding bill type 1) when `state` is "1" or "2", else when
        `set_deposit_state` makes it so."""
        return self.exchange.ledger.deposit(account, ccy, Decimal(amount), state)

    def withdraw(
        self, account: str, ccy: str, amount: Decimal | str, fee: Decimal | str = "0", state: str = "2"
    ) -> str:
        """An on-chain withdrawal from the master's funding account, now; returns its wdId. The
        balance drops by amount + fee (funding bill type 2, the fee in `ccy`); a cancelled or
        failed one ("-2", "-1") gives it back (type 13). Sub-accounts cannot withdraw (OKX
        59504): ValueError."""
        return self.exchange.ledger.withdraw(account, ccy, Decimal(amount), Decimal(fee), state)

    def set_deposit_state(self, dep_id: str, state: str) -> None:
        """Move a deposit to an OKX deposit state; credits it on reaching "1" or "2"."""
        self.exchange.ledger.set_deposit_state(dep_id, state)

    def set_withdrawal_state(self, wd_id: str, state: str) -> None:
        """Move a pending withdrawal to an OKX withdrawal state; "-2"/"-1" give the money back."""
        self.exchange.ledger.set_withdrawal_state(wd_id, state)

    # -- prices and positions (docs/simulator.md "Prices, liquidation, closes") ------------------------
    def set_price(self, ccy: str, usd: Decimal | str) -> list[str]:
        """From now on the USD price of `ccy` is `usd`: every index, mark and last price on that
        coin follows, until moved again (the scenario's random walk goes on from there). Returns
        the posIds this move liquidated: every open position whose mark reached its liqPx (long:
        mark <= liqPx; short: mark >= liqPx) is closed as a liquidation (risk.Closer). KeyError
        for a currency the scenario does not price, ValueError for a price not above zero."""
        ledger = self.exchange.ledger
        with ledger.lock:
            now = self.now_ms()
            ledger.catch_up(now)  # what the walk did before the move
            self.exchange.prices.move(ccy, Decimal(usd), now)
            return ledger.recheck(now)

    def close_position(self, account: str, inst_id: str, how: str = "close") -> str:
        """Close `account`'s (name or uid) open position in `inst_id` at the mark, now: how
        "close" (a trader's close: positions-history type "2"), "partial_liquidation" (half of
        it, type "4"; the rest stays open) or "adl" (full auto-deleveraging, type "6"). Returns
        its posId. KeyError when the account holds no such open position, ValueError for
        another `how`."""
        if how not in CLOSE_TYPES:
            raise ValueError(f"how must be one of {', '.join(CLOSE_TYPES)}, not {how!r}")
        ledger = self.exchange.ledger
        return ledger.close(ledger.account(account), inst_id, CLOSE_TYPES[how])

    # -- keys ------------------------------------------------------------------------------------
    def add_key(self, key: Key | None = None, **fields: Any) -> Key:
        """Register a key (a Key, or Key's fields as keywords); it is added to scenario.keys too."""
        key = key if key is not None else Key(**fields)
        self.exchange.add_key(key)
        self.scenario.keys.append(key)
        return key

    def freeze_key(self, api_key: str, frozen: bool = True) -> None:
        live = self._live(api_key)
        live.key = replace(live.key, frozen=frozen)

    def delete_key(self, api_key: str) -> None:
        self.exchange.delete_key(api_key)

    def key_exists(self, api_key: str) -> bool:
        return self.exchange.lookup(api_key) is not None

    def key_state(self, api_key: str) -> LiveKey:
        return self._live(api_key)

    def _live(self, api_key: str) -> LiveKey:
        live = self.exchange.keys.get(api_key)
        if live is None:
            raise KeyError(api_key)
        return live
