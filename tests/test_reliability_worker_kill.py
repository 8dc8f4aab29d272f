"""Workers killed with SIGKILL in the middle of 100 refreshes (real Celery workers, real Redis).

Two ways a worker dies, two promises:
- a pool process is killed (the kernel's OOM killer picks the biggest process: a busy child):
  the worker's main process gives the message back (acks_late + reject_on_worker_lost) and the
  account is refreshed in the same cycle, once;
- the whole worker is killed: the messages it held stay unacknowledged in Redis until the
  broker's visibility timeout, long after their cycle expired, so those accounts are refreshed
  by the next cycle; no cycle is ever stored twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
from django.db import connection
from django.db.models import Count

from okxsim import Scenario
from snapshots import refresh
from snapshots.models import Snapshot
from snapshots.refresh import LOCK_LEASE_SECONDS, LOCK_PREFIX
from snapshots.tasks import refresh_account
from tests import test_workers_celery
from tests.test_workers_celery import wait_until
from tests.workers_support import add_account, frozen

workers = test_workers_celery.workers  # the fixture that starts and stops real workers

ACCOUNTS = 100
INTERVAL = 12  # seconds: short time limits and lock lease for the test, as in production's formula
WORKER_ENV = {"REFRESH_INTERVAL_SECONDS": str(INTERVAL)}


@pytest.fixture
def hundred_accounts(make_simulator):
    sim = make_simulator(frozen(Scenario.generate(n_subaccounts=ACCOUNTS - 1, own_keys=True)))
    sim.set_latency(60, 40)  # each refresh takes a few tenths of a second: kills land mid-task
    master = add_account(sim, "master")
    subs = [add_account(sim, a.name, master=master) for a in sim.scenario.subaccounts]
    return [master, *subs]


def enqueue(accounts, cycle: int, queue: str) -> None:
    """What refresh_all sends: ids and the cycle, expiring before the next cycle."""
    for account in accounts:
        refresh_account.apply_async((account.pk, cycle), queue=queue, expires=INTERVAL * 5)


def pool_children(worker: subprocess.Popen) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker.pid)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def stored(cycle: int) -> int:
    return Snapshot.objects.filter(cycle=cycle).count()


def assert_at_most_one_snapshot_per_account_per_cycle() -> None:
    doubled = Snapshot.objects.values("account", "cycle").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubled.exists()


@pytest.mark.django_db(transaction=True)
def test_a_pool_process_killed_mid_refresh_is_redone_in_the_same_cycle(hundred_accounts, workers):
    queue = f"test-{uuid.uuid4().hex}"
    victim, _ = workers(2, queue, concurrency=2, **WORKER_ENV)
    enqueue(hundred_accounts, 1, queue)

    # Late in the batch, so the message given back comes round again at once, while the dead
    # process's lock on its account is still held.
    wait_until(lambda: stored(1) >= ACCOUNTS - 12, "most of the refreshes")
    children = pool_children(victim)
    assert children, "the worker has no pool processes to kill"
    for pid in children:  # both busy pool processes of one worker, mid-task
        os.kill(pid, signal.SIGKILL)

    wait_until(lambda: stored(1) == ACCOUNTS, "every account's snapshot of cycle 1")
    assert_at_most_one_snapshot_per_account_per_cycle()
    assert victim.poll() is None  # the worker itself survived and replaced its pool processes


@pytest.mark.django_db(transaction=True)
def test_a_whole_worker_killed_mid_batch_loses_at_most_its_held_tasks_until_the_next_cycle(
    hundred_accounts, workers
):
    queue = f"test-{uuid.uuid4().hex}"
    victim, _ = workers(2, queue, concurrency=2, **WORKER_ENV)
    enqueue(hundred_accounts, 1, queue)

    wait_until(lambda: stored(1) >= 20, "the first 20 refreshes")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    workers(1, queue, concurrency=2, **WORKER_ENV)  # a replacement, as a process manager starts
    # The two workers drain the queue; only what the dead worker held (its 2 running tasks and
    # at most 1 prefetched per process) is missing from cycle 1.
    wait_until(lambda: stored(1) >= ACCOUNTS - 4 and _queue_drained(queue), "the rest of cycle 1")

    enqueue(hundred_accounts, 2, queue)  # the next beat
    wait_until(lambda: stored(2) == ACCOUNTS, "every account's snapshot of cycle 2")
    assert stored(1) >= ACCOUNTS - 4
    assert_at_most_one_snapshot_per_account_per_cycle()


def _queue_drained(queue: str) -> bool:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL).llen(f"okxdash:{queue}") == 0


@pytest.mark.django_db(transaction=True)
def test_a_refresh_longer_than_the_lock_lease_keeps_its_lock_until_it_ends(
    make_simulator, redis_client, settings
):
    settings.OKX_READ_TIMEOUT_SECONDS = LOCK_LEASE_SECONDS + 10
    sim = make_simulator(frozen())
    account = add_account(sim, "main")
    sim.inject_fault("/api/v5/account/balance", delay=LOCK_LEASE_SECONDS + 3, times=1)
    lock_key = f"{LOCK_PREFIX}{account.pk}"
    outcomes = []

    def run() -> None:
        try:
            outcomes.append(refresh.refresh_account(account.pk, 1))
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    wait_until(lambda: redis_client.exists(lock_key), "the refresh to take its lock")
    time.sleep(LOCK_LEASE_SECONDS + 1)
    held_past_the_lease = redis_client.exists(lock_key)
    worker.join()

    assert held_past_the_lease, "the lease ran out while its owner was still working"
    assert outcomes[0].status == "ok"
    assert not redis_client.exists(lock_key)  # released at the end, not left to expire
