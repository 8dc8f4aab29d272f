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
    assert "Refused (passphrase), OKX code 50105: The passphrase is incorrect for this API key." in text
    assert "Step 1: Enter the passphrase that was set when this API key was created" in text
    assert_nothing_changed(master, before)


def test_rotation_refuses_a_demo_key_for_a_live_account(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2), env="demo")
    before = master.active_credential()
    text = page_text(rotate(admin_client, master, fake_key_set(2)))
    assert "Refused (environment), OKX code 50101" in text
    assert "demo key on live" in text
    assert "main is live trading: paste a live-trading key" in text
    assert "tick 'demo'" not in text
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


def test_twelve_wrong_passwords_lock_key_actions_even_for_the_right_one(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2))
    before = master.active_credential()
    for attempt in range(12):
        response = rotate(admin_client, master, fake_key_set(2), password=f"wrong-password-{attempt}")
        assert response.status_code == 200  # the form says so itself, not a bare lockout page
    calls = calls_to(simulator, CONFIG)
    text = page_text(rotate(admin_client, master, fake_key_set(2)))
    assert "Too many wrong passwords: key actions are locked for your user for 15 minutes" in text
    assert calls_to(simulator, CONFIG) == calls  # nothing asked of OKX either
    assert_nothing_changed(master, before)
    # The same lockout as the login: this user cannot sign in from here now either.
    user = AuditEvent.objects.filter(action=AuditAction.REAUTH_FAILED).first().actor
    admin_client.logout()
    login = admin_client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert login.status_code == 429


def test_rotating_to_the_key_already_in_use_is_refused(simulator, master, admin_client):
    before = master.active_credential()
    calls = calls_to(simulator, CONFIG)
    text = page_text(rotate(admin_client, master, fake_key_set(1)))
    assert "This key (…0001) is already in use for main; nothing to rotate." in text
    assert "Now delete" not in text
    assert calls_to(simulator, CONFIG) == calls
    assert_nothing_changed(master, before)
    refusal = AuditEvent.objects.get(action=AuditAction.VALIDATION_FAILED)
    assert refusal.detail.startswith("same_key")


def test_after_a_refusal_only_the_secret_and_passphrase_are_typed_again(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2))
    keys = fake_key_set(2)
    refused = rotate(admin_client, master, {**keys, "passphrase": "Wrong-Pass-0000"})
    text = page_text(refused)
    assert "Refused (passphrase), OKX code 50105" in text
    assert "Kept from your last attempt: the key ending …0002" in text
    assert keys["api_key"] not in refused.content.decode()  # kept server-side, never in the page
    response = rotate(admin_client, master, {**keys, "api_key": ""})
    assert "is now active" in page_text(response)
    assert master.active_credential().fingerprint == "0002"
    # Used once: the next form asks for a key again.
    again = admin_client.get(reverse("admin:accounts_account_rotate", args=[master.pk]))
    assert "Kept from your last attempt" not in page_text(again)


def test_format_notes_are_shown_as_warnings_not_successes(simulator, master, admin_client):
    register_key(simulator, master.uid, fake_key_set(2))
    keys = {**fake_key_set(2), "api_key": "FAKE0000TESTKEY0SET0000000000000002"}  # not UUID-like
    register_key(simulator, master.uid, keys)
    text = page_text(rotate(admin_client, master, keys))
    assert '<li class="warning">API key is not a 36-character UUID-like key' in text
    assert '<li class="info">' not in text


