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

The padding: how much longer than OKX's our window is, learned
--------------------------------------------------------------
OKX counts a request when it arrives ("Rate Limit: 6 requests per 2 seconds", per User ID or IP,
okx-reference.md 2.1); we count it when the limiter grants it. A request granted at g arrives at
g + d, where d (the grant -> arrival delay) is our own scheduling (signing, the GIL, a busy
core) plus the network's one-way delay. Any N + 1 grants of one window span at least W + P (OKX's
window W, our padding P), so the N + 1 arrivals span at least W + P - (d_first - d_last): OKX
never sees N + 1 in its W as long as P >= the spread of d (its largest minus its smallest). The
padding needed is that spread, not a share of the window.

- A clock offset does not matter: both windows are relative (Redis TIME stamps ours, OKX's
  gateway clock stamps its own), and a constant offset between the two cancels out of every
  difference. tests/test_okxapi_padding.py runs the simulator 1 s ahead and 1 s behind.
- What we can observe is grant -> answer (the answer's headers, so a large body's transfer does
  not count) for every call. It adds the answer's way back and OKX's processing to d; their
  spread is at least d's unless they vary against it, so it bounds the spread from above.
- The spread: the range (largest minus smallest) of the last SAMPLES delays, answers of every
  endpoint pooled (they share the path to OKX: one host for a team, whose sub-accounts live in
  its master's region), scaled by (n + 1) / (n - 1) (the range of n draws falls short of the
  range they are drawn from: (n - 1) / (n + 1) of it for a uniform spread), and at least
  PAD_FLOOR_SECONDS (what no sample shows: the rounding of either side's timestamps, and two
  clocks that tick at slightly different rates). Until MIN_SAMPLES answers are known it is
  cold_padding(), the fixed rule this limiter used before (10 % + 100 ms: 2.3 s for 2 s), which
  never saw a 50011 in the benchmarks.
