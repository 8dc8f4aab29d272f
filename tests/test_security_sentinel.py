"""One sentinel credential set through every path a credential takes (add with its live check,
key check, refresh by a real Celery worker, errors, rotation, retirement, encryption-key
rotation, a report e-mail), then a search of everywhere a secret could land: a full database
dump, every Redis key (broker queues and unacknowledged messages, decoded), every log line of
this process and of the worker, every page and API response, every e-mail, every Celery message
sent, and Django's error report for a failed POST that carried the secrets. None may hold a
sentinel, raw or base64."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, time
from io import StringIO

import pytest
import redis
from celery.signals import before_task_publish
from cryptography.fernet import Fernet
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils.log import AdminEmailHandler

from accounts.models import Account
from dashboard.runtime.launcher import stop
from reports.delivery import deliver_slot
from reports.models import ReportSchedule
from snapshots.models import Snapshot
from snapshots.tasks import refresh_account
from tests.accounts_support import PASSWORD, make_user, register_key
from tests.reliability_support import logged_worker
from tests.test_accounts_secrets import Pages, forms_of
from tests.test_workers_celery import wait_until

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def sentinel_set(n: int) -> dict[str, str]:
    """Obvious fakes in OKX's shapes: a UUID-like key, 32 uppercase hex digits, a passphrase."""
    return {
        "api_key": f"SENTINEL-APIK-EY00-0000-{n:012d}",
        "secret_key": f"0BADC0DE{n:024X}",
        "passphrase": f"Sentinel-Pass-{n:04d}",
    }


def database_dump() -> str:
    """The whole database as SQL: sqlite3's iterdump, or pg_dump of the test database."""
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    s = connection.settings_dict
    args = [
        "pg_dump",
        "-h",
        s["HOST"] or "127.0.0.1",
        "-p",
        str(s["PORT"] or 5432),
        "-U",
        s["USER"],
        s["NAME"],
    ]
    dump = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
    return dump.stdout


def redis_dump(url: str) -> str:
    """Every key and value; Celery message bodies decoded from their base64 envelope."""
    client = redis.Redis.from_url(url)
    chunks = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        values = {
            "string": lambda k: [client.get(k)],
            "list": lambda k: client.lrange(k, 0, -1),
            "hash": lambda k: [v for pair in client.hgetall(k).items() for v in pair],
            "set": lambda k: list(client.smembers(k)),
            "zset": lambda k: client.zrange(k, 0, -1),
        }.get(kind, lambda k: [])(key)
        chunks += [key.decode(errors="replace"), *(_decoded(v) for v in values if v is not None)]
    return "\n".join(chunks)


def _decoded(value: bytes) -> str:
    text = value.decode(errors="replace")
    try:
        message = json.loads(text)
        if isinstance(message, list):  # the unacked hash holds [message, exchange, routing key]
            message = message[0]
        body = base64.b64decode(message["body"]).decode(errors="replace")
    except (ValueError, KeyError, TypeError, IndexError):
        return text
    return f"{text}\n{body}"


def every_page(pages: Pages, account: Account, report_id: int) -> None:
    names = [
        "pages:overview", "pages:overview_fragment", "pages:keys", "pages:errors", "api:accounts",
        "api:accounts_csv", "api:keys", "api:errors", "api:schema", "reports:list", "reports:balances_at",
        "alerts:index",
    ]  # fmt: skip
    for name in names:
        pages.get(reverse(name))
    pages.get(reverse("pages:account", args=[account.pk]) + "?range=all")
    for name in ("api:account", "api:balances", "api:balances_csv", "api:positions", "api:equity"):
        pages.get(reverse(name, args=[str(account.pk)]))
    for name in ("reports:detail", "reports:email", "reports:csv"):
        pages.get(reverse(name, args=[report_id]))
    for model in ("account", "credential", "auditevent"):
        pages.get(reverse(f"admin:accounts_{model}_changelist"))
    pages.get(reverse("admin:accounts_account_change", args=[account.pk]))


def error_report_for(response) -> None:
    """Django's 500 e-mail for the request a credential view just processed, with DEBUG off."""
    try:
        raise RuntimeError("a failure while the request held a credential set")
    except RuntimeError:
        record = logging.LogRecord("django.request", logging.ERROR, __file__, 0, "boom", None, sys.exc_info())
    record.request = response.wsgi_request
    record.status_code = 500
    AdminEmailHandler(include_html=True).emit(record)


@pytest.fixture
def celery_messages():
    sent: list[str] = []

    def keep(body=None, headers=None, **kwargs):
        sent.append(repr(body) + repr(headers))

    before_task_publish.connect(keep, weak=False)
    yield sent
    before_task_publish.disconnect(keep)


