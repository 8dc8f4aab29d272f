from __future__ import annotations

import html
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.audit import AuditAction, AuditEvent
from accounts.models import Account, AccountKind, Credential, CredentialStatus, Environment, NoCredential
from tests.accounts_support import calls_to, fake_key_set, install, make_user, register_key, sim_account

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
ENV = {"api_key": "OKX_API_KEY", "secret_key": "OKX_SECRET_KEY", "passphrase": "OKX_PASSPHRASE"}


def add_form(simulator, keys, **fields):
    data = {
        "name": "main",
        "kind": "master",
        "environment": "live",
        "region": "global",
        "base_url": simulator.url,
    }
    return {**data, **keys, **fields}


def test_the_admin_add_page_checks_the_key_and_stores_the_uid_from_okx(client, simulator):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    master_uid = simulator.scenario.master.uid
    register_key(simulator, master_uid, fake_key_set(1), perm="read_only,trade", ip="127.0.0.1")
    response = client.post(reverse("admin:accounts_account_add"), add_form(simulator, fake_key_set(1)))
    assert response.status_code == 302
    account = Account.objects.get(name="main")
    assert account.uid == master_uid
    credential = account.active_credential()
    assert credential.permissions == ["read_only", "trade"]
    assert credential.ip_binding == ["127.0.0.1"]
    assert credential.label == "test key"  # OKX's note, since none was entered
    assert credential.created_by is not None
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == [AuditAction.ACCOUNT_ADD, AuditAction.CREDENTIAL_ADD]


def test_the_admin_add_page_stores_nothing_when_okx_refuses(client, simulator):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    response = client.post(reverse("admin:accounts_account_add"), add_form(simulator, fake_key_set(9)))
    assert response.status_code == 200
    text = html.unescape(response.content.decode())
    assert "Refused (key), OKX code 50119" in text
    assert "Step 1:" in text
    assert not Account.objects.exists()
    assert not Credential.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.VALIDATION_FAILED).count() == 1


def test_the_add_form_never_renders_a_secret_back(client, simulator):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    keys = fake_key_set(9)
    response = client.post(reverse("admin:accounts_account_add"), add_form(simulator, keys))
    page = response.content.decode()
    assert 'type="password"' in page
    for value in keys.values():
        assert value not in page


def test_a_master_key_is_refused_for_a_sub_account_and_a_sub_key_for_a_master(simulator):
    from accounts.forms import AccountAddForm

    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    register_key(simulator, simulator.scenario.account("alpha-desk").uid, fake_key_set(2))
    as_sub = AccountAddForm(data=add_form(simulator, fake_key_set(1), kind="sub"))
    assert not as_sub.is_valid()
    assert "belongs to a master account" in str(as_sub.errors)
    as_master = AccountAddForm(data=add_form(simulator, fake_key_set(2)))
    assert not as_master.is_valid()
    assert "belongs to a sub-account" in str(as_master.errors)


def test_add_account_reads_the_secrets_from_the_environment(simulator, monkeypatch):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    for field, var in ENV.items():
        monkeypatch.setenv(var, fake_key_set(1)[field])
    out, err = StringIO(), StringIO()
    call_command(
        "add_account", "main", "--kind", "master", "--base-url", simulator.url, stdout=out, stderr=err
    )
    assert "Added main (UID 700000000000000001) with key …0001." in out.getvalue()
    assert "FAKE" not in out.getvalue() + err.getvalue()
    account = Account.objects.get(name="main")
    assert account.active_credential().status == CredentialStatus.ACTIVE
    event = AuditEvent.objects.get(action=AuditAction.CREDENTIAL_ADD)
    assert event.actor_name.startswith("manage.py add_account")


def test_add_account_refuses_with_the_diagnosis_and_stores_nothing(simulator, monkeypatch):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1), env="demo")
    for field, var in ENV.items():
        monkeypatch.setenv(var, fake_key_set(1)[field])
    with pytest.raises(CommandError) as caught:
        call_command("add_account", "main", "--kind", "master", "--base-url", simulator.url)
    assert "Refused (environment), OKX code 50101" in str(caught.value)
    assert "Step 1:" in str(caught.value)
    assert not Account.objects.exists()


def test_add_account_accepts_a_demo_key_with_demo(simulator, monkeypatch):
    register_key(
        simulator, simulator.scenario.master.uid, fake_key_set(1), env="demo", perm="read_only,trade"
    )
    for field, var in ENV.items():
        monkeypatch.setenv(var, fake_key_set(1)[field])
    err = StringIO()
    call_command("add_account", "main", "--kind", "master", "--demo", "--base-url", simulator.url, stderr=err)
    assert Account.objects.get(name="main").environment == Environment.DEMO
    assert "14 days" not in err.getvalue()  # demo keys are not deleted for idleness


