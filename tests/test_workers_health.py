from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.health import HealthStatus, KeyFacts, Policy, key_warnings
from accounts.keycheck import check_key
from accounts.models import Account
from tests.workers_support import add_account, frozen

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(rotation_days=90, refresh_interval_s=60)


def codes_on(facts: KeyFacts, day: int) -> dict[str, str | None]:
    """The warnings on day `day` after START, computed at the frozen 'now'."""
    with time_machine.travel(START + timedelta(days=day), tick=False):
        return {w["code"]: w["date"] for w in key_warnings(facts, timezone.now(), POLICY)}


def test_idle_deletion_appears_after_seven_idle_days_with_okxs_deletion_date():
    facts = KeyFacts(permissions=frozenset({"read_only", "trade"}), last_success_at=START, created_at=START)
    assert "idle_deletion" not in codes_on(facts, 6)
    assert codes_on(facts, 7)["idle_deletion"] == "2026-03-15"


def test_idle_deletion_does_not_apply_to_ip_bound_read_only_or_demo_keys():
    old = START - timedelta(days=30)
    for facts in (
        KeyFacts(permissions=frozenset({"trade"}), ip_binding=("10.0.0.1",), last_success_at=old),
        KeyFacts(permissions=frozenset({"read_only"}), last_success_at=old),
        KeyFacts(permissions=frozenset({"trade"}), demo=True, last_success_at=old),
    ):
        assert "idle_deletion" not in codes_on(facts, 0)


def test_expires_soon_within_fourteen_days_then_expired_after_the_date():
    facts = KeyFacts(expires_on=date(2026, 3, 20))
    assert codes_on(facts, 4) == {"no_ip_binding": None}
    assert codes_on(facts, 5)["expires_soon"] == "2026-03-20"
    assert "expires_soon" in codes_on(facts, 19)  # the last day
    assert codes_on(facts, 20)["expired"] == "2026-03-20"


def test_rotation_is_due_once_the_key_is_older_than_the_policy():
    facts = KeyFacts(created_at=START, ip_binding=("10.0.0.1",))
    assert codes_on(facts, 90) == {}
    assert codes_on(facts, 91) == {"rotation_due": "2026-05-30"}


def test_clock_skew_over_five_seconds_either_way():
    assert "clock_skew" not in codes_on(KeyFacts(clock_offset_ms=5000), 0)
    assert "clock_skew" in codes_on(KeyFacts(clock_offset_ms=5001), 0)
    assert "clock_skew" in codes_on(KeyFacts(clock_offset_ms=-7000), 0)


def test_stale_after_two_refresh_intervals_without_a_successful_refresh():
    # The pages' definition (accounts.health.is_stale): one late cycle is normal, two are not.
    facts = KeyFacts(last_refresh_at=START, ip_binding=("10.0.0.1",))
    with time_machine.travel(START + timedelta(minutes=2), tick=False):
        assert key_warnings(facts, timezone.now(), POLICY) == []
    with time_machine.travel(START + timedelta(minutes=2, seconds=1), tick=False):
        assert [w["code"] for w in key_warnings(facts, timezone.now(), POLICY)] == ["stale"]


def test_withdraw_and_unknown_keys_are_reported_with_severity():
    facts = KeyFacts(
        permissions=frozenset({"withdraw"}), ip_binding=("1.2.3.4",), unknown_keys=("…ab12 (bot)",)
    )
    with time_machine.travel(START, tick=False):
        warnings = key_warnings(facts, timezone.now(), POLICY)
    assert [(w["code"], w["severity"]) for w in warnings] == [
        ("withdraw_enabled", "danger"),
        ("unknown_key", "warning"),
    ]
    assert "…ab12 (bot)" in warnings[1]["message"]


# --- against the simulator (real time: the client signs with the real clock) -------------------
@pytest.fixture
def sim(make_simulator):
    return make_simulator(frozen())


@pytest.mark.django_db
def test_a_key_check_records_permissions_skew_and_the_okx_creation_time_of_a_sub_key(sim):
    master = add_account(sim, "main")
    gamma = add_account(sim, "gamma-mm", master=master)
    sim.set_clock_offset(8000)

    outcome = check_key(gamma.active_credential().pk)

    credential = gamma.active_credential()
    assert outcome.status == "ok"
    assert credential.permissions == ["read_only", "trade"]
    assert credential.ip_binding == []
    assert abs(credential.clock_offset_ms - 8000) < 1000
    # The scenario created the key 40 days before the simulator started (moments ago).
    assert sim.scenario.keys_of("gamma-mm")[0].created == "-40d"
    assert abs(credential.okx_created_at - (timezone.now() - timedelta(days=40))) < timedelta(hours=1)
    codes = {w["code"] for w in credential.warnings}
    assert {"clock_skew", "no_ip_binding"} <= codes
    assert "unknown_key" not in codes
    assert credential.health_status == HealthStatus.OK


@pytest.mark.django_db
def test_a_key_okx_lists_for_the_subaccount_that_we_do_not_hold_is_reported(sim):
    master = add_account(sim, "main")
    alpha = add_account(sim, "alpha-desk", master=master)
    uid = sim.scenario.account("alpha-desk").uid
    sim.add_key(
        uid=uid,
        api_key="extra-key-0000-zz99",
        secret_key="s" * 32,
        passphrase="p",
        label="bot",
        perm="read_only,trade",
        created="-1d",
    )

    check_key(alpha.active_credential().pk)

    unknown = [w for w in alpha.active_credential().warnings if w["code"] == "unknown_key"]
    assert len(unknown) == 1 and "zz99" in unknown[0]["message"] and "bot" in unknown[0]["message"]


@pytest.mark.django_db
def test_a_key_that_answers_for_another_uid_is_failing_with_its_own_message(sim):
    account = add_account(sim, "main")
    Account.objects.filter(pk=account.pk).update(uid="700000000000000999")

    outcome = check_key(account.active_credential().pk)

    credential = account.active_credential()
    assert outcome.status == "failed"
    assert credential.health_status == HealthStatus.FAILING
    assert "700000000000000001" in credential.health_message
    assert any(w["code"] == "uid_mismatch" for w in credential.warnings)


@pytest.mark.django_db
def test_idle_deletion_shows_up_in_a_check_once_the_key_sat_idle(sim):
    master = add_account(sim, "main")
    gamma = add_account(sim, "gamma-mm", master=master)
    credential = gamma.active_credential()
    credential.__class__.objects.filter(pk=credential.pk).update(
        last_success_at=timezone.now() - timedelta(days=8)
    )
    # The check itself is a signed call: the key is used again, and the warning goes away.
    check_key(credential.pk)
    credential.refresh_from_db()
    assert credential.last_success_at > timezone.now() - timedelta(minutes=1)
    assert "idle_deletion" not in {w["code"] for w in credential.warnings}
