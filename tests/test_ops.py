"""Operator endpoints: /healthz, /readyz against real services (a Redis of this test's own, a
real Celery worker and a real beat), and /metrics behind its token, parsed by Prometheus's parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from dashboard.runtime.embedded import VAR_DIR, start_redis, stop_redis
from dashboard.runtime.launcher import spawn, stop
from snapshots.refresh import refresh_account
from tests.workers_support import add_account, frozen

CELERY = str(Path(sys.executable).with_name("celery"))
WAIT_SECONDS = 90  # a guard against a hung process, not a performance expectation
TOKEN = "fake-metrics-token-0000"
BEAT_INTERVAL = 5


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


@pytest.mark.django_db
def test_healthz_answers_ok_without_a_login(client):
    response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok")


@pytest.fixture
def own_redis() -> Iterator[dict]:
    """A redis-server for this test alone (stopping it must not touch the suite's Redis)."""
    socket = VAR_DIR / f"ops-test-{os.getpid()}.sock"
    server = {"process": start_redis(socket), "socket": socket}
    yield server
    stop_redis(server["process"])
    socket.unlink(missing_ok=True)


@pytest.fixture
def celery_processes(own_redis, tmp_path) -> Iterator[list[subprocess.Popen]]:
    """A real worker (on a queue of its own: it only has to answer pings) and a real beat, both
    on the test's own Redis; beat publishes run_alerts every BEAT_INTERVAL seconds."""
    env = {
        **os.environ,
        "REDIS_URL": f"unix://{own_redis['socket']}",
        "ALERTS_INTERVAL_SECONDS": str(BEAT_INTERVAL),
        "PYTHONUNBUFFERED": "1",
    }
    common = ["-A", "dashboard"]
    processes = [
        spawn(
            [
                CELERY,
                *common,
                "worker",
                "-Q",
                "ops-test-ping",
                "-c",
                "1",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                "ops-test@%h",
            ],
            env,
        ),
        spawn([CELERY, *common, "beat", "--loglevel", "WARNING", "-s", str(tmp_path / "beat-schedule")], env),
    ]
    yield processes
    stop(processes)


def readyz(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    return response.status_code, json.loads(response.content)


@pytest.mark.django_db
def test_readyz_names_redis_when_it_stops_and_is_ready_again_after_it_starts(
    client, own_redis, celery_processes
):
    socket = own_redis["socket"]
    with override_settings(
        REDIS_URL=f"unix://{socket}",
        CELERY_BROKER_URL=f"redis+socket://{socket}",
        ALERTS_INTERVAL_SECONDS=BEAT_INTERVAL,
    ):
        wait_until(lambda: readyz(client)[0] == 200, "the first ready answer")
        status, body = readyz(client)
        assert body == {
            "status": "ok",
            "components": {"database": "ok", "redis": "ok", "beat": "ok", "workers": "ok", "alerts": "ok"},
        }

        stop_redis(own_redis["process"])
        status, body = readyz(client)
        assert status == 503
        assert body["status"] == "failing" and body["components"]["redis"] == "failing"
        assert body["components"]["database"] == "ok"
        assert str(socket) not in json.dumps(body) and "redis://" not in json.dumps(body)

        own_redis["process"] = start_redis(socket)
        wait_until(lambda: readyz(client)[0] == 200, "ready again after Redis came back")
        assert readyz(client)[1]["components"]["redis"] == "ok"


@pytest.mark.django_db
def test_readyz_is_not_ready_while_no_beat_has_been_seen(client, own_redis):
    socket = own_redis["socket"]
    with override_settings(REDIS_URL=f"unix://{socket}", CELERY_BROKER_URL=f"redis+socket://{socket}"):
        status, body = readyz(client)
    assert status == 503
    assert body["components"] == {
        "database": "ok",
        "redis": "ok",
        "beat": "failing",
        "workers": "failing",
        "alerts": "ok",
    }


@pytest.mark.django_db
def test_metrics_are_off_without_a_token_setting(client):
    with override_settings(METRICS_TOKEN=""):
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_refuse_a_request_without_the_right_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.mark.django_db
@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_parse_and_count_real_refreshes_calls_and_50011(client, make_simulator):
    """Counters live in the suite's Redis across tests: compare a scrape before and after."""
    sim = make_simulator(frozen("demo"))
    account = add_account(sim, "main")
    before = scrape(client)
    assert refresh_account(account.pk, cycle=1).status == "ok"
    sim.inject_fault("/api/v5/account/balance", code="50011", times=None)
    assert refresh_account(account.pk, cycle=2).status == "failed"

    samples = scrape(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return samples[key] - before.get(key, 0)

    balance = "/api/v5/account/balance"
    assert grew("okxdash_refreshes_total", account="main", outcome="ok") == 1
    assert grew("okxdash_refreshes_total", account="main", outcome="failed") == 1
    assert grew("okxdash_refresh_duration_seconds_count", account="main") == 2
    assert grew("okxdash_refresh_duration_seconds_sum", account="main") > 0
    assert grew("okxdash_api_calls_total", category="ok", endpoint=balance) == 1
    limited = grew("okxdash_rate_limited_total", endpoint=balance)
    assert limited >= 1  # the client retries a 50011 read before giving up
    assert grew("okxdash_api_errors_total", category="rate_limit", endpoint=balance) == limited
    assert grew("okxdash_limiter_wait_seconds_count", endpoint=balance) == 1 + limited
    # 50011 is transient: the key is in its grace period, and the metrics say so.
    status = account.active_credential().health_status
    assert status == "grace"
    assert samples[("okxdash_keys", (("status", "grace"),))] == 1
    assert sum(v for (name, _), v in samples.items() if name == "okxdash_keys") == 1
    assert samples[("okxdash_key_status", (("account", "main"), ("status", "grace")))] == 1
    assert ("okxdash_queue_length", ()) in samples
    assert samples[("okxdash_redis_up", ())] == 1
    assert samples[("okxdash_alerts_firing", (("rule", "key_failing"),))] == 0