def test_add_account_needs_the_environment_variables_and_takes_no_secret_argument(monkeypatch):
    for var in ENV.values():
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(CommandError, match="OKX_API_KEY, OKX_SECRET_KEY, OKX_PASSPHRASE"):
        call_command("add_account", "main", "--kind", "master")
    with pytest.raises(CommandError):
        call_command("add_account", "main", "--kind", "master", "--api-key", "x")


def test_add_account_refuses_a_withdraw_key_without_allow_withdraw(simulator, monkeypatch):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1), perm="read_only,withdraw")
    for field, var in ENV.items():
        monkeypatch.setenv(var, fake_key_set(1)[field])
    with pytest.raises(CommandError, match="withdraw_unconfirmed"):
        call_command("add_account", "main", "--kind", "master", "--base-url", simulator.url)
    err = StringIO()
    call_command(
        "add_account", "main", "--kind", "master", "--base-url", simulator.url, "--allow-withdraw", stderr=err
    )
    assert "can WITHDRAW funds" in err.getvalue()
    assert "deletes it after 14 days" in err.getvalue()


def test_add_account_checks_a_sub_account_against_its_master(simulator, monkeypatch):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    install(sim_account(simulator, "main", uid=simulator.scenario.master.uid), fake_key_set(1))
    alpha_uid = simulator.scenario.account("alpha-desk").uid
    register_key(simulator, alpha_uid, fake_key_set(2))
    for field, var in ENV.items():
        monkeypatch.setenv(var, fake_key_set(2)[field])
    call_command(
        "add_account", "alpha", "--kind", "sub", "--master", "main", "--sub-acct", "alpha-desk",
        "--base-url", simulator.url, stdout=StringIO(),
    )  # fmt: skip
    alpha = Account.objects.get(name="alpha")
    assert (alpha.uid, alpha.master.name, alpha.kind) == (alpha_uid, "main", AccountKind.SUB)


def test_discovery_lists_every_sub_account_and_a_keyless_one_is_read_through_its_master(simulator):
    master_uid = simulator.scenario.master.uid
    register_key(simulator, master_uid, fake_key_set(1))
    master = sim_account(simulator, uid=master_uid)
    install(master, fake_key_set(1))
    assert master.discover_subaccounts() == (7, 0)
    assert master.discover_subaccounts() == (0, 7)
    delta = Account.objects.get(sub_acct_name="delta-nokey")
    assert (delta.uid, delta.kind, delta.base_url) == ("700000000000000104", AccountKind.SUB, simulator.url)
    client, sub_acct = delta.reading_client()
    assert sub_acct == "delta-nokey"
    assert client.get_subaccount_balance(sub_acct).total_eq > 0
    with pytest.raises(NoCredential):
        Account.objects.create(name="lonely", kind=AccountKind.SUB).reading_client()


def test_a_successful_signed_call_stamps_last_success_and_a_failed_one_does_not(simulator):
    master_uid = simulator.scenario.master.uid
    register_key(simulator, master_uid, fake_key_set(1))
    master = sim_account(simulator, uid=master_uid)
    credential = install(master, fake_key_set(1))
    assert credential.last_success_at is None
    simulator.inject_fault("/api/v5/account/config", code="50105")
    client = master.build_client()
    with pytest.raises(Exception, match="50105"):
        client.get_account_config()
    credential.refresh_from_db()
    assert credential.last_success_at is None
    client.get_account_config()
    credential.refresh_from_db()
    assert credential.last_success_at is not None
    assert calls_to(simulator, "/api/v5/account/config") >= 1


def add_page(client, simulator, keys, **fields):
    response = client.post(reverse("admin:accounts_account_add"), add_form(simulator, keys, **fields))
    return response, html.unescape(response.content.decode())


@pytest.fixture
def key_admin_client(client):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    return client


def test_a_sub_account_added_twice_is_refused_with_a_sentence(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    master = install(sim_account(simulator, "main", uid=simulator.scenario.master.uid), fake_key_set(1))
    master = master.account
    sim_account(simulator, "alpha", kind=AccountKind.SUB, master=master, sub_acct_name="alpha-desk")
    register_key(simulator, simulator.scenario.account("alpha-desk").uid, fake_key_set(2))
    fields = {"name": "alpha again", "kind": "sub", "master": master.pk, "sub_acct_name": "alpha-desk"}
    response, text = add_page(key_admin_client, simulator, fake_key_set(2), **fields)
    assert response.status_code == 200
    assert "main already has the account alpha for the OKX sub-account “alpha-desk”" in text
    assert "Constraint" not in text
    assert Account.objects.filter(sub_acct_name="alpha-desk").count() == 1


def test_a_demo_key_refusal_speaks_of_the_forms_dropdown_and_shows_okx_code(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1), env="demo")
    _, text = add_page(key_admin_client, simulator, fake_key_set(1))
    assert "Refused (environment), OKX code 50101" in text
    assert "choose “demo trading” under Environment" in text
    assert "tick 'demo'" not in text