- A 50011 widens the padding of that endpoint at once, by WIDEN_FACTOR (multiplicative, up to
  the window's own length), once per window (the 50011s of one burst are one event); the
  widening relaxes back towards the learned spread with a half-life of RELAX_HALF_LIFE_SECONDS.
  It is decayed when the endpoint's next answer is learned (every grant is followed by one).
- RedisLimiter keeps what it learned in Redis beside the windows (one list of delays, one hash),
  so every process enforces the same window: a limiter that trimmed a shared window with a
  shorter one than its neighbours' would let them exceed theirs. LocalLimiter keeps the same
  state in its process, with the same arithmetic (a test feeds both the same answers).
- The limiter learns without the Client's help: it remembers each thread's last grant, the
  transport stamps the answer's arrival and its code (note_answer(), settle()), and the limiter
  learns from the pair; a thread sends the request it was granted before it asks again.
- window() is what the limiter enforces now; snapshots.pacing plans the reads through a master
  at window() / count, so the plan follows the padding as it is learned, widened and relaxed.

Measured on 2 cores shared with other work (load 3-4), against the simulator (okxsim):
- bench.shared_key, 4 processes reading 60 sub-accounts through one master (120 requests, 60 ms
  + uniform(0, 40) ms): 19.1-19.6 s where OKX allows 18.1 s (1.05-1.08 x; with the fixed
  padding 21.7 s, 1.20 x), 47-60 ms learned; the simulator's clock 1 s ahead or behind: 1.07 x;
  20 ms + uniform(0, 120) ms: 1.10 x, 123 ms learned. Every run: 0 x 50011, and never more than
  6 requests inside one of the simulator's 2 s windows (its max_window counter).
- bench.refresh, one worker: 100 sub-accounts through one master in 34.3 s for 32.1 s (1.07 x;
  was 1.20 x); 1,000 of them each read every 343 s (median) for OKX's 333 s (1.03 x), no 50011,
  no task expired. The remaining cost is the cold first window and the learned spread itself.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import redis

from okxapi.errors import LimiterUnavailable, RateLimitTimeout

logger = logging.getLogger(__name__)

# The padding (module docstring). Before anything is learned: 10 % of the window + 100 ms.
COLD_PAD_RATIO = 0.10
COLD_PAD_SECONDS = 0.100
PAD_FLOOR_SECONDS = 0.050  # a margin for a stall no sample caught (a busy CI core); 1.025 x of a 2 s window
SAMPLES = 64  # the latest grant -> answer delays the spread is learned from
MIN_SAMPLES = 4
WIDEN_FACTOR = 2.0  # what a 50011 does to its endpoint's padding
RELAX_HALF_LIFE_SECONDS = 300.0
LEARNED_TTL_SECONDS = 24 * 3600  # what was learned lapses after a day without answers
RATE_LIMITED = "50011"  # OKX: "Rate limit reached." (HTTP 200 or 429, okx-reference.md 2.0)
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
    # "Get instruments" (snapshots/precision.py, once a day per host): "Rate Limit: 20 requests
    # per 2 seconds", "Rate limit rule: IP + Instrument Type". Only instType=SPOT is read, so one
    # window per IP is the same window (and the stricter one, should other types be read).
    "/api/v5/public/instruments": Limit(20, 2, Rule.IP),
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


# -- the padding's arithmetic (the module docstring); the Lua scripts below repeat it ---------


def cold_padding(limit: Limit) -> float:
    """Seconds of padding before anything is learned: 10 % of the window + 100 ms."""
    return limit.seconds * COLD_PAD_RATIO + COLD_PAD_SECONDS


def spread_of(delays: Sequence[float]) -> float | None:
    """The learned spread of grant -> answer delays (seconds): their range, scaled by
    (n + 1) / (n - 1); None below MIN_SAMPLES delays."""
    n = len(delays)
    if n < MIN_SAMPLES:
        return None
    return (max(delays) - min(delays)) * (n + 1) / (n - 1)


def padding(limit: Limit, spread: float | None, widening: float = 1.0) -> float:
    """Seconds added to OKX's window: the spread (at least PAD_FLOOR_SECONDS; cold_padding when
    None) times the endpoint's widening, at most the window's own length."""
    return min(limit.seconds, _unwidened(limit, spread) * widening)


def _unwidened(limit: Limit, spread: float | None) -> float:
    return cold_padding(limit) if spread is None else max(PAD_FLOOR_SECONDS, spread)


def relaxed(widening: float, elapsed: float) -> float:
    """The widening `elapsed` seconds later: its excess over 1 halves every half-life."""
    return 1 + (widening - 1) * 2 ** (-max(0.0, elapsed) / RELAX_HALF_LIFE_SECONDS)


def widened(widening: float, limit: Limit, spread: float | None) -> float:
    """The widening after a 50011: times WIDEN_FACTOR, no further than a window's length, and
    never narrower than before (a spread already past the window would make that cap below 1:
    the endpoint OKX refused would end up padded less than one it never refused)."""
    return max(widening, min(widening * WIDEN_FACTOR, limit.seconds / _unwidened(limit, spread)))


class Limiter(Protocol):
    def acquire(self, endpoint: str, scope: str, limit: Limit, timeout: float) -> float:
        """Take one unit of budget, waiting up to `timeout` seconds; return the seconds waited.

        Raises RateLimitTimeout when no budget frees up in time.
        """
        ...

    def window(self, endpoint: str, limit: Limit) -> float:
        """Seconds of the window enforced now for `endpoint`: OKX's plus the padding."""
        ...

    def learn(self, endpoint: str, limit: Limit, delay: float | None, rejected: bool = False) -> None:
        """Learn from one answer: its grant -> answer `delay` (seconds; None when unknown) and
        whether OKX refused it with 50011."""
        ...


# -- what each thread was granted last, so the transport can report the answer ---------------


@dataclass
class _Grant:
    limiter: Limiter
    endpoint: str
    limit: Limit
    at: float  # monotonic seconds when the granting attempt began
    answered_at: float | None = None


class _LastGrant(threading.local):
    grant: _Grant | None = None


_last = _LastGrant()


def note_answer(endpoint: str) -> None:
    """The answer to this thread's request on `endpoint` has arrived (its headers): stamp it."""
    grant = _last.grant
    if grant is not None and grant.endpoint == endpoint and grant.answered_at is None:
        grant.answered_at = time.monotonic()


def settle(endpoint: str, code: str | None) -> None:
    """The answer on `endpoint` was read, with OKX's `code`: the limiter that granted this
    thread's request learns its delay and whether it was a 50011. Never raises: a limiter that
    cannot learn (Redis gone) logs it, and the answer is still the caller's."""
    grant = _last.grant
    if grant is None or grant.endpoint != endpoint:
        return
    _last.grant = None
    delay = None if grant.answered_at is None else grant.answered_at - grant.at
    try:
        grant.limiter.learn(endpoint, grant.limit, delay, rejected=code == RATE_LIMITED)
    except LimiterUnavailable as exc:
        logger.warning("the rate limiter could not learn from an answer: %s", exc)


# KEYS[1]: the window's ZSET, KEYS[2]: the learned padding (hash). ARGV: count, OKX's window,
# the cold padding, the floor (all microseconds), a unique member, the endpoint's widening field.
# Entries are trimmed past the longest window (OKX's x 2) and counted in the current one, so a
# padding that narrows and widens again still sees every entry it must.
# Returns 0 when granted, else the microseconds until the oldest blocking entry leaves the window.
_ACQUIRE_LUA = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local count = tonumber(ARGV[1])
local seconds = tonumber(ARGV[2])
local learned = redis.call('HMGET', KEYS[2], 'spread', ARGV[6])
local base = tonumber(ARGV[3])
if learned[1] then base = math.max(tonumber(ARGV[4]), tonumber(learned[1])) end
local window = seconds + math.floor(math.min(seconds, base * (tonumber(learned[2]) or 1)))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 2 * seconds)
local since = now - window + 1
local used = redis.call('ZCOUNT', KEYS[1], since, '+inf')
if used < count then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * seconds / 1000) + 1000)
  return 0
