"""Alerts end to end: a key made to fail on the simulator, the real key check, the rules, and
every channel kind delivering to a real local HTTP receiver (and Django's locmem e-mail)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.keycheck import check_key
from alerts.engine import deliver_due, evaluate
from alerts.models import Alert, AlertSettings, AlertState, Delivery, DeliveryStatus
from tests.alerts_support import SECRETS, TELEGRAM_TOKEN, make_channels, receiver
from tests.workers_support import add_account, frozen, key_fields

pytestmark = pytest.mark.django_db

FROZEN_STEP = "Contact OKX customer support to unfreeze it"


@pytest.fixture
def hook():
    with receiver() as hook:
        yield hook


@pytest.fixture
def main_key(make_simulator):
    """The demo master with its own healthy key, checked once for real."""
    sim = make_simulator(frozen("demo"))
    account = add_account(sim, "main")
    credential = account.active_credential()
    assert check_key(credential.pk).status == "ok"
    return sim, credential


def run_cycle() -> None:
    evaluate()
    deliver_due()


def webhook_kinds(hook) -> dict[str, list]:
    return {kind: hook.to(f"/{kind}/") for kind in ("webhook", "slack")} | {
        "telegram": hook.to("/sendMessage")
    }


def test_a_key_that_turns_failing_alerts_once_per_channel_then_recovers_once(main_key, hook, caplog):
    caplog.set_level(logging.DEBUG)
    sim, credential = main_key
    make_channels(hook)
    run_cycle()
    assert hook.requests == [] and mail.outbox == []

    sim.freeze_key(key_fields(sim, "main")["api_key"])
    assert check_key(credential.pk).status == "failed"
    run_cycle()

    received = webhook_kinds(hook)
    assert [len(received[kind]) for kind in ("webhook", "slack", "telegram")] == [1, 1, 1]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ops@example.com"]
    texts = [
        received["webhook"][0].body["text"],
        received["slack"][0].body["text"],
        received["telegram"][0].body["text"],
        mail.outbox[0].body,
    ]
    for text in texts:
        assert "Diagnosis: key (OKX code 50100)" in text and "frozen" in text
        assert FROZEN_STEP in text
    assert received["webhook"][0].body["event"] == "firing"
    assert received["webhook"][0].body["rule"] == "key_failing"
    assert received["telegram"][0].path == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    assert received["telegram"][0].body["chat_id"] == "-100200300"
    assert set(received["slack"][0].body) == {"text"}

    # The same state again: a second key check and evaluation send nothing.
    assert check_key(credential.pk).status == "failed"
    run_cycle()
    assert len(hook.requests) == 3 and len(mail.outbox) == 1

    sim.freeze_key(key_fields(sim, "main")["api_key"], frozen=False)
    assert check_key(credential.pk).status == "ok"
    run_cycle()
    run_cycle()
    received = webhook_kinds(hook)
    assert [len(received[kind]) for kind in ("webhook", "slack", "telegram")] == [2, 2, 2]
    assert received["webhook"][1].body["event"] == "recovered"
    assert received["slack"][1].body["text"].startswith("RECOVERED: Key failing: main")
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith(
        "[OKX dashboard] Recovered: Key failing"
    )
    alert = Alert.objects.get()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "recovered")
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 8

    stored = " ".join(f"{d.subject} {d.text} {d.error}" for d in Delivery.objects.all())
    for secret in SECRETS:
        assert secret not in stored
        assert secret not in caplog.text


def test_a_receiver_answering_500_is_retried_with_backoff_and_the_failure_recorded(main_key, hook):
    sim, credential = main_key
    make_channels(hook)
    hook.statuses = [500, 500, 500, 500]  # the webhook, Slack and Telegram first attempts, then one retry
    sim.freeze_key(key_fields(sim, "main")["api_key"])
    check_key(credential.pk)
    run_cycle()

    failed = Delivery.objects.exclude(channel_name="team mail")
    assert {(d.status, d.attempts, d.http_status) for d in failed} == {(DeliveryStatus.RETRYING, 1, 500)}
    webhook = failed.get(channel_name="generic hook")
    assert webhook.error == 'receiver answered HTTP 500: {"ok": true}'
    first_retry = webhook.next_attempt_at

    run_cycle()  # not due yet: nothing is sent again
    assert len(hook.requests) == 3

    with time_machine.travel(first_retry + timedelta(seconds=1), tick=False):
        run_cycle()
    assert len(hook.requests) == 6
    webhook.refresh_from_db()
    outcomes = {d.channel_name: (d.status, d.attempts) for d in Delivery.objects.all()}
    assert sorted(outcomes.values()).count((DeliveryStatus.SENT, 2)) == 2
    assert sorted(outcomes.values()).count((DeliveryStatus.RETRYING, 2)) == 1
    retrying = Delivery.objects.get(status=DeliveryStatus.RETRYING)
    # Exponential: the second wait is twice the first.
    assert retrying.next_attempt_at - first_retry >= timedelta(minutes=2)

    with time_machine.travel(retrying.next_attempt_at + timedelta(seconds=1), tick=False):
        run_cycle()
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 4
    assert len(Alert.objects.filter(state=AlertState.FIRING)) == 1


def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_attempt(main_key, hook):
    sim, credential = main_key
    channels = make_channels(hook)
    channels["email"].delete()
    # Hours pass without a refresh: only the key's alert is under test here.
    AlertSettings.objects.update_or_create(pk=1, defaults={"account_stale": False, "refresh_stopped": False})
    hook.status = 503
    sim.freeze_key(key_fields(sim, "main")["api_key"])
    check_key(credential.pk)
    now = timezone.now()
    for _ in range(10):
        with time_machine.travel(now, tick=False):
            run_cycle()
        now += timedelta(hours=1)
    assert {(d.status, d.attempts, d.http_status) for d in Delivery.objects.all()} == {
        (DeliveryStatus.FAILED, 6, 503)
    }
    assert len(hook.requests) == 18


def test_an_unreachable_webhook_is_recorded_without_its_url(main_key, hook):
    sim, credential = main_key
    channels = make_channels(hook)
    channels["webhook"].set_url(f"http://127.0.0.1:9/webhook/{SECRETS[0]}")  # discard port: refused
    channels["webhook"].save()
    hook.status, hook.reply = 400, f'{{"description": "Bad Request: token {TELEGRAM_TOKEN} unknown"}}'
    sim.freeze_key(key_fields(sim, "main")["api_key"])
    check_key(credential.pk)
    run_cycle()
    webhook = Delivery.objects.get(channel_name="generic hook")
    assert (webhook.status, webhook.error) == (DeliveryStatus.RETRYING, "could not connect")
    telegram = Delivery.objects.get(channel_name="telegram chat")
    # A client error will not change on a retry: given up at once; the reply echoed the token,
    # so only the status is kept (tests/test_alerts_secret_replies.py has every form of echo).
    assert telegram.status == DeliveryStatus.FAILED
    assert telegram.error == "receiver answered HTTP 400 (reply not kept: it may quote the channel's secret)"
    channels["webhook"].refresh_from_db()
    for secret in SECRETS:
        assert secret not in telegram.error
        assert secret not in channels["webhook"].last_error