def test_the_encryption_keys_table_is_on_the_credentials_page_not_the_rotate_form(master, admin_client):
    rotate_page = page_text(admin_client.get(reverse("admin:accounts_account_rotate", args=[master.pk])))
    assert "Encryption keys" not in rotate_page
    credentials_page = page_text(admin_client.get(reverse("admin:accounts_credential_changelist")))
    assert "Encryption keys" in credentials_page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_key_action_pages_in_a_browser(live_server, simulator):
    """The rotate form, its result and an add-account refusal at 1366 and 390 px (screenshots for
    a person): the refusal shows OKX's code, and the result names the retired key, never the new."""
    from tests.accounts_support import ensure_roles
    from tests.browser import chromium, screenshot_path, sign_in

    ensure_roles()
    uid = simulator.scenario.master.uid
    register_key(simulator, uid, fake_key_set(1))
    account = sim_account(simulator, uid=uid)
    install(account, fake_key_set(1), label="old read key")
    for n in (2, 3):
        register_key(simulator, uid, fake_key_set(n), perm="read_only,trade")
    user = make_user("key_admin")
    rotate_url = f"{live_server.url}{reverse('admin:accounts_account_rotate', args=[account.pk])}"
    add_url = f"{live_server.url}{reverse('admin:accounts_account_add')}"
    with chromium() as browser:
        for width, n in ((1366, 2), (390, 3)):
            tab = browser.new_page(viewport={"width": width, "height": 900})
            sign_in(tab, live_server.url, user.username, PASSWORD)
            tab.goto(rotate_url)
            assert "Encryption keys" not in tab.content()
            tab.screenshot(path=str(screenshot_path(f"rotate_form_{width}")), full_page=True)
            tab.fill("#id_password", PASSWORD)
            for field, value in fake_key_set(n).items():
                tab.fill(f"#id_{field}", value)
            tab.click("input[type=submit].default")
            tab.wait_for_selector("text=is now active")
            text = tab.inner_text("#content-main")
            assert f"Now delete the old key …{n - 1:04d}" in text
            assert f"delete the old key …{n:04d}" not in text
            tab.screenshot(path=str(screenshot_path(f"rotate_done_{width}")), full_page=True)
            tab.goto(add_url)
            tab.fill("#id_name", f"new-{width}")
            tab.fill("#id_base_url", simulator.url)
            tab.fill("#id_api_key", fake_key_set(n)["api_key"])
            tab.fill("#id_secret_key", fake_key_set(n)["secret_key"])
            tab.fill("#id_passphrase", "Wrong-Pass-0000")
            tab.click("input[name=_save]")
            tab.wait_for_selector("text=OKX code 50105")
            assert f"kept: …{n:04d}" == tab.get_attribute("#id_api_key", "placeholder")
            tab.screenshot(path=str(screenshot_path(f"add_refused_{width}")), full_page=True)
            tab.close()


def host_change(client, account, password=PASSWORD, **extra):
    url = reverse("admin:accounts_account_host", args=[account.pk])
    return client.post(url, {"password": password, "region": "eea", "base_url": ""}, **extra)


def test_wrong_key_action_passwords_count_per_user_whatever_the_address(
    simulator, master, admin_client, settings
):
    """Issue 18 finding 5: the person is signed in already, so each guess may come from another
    address; the count is the user's, and the lock holds from every address until the cool-off."""
    register_key(simulator, master.uid, fake_key_set(2))
    before = master.active_credential()
    for attempt in range(30):
        address = {"REMOTE_ADDR": f"198.51.100.{attempt + 1}"}
        response = rotate(admin_client, master, fake_key_set(2), password=f"wrong-{attempt}", **address)
        assert response.status_code == 200
        if attempt + 1 >= settings.AXES_FAILURE_LIMIT:
            assert "Too many wrong passwords" in page_text(response)
    calls = calls_to(simulator, CONFIG)
    for address in ("203.0.113.9", "192.0.2.77"):  # addresses that never typed a wrong password
        text = page_text(rotate(admin_client, master, fake_key_set(2), REMOTE_ADDR=address))
        assert "Too many wrong passwords" in text and "is now active" not in text
        text = page_text(host_change(admin_client, master, REMOTE_ADDR=address))
        assert "Too many wrong passwords" in text
    assert calls_to(simulator, CONFIG) == calls
    assert_nothing_changed(master, before)
    master.refresh_from_db()
    assert master.region == "global"


def test_key_action_password_failures_below_the_limit_from_many_addresses_then_the_right_one(
    simulator, master, admin_client, settings
):
    register_key(simulator, master.uid, fake_key_set(2))
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        rotate(
            admin_client,
            master,
            fake_key_set(2),
            password=f"wrong-{attempt}",
            REMOTE_ADDR=f"198.51.100.{attempt + 1}",
        )
    text = page_text(rotate(admin_client, master, fake_key_set(2), REMOTE_ADDR="203.0.113.9"))
    assert "is now active" in text