end
local blocking = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', used - count, 1)
local wait = tonumber(blocking[2]) + window - now
if wait < 1 then wait = 1 end
return wait
"""

# KEYS[1]: the delays (list, microseconds, newest first), KEYS[2]: the learned padding (hash:
# 'spread' in microseconds, and per endpoint its widening, when it was last relaxed and when it
# was last widened, in the caller's epoch seconds). ARGV: the delay ('' when unknown), '1' for
# a 50011, now, the endpoint, OKX's window (s), the cold padding, the floor (microseconds),
# SAMPLES, MIN_SAMPLES, the half-life (s), WIDEN_FACTOR, the TTL (s).
_LEARN_LUA = """
local spread = tonumber(redis.call('HGET', KEYS[2], 'spread'))
if ARGV[1] ~= '' then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[8]) - 1)
  local delays = redis.call('LRANGE', KEYS[1], 0, -1)
  local n = #delays
  if n >= tonumber(ARGV[9]) then
    local lo, hi = math.huge, -math.huge
    for _, d in ipairs(delays) do
      d = tonumber(d)
      if d < lo then lo = d end
      if d > hi then hi = d end
    end
    spread = (hi - lo) * (n + 1) / (n - 1)
    redis.call('HSET', KEYS[2], 'spread', spread)
  end
end
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[2], ARGV[4], ARGV[4] .. ':at', ARGV[4] .. ':widened')
local widening = tonumber(state[1]) or 1
local elapsed = math.max(0, now - (tonumber(state[2]) or now))
widening = 1 + (widening - 1) * 2 ^ (-elapsed / tonumber(ARGV[10]))
local seconds = tonumber(ARGV[5])
if ARGV[2] == '1' and now - (tonumber(state[3]) or -math.huge) >= seconds then
  local base = tonumber(ARGV[6])
  if spread then base = math.max(tonumber(ARGV[7]), spread) end
  widening = math.max(widening, math.min(widening * tonumber(ARGV[11]), seconds * 1000000 / base))
  redis.call('HSET', KEYS[2], ARGV[4] .. ':widened', ARGV[3])
