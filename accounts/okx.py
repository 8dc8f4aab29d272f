"""The app's one door to okxapi: the shared Redis limiter and the refusal a failed check becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import redis
from django.conf import settings

from okxapi import HOSTS, CallRecord, OkxError, RedisLimiter
from okxapi.limits import Rule, limit_for


def region_host(region: str) -> str:
    return HOSTS[region]


def is_successful_signed_call(record: CallRecord) -> bool:
    """A call that resets OKX's idle-deletion clock: signed (a per-UID endpoint) and accepted."""
    if record.error is not None:
        return False
    try:
        return limit_for(record.endpoint).rule == Rule.UID
    except KeyError:
        return False


@lru_cache(maxsize=4)
def _limiter_for(redis_url: str) -> RedisLimiter:
    return RedisLimiter(redis.Redis.from_url(redis_url))


def shared_limiter() -> RedisLimiter:
    """The limiter every client in every process shares, so one budget holds per UID."""
    return _limiter_for(settings.REDIS_URL)


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
