"""The account page's "Refresh now" (issue 18, item 9): operators only, POST with CSRF, queued to
the broker as the scheduled refresh is (the worker side is in tests/test_browser_errors_refresh.py)."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import Account
from snapshots import tasks
from snapshots.models import Snapshot
from snapshots.refresh import current_cycle
from tests.accounts_support import make_user

pytestmark = pytest.mark.django_db
# Celery's default queue, under the broker's key prefix (settings.CELERY_BROKER_TRANSPORT_OPTIONS).
QUEUE = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] + "celery"


@pytest.fixture
def broker(redis_client) -> redis.Redis:
    """The Celery broker (the test Redis, settings.CELERY_BROKER_URL), its default queue emptied."""
    redis_client.delete(QUEUE)
    yield redis_client
    redis_client.delete(QUEUE)


def _queued(broker: redis.Redis) -> list[tuple[str, list, dict]]:
    messages = [json.loads(raw) for raw in broker.lrange(QUEUE, 0, -1)]
    bodies = [json.loads(base64.b64decode(m["body"])) for m in messages]
    return [(m["headers"]["task"], body[0], body[1]) for m, body in zip(messages, bodies, strict=True)]


def _url(account: Account) -> str:
    return reverse("pages:refresh_now", args=[account.pk])


def test_an_operator_queues_a_refresh_now_and_the_page_says_so(client, broker):
    account = Account.objects.create(name="alpha-desk")
    client.force_login(make_user("operator"))
    cycle = current_cycle()

    response = client.post(_url(account), follow=True)

    assert response.redirect_chain[-1][0] == reverse("pages:account", args=[account.pk])
    assert "Refresh of alpha-desk queued at" in response.content.decode()
    ((task, args, kwargs),) = _queued(broker)
    assert task == "snapshots.tasks.refresh_account"
    assert args[0] == account.pk and args[1] in (cycle, cycle + 1) and kwargs == {"on_demand": True}


@pytest.mark.parametrize("role", ["viewer", "stranger"])
def test_others_cannot_refresh_now(client, broker, role):
    account = Account.objects.create(name="alpha-desk")
    client.force_login(make_user(role))
    assert client.post(_url(account)).status_code == 403
    assert _queued(broker) == []


def test_refresh_now_takes_a_post_with_a_csrf_token(broker):
    account = Account.objects.create(name="alpha-desk")
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("operator"))
    assert client.get(_url(account)).status_code == 405
    assert client.post(_url(account)).status_code == 403
    response = Client().post(_url(account))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert _queued(broker) == []


def test_a_paused_account_is_not_queued_and_the_page_says_why(client, broker):
    account = Account.objects.create(name="gamma-mm", active=False)
    client.force_login(make_user("operator"))
    response = client.post(_url(account), follow=True)
    assert "gamma-mm is paused: it is not refreshed" in response.content.decode()
    assert _queued(broker) == []
    assert client.post(reverse("pages:refresh_now", args=[999999])).status_code == 404


def test_a_second_click_within_seconds_queues_nothing_and_says_when_the_first_was_queued(client, broker):
    account = Account.objects.create(name="alpha-desk")
    other = Account.objects.create(name="beta-desk")
    client.force_login(make_user("operator"))

    first = client.post(_url(account), follow=True).content.decode()
    again = client.post(_url(account), follow=True).content.decode()
    client.post(_url(other))

    queued_at = re.search(r"Refresh of alpha-desk queued at (\d\d:\d\d:\d\d)", first).group(1)
    assert f"A refresh of alpha-desk was already queued at {queued_at}" in again
    until = re.search(r"it is not queued again before (\d\d:\d\d:\d\d)", again).group(1)
    clock = [datetime.strptime(t, "%H:%M:%S") for t in (queued_at, until)]
    assert (clock[1] - clock[0]) % timedelta(days=1) == timedelta(seconds=15)
    # One task per account: the repeat is refused, another account's click is not.
    assert sorted(args[0] for _, args, _ in _queued(broker)) == sorted([account.pk, other.pk])


def test_a_refresh_that_could_not_be_queued_can_be_retried_at_once(client, broker, monkeypatch):
    account = Account.objects.create(name="alpha-desk")
    client.force_login(make_user("operator"))

    def broker_down(*args, **kwargs):
        raise BrokerError("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.refresh_account, "apply_async", broker_down)
        failed = client.post(_url(account), follow=True).content.decode()
    retried = client.post(_url(account), follow=True).content.decode()

    assert "could not be queued: the broker does not answer" in failed
    assert "Refresh of alpha-desk queued at" in retried
    assert [args[0] for _, args, _ in _queued(broker)] == [account.pk]


def test_a_second_click_after_the_refresh_landed_says_the_page_shows_it(client, broker):
    account = Account.objects.create(name="alpha-desk")
    client.force_login(make_user("operator"))

    client.post(_url(account))
    Snapshot.objects.create(account=account, cycle=1, taken_at=timezone.now())  # the worker's reading
    again = client.post(_url(account), follow=True).content.decode()

    assert "alpha-desk was refreshed after the request of" in again
    assert "the data on this page is that reading" in again
    assert len(_queued(broker)) == 1