def test_a_region_step_is_not_doubled(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1), env="demo")
    _, text = add_page(key_admin_client, simulator, fake_key_set(1))  # 50101 ends with the region step
    assert "Step 3: Check the account's region too: EEA users" in text
    assert "too: Check the region" not in text


def test_the_wrong_account_step_names_the_okx_sub_account(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    fields = {"name": "alpha", "kind": "sub", "sub_acct_name": "alpha-desk", "confirm_uid": ""}
    _, text = add_page(key_admin_client, simulator, fake_key_set(1), **fields)
    assert "belongs to a master account" in text
    assert "paste the key created in the OKX sub-account “alpha-desk”" in text


def test_after_a_refusal_the_api_key_is_kept_and_never_shown(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    keys = fake_key_set(1)
    response, text = add_page(key_admin_client, simulator, {**keys, "passphrase": "Wrong-Pass-0000"})
    assert "Refused (passphrase), OKX code 50105" in text
    assert "Kept from your last attempt: the key ending …0001" in text
    for value in keys.values():
        assert value not in response.content.decode()
    response, _ = add_page(key_admin_client, simulator, {**keys, "api_key": ""})
    assert response.status_code == 302
    assert Account.objects.get(name="main").active_credential().fingerprint == "0001"


def test_a_masters_page_has_a_discover_sub_accounts_button(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    master = sim_account(simulator, uid=simulator.scenario.master.uid)
    install(master, fake_key_set(1))
    page = key_admin_client.get(reverse("admin:accounts_account_change", args=[master.pk])).content.decode()
    url = reverse("admin:accounts_account_discover", args=[master.pk])
    assert f'action="{url}"' in page
    assert 'value="Discover sub-accounts"' in page
    response = key_admin_client.post(url)
    assert response.status_code == 302
    assert master.subaccounts.count() == 7
    assert AuditEvent.objects.filter(action=AuditAction.SUBACCOUNTS_DISCOVER).count() == 1
    sub = master.subaccounts.first()
    sub_page = key_admin_client.get(reverse("admin:accounts_account_change", args=[sub.pk])).content.decode()
    assert "Discover sub-accounts" not in sub_page


def kept_offered(text: str) -> bool:
    return "Kept from your last attempt" in text or "kept: …" in text


def refused_attempt(client, simulator, name: str) -> None:
    """One attempt for `name` that OKX refuses (wrong passphrase): its API key is kept."""
    keys = {**fake_key_set(1), "passphrase": "Wrong-Pass-0000"}
    _, text = add_page(client, simulator, keys, name=name)
    assert "Refused (passphrase), OKX code 50105" in text and kept_offered(text)


def test_a_fresh_add_form_never_offers_the_last_attempts_key(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    refused_attempt(key_admin_client, simulator, "newuser-test")
    fresh = html.unescape(key_admin_client.get(reverse("admin:accounts_account_add")).content.decode())
    assert not kept_offered(fresh)
    # The fresh form forgot it: the same name must paste the key again.
    response, text = add_page(
        key_admin_client, simulator, {**fake_key_set(1), "api_key": ""}, name="newuser-test"
    )
    assert response.status_code == 200 and "This field is required." in text and not kept_offered(text)
    assert not Account.objects.exists()


def test_the_kept_key_is_not_offered_or_used_for_another_account_name(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    refused_attempt(key_admin_client, simulator, "newuser-test")
    response, text = add_page(
        key_admin_client, simulator, {**fake_key_set(1), "api_key": ""}, name="other-desk"
    )
    assert response.status_code == 200 and "This field is required." in text and not kept_offered(text)
    assert not Account.objects.exists()
    # The refused attempt itself, submitted again, still gets it.
    response, _ = add_page(
        key_admin_client, simulator, {**fake_key_set(1), "api_key": ""}, name="newuser-test"
    )
    assert response.status_code == 302
    assert Account.objects.get(name="newuser-test").active_credential().fingerprint == "0001"


def test_the_kept_key_is_forgotten_after_success_and_after_fifteen_minutes(simulator, key_admin_client):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        refused_attempt(key_admin_client, simulator, "newuser-test")
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        keys = {**fake_key_set(1), "api_key": ""}
        response, text = add_page(key_admin_client, simulator, keys, name="newuser-test")
    assert response.status_code == 200 and "This field is required." in text and not kept_offered(text)
    refused_attempt(key_admin_client, simulator, "newuser-test")
    assert add_page(key_admin_client, simulator, fake_key_set(1), name="newuser-test")[0].status_code == 302
    _, text = add_page(key_admin_client, simulator, {**fake_key_set(1), "api_key": ""}, name="newuser-test")
    assert not kept_offered(text)
