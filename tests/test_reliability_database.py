"""The database goes away for a few seconds during refreshes (the 30 s outage is tests/soak/).

On SQLite (a newcomer's machine) another connection holds the write lock; on PostgreSQL (CI) the
workers reach the server through a TCP proxy the test cuts. Promises: tasks retry, the worker
neither crashes nor loops, and a snapshot is complete or absent."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db.models import Count

from accounts.jobs import MAX_RETRIES
from dashboard.runtime.launcher import stop
from okxsim import Scenario
from snapshots.models import BalanceLine, PositionLine, Snapshot
from snapshots.tasks import refresh_account
from tests.reliability_support import database_outage, logged_worker
from tests.test_workers_celery import wait_until
from tests.workers_support import add_account, frozen

ACCOUNTS = 10
INTERVAL = 20  # retries back off up to a quarter interval; the outage is shorter than that
OUTAGE_SECONDS = 5


def enqueue(accounts, cycle: int, queue: str) -> None:
    for account in accounts:
        refresh_account.apply_async((account.pk, cycle), queue=queue, expires=INTERVAL * 5)


def lines_per_account(cycle: int) -> dict[int, tuple[int, int]]:
    return {
        s.account_id: (s.balances.count(), s.positions.count())
        for s in Snapshot.objects.filter(cycle=cycle).prefetch_related("balances", "positions")
    }


def assert_each_snapshot_complete(reference_cycle: int) -> None:
    """Every snapshot carries as many lines as the same account's snapshot of a calm cycle, and no
    line is without its snapshot: complete or absent."""
    reference = lines_per_account(reference_cycle)
    for cycle in set(Snapshot.objects.values_list("cycle", flat=True)):
        for account_id, lines in lines_per_account(cycle).items():
            assert lines == reference[account_id], (cycle, account_id)
    assert not BalanceLine.objects.filter(snapshot__isnull=True).exists()
    assert not PositionLine.objects.filter(snapshot__isnull=True).exists()
    doubled = Snapshot.objects.values("account", "cycle").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubled.exists()


def run_outage(make_simulator, redis_url, tmp_path, outage_seconds: float):
    sim = make_simulator(frozen(Scenario.generate(n_subaccounts=ACCOUNTS - 1, own_keys=True)))
    master = add_account(sim, "master")
    accounts = [master, *(add_account(sim, a.name, master=master) for a in sim.scenario.subaccounts)]
    queue = f"test-{uuid.uuid4().hex}"
    outage, env = database_outage(redis_url)
    log = tmp_path / "worker.log"
    worker = logged_worker(redis_url, queue, log, REFRESH_INTERVAL_SECONDS=str(INTERVAL), **env)
    try:
        enqueue(accounts, 1, queue)
        wait_until(lambda: Snapshot.objects.filter(cycle=1).count() == ACCOUNTS, "a calm cycle")
        outage.cut()
        enqueue(accounts, 2, queue)
        time.sleep(outage_seconds)
        outage.restore()
        enqueue(accounts, 3, queue)  # the next beat, after the database is back
        wait_until(lambda: Snapshot.objects.filter(cycle=3).count() == ACCOUNTS, "the cycle after the outage")
        time.sleep(2)  # let late retries of cycle 2 finish before the checks
        assert worker.poll() is None, "the worker exited"
    finally:
        stop([worker])
        outage.close()
    return log.read_text()


@pytest.mark.django_db(transaction=True)
def test_refreshes_retry_through_a_short_database_outage_and_write_nothing_half(
    make_simulator, redis_url, tmp_path
):
    said = run_outage(make_simulator, redis_url, tmp_path, OUTAGE_SECONDS)

    failures = said.count("the database is unavailable")
    assert failures > 0, "the outage never reached a task: the test proved nothing"
    assert failures <= ACCOUNTS * (MAX_RETRIES + 1)  # retries are bounded: no loop
    assert "refresh_account" in said and "retry: Retry in" in said
    assert "CRITICAL" not in said and "Unrecoverable" not in said
    # Each account's cycle 2 is stored whole by a retry, or not at all; cycle 3 (after) is whole.
    assert_each_snapshot_complete(reference_cycle=1)
