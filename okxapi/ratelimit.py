"""Client-side rate limiting: OKX's published limits, and the limiters that take budget before
sending, so no process trips them.

ENDPOINT_LIMITS holds OKX's published REST rate limits for the endpoints this product reads
(okx-reference.md 2.1): private endpoints are limited per User ID, public ones per IP. The
simulator keeps its own table, written separately from OKX's documentation, and a test compares
the two, so a mistake here is not mirrored there.

Two limiters with one algorithm, a sliding-window log per (scope, endpoint):
- RedisLimiter shares windows across threads, processes and machines through Redis.
- LocalLimiter is for a plain single-process script, chosen explicitly, never as a fallback.

Why not a library: `limits` 5.8 stamps window entries with each caller's local time.time() (so
machines with skewed clocks disagree about the window) and never waits; `pyrate-limiter` 4.5
loads its Lua script once and calls EVALSHA, which fails after a Redis restart or SCRIPT FLUSH,
and also uses the caller's clock. Here the script reads Redis TIME, so one clock orders every
entry, and redis-py's Script object re-loads the script on NOSCRIPT.

Safety margin: the window is padded (10% + 100 ms) so that network jitter between our grant and
OKX's receipt cannot put N+1 requests into OKX's own window.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import redis

from okxapi.errors import LimiterUnavailable, RateLimitTimeout

logger = logging.getLogger(__name__)

PAD_RATIO = 0.10
PAD_SECONDS = 0.100
# Waiters that wake together retry a little apart, so one wins and the rest re-read their wait.
WAKE_JITTER_SECONDS = 0.005


class Rule(StrEnum):
    """Whose window a limit counts in: the calling account's User ID, or the caller's IP."""

    UID = "uid"
    IP = "ip"


@dataclass(frozen=True)
class Limit:
    """At most `count` requests per rolling `seconds`, counted per `rule`."""

    count: int
    seconds: float
    rule: Rule


ENDPOINT_LIMITS: dict[str, Limit] = {
    "/api/v5/public/time": Limit(10, 2, Rule.IP),
    "/api/v5/account/balance": Limit(10, 2, Rule.UID),
    "/api/v5/account/positions": Limit(10, 2, Rule.UID),
    "/api/v5/account/config": Limit(5, 2, Rule.UID),
    "/api/v5/asset/balances": Limit(6, 1, Rule.UID),
    "/api/v5/asset/asset-valuation": Limit(1, 1, Rule.UID),
    # 20/2 s since the 2025-11 docs (was 2/2 s); ccxt and OKX.Net still encode the old figure.
    "/api/v5/users/subaccount/list": Limit(20, 2, Rule.UID),
    "/api/v5/account/subaccount/balances": Limit(6, 2, Rule.UID),
    "/api/v5/asset/subaccount/balances": Limit(6, 2, Rule.UID),
    "/api/v5/users/subaccount/apikey": Limit(20, 2, Rule.UID),
    "/api/v5/trade/account-rate-limit": Limit(1, 1, Rule.UID),
    # Public market data for the price table (snapshots/prices.py), per IP: "Get tickers" and
    # "Get index tickers" both read "Rate Limit: 20 requests per 2 seconds", rule "IP".
    "/api/v5/market/tickers": Limit(20, 2, Rule.IP),
    "/api/v5/market/index-tickers": Limit(20, 2, Rule.IP),
    # The ledger (okx-reference.md 8.1), each page's "Rate Limit" and "Rate limit rule" lines:
    # "Get history of sub-account transfer" (master only), "Get deposit history" and "Get
    # withdrawal history": 6 requests per second, User ID.
    "/api/v5/asset/subaccount/bills": Limit(6, 1, Rule.UID),
    "/api/v5/asset/deposit-history": Limit(6, 1, Rule.UID),
    "/api/v5/asset/withdrawal-history": Limit(6, 1, Rule.UID),
    # "Get index candlesticks history": 10 requests per 2 seconds, IP (USD value of past flows).
    "/api/v5/market/history-index-candles": Limit(10, 2, Rule.IP),
    # "Get bills details (last 7 days)": 5 per second; "(last 3 months)": 5 per 2 seconds; User ID.
    "/api/v5/account/bills": Limit(5, 1, Rule.UID),
    "/api/v5/account/bills-archive": Limit(5, 2, Rule.UID),
    # Risk (okx-reference.md 8.1): "Get positions history", 10 requests per 2 seconds, User ID
    # (ccxt's cost of 100 is its own, far stricter guess).
    "/api/v5/account/positions-history": Limit(10, 2, Rule.UID),
}


def limit_for(path: str) -> Limit:
    """The limit of a request path (query string ignored); KeyError for an unknown endpoint."""
    return ENDPOINT_LIMITS[path.split("?", 1)[0]]


def padded_window(limit: Limit) -> float:
    """The window we enforce for an OKX limit, in seconds (longer than OKX's, never shorter)."""
    return limit.seconds * (1 + PAD_RATIO) + PAD_SECONDS


class Limiter(Protocol):
    def acquire(self, endpoint: str, scope: str, limit: Limit, timeout: float) -> float:
        """Take one unit of budget, waiting up to `timeout` seconds; return the seconds waited.

        Raises RateLimitTimeout when no budget frees up in time.
        """
        ...


# KEYS[1]: the window's ZSET. ARGV: count, window in microseconds, a unique member.
# Returns 0 when granted, else the microseconds until the oldest blocking entry leaves the window.
_ACQUIRE_LUA = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local count = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used < count then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local blocking = redis.call('ZRANGE', KEYS[1], used - count, used - count, 'WITHSCORES')
local wait = tonumber(blocking[2]) + window - now
if wait < 1 then wait = 1 end
return wait
"""


class RedisLimiter:
    """Sliding-window log in a Redis ZSET, one atomic script, Redis's clock for every entry."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        prefix: str = "okxdash:ratelimit",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = redis_client
        self._prefix = prefix
        self._sleep = sleep
        # register_script sends EVALSHA and re-loads the script on NOSCRIPT (restart/FLUSH).
        self._script = redis_client.register_script(_ACQUIRE_LUA)

    def __repr__(self) -> str:
        return f"RedisLimiter(prefix={self._prefix!r})"

    def key(self, endpoint: str, scope: str) -> str:
        return f"{self._prefix}:{scope}:{endpoint}"

    def try_acquire(self, endpoint: str, scope: str, limit: Limit) -> float:
        """One attempt: 0.0 when granted, else the seconds to wait before it can succeed."""
        window_us = int(padded_window(limit) * 1_000_000)
        member = uuid.uuid4().hex
        try:
            wait_us = self._script(keys=[self.key(endpoint, scope)], args=[limit.count, window_us, member])
        except redis.RedisError as exc:
            # A typed, diagnosed failure: a raw RedisError escaped the client's error handling
            # and its observer took the call that never went out for a success.
            raise LimiterUnavailable.after(endpoint, exc) from None
        return int(wait_us) / 1_000_000

    def acquire(self, endpoint: str, scope: str, limit: Limit, timeout: float) -> float:
        return _wait_for_budget(
            lambda: self.try_acquire(endpoint, scope, limit), endpoint, timeout, self._sleep
        )


class LocalLimiter:
    """The same sliding-window log in this process only (threads share it; processes do not)."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._sleep = sleep

    def __repr__(self) -> str:
        return "LocalLimiter()"

    def try_acquire(self, endpoint: str, scope: str, limit: Limit) -> float:
        window = padded_window(limit)
        with self._lock:
            now = time.monotonic()
            entries = self._windows.setdefault((scope, endpoint), deque())
            while entries and entries[0] <= now - window:
                entries.popleft()
            if len(entries) < limit.count:
                entries.append(now)
                return 0.0
            return max(entries[len(entries) - limit.count] + window - now, 1e-6)

    def acquire(self, endpoint: str, scope: str, limit: Limit, timeout: float) -> float:
        return _wait_for_budget(
            lambda: self.try_acquire(endpoint, scope, limit), endpoint, timeout, self._sleep
        )


def _wait_for_budget(
    attempt: Callable[[], float], endpoint: str, timeout: float, sleep: Callable[[float], None]
) -> float:
    """Try, sleep the wait the limiter names, try again; give up when the wait would pass the
    deadline (the wait is exact, so sleeping into a sure failure helps nobody)."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        wait = attempt()
        if wait <= 0:
            return time.monotonic() - started
        remaining = deadline - time.monotonic()
        if wait > remaining:
            waited = time.monotonic() - started
            logger.info("no rate-limit budget for %s after %.2fs", endpoint, waited)
            raise RateLimitTimeout.after(endpoint, waited)
        sleep(wait + random.uniform(0, WAKE_JITTER_SECONDS))
