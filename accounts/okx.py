"""The one module of `accounts` that deals with okxapi's plumbing: the process's Connection (the
Redis limiter and timeouts, from settings), the region hosts, which calls reset OKX's
idle-deletion clock (from the published limits table), and the refusal a failed live check
becomes.

Not a door every okxapi import must pass: modules that read okxapi's result types, errors or
catalog constants import them from okxapi directly (the layering allows it), and the Client
itself is built in Credential.build_client, the one place the plaintext exists. A Connection or
a limiter is built here only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import redis
from django.conf import settings

from okxapi import HOSTS, CallRecord, Connection, OkxError, RedisLimiter, Rule, limit_for
from okxapi.connection import DEFAULT_TIMEOUT

CONNECT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT[0]


def region_host(region: str) -> str:
    """The API host of an OKX region ("global", "eea", "us"); KeyError for another name."""
    return HOSTS[region]


def is_successful_signed_call(record: CallRecord) -> bool:
    """A call that resets OKX's idle-deletion clock: signed (a per-UID endpoint) and accepted."""
    if record.error is not None:
        return False
    try:
        return limit_for(record.endpoint).rule == Rule.UID
    except KeyError:
        return False


def shared_connection() -> Connection:
    """The Connection every client of this process shares: the Redis limiter at REDIS_URL (so one
    budget holds per UID across processes and machines), one HTTP session per host and thread,
    one server-clock offset per host, and OKX_READ_TIMEOUT_SECONDS as the read timeout.

    Settings are read on every call so a changed REDIS_URL or read timeout (tests) gets a
    Connection of its own; in a running process they never change, so there is one."""
    return _connection_for(settings.REDIS_URL, settings.OKX_READ_TIMEOUT_SECONDS)


@lru_cache(maxsize=4)
def _connection_for(redis_url: str, read_timeout: float) -> Connection:
    limiter = RedisLimiter(redis.Redis.from_url(redis_url))
    return Connection(limiter, timeout=(CONNECT_TIMEOUT_SECONDS, read_timeout))


@dataclass
class CredentialRefused(Exception):
    """A credential set that must not be stored, with a diagnosis a person can act on."""

    category: str
    meaning: str
    steps: tuple[str, ...] = field(default_factory=tuple)
    code: str = ""

    def __str__(self) -> str:
        return f"{self.category}: {self.meaning}"

    @classmethod
    def from_okx_error(cls, error: OkxError) -> CredentialRefused:
        diagnosis = error.diagnosis
        return cls(diagnosis.category, diagnosis.meaning, tuple(diagnosis.steps), str(error.code or ""))
