"""Redis unreachable (quick checks; the 30 s outage with real workers is tests/soak/).

A Redis URL nothing listens on stands for a Redis that is down: the refresh, the shared limiter
and the pages must each fail in a way a person can read, send nothing to OKX, and never count a
call that did not happen as a success."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import redis
from django.urls import reverse
from django.utils import timezone

from accounts.history import ApiError
from okxapi import Connection, OkxError, RedisLimiter
from snapshots.models import Snapshot
from snapshots.refresh import refresh_account
from tests.accounts_support import make_user
from tests.workers_support import add_account, frozen

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def dead_redis_url() -> str:
    """A local port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def sim(make_simulator):
    sim = make_simulator(frozen())
    sim.inject_fault("*", delay=0.0, times=None)  # counts every request (fault_hits)
    return sim


def requests_to(sim) -> int:
    return sum(sim.fault_hits().values())


def test_the_limiter_on_a_dead_redis_raises_a_diagnosed_error_and_no_false_success(sim):
    account = add_account(sim, "main")
    credential = account.active_credential()
    dead = RedisLimiter(redis.Redis.from_url(dead_redis_url(), socket_connect_timeout=0.5))
    seen = []

    client = credential.build_client(on_call=seen.append, connection=Connection(dead))
    with pytest.raises(OkxError) as caught:
        client.get_balance()

    assert caught.value.category == "network"
    assert "rate limiter" in caught.value.diagnosis.meaning
    assert caught.value.permanent is False
    # Only the unsigned clock sync may have gone out; every balance attempt (the client retries
    # transient failures) was observed as the failure it was, none as a success.
    assert requests_to(sim) <= 1
    balance = [r for r in seen if r.endpoint == "/api/v5/account/balance"]
    assert balance and all(r.error is not None and r.error.category == "network" for r in balance)
    credential.refresh_from_db()
    assert credential.last_success_at is None  # nothing reached OKX: the idle clock is not reset


def test_a_refresh_with_redis_down_fails_sends_nothing_and_is_left_to_the_next_cycle(sim, settings):
    account = add_account(sim, "main")
    settings.REDIS_URL = dead_redis_url()

    outcome = refresh_account(account.pk, cycle=1)

    # Not retried by the task: a retry goes through the same dead Redis (see the soak test).
    assert (outcome.status, outcome.category, outcome.transient) == ("failed", "redis", False)
    assert "Redis" in outcome.detail
    assert requests_to(sim) == 0
    assert not Snapshot.objects.exists()
    assert not ApiError.objects.exists()  # not an exchange error: nothing was sent


def test_pages_answer_with_a_stale_banner_while_redis_is_down(sim, settings, client):
    account = add_account(sim, "main")
    assert refresh_account(account.pk, cycle=1).status == "ok"
    # Six days of history at a 10 s interval: a series large enough for the pages' Redis cache.
    settings.REFRESH_INTERVAL_SECONDS = 10
    Snapshot.objects.update(taken_at=timezone.now() - timedelta(days=6))
    assert refresh_account(account.pk, cycle=2).status == "ok"
    dead = dead_redis_url()
    settings.REDIS_URL = dead
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": dead}}
    client.force_login(make_user("viewer"), backend=MODEL_BACKEND)

    for url in (
        reverse("pages:overview"),
        reverse("pages:overview_fragment"),
        reverse("pages:account", args=[account.pk]) + "?range=all",
        reverse("pages:keys"),
        reverse("pages:errors"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        if url != reverse("pages:overview_fragment"):
            page = response.content.decode()
            assert "Data may be stale" in page, url
            assert "Redis broker does not answer" in page, url
