from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.health import HealthStatus
from accounts.history import ApiError, ErrorAcknowledgement
from accounts.models import Credential
from okxapi import OkxError, diagnose
from snapshots.refresh import refresh_account
from tests.workers_support import add_account, frozen, key_fields

pytestmark = pytest.mark.django_db

BALANCE = "/api/v5/account/balance"


@pytest.fixture
def sim(make_simulator):
    return make_simulator(frozen())


def test_an_injected_busy_error_lands_in_the_history_diagnosed_and_repeats_collapse(sim):
    account = add_account(sim, "main")
    sim.inject_fault(BALANCE, code="50013", times=None)

    first = refresh_account(account.pk, cycle=1)
    refresh_account(account.pk, cycle=2)

    assert (first.status, first.category, first.transient) == ("failed", "exchange_busy", True)
    row = ApiError.objects.get()
    expected = diagnose("50013")
    assert (row.account, row.endpoint, row.code, row.category) == (account, BALANCE, "50013", "exchange_busy")
    assert (row.meaning, row.steps) == (expected.meaning, list(expected.steps))
    assert row.http_status == 429  # as the simulator (and OKX's table) serve 50013
    # The client tries each read 3 times, two refreshes: six failed calls, one row.
    assert row.count == 6
    assert row.credential.health_status == HealthStatus.GRACE


def test_a_permanent_error_marks_the_key_failing_at_once(sim):
    account = add_account(sim, "main")
    sim.freeze_key(key_fields(sim, "main")["api_key"])

    outcome = refresh_account(account.pk, cycle=1)

    assert (outcome.status, outcome.category, outcome.transient) == ("failed", "key", False)
    row = ApiError.objects.get()
    assert (row.code, row.category, row.count) == ("50100", "key", 1)
    credential = account.active_credential()
    assert credential.health_status == HealthStatus.FAILING
    assert "frozen" in credential.health_message


def test_each_distinct_injected_error_gets_its_own_row_with_its_category(sim):
    account = add_account(sim, "main")
    sim.inject_fault("/api/v5/account/positions", code="50110", times=1)
    sim.inject_fault(BALANCE, http_status=504, times=1)
    refresh_account(account.pk, cycle=1)  # the 504 is retried by the client, then 50110 fails
    rows = {row.endpoint: row for row in ApiError.objects.all()}

    assert (rows[BALANCE].category, rows[BALANCE].http_status, rows[BALANCE].code) == (
        "exchange_busy",
        504,
        "",
    )
    ip = rows["/api/v5/account/positions"]
    assert (ip.category, ip.code) == ("ip_whitelist", "50110")
    assert ip.steps and "whitelist" in ip.steps[0]


def test_a_transient_failure_turns_failing_only_after_the_grace_period(sim, settings):
    settings.GRACE_PERIOD_MINUTES = 15
    credential = add_account(sim, "main").active_credential()
    busy = OkxError(BALANCE, http_status=200, code="50013", message="Systems are busy")
    start = timezone.now()

    credential.note_failure(busy, now=start)
    credential.note_failure(busy, now=start + timedelta(minutes=14))
    credential.refresh_from_db()
    assert (credential.health_status, credential.failing_since) == (HealthStatus.GRACE, start)

    credential.note_failure(busy, now=start + timedelta(minutes=15))
    credential.refresh_from_db()
    assert credential.health_status == HealthStatus.FAILING


def test_a_successful_refresh_clears_grace_and_stamps_the_last_signed_call(sim):
    account = add_account(sim, "main")
    sim.inject_fault(BALANCE, code="50013", times=3)
    refresh_account(account.pk, cycle=1)
    assert account.active_credential().health_status == HealthStatus.GRACE

    assert refresh_account(account.pk, cycle=2).status == "ok"

    credential = account.active_credential()
    assert (credential.health_status, credential.failing_since) == (HealthStatus.OK, None)
    assert credential.last_success_at is not None


def test_the_same_error_after_an_hour_or_after_acknowledgement_starts_a_new_row(sim):
    account = add_account(sim, "main")
    credential = account.active_credential()
    busy = OkxError(BALANCE, http_status=200, code="50013", message="Systems are busy")
    start = timezone.now()
    ApiError.record(account.pk, credential.pk, busy, now=start)
    ApiError.record(account.pk, credential.pk, busy, now=start + timedelta(minutes=59))
    ApiError.record(account.pk, credential.pk, busy, now=start + timedelta(minutes=59 + 61))
    assert list(ApiError.objects.order_by("first_seen").values_list("count", flat=True)) == [2, 1]

    ApiError.objects.update(acknowledged=True)
    ApiError.record(account.pk, credential.pk, busy, now=start + timedelta(minutes=125))
    assert ApiError.objects.filter(acknowledged=False).count() == 1


def test_no_error_row_holds_a_secret(sim):
    account = add_account(sim, "main")
    secrets = key_fields(sim, "main")
    sim.inject_fault(BALANCE, code="50113", times=1)
    refresh_account(account.pk, cycle=1)  # fails at the balance: the signature is refused
    sim.inject_fault("/api/v5/account/positions", body="<html>oops</html>", http_status=403, times=1)
    refresh_account(account.pk, cycle=2)

    stored = " ".join(str(value) for row in ApiError.objects.values() for value in row.values())
    assert ApiError.objects.count() == 2
    assert secrets["secret_key"] not in stored and secrets["passphrase"] not in stored
    assert Credential.objects.count() == 1


# --- Acknowledging that lasts until the kind recovers (issue 18, item 7) ---------------------------
EARN = "/api/v5/asset/asset-valuation"


def test_an_acknowledged_kind_stays_acknowledged_while_failing_and_is_news_after_it_recovered(sim):
    account = add_account(sim, "main")
    sim.inject_fault(BALANCE, code="50013", times=3)  # the client's three attempts: the refresh fails
    assert refresh_account(account.pk, cycle=1).status == "failed"
    row = ApiError.objects.get()
    ErrorAcknowledgement.acknowledge(account.pk, [(row.category, row.code)], None, None)

    sim.inject_fault(BALANCE, code="50013", times=3)
    assert refresh_account(account.pk, cycle=2).status == "failed"
    assert ApiError.objects.unacknowledged().count() == 0
    assert ApiError.objects.get().count == 6  # recorded all the same

    assert refresh_account(account.pk, cycle=3).status == "ok"  # the balance answers: recovered
    assert not ErrorAcknowledgement.objects.exists()
    sim.inject_fault(BALANCE, code="50013", times=3)
    refresh_account(account.pk, cycle=4)
    assert ApiError.objects.unacknowledged().count() == 1


def test_an_acknowledged_earn_failure_stays_acknowledged_while_the_other_reads_succeed(sim):
    account = add_account(sim, "main")
    sim.inject_fault(EARN, code="50013", times=None)  # Earn fails every cycle, the rest answers
    assert refresh_account(account.pk, cycle=1).status == "ok"
    row = ApiError.objects.get(endpoint=EARN)
    ErrorAcknowledgement.acknowledge(account.pk, [(row.category, row.code)], None, None)

    for cycle in (2, 3):
        assert refresh_account(account.pk, cycle=cycle).status == "ok"
    assert ApiError.objects.unacknowledged().count() == 0
    assert ErrorAcknowledgement.objects.count() == 1

    sim.clear_faults()
    refresh_account(account.pk, cycle=4)  # Earn answers: its acknowledgement ends
    assert not ErrorAcknowledgement.objects.exists()