@pytest.mark.django_db(transaction=True)
def test_sentinel_secrets_appear_nowhere_after_every_path(
    client, simulator, caplog, redis_url, tmp_path, settings, celery_messages
):
    caplog.set_level(logging.DEBUG)
    settings.ADMINS = [("admin", "admin@example.com")]
    first, second = sentinel_set(1), sentinel_set(2)
    master_uid = simulator.scenario.master.uid
    register_key(simulator, master_uid, first)
    register_key(simulator, master_uid, second)
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    pages = Pages(client)

    # Add (the form makes its live check), then the key check.
    form = {
        "name": "main",
        "kind": "master",
        "environment": "live",
        "region": "global",
        "base_url": simulator.url,
    }
    added = pages.post(reverse("admin:accounts_account_add"), {**form, **first})
    account = Account.objects.get(name="main")
    error_report_for(added)
    call_command("check_keys", stdout=StringIO())

    # Refresh by a real worker (its log is kept), then errors from the exchange.
    queue = f"test-{uuid.uuid4().hex}"
    worker = logged_worker(redis_url, queue, tmp_path / "worker.log", concurrency=1)
    try:
        refresh_account.apply_async((account.pk, 1), queue=queue)
        wait_until(lambda: Snapshot.objects.filter(account=account).exists(), "the worker's refresh")
        simulator.inject_fault("/api/v5/account/balance", code="50113", times=1)
        simulator.inject_fault("/api/v5/account/positions", body="<html>proxy error</html>", http_status=502)
        refresh_account.apply_async((account.pk, 2), queue=queue)
        wait_until(lambda: account.api_errors.count() >= 1, "the errors to be recorded")
        refresh_account.apply_async((account.pk, 3), queue=queue)
        wait_until(
            lambda: Snapshot.objects.filter(account=account).count() >= 2, "a refresh after the errors"
        )
    finally:
        stop([worker])

    # Rotate (a refused attempt first), a report e-mail, every page, then retire.
    rotate_url = reverse("admin:accounts_account_rotate", args=[account.pk])
    pages.get(rotate_url)
    refused = pages.post(rotate_url, {"password": PASSWORD, **second, "passphrase": first["passphrase"]})
    error_report_for(refused)
    done = pages.post(rotate_url, {"password": PASSWORD, **second})
    assert account.active_credential().fingerprint == second["api_key"][-4:]
    schedule = ReportSchedule.objects.create(name="daily", time_of_day=time(8), recipients="team@example.com")
    deliver_slot(schedule.pk, datetime.now(tz=UTC).replace(microsecond=0))
    report = schedule.reports.get()
    every_page(pages, account, report.pk)
    credentials = reverse("admin:accounts_credential_changelist")
    pages.post(
        credentials, {"action": "retire_selected", "_selected_action": [account.active_credential().pk]}
    )

    # Encryption-key rotation: a new key first, the current one after it.
    rotated = StringIO()
    with override_settings(FERNET_KEYS=[Fernet.generate_key().decode(), *settings.FERNET_KEYS]):
        call_command("rotate_encryption_keys", stdout=rotated)

    report.refresh_from_db()
    assert done.status_code == 200 and report.status == "sent"
    assert mail.outbox, "no e-mail was sent: the e-mail check proves nothing"
    assert len(caplog.records) > 0 and celery_messages
    places = {
        "database": database_dump(),
        "redis": redis_dump(redis_url),
        "logs": caplog.text + "\n".join(repr(r.args) + repr(r.__dict__) for r in caplog.records),
        "worker log": (tmp_path / "worker.log").read_text(),
        "pages": "\n".join(pages.seen) + rotated.getvalue(),
        "e-mails": "\n".join(m.message().as_string() for m in mail.outbox),
        "celery messages": "\n".join(celery_messages),
    }
    assert "…0001" in places["pages"] and "…0002" in places["pages"]  # the search sees the pages
    # The error reports list the POST, with the credential fields masked by Django's filter.
    assert places["e-mails"].count("secret_key") >= 2 and "********************" in places["e-mails"]
    assert "okxdash:" in places["redis"] and "refresh_account" in places["celery messages"]
    for value in [*first.values(), *second.values()]:
        for form_of_value in forms_of(value):
            for place, text in places.items():
                assert form_of_value not in text, f"a sentinel ({value[:8]}…) appears in {place}"


def test_the_search_would_find_a_sentinel_in_a_celery_body_or_redis(redis_url):
    """The decoding above really looks inside broker messages."""
    client = redis.Redis.from_url(redis_url)
    key = f"okxdash:sentinel-check-{os.getpid()}"
    body = base64.b64encode(json.dumps([[sentinel_set(9)["api_key"]], {}, {}]).encode()).decode()
    client.rpush(key, json.dumps({"body": body, "properties": {"body_encoding": "base64"}}))
    try:
        assert sentinel_set(9)["api_key"] in redis_dump(redis_url)
    finally:
        client.delete(key)
