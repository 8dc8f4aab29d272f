"""More own-key accounts than the workers refresh in one interval (issue 22): the refreshes left at
the end of a beat expire unrun. They are counted (the "expired" refresh outcome of /metrics), and
the accounts they were for come first in the next beat's plan instead of last again, so no
account is starved beat after beat; the overview tells the team the workers cannot keep up."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from snapshots.models import Snapshot
from snapshots.pacing import refresh_plan
from snapshots.tasks import refresh_account
from tests.accounts_support import make_user
from tests.test_ops import TOKEN, scrape
from tests.test_pages_queries import give_key, make_account, snap
from tests.test_workers_celery import wait_until, workers  # noqa: F401  (a fixture, shared)
from tests.workers_support import add_account, frozen


@pytest.mark.django_db
def test_own_key_accounts_are_planned_stalest_first_never_read_before_all():
    now = timezone.now()
    fresh, old, never, older = (make_account(name) for name in ("fresh", "old", "never", "older"))
    for account in (fresh, old, never, older):
        give_key(account)
    snap(fresh, "10", at=now - timedelta(seconds=30))
    snap(old, "10", at=now - timedelta(minutes=10))
    snap(old, "10", at=now - timedelta(minutes=3))  # its newest counts, not its oldest
    snap(older, "10", at=now - timedelta(minutes=5))

    plan = refresh_plan()

    assert [p.account_id for p in plan] == [never.pk, older.pk, old.pk, fresh.pk]
    assert all(p.countdown == 0 for p in plan)


@pytest.mark.django_db
def test_accounts_whose_key_keeps_failing_come_after_every_other():
    """A failed refresh stores no snapshot: by age alone a failing key would be first every beat
    and, with its retries, could crowd out the healthy accounts."""
    now = timezone.now()
    failing, grace, healthy, new = (make_account(name) for name in ("failing", "grace", "healthy", "new"))
    give_key(failing, health_status="failing")
    give_key(grace, health_status="grace")
    give_key(healthy, health_status="ok")
    give_key(new)  # unchecked: never read, first
    snap(healthy, "10", at=now - timedelta(seconds=30))
    snap(grace, "10", at=now - timedelta(minutes=20))

    assert [p.account_id for p in refresh_plan()] == [new.pk, healthy.pk, failing.pk, grace.pk]


@pytest.mark.django_db(transaction=True)
@override_settings(METRICS_TOKEN=TOKEN)
def test_a_refresh_no_worker_started_within_its_interval_is_counted_as_expired(
    client,
    make_simulator,
    workers,  # noqa: F811  (the fixture imported above)
):
    sim = make_simulator(frozen("demo"))
    account = add_account(sim, "main")
    key = ("okxdash_refreshes_total", (("account", "main"), ("outcome", "expired")))
    before = scrape(client).get(key, 0)
    queue = f"expired-{uuid.uuid4().hex[:6]}"
    past = timezone.now() - timedelta(seconds=1)
    # An operator's "Refresh now" that expired is no planned refresh: not counted.
    refresh_account.apply_async((account.pk, 1), {"on_demand": True}, expires=past, queue=queue)
    # The tail of a beat whose workers were busy for the whole interval: its expiry has passed
    # when a worker takes it (after the one above: one worker, one process, in order).
    refresh_account.apply_async((account.pk, 1), expires=past, queue=queue)

    workers(1, queue, concurrency=1)

    wait_until(lambda: scrape(client).get(key, 0) >= before + 1, "the expired refresh counted")
    assert scrape(client).get(key, 0) == before + 1  # the planned one only
    assert not Snapshot.objects.filter(account=account).exists()  # neither ran
    samples = scrape(client)
    # A refresh that did not run has no duration.
    assert ("okxdash_refresh_duration_seconds_count", (("account", "main"),)) not in samples
    # The overview says why the account will go stale, and what to do.
    client.force_login(make_user("viewer"))
    note = re.search(r'<strong id="refresh-shortfall">(.*?)</code>', client.get("/").content.decode(), re.S)
    assert note is not None and note.group(1).startswith("1 planned refresh did not run in the last ")
    assert "no worker was free before its refresh interval ended (main)" in note.group(1)
