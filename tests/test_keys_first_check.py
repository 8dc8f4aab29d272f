"""A key is checked as soon as it is added and when beat starts, not one KEY_HEALTH_INTERVAL_SECONDS
later (issue 18 item 2): real Celery workers and beat (subprocesses) against the test Redis and
database, the demo accounts added through `seed_demo` (the admin's add form and its live checks).

The checks go to Celery's default queue, as in production; each test purges it first, so no other
test's messages reach these workers. Beat is not started in the first test, and its first
scheduled key check would come KEY_HEALTH_INTERVAL_SECONDS (15 minutes) after its start: a check
seen within WAIT_SECONDS can only come from the hook under test.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.keycheck import credentials_to_check
from accounts.models import Credential
from dashboard.celery import app
from dashboard.runtime.launcher import spawn, stop
from tests import test_workers_celery
from tests.accounts_support import calls_to, ensure_roles, make_user
from tests.test_workers_celery import CELERY, wait_until, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

DEFAULT_QUEUE = "celery"
# The real Celery workers of tests/test_workers_celery.py: start(n, queue) -> processes.
workers = test_workers_celery.workers
ROTATION_OVERDUE = "alpha-desk"  # the demo's master key, created on OKX a year ago
FROZEN = "zeta-frozen"  # stored without the live check: OKX refuses it (frozen)


@pytest.fixture
def beat(redis_url, tmp_path) -> Iterator[callable]:
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        schedule = tmp_path / "celerybeat-schedule"
        args = [CELERY, "-A", "dashboard", "beat", "-s", str(schedule), "--loglevel", "WARNING"]
        started.append(spawn(args, worker_env(redis_url)))
        return started[-1]

    yield start
    stop(started)


def _checked() -> dict[str, bool]:
    rows = Credential.objects.filter(pk__in=list(credentials_to_check()))
    return {c.account.name: c.health_checked_at is not None for c in rows.select_related("account")}


def _keys_page() -> str:
    client = Client()
    client.force_login(make_user("viewer"))
    return client.get("/keys/").content.decode()


def _card(html: str, name: str) -> str:
    return html.split(f'data-account="{name}"')[1].split("</article>")[0]


def test_a_key_added_is_checked_at_once_and_its_overdue_rotation_shows(simulator, workers):
    app.control.purge()
    ensure_roles()
    call_command("seed_demo", simulator_url=simulator.url, stdout=StringIO())
    before = _keys_page()
    card = _card(before, ROTATION_OVERDUE)
    assert "not checked yet" in card and "healthy" not in card
    assert "Wait for the first check" in card

    workers(1, DEFAULT_QUEUE)
    wait_until(lambda: all(_checked().values()), "every added key checked by the worker")

    after = _keys_page()
    card = _card(after, ROTATION_OVERDUE)
    assert "90-day rotation policy" in card and "needs attention" in card
    assert "not checked yet" not in card
    # The frozen key's check failed: that is a check too, with its time, and no "healthy".
    frozen = _card(after, FROZEN)
    assert "not checked yet" not in frozen and "last checked" in frozen and "the check failed" in frozen
    assert "healthy" not in frozen


def test_beat_start_checks_every_key_once(simulator, workers, beat):
    ensure_roles()
    call_command("seed_demo", simulator_url=simulator.url, stdout=StringIO())
    app.control.purge()  # the checks queued on add: this test is about beat's start alone
    assert not any(_checked().values())
    configs = calls_to(simulator, "/api/v5/account/config")

    workers(2, DEFAULT_QUEUE)  # two workers of two processes each: still one check per key
    beat()
    wait_until(lambda: all(_checked().values()), "every key checked after beat started")

    # One account/config call per key; the frozen key's is refused before OKX's rate limiter
    # (which the simulator's counts come from) counts it.
    assert calls_to(simulator, "/api/v5/account/config") - configs == len(_checked()) - 1
    assert re.search(r"\d+ keys? needs? attention", _keys_page())
