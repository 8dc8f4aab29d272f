"""Counters for /metrics that only the workers see: API calls (by endpoint and outcome), their
durations, the rate limiter's waits, 50011 answers, and each account's refresh outcomes and
durations. They are Redis hashes, so every worker process on every machine adds to the same
numbers and the web process reads them at scrape time (no prometheus multiprocess directory,
which would only see the processes of one machine). Recording never fails a call or a refresh.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import cast

import redis
from django.conf import settings

from okxapi import CallRecord

logger = logging.getLogger(__name__)

PREFIX = "okxdash:stats:"
CALLS = PREFIX + "calls"  # "endpoint|category" -> count ("ok" for a success)
CALL_SECONDS = PREFIX + "call_seconds"  # endpoint -> total seconds
LIMITER_WAITS = PREFIX + "limiter_waits"  # endpoint -> number of calls
LIMITER_SECONDS = PREFIX + "limiter_seconds"  # endpoint -> total seconds waited
RATE_LIMITED = PREFIX + "rate_limited"  # endpoint -> 50011 / HTTP 429 answers
REFRESHES = PREFIX + "refreshes"  # "account_id|outcome" -> count
REFRESH_SECONDS = PREFIX + "refresh_seconds"  # account_id -> total seconds
# When planned refreshes expired unrun (a sorted set: "account_id|epoch" scored by epoch seconds),
# for the overview's "the workers cannot keep up" note; a day of them is kept.
EXPIRED_AT = PREFIX + "expired_at"
EXPIRED_KEPT_SECONDS = 86_400
SEPARATOR = "|"
TIMEOUT_SECONDS = 0.5


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def record_call(record: CallRecord) -> None:
    category = record.error.category if record.error is not None else "ok"
    endpoint = record.endpoint
    try:
        with redis_client().pipeline(transaction=False) as pipe:
            pipe.hincrby(CALLS, f"{endpoint}{SEPARATOR}{category}", 1)
            pipe.hincrbyfloat(CALL_SECONDS, endpoint, record.duration)
            pipe.hincrby(LIMITER_WAITS, endpoint, 1)
            pipe.hincrbyfloat(LIMITER_SECONDS, endpoint, record.limiter_wait)
            if record.code == "50011" or record.http_status == 429:
                pipe.hincrby(RATE_LIMITED, endpoint, 1)
            pipe.execute()
    except (redis.RedisError, OSError):
        logger.debug("could not record call statistics")


# A refresh that ran ("ok", "failed") has a duration; one that did not ("skipped": its cycle was
# stored already; "expired": no worker started it within its interval) has none.
TIMED_OUTCOMES = ("ok", "failed")


def record_refresh(account_id: int, outcome: str, seconds: float) -> None:
    try:
        with redis_client().pipeline(transaction=False) as pipe:
            pipe.hincrby(REFRESHES, f"{account_id}{SEPARATOR}{outcome}", 1)
            if outcome in TIMED_OUTCOMES:
                pipe.hincrbyfloat(REFRESH_SECONDS, account_id, seconds)
            if outcome == "expired":
                now = time.time()
                pipe.zadd(EXPIRED_AT, {f"{account_id}{SEPARATOR}{now:.6f}": now})
                pipe.zremrangebyscore(EXPIRED_AT, "-inf", now - EXPIRED_KEPT_SECONDS)
            pipe.execute()
    except (redis.RedisError, OSError):
        logger.debug("could not record refresh statistics")


def expired_since(since: float) -> dict[int, int]:
    """{account id: how many of its planned refreshes expired unrun (no worker started them within
    their interval) at or after `since` (epoch seconds)}. Raises redis.RedisError or OSError when
    Redis cannot say."""
    found: dict[int, int] = {}
    # redis-py types a sorted set's members loosely; without decode_responses they are bytes.
    for member in cast(list[bytes], redis_client().zrangebyscore(EXPIRED_AT, since, "+inf")):
        account_id = int(member.decode().split(SEPARATOR, 1)[0])
        found[account_id] = found.get(account_id, 0) + 1
    return found


def read_all(client: redis.Redis) -> dict[str, dict[str, float]]:
    """Every hash, decoded: {hash name without prefix: {field: value}} (raises RedisError)."""
    names = (CALLS, CALL_SECONDS, LIMITER_WAITS, LIMITER_SECONDS, RATE_LIMITED, REFRESHES, REFRESH_SECONDS)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(name)
        values = pipe.execute()
    return {
        name.removeprefix(PREFIX): {k.decode(): float(v) for k, v in hashed.items()}
        for name, hashed in zip(names, values, strict=True)
    }
