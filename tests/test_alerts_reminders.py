"""Reminders on the calendar: idle deletion 3 days and 1 day before OKX's deletion date, expiry
7 days and 1 day before the date entered, each once, with time-machine moving the days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from accounts.models import Account, Credential
from alerts.engine import deliver_due, evaluate
from alerts.models import AlertChannel, AlertSettings, ChannelKind
from tests.accounts_support import fake_key_set, install

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def only_key_reminders():
    """Days pass without refreshes here: the stale and refresh-stopped rules are not under test."""
    AlertSettings.objects.update_or_create(pk=1, defaults={"account_stale": False, "refresh_stopped": False})
    AlertChannel.objects.create(name="team mail", kind=ChannelKind.EMAIL, recipients="ops@example.com")


def key(**fields) -> Credential:
    with time_machine.travel(START, tick=False):
        account = Account.objects.create(name="desk")
        credential = install(account, fake_key_set(1))
    Credential.objects.filter(pk=credential.pk).update(**fields)
    return credential


def mails_per_day(days: int) -> dict[date, list[str]]:
    """Evaluate a few times on each day (as the every-minute task would) and collect the mail."""
    sent: dict[date, list[str]] = {}
    for day in range(days):
        for minutes in (0, 1, 600):
            with time_machine.travel(START + timedelta(days=day, minutes=minutes), tick=False):
                evaluate()
                deliver_due()
        sent[(START + timedelta(days=day)).date()] = [m.subject for m in mail.outbox]
        mail.outbox.clear()
    return {day: subjects for day, subjects in sent.items() if subjects}


def test_idle_deletion_reminders_fire_three_days_and_one_day_before_the_deletion_date_once_each():
    # A trade key without IP binding, last used at START: OKX deletes it on START + 14 days.
    key(permissions=["read_only", "trade"], ip_binding=[], last_success_at=START)
    sent = mails_per_day(18)  # through the deletion day and after it: nothing more
    assert sent == {
        date(2026, 3, 12): ["[OKX dashboard] Idle deletion on 2026-03-15: desk …0001"],
        date(2026, 3, 14): ["[OKX dashboard] Idle deletion on 2026-03-15: desk …0001"],
    }


def test_a_key_used_again_resolves_the_idle_reminder_with_one_recovered_message():
    credential = key(permissions=["trade"], ip_binding=[], last_success_at=START)
    assert len(mails_per_day(12)) == 1  # the 3-day reminder on 2026-03-12
    with time_machine.travel(START + timedelta(days=11, hours=2), tick=False):
        credential.record_success()
        evaluate()
        deliver_due()
    assert [m.subject for m in mail.outbox] == [
        "[OKX dashboard] Recovered: Idle deletion on 2026-03-15: desk …0001"
    ]


def test_read_only_and_ip_bound_keys_get_no_idle_reminder():
    key(permissions=["read_only"], ip_binding=[], last_success_at=START)
    with time_machine.travel(START, tick=False):
        other = install(Account.objects.create(name="bound"), fake_key_set(2))
    Credential.objects.filter(pk=other.pk).update(
        permissions=["trade"], ip_binding=["203.0.113.7"], last_success_at=START
    )
    assert mails_per_day(16) == {}


def test_expiry_reminders_fire_seven_days_and_one_day_before_the_date_once_each():
    key(expires_on=date(2026, 3, 11), permissions=["read_only"], ip_binding=["203.0.113.7"])
    sent = mails_per_day(14)
    assert sent == {
        date(2026, 3, 4): ["[OKX dashboard] Key expires 2026-03-11: desk …0001"],
        date(2026, 3, 10): ["[OKX dashboard] Key expires 2026-03-11: desk …0001"],
    }