end
redis.call('HSET', KEYS[2], ARGV[4], widening, ARGV[4] .. ':at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[12])
redis.call('EXPIRE', KEYS[2], ARGV[12])
return 0
"""


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


class RedisLimiter:
    """Sliding-window log in a Redis ZSET, one atomic script, Redis's clock for every entry; the
    padding learned by every process, in Redis too. `clock` (epoch seconds) times the relaxing
    of a widening (tests pass a fake one); `sleep` waits for budget."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        prefix: str = "okxdash:ratelimit",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis_client
        self._prefix = prefix
        self._sleep = sleep
        self._clock = clock
        # register_script sends EVALSHA and re-loads the script on NOSCRIPT (restart/FLUSH).
        self._script = redis_client.register_script(_ACQUIRE_LUA)
        self._learn = redis_client.register_script(_LEARN_LUA)

    def __repr__(self) -> str:
        return f"RedisLimiter(prefix={self._prefix!r})"

    def key(self, endpoint: str, scope: str) -> str:
        return f"{self._prefix}:{scope}:{endpoint}"

    def _padding_keys(self) -> list[str]:
        return [f"{self._prefix}:padding:delays", f"{self._prefix}:padding"]

    def try_acquire(self, endpoint: str, scope: str, limit: Limit) -> float:
        """One attempt: 0.0 when granted, else the seconds to wait before it can succeed."""
        args = [limit.count, _us(limit.seconds), _us(cold_padding(limit)), _us(PAD_FLOOR_SECONDS)]
        keys = [self.key(endpoint, scope), self._padding_keys()[1]]
        try:
            wait_us = self._script(keys=keys, args=[*args, uuid.uuid4().hex, endpoint])
        except redis.RedisError as exc:
            # A typed, diagnosed failure: a raw RedisError escaped the client's error handling
            # and its observer took the call that never went out for a success.
            raise LimiterUnavailable.after(endpoint, exc) from None
        return int(wait_us) / 1_000_000

    def acquire(self, endpoint: str, scope: str, limit: Limit, timeout: float) -> float:
        return _wait_for_budget(self, endpoint, scope, limit, timeout, self._sleep)

    def window(self, endpoint: str, limit: Limit) -> float:
        """OKX's window plus the padding every process now enforces for `endpoint` (seconds); the
        cold window when Redis does not answer (an estimate for planning and pages)."""
        try:
            spread, widening = self._redis.hmget(self._padding_keys()[1], ["spread", endpoint])
        except redis.RedisError as exc:
            logger.warning("could not read the learned padding: %s", exc)
            return limit.seconds + cold_padding(limit)
        learned = None if spread is None else float(spread) / 1_000_000
        return limit.seconds + padding(limit, learned, float(widening or 1))

    def learn(self, endpoint: str, limit: Limit, delay: float | None, rejected: bool = False) -> None:
        delay_arg = "" if delay is None else str(_us(max(0.0, delay)))
        args = [delay_arg, "1" if rejected else "0", repr(self._clock()), endpoint, limit.seconds]
        args += [_us(cold_padding(limit)), _us(PAD_FLOOR_SECONDS), SAMPLES, MIN_SAMPLES]
        args += [RELAX_HALF_LIFE_SECONDS, WIDEN_FACTOR, LEARNED_TTL_SECONDS]
        try:
            self._learn(keys=self._padding_keys(), args=args)
        except redis.RedisError as exc:
            raise LimiterUnavailable.after(endpoint, exc) from None


@dataclass
class _Widening:
    factor: float = 1.0
    at: float = 0.0  # when last relaxed (the limiter's clock)
    widened_at: float = -math.inf


class LocalLimiter:
    """The same sliding-window log and learned padding in this process only (threads share it;
    processes do not). `clock` (monotonic seconds) stamps the windows and times the relaxing."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._delays: deque[float] = deque(maxlen=SAMPLES)
        self._spread: float | None = None
        self._widenings: dict[str, _Widening] = {}
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        return "LocalLimiter()"

    def try_acquire(self, endpoint: str, scope: str, limit: Limit) -> float:
        with self._lock:
            window = self._window(endpoint, limit)
            now = self._clock()
            entries = self._windows.setdefault((scope, endpoint), deque())
            while entries and entries[0] <= now - 2 * limit.seconds:
                entries.popleft()
            inside = [at for at in entries if at > now - window]
            if len(inside) < limit.count:
                entries.append(now)
                return 0.0
            return max(inside[len(inside) - limit.count] + window - now, 1e-6)

    def acquire(self, endpoint: str, scope: str, limit: Limit, timeout: float) -> float:
        return _wait_for_budget(self, endpoint, scope, limit, timeout, self._sleep)

    def window(self, endpoint: str, limit: Limit) -> float:
        with self._lock:
            return self._window(endpoint, limit)

    def _window(self, endpoint: str, limit: Limit) -> float:
        widening = self._widenings.get(endpoint, _Widening()).factor
        return limit.seconds + padding(limit, self._spread, widening)

    def learn(self, endpoint: str, limit: Limit, delay: float | None, rejected: bool = False) -> None:
        with self._lock:
            if delay is not None:
                self._delays.appendleft(max(0.0, delay))
                self._spread = spread_of(self._delays)
            now = self._clock()
            state = self._widenings.setdefault(endpoint, _Widening(at=now))
            state.factor, state.at = relaxed(state.factor, now - state.at), now
            if rejected and now - state.widened_at >= limit.seconds:
                state.factor, state.widened_at = widened(state.factor, limit, self._spread), now


def _wait_for_budget(
    limiter: RedisLimiter | LocalLimiter,
    endpoint: str,
    scope: str,
    limit: Limit,
    timeout: float,
    sleep: Callable[[float], None],
) -> float:
    """Try, sleep the wait the limiter names, try again; give up when the wait would pass the
    deadline (the wait is exact, so sleeping into a sure failure helps nobody). The grant is
    remembered for this thread, so the answer can be learned from (settle())."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        tried_at = time.monotonic()
        wait = limiter.try_acquire(endpoint, scope, limit)
        if wait <= 0:
            _last.grant = _Grant(limiter, endpoint, limit, tried_at)
            return time.monotonic() - started
        remaining = deadline - time.monotonic()
        if wait > remaining:
            waited = time.monotonic() - started
            logger.info("no rate-limit budget for %s after %.2fs", endpoint, waited)
            raise RateLimitTimeout.after(endpoint, waited)
        sleep(wait + random.uniform(0, WAKE_JITTER_SECONDS))
