"""The limiters against the suite's real Redis, and the client's choice of limiter scope."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from okxapi import (
    ENDPOINT_LIMITS,
    Client,
    Connection,
    Limit,
    LocalLimiter,
    OkxError,
    RateLimitTimeout,
    RedisLimiter,
    Rule,
)
from okxapi.ratelimit import WAKE_JITTER_SECONDS
from tests.okxapi_server import FakeOkx

BALANCE = "/api/v5/account/balance"


class SleepLog:
    """Really sleeps, and remembers for how long it was asked to."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def prefix(redis_client):
    name = f"test:okxapi:{uuid.uuid4().hex}"
    yield name
    for key in redis_client.scan_iter(f"{name}:*"):
        redis_client.delete(key)


def test_redis_limiter_waits_for_budget_then_succeeds(redis_client, prefix):
    sleep = SleepLog()
    limiter = RedisLimiter(redis_client, prefix=prefix, sleep=sleep)
    limit = Limit(2, 0.2, Rule.UID)
    assert limiter.acquire(BALANCE, "uid:1", limit, timeout=5) == pytest.approx(0, abs=0.1)
    limiter.acquire(BALANCE, "uid:1", limit, timeout=5)
    assert sleep.delays == []
    limiter.acquire(BALANCE, "uid:1", limit, timeout=5)
    assert sleep.delays, "the third call inside the window had to wait"
    assert 0 < sleep.delays[0] <= limiter.window(BALANCE, limit) + WAKE_JITTER_SECONDS


def test_redis_limiter_raises_a_typed_transient_error_at_the_deadline(redis_client, prefix):
    limiter = RedisLimiter(redis_client, prefix=prefix)
    limit = Limit(1, 5, Rule.UID)
    limiter.acquire(BALANCE, "uid:1", limit, timeout=1)
    with pytest.raises(RateLimitTimeout) as caught:
        limiter.acquire(BALANCE, "uid:1", limit, timeout=0.2)
    error = caught.value
    assert isinstance(error, OkxError)
    assert error.diagnosis.category == "rate_limit" and not error.diagnosis.permanent
    assert error.endpoint == BALANCE


def test_redis_limiter_survives_a_script_flush(redis_client, prefix):
    limiter = RedisLimiter(redis_client, prefix=prefix)
    limit = Limit(2, 5, Rule.UID)
    assert limiter.try_acquire(BALANCE, "uid:1", limit) == 0
    redis_client.script_flush()
    assert limiter.try_acquire(BALANCE, "uid:1", limit) == 0  # re-loaded, and the window was kept
    assert limiter.try_acquire(BALANCE, "uid:1", limit) > 0


def test_redis_limiter_windows_are_per_endpoint_and_scope(redis_client, prefix):
    limiter = RedisLimiter(redis_client, prefix=prefix)
    limit = Limit(1, 5, Rule.UID)
    assert limiter.try_acquire(BALANCE, "uid:1", limit) == 0
    assert limiter.try_acquire(BALANCE, "uid:2", limit) == 0
    assert limiter.try_acquire("/api/v5/account/positions", "uid:1", limit) == 0
    assert limiter.try_acquire(BALANCE, "uid:1", limit) > 0


def test_redis_limiter_uses_redis_time_not_the_callers_clock(redis_client, prefix, monkeypatch):
    limiter = RedisLimiter(redis_client, prefix=prefix)
    limit = Limit(1, 5, Rule.UID)
    assert limiter.try_acquire(BALANCE, "uid:1", limit) == 0
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)  # this caller's clock is an hour ahead
    assert limiter.try_acquire(BALANCE, "uid:1", limit) > 0


def test_local_limiter_shares_one_budget_between_threads():
    limiter = LocalLimiter()
    limit = Limit(5, 10, Rule.UID)
    results: list[float] = []
    threads = [
        threading.Thread(target=lambda: results.append(limiter.try_acquire(BALANCE, "uid:1", limit)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results)[:5] == [0.0] * 5
    assert all(wait > 0 for wait in sorted(results)[5:])


def test_local_limiter_waits_then_succeeds_and_raises_at_deadline():
    sleep = SleepLog()
    limiter = LocalLimiter(sleep=sleep)
    limiter.acquire(BALANCE, "uid:1", Limit(1, 0.1, Rule.UID), timeout=2)
    limiter.acquire(BALANCE, "uid:1", Limit(1, 0.1, Rule.UID), timeout=2)
    assert len(sleep.delays) == 1
    with pytest.raises(RateLimitTimeout):
        limiter.acquire(BALANCE, "uid:1", Limit(1, 60, Rule.UID), timeout=0.1)


def _client(fake: FakeOkx, limiter, uid: str | None, limits) -> Client:
    return Client(
        "fake-api-key-limits-0001",
        "FAKE-SECRET-SENTINEL-11",
        "FAKE-PASSPHRASE-SENTINEL-22",
        base_url=fake.url,
        uid=uid,
        connection=Connection(limiter, limits=limits, rate_limit_timeout=0.2),
    )


def _tight_limits() -> dict[str, Limit]:
    return {**ENDPOINT_LIMITS, BALANCE: Limit(1, 30, Rule.UID)}


def test_two_clients_with_different_uids_do_not_share_budget(redis_client, prefix):
    limiter = RedisLimiter(redis_client, prefix=prefix)
    with FakeOkx() as fake:
        alice = _client(fake, limiter, "1001", _tight_limits())
        bob = _client(fake, limiter, "2002", _tight_limits())
        alice.get_balance()
        bob.get_balance()
        with pytest.raises(RateLimitTimeout):
            alice.get_balance()
    assert len(fake.calls(BALANCE)) == 2


def test_the_limiter_scope_switches_from_a_key_fingerprint_to_the_uid(redis_client, prefix):
    from tests.okxapi_server import ok

    limiter = RedisLimiter(redis_client, prefix=prefix)
    with FakeOkx() as fake:
        fake.script("/api/v5/account/config", ok([{"uid": "777", "mainUid": "777", "perm": "read_only"}]))
        client = _client(fake, limiter, None, _tight_limits())
        client.get_balance()
        client.get_account_config()
        client.get_balance()  # a fresh window: now keyed by the real UID
    keys = sorted(key.decode() for key in redis_client.scan_iter(f"{prefix}:*{BALANCE}"))
    assert keys[0].startswith(f"{prefix}:key:") and keys[1] == f"{prefix}:uid:777:{BALANCE}"
    assert "fake-api-key" not in "".join(keys)


def test_public_calls_use_the_shared_ip_scope(redis_client, prefix):
    limiter = RedisLimiter(redis_client, prefix=prefix)
    with FakeOkx() as fake:
        _client(fake, limiter, "1", None).get_server_time()
    windows = [key.decode() for key in redis_client.scan_iter(f"{prefix}:*/api/*")]
    assert windows == [f"{prefix}:ip:/api/v5/public/time"]
