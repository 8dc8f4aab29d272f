from __future__ import annotations

import html

import pytest
from django.urls import reverse

from accounts.audit import AuditAction, AuditEvent
from accounts.models import Account, AccountKind, Credential, CredentialStatus
from tests.accounts_support import (
    PASSWORD,
    calls_to,
    fake_key_set,
    install,
    make_user,
    register_key,
    sim_account,
)

pytestmark = pytest.mark.django_db

CONFIG = "/api/v5/account/config"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def master(simulator):
    """The scenario's master with a stored, working key (set 1)."""
    uid = simulator.scenario.master.uid
    register_key(simulator, uid, fake_key_set(1))
    account = sim_account(simulator, uid=uid)
    install(account, fake_key_set(1))
    return account


@pytest.fixture
def admin_client(client):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    return client


def rotate(client, account, keys, password=PASSWORD, **extra):
    url = reverse("admin:accounts_account_rotate", args=[account.pk])
    return client.post(url, {"password": password, **keys, **extra})


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def assert_nothing_changed(account, active_before):
    assert account.credentials.count() == 1
    assert account.active_credential().pk == active_before.pk
    assert account.active_credential().has_secrets
    assert not AuditEvent.objects.filter(action=AuditAction.CREDENTIAL_ROTATE).exists()


def test_rotation_refuses_a_key_of_another_uid_naming_it(simulator, master, admin_client):
    sub_uid = simulator.scenario.account("alpha-desk").uid
    register_key(simulator, sub_uid, fake_key_set(2))
    before = master.active_credential()
    response = rotate(admin_client, master, fake_key_set(2))
    assert response.status_code == 200
    text = page_text(response)
    assert "Refused (wrong_account)" in text
    assert f"This key belongs to UID {sub_uid}" in text
    assert_nothing_changed(master, before)
    failure = AuditEvent.objects.get(action=AuditAction.VALIDATION_FAILED)
    assert "wrong_account" in failure.detail
    assert failure.detail.endswith("…0002")


def test_rotation_refuses_a_wrong_passphrase_with_the_diagnosis(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2))
    before = master.active_credential()
    response = rotate(admin_client, master, {**fake_key_set(2), "passphrase": "Wrong-Pass-0000"})
    text = page_text(response)
    assert "Refused (passphrase): The passphrase is incorrect for this API key." in text
    assert "Step 1: Enter the passphrase that was set when this API key was created" in text
    assert_nothing_changed(master, before)


def test_rotation_refuses_a_demo_key_for_a_live_account(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2), env="demo")
    before = master.active_credential()
    text = page_text(rotate(admin_client, master, fake_key_set(2)))
    assert "Refused (environment)" in text
    assert "demo key on live" in text
    assert_nothing_changed(master, before)


def test_rotation_needs_the_admins_own_password_and_asks_okx_nothing_before(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2))
    before = master.active_credential()
    calls = calls_to(simulator, CONFIG)
    text = page_text(rotate(admin_client, master, fake_key_set(2), password="not-my-password"))
    assert "That is not your password." in text
    assert calls_to(simulator, CONFIG) == calls
    assert_nothing_changed(master, before)
    assert AuditEvent.objects.filter(action=AuditAction.REAUTH_FAILED).count() == 1


def test_a_successful_rotation_leaves_one_active_credential_and_one_event(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2), label="new read key")
    old = master.active_credential()
    events_before = AuditEvent.objects.count()
    response = rotate(admin_client, master, fake_key_set(2), label="rotated in")
    assert response.status_code == 200
    text = page_text(response)
    assert "Now delete the old key …0001" in text
    assert response["Cache-Control"] and "no-store" in response["Cache-Control"]

    active = Credential.objects.filter(account=master, status=CredentialStatus.ACTIVE)
    assert active.count() == 1
    assert active.get().fingerprint == "0002"
    assert active.get().label == "rotated in"
    assert active.get().permissions == ["read_only"]
    old.refresh_from_db()
    assert old.status == CredentialStatus.RETIRED
    assert (old.api_key_enc, old.secret_key_enc, old.passphrase_enc) == ("", "", "")
    assert old.fingerprint == "0001"  # metadata kept for history
    assert AuditEvent.objects.count() == events_before + 1
    event = AuditEvent.objects.get(action=AuditAction.CREDENTIAL_ROTATE)
    assert event.detail == "…0001 replaced by …0002"
    assert event.actor_name.startswith("key_admin-")
    assert event.ip == "127.0.0.1"


