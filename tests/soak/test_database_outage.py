"""The database unreachable for 30 s during refreshes (PostgreSQL through a cut proxy in CI, a
held SQLite write lock on a newcomer's machine): tasks retry a bounded number of times and give
the cycle up, the worker neither crashes nor loops, nothing is half-written, and the first cycle
after the outage is whole."""

from __future__ import annotations

import pytest

from accounts.jobs import MAX_RETRIES
from tests.test_reliability_database import ACCOUNTS, assert_each_snapshot_complete, run_outage

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 30


def test_refreshes_ride_out_a_30_second_database_outage(make_simulator, redis_url, tmp_path):
    said = run_outage(make_simulator, redis_url, tmp_path, OUTAGE_SECONDS)

    failures = said.count("the database is unavailable")
    print(f"\ndatabase outage figures: {failures} task attempts met the outage")
    assert failures > 0, "the outage never reached a task: the test proved nothing"
    assert failures <= ACCOUNTS * (MAX_RETRIES + 1)  # retries are bounded: no loop
    assert "retry: Retry in" in said
    assert "CRITICAL" not in said and "Unrecoverable" not in said
    assert_each_snapshot_complete(reference_cycle=1)
