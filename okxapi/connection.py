"""What the clients of one process share: the rate limiter, one HTTP session per host and thread,
the server-clock offset per host, and the call policy (timeouts, attempts, rate-limit wait).

Build one Connection per process and hand it to every Client; a Client then adds only the
credentials, the environment (demo or live), the base URL and what it learns about its key.
"""

from __future__ import annotations

import copy
import http.cookiejar
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from okxapi.ratelimit import ENDPOINT_LIMITS, Limit, Limiter

DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_RATE_LIMIT_TIMEOUT = 30.0  # seconds a call may wait for the limiter's budget
CLOCK_RESYNC_SECONDS = 600.0
SHARED_SESSION_HOSTS = 8
CLOCK_HOSTS = 16


class ServerClock:
    """What the clients of one host learned about its clock: the offset and when it was measured
    (monotonic seconds), or when the last measurement failed. `lock` serialises measurements."""

    def __init__(self) -> None:
        self.offset_ms: int | None = None
        self.synced_at: float | None = None
        self.failed_at: float | None = None
        self.lock = threading.Lock()


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A shared session serves many keys: nothing one answer sets is sent with another request.
    (OKX authenticates by headers; a per-Client session never kept cookies past a refresh.)"""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class Connection:
    """One process's shared state and call policy for talking to OKX (see design.md).

    `limiter` is required: a RedisLimiter for anything that may run in more than one process,
    LocalLimiter() for a plain script. There is no silent default and no fallback.
    `timeout` is (connect, read) seconds per HTTP exchange; `max_attempts` bounds the tries of one
    read (at least 1); `rate_limit_timeout` is the seconds a call may wait for budget before
    RateLimitTimeout; `limits` maps each endpoint path to its published Limit (ENDPOINT_LIMITS
    unless given); `sleep` waits between retries (tests record it instead); the server clock is
    re-measured every `clock_resync_seconds`.
    """

    def __init__(
        self,
        limiter: Limiter,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        rate_limit_timeout: float = DEFAULT_RATE_LIMIT_TIMEOUT,
        limits: Mapping[str, Limit] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock_resync_seconds: float = CLOCK_RESYNC_SECONDS,
    ) -> None:
        if limiter is None:
            raise TypeError("choose a limiter: RedisLimiter(redis) or LocalLimiter()")
        self.limiter = limiter
        self.timeout = timeout
        self.max_attempts = max(1, int(max_attempts))
        self.rate_limit_timeout = rate_limit_timeout
        self.limits: dict[str, Limit] = dict(limits if limits is not None else ENDPOINT_LIMITS)
        self.sleep = sleep
        self.clock_resync_seconds = clock_resync_seconds
        self._clocks: dict[str, ServerClock] = {}
        self._clocks_lock = threading.Lock()
        self._sessions = threading.local()

    def __repr__(self) -> str:
        return f"Connection(limiter={self.limiter!r}, timeout={self.timeout!r})"

    def with_rate_limit_timeout(self, seconds: float) -> Connection:
        """The same connection (limiter, sessions, clocks) with another rate-limit wait, for a
        caller with a deadline of its own (a refresh waits at most half its soft time limit)."""
        derived = copy.copy(self)
        derived.rate_limit_timeout = seconds
        return derived

    def clock(self, base_url: str) -> ServerClock:
        """The one ServerClock of this connection for a host, so a process that builds a Client
        per refresh does not spend a /public/time call (10 per 2 s per IP) on each of them.
        The least recently used host is forgotten past 16 (a Client keeps the one it holds)."""
        with self._clocks_lock:
            clock = self._clocks.pop(base_url, None) or ServerClock()
            while len(self._clocks) >= CLOCK_HOSTS:
                self._clocks.pop(next(iter(self._clocks)))
            self._clocks[base_url] = clock  # re-inserted: the newest at the end
            return clock

    def session(self, base_url: str) -> requests.Session:
        """This thread's requests.Session for a host: its kept-alive connections are reused by
        every Client, not a TCP/TLS handshake per Client. requests does not promise a Session is
        thread-safe, so one per thread (a Celery prefork pool process runs one task at a time:
        one per process in practice); a forked child starts with none, so no socket is ever
        shared with the parent. The least recently used host is dropped past 8."""
        sessions = self._thread_sessions()
        session = sessions.pop(base_url, None)  # re-inserted below: the newest at the end
        if session is None:
            session = requests.Session()
            session.cookies.set_policy(_NoCookies())
            while len(sessions) >= SHARED_SESSION_HOSTS:
                sessions.pop(next(iter(sessions))).close()
        sessions[base_url] = session
        return session

    def close(self) -> None:
        """Close this thread's sessions (scripts and tests; a worker keeps them for its life)."""
        sessions = self._thread_sessions()
        while sessions:
            sessions.pop(next(iter(sessions))).close()

    def _thread_sessions(self) -> dict[str, requests.Session]:
        local = self._sessions
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            local.pid, local.by_host = pid, {}
        by_host: dict[str, requests.Session] = local.by_host
        return by_host


__all__ = ["DEFAULT_TIMEOUT", "Connection", "ServerClock"]