def test_the_next_call_after_rotation_uses_the_new_key(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2))
    held = master.build_client()  # a worker holding the old key finishes its call
    rotate(admin_client, master, fake_key_set(2))
    assert held.get_account_config().uid == master.uid
    simulator.delete_key(fake_key_set(1)["api_key"])
    assert Account.objects.get(pk=master.pk).build_client().get_account_config().uid == master.uid


def test_a_withdraw_key_needs_an_explicit_confirmation(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2), perm="read_only,withdraw", ip="127.0.0.1")
    text = page_text(rotate(admin_client, master, fake_key_set(2)))
    assert "Refused (withdraw_unconfirmed)" in text
    assert master.active_credential().fingerprint == "0001"
    text = page_text(rotate(admin_client, master, fake_key_set(2), allow_withdraw="on"))
    assert "can WITHDRAW funds" in text
    assert master.active_credential().fingerprint == "0002"


def test_a_trade_key_without_ip_binding_warns_of_idle_deletion(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2), perm="read_only,trade")
    text = page_text(rotate(admin_client, master, fake_key_set(2)))
    assert "deletes it after 14 days without a signed call" in text
    assert master.active_credential().idle_deletion_date() is not None


def test_pasted_whitespace_is_stripped_and_reported(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2))
    keys = {name: f"  {value}\n" for name, value in fake_key_set(2).items()}
    text = page_text(rotate(admin_client, master, keys))
    assert "API key: surrounding whitespace was removed." in text
    assert master.active_credential().fingerprint == "0002"


def test_inner_whitespace_is_refused_before_any_call(simulator, master, admin_client):
    calls = calls_to(simulator, CONFIG)
    keys = {**fake_key_set(2), "secret_key": "FAKE0000000000 00000000000000002"}
    text = page_text(rotate(admin_client, master, keys))
    assert "Secret key contains whitespace inside it" in text
    assert calls_to(simulator, CONFIG) == calls
    assert not AuditEvent.objects.filter(action=AuditAction.VALIDATION_FAILED).exists()


def test_a_sub_account_key_under_another_master_is_refused(simulator, admin_client):
    other = Account.objects.create(name="other-master", uid="900000000000000001", base_url=simulator.url)
    sub = Account.objects.create(name="sub", kind=AccountKind.SUB, master=other, base_url=simulator.url)
    register_key(simulator, simulator.scenario.account("alpha-desk").uid, fake_key_set(3))
    text = page_text(rotate(admin_client, sub, fake_key_set(3)))
    assert "not under other-master (UID 900000000000000001)" in text
    assert sub.credentials.count() == 0
    sub.refresh_from_db()
    assert sub.uid == ""


def test_a_first_key_for_a_discovered_sub_account_fills_in_its_uid(simulator, master, admin_client):
    sub = Account.objects.create(
        name="alpha", kind=AccountKind.SUB, master=master, sub_acct_name="alpha-desk", base_url=simulator.url
    )
    alpha_uid = simulator.scenario.account("alpha-desk").uid
    register_key(simulator, alpha_uid, fake_key_set(4))
    text = page_text(rotate(admin_client, sub, fake_key_set(4)))
    assert "is now active" in text
    sub.refresh_from_db()
    assert sub.uid == alpha_uid
    assert AuditEvent.objects.filter(action=AuditAction.CREDENTIAL_ADD).count() == 2
