"""The simulated exchange's state: clock, accounts, API keys and their lifecycle, prices."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal

from .ledger import Ledger
from .market import Instrument, PriceWalk, catalog
from .scenario import Account, Key, Scenario, resolve_time
from .views import position_id

log = logging.getLogger(__name__)

IDLE_DELETION_DAYS = 14
DAY_MS = 86_400_000
LISTED_DAYS = 400  # instruments and indexes are listed (and have candles) this long before the start


class Clock:
    """Two clocks, on purpose. The server clock (real time + clock offset) is what /public/time
    reports and what signatures are checked against, so a skewed client can be tested. The
    calendar (real time + advance()) drives idle deletion and the price walk, so tests can jump
    days ahead without every client having to sign with a future timestamp."""

    def __init__(self, clock_offset_ms: int = 0):
        self.clock_offset_ms = clock_offset_ms
        self.advanced_ms = 0

    def server_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def sim_ms(self) -> int:
        return int(time.time() * 1000) + self.advanced_ms


@dataclass
class LiveKey:
    """A key as the exchange holds it; `key` keeps the credentials, times are epoch ms."""

    key: Key
    created_ms: int
    last_used_ms: int | None

    @property
    def idle_deletable(self) -> bool:
        """OKX deletes live keys with trade or withdraw permission and no IP after 14 idle days."""
        k = self.key
        return k.env == "live" and not k.ip and ("trade" in k.perm or "withdraw" in k.perm)

    def idle_since_ms(self) -> int:
        return self.last_used_ms if self.last_used_ms is not None else self.created_ms


class Exchange:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.clock = Clock(scenario.clock_offset_ms)
        start = self.clock.sim_ms()
        self.start_ms = start
        self.accounts: dict[str, Account] = {a.uid: a for a in scenario.accounts}
        self.account_created_ms = {a.uid: resolve_time(a.created, start) or start for a in scenario.accounts}
        self.master_uid = next((a.uid for a in scenario.accounts if a.is_master), "")
        self.keys: dict[str, LiveKey] = {}
        self._lock = threading.Lock()
        for key in scenario.keys:
            self.add_key(key)
        self.prices = PriceWalk(scenario.prices, scenario.seed, start, scenario.price_step_s)
        for move in scenario.price_path:
            self.prices.move(move.ccy, Decimal(move.usd), start + move.at_ms())
        for account in scenario.accounts:  # posIds stay put when a position before them closes
            for index, p in enumerate(account.positions):
                p.posId = p.posId or position_id(account, index)
        position_ids = [p.instId for a in scenario.accounts for p in a.positions]
        self.instruments: dict[str, Instrument] = catalog(self.prices.currencies(), position_ids)
        self.listed_ms = start - LISTED_DAYS * DAY_MS
        self.ledger = Ledger(self)  # last: it books the history of the state above

    # -- keys ------------------------------------------------------------------------------
    def add_key(self, key: Key) -> LiveKey:
        if key.uid not in self.accounts:
            raise ValueError(f"key {key.api_key!r} names unknown uid {key.uid!r}")
        start = self.clock.sim_ms()
        created = resolve_time(key.created, start) or start
        live = LiveKey(replace(key), created, resolve_time(key.last_used, start))
        with self._lock:
            self.keys[key.api_key] = live
        return live

    def delete_key(self, api_key: str) -> None:
        with self._lock:
            self.keys.pop(api_key, None)

    def lookup(self, api_key: str) -> LiveKey | None:
        """The key, unless it is unknown or has just reached its idle deletion."""
        live = self.keys.get(api_key)
        if live is not None and self._idle_expired(live, self.clock.sim_ms()):
            self._delete_idle(live)
            return None
        return live

    def mark_used(self, live: LiveKey) -> None:
        # Only authenticated calls count as use (okx-reference.md 4.1).
        live.last_used_ms = self.clock.sim_ms()

    def sweep_idle_keys(self) -> list[str]:
        now = self.clock.sim_ms()
        expired = [live for live in list(self.keys.values()) if self._idle_expired(live, now)]
        for live in expired:
            self._delete_idle(live)
        return [live.key.api_key for live in expired]

    def _idle_expired(self, live: LiveKey, now_ms: int) -> bool:
        return live.idle_deletable and now_ms - live.idle_since_ms() >= IDLE_DELETION_DAYS * DAY_MS

    def _delete_idle(self, live: LiveKey) -> None:
        log.info("idle deletion of key %r (uid %s)", live.key.label, live.key.uid)
        self.delete_key(live.key.api_key)

    def keys_of(self, uid: str) -> list[LiveKey]:
        return [live for live in list(self.keys.values()) if live.key.uid == uid]

    # -- accounts --------------------------------------------------------------------------
    def subaccount(self, name: str) -> Account | None:
        for account in self.accounts.values():
            if account.name == name and not account.is_master:
                return account
        return None

    def subaccounts(self) -> list[Account]:
        return [a for a in self.accounts.values() if not a.is_master]

    def instrument(self, inst_id: str) -> Instrument:
        return self.instruments[inst_id]
