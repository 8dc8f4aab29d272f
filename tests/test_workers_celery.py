"""Real Celery workers (subprocesses) against the test Redis and the test database.

The workers must see the rows this test commits, so the tests use transaction=True and point
each worker at the test database: SQLite's test database is a file (settings: TEST NAME under
var/) passed as SQLITE_PATH; on PostgreSQL, DATABASE_URL is rewritten to the test database's
name. Each test uses its own queue, so no other test's messages reach its workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.db import connection

from dashboard.runtime.launcher import spawn, stop
from okxapi import ENDPOINT_LIMITS
from okxsim import Scenario
from snapshots.models import Snapshot
from snapshots.refresh import LOCK_PREFIX
from snapshots.tasks import refresh_account
from tests.workers_support import add_account, frozen

CELERY = str(Path(sys.executable).with_name("celery"))
WAIT_SECONDS = 120  # a guard against a hung worker, not a performance expectation


def worker_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", **extra}
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = name
    else:
        parts = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    return env


@pytest.fixture
def workers(redis_url) -> Iterator[Callable[..., list[subprocess.Popen]]]:
    """start(n, queue, concurrency, **env) -> worker processes; all are stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(n: int, queue: str, concurrency: int = 2, **extra: str) -> list[subprocess.Popen]:
        env = worker_env(redis_url, **extra)
        new = [
            spawn(
                [
                    CELERY,
                    "-A",
                    "dashboard",
                    "worker",
                    "-Q",
                    queue,
                    "-c",
                    str(concurrency),
                    "--loglevel",
                    "WARNING",
                    "--hostname",
                    f"w{i}-{uuid.uuid4().hex[:6]}@%h",
                    "--without-gossip",
                    "--without-mingle",
                ],
                env,
            )
            for i in range(n)
        ]
        started.extend(new)
        return new

    yield start
    stop(started)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_three_workers_refresh_thirty_subaccounts_through_one_master_within_okxs_limits(
    make_simulator, workers
):
    sim = make_simulator(frozen(Scenario.generate(n_subaccounts=30, own_keys=False)))
    master = add_account(sim, "master")
    subs = [add_account(sim, a.name, master=master, keyless=True) for a in sim.scenario.subaccounts]
    queue = f"test-{uuid.uuid4().hex}"
    workers(3, queue)

    # All at once, not staggered: the shared limiter alone must keep the master's UID in budget.
    for account in [master, *subs]:
        refresh_account.apply_async((account.pk, 1), queue=queue)
    wait_until(lambda: Snapshot.objects.filter(cycle=1).count() == 31, "31 snapshots")

    assert sim.total_rejected() == 0
    peaks = {path: row["max_window"] for (path, _), row in sim.stats().items() if path in ENDPOINT_LIMITS}
    for path, peak in peaks.items():
        assert peak <= ENDPOINT_LIMITS[path].count, path
    # The master's sub-account endpoints were really under pressure: 30 calls, 6 per window.
    assert (
        peaks["/api/v5/account/subaccount/balances"]
        == ENDPOINT_LIMITS["/api/v5/account/subaccount/balances"].count
    )
    assert Snapshot.objects.filter(via_master=True).count() == 30


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_refresh_leaves_no_duplicate_and_no_lock_beyond_its_timeout(
    make_simulator, workers, redis_url
):
    sim = make_simulator(frozen())
    account = add_account(sim, "main")
    queue = f"test-{uuid.uuid4().hex}"
    # A short interval gives short time limits and a short lock timeout (hard limit + 2 s).
    env = {"REFRESH_INTERVAL_SECONDS": "12"}
    lock_timeout_ms = (12 - 4 + 2) * 1000
    sim.inject_fault("/api/v5/account/balance", delay=4, times=1)  # the refresh stalls inside a call
    (victim,) = workers(1, queue, concurrency=1, **env)
    lock_key = f"{LOCK_PREFIX}{account.pk}"
    server = redis.Redis.from_url(redis_url)

    refresh_account.apply_async((account.pk, 5), queue=queue)
    wait_until(lambda: server.exists(lock_key), "the refresh to take its lock")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()

    ttl = server.pttl(lock_key)
    assert 0 < ttl <= lock_timeout_ms  # the dead owner's lock expires by itself
    assert not Snapshot.objects.filter(account=account).exists()
    wait_until(lambda: not server.exists(lock_key), "the orphaned lock to expire")

    workers(1, queue, concurrency=1, **env)
    # The same cycle twice (a redelivery), then the next cycle; one process takes them in order.
    for cycle in (5, 5, 6):
        refresh_account.apply_async((account.pk, cycle), queue=queue)
    wait_until(lambda: Snapshot.objects.filter(account=account, cycle=6).exists(), "the next cycle")

    assert sorted(Snapshot.objects.filter(account=account).values_list("cycle", flat=True)) == [5, 6]
