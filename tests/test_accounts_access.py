"""Who may open which accounts page: anonymous, each role, a staff user of no group, a non-staff
viewer. Refusals are a redirect to the login page or a 403; nothing is done on a refusal."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.audit import AuditAction, AuditEvent
from accounts.models import Account
from tests.accounts_support import (
    fake_key_set,
    give_second_factor,
    install,
    make_user,
    register_key,
    sim_account,
)

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
WHO = ("anonymous", "nonstaff_viewer", "stranger", "viewer", "operator", "key_admin")
OK, LOGIN, FORBIDDEN = 200, "login", 403


def as_(client, who: str):
    if who == "nonstaff_viewer":
        client.force_login(make_user("viewer", staff=False), backend=MODEL_BACKEND)
    elif who != "anonymous":
        client.force_login(make_user(who), backend=MODEL_BACKEND)
    return client


def outcome(response) -> int | str:
    if response.status_code == 302 and "/login/" in response["Location"]:
        return LOGIN
    return response.status_code


@pytest.fixture
def account(simulator):
    uid = simulator.scenario.master.uid
    register_key(simulator, uid, fake_key_set(1))
    account = sim_account(simulator, uid=uid)
    install(account, fake_key_set(1))
    return account


EXPECTED_READ = {"anonymous": LOGIN, "nonstaff_viewer": LOGIN, "stranger": FORBIDDEN,
                 "viewer": OK, "operator": OK, "key_admin": OK}  # fmt: skip
EXPECTED_KEY_ADMIN_ONLY = {**EXPECTED_READ, "viewer": FORBIDDEN, "operator": FORBIDDEN}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("admin:accounts_account_changelist", EXPECTED_READ),
        ("admin:accounts_account_change", EXPECTED_READ),
        ("admin:accounts_credential_changelist", EXPECTED_READ),
        ("admin:accounts_account_add", EXPECTED_KEY_ADMIN_ONLY),
        ("admin:accounts_account_rotate", EXPECTED_KEY_ADMIN_ONLY),
        ("admin:accounts_auditevent_changelist", EXPECTED_KEY_ADMIN_ONLY),
    ],
)
def test_each_accounts_page_is_open_only_to_its_roles(client, account, who, page, expected):
    args = [account.pk] if page.endswith(("_change", "_rotate")) else []
    response = as_(client, who).get(reverse(page, args=args))
    assert outcome(response) == expected[who]


@pytest.mark.parametrize("who", WHO)
def test_only_a_key_admin_can_post_a_rotation(client, simulator, account, who):
    register_key(simulator, account.uid, fake_key_set(2))
    url = reverse("admin:accounts_account_rotate", args=[account.pk])
    response = as_(client, who).post(url, {"password": "x", **fake_key_set(2)})
    expected = EXPECTED_KEY_ADMIN_ONLY[who]
    assert outcome(response) == expected
    if expected != OK:
        assert account.active_credential().fingerprint == "0001"
        assert not AuditEvent.objects.filter(action=AuditAction.REAUTH_FAILED).exists()


@pytest.mark.parametrize("who", WHO)
def test_only_a_key_admin_can_discover_sub_accounts(client, account, who):
    url = reverse("admin:accounts_account_changelist")
    response = as_(client, who).post(
        url, {"action": "discover_subaccounts", "_selected_action": [account.pk]}
    )
    discovered = Account.objects.filter(master=account).count()
    if who == "key_admin":
        assert response.status_code == 302
        assert discovered == 7
    else:
        assert outcome(response) in (LOGIN, FORBIDDEN, OK)  # OK: the changelist, "no action selected"
        assert outcome(response) == EXPECTED_READ[who]
        assert discovered == 0


@pytest.mark.parametrize("who", WHO)
def test_only_a_key_admin_can_retire_a_credential(client, account, who):
    credential = account.active_credential()
    url = reverse("admin:accounts_credential_changelist")
    as_(client, who).post(url, {"action": "retire_selected", "_selected_action": [credential.pk]})
    credential.refresh_from_db()
    assert (credential.status == "retired") is (who == "key_admin")


def test_nobody_can_add_change_or_delete_audit_events_not_even_a_superuser(client, account):
    from django.contrib.auth.models import User

    boss = User.objects.create_superuser("boss", password="correct-horse-battery-staple-9")
    give_second_factor(boss)  # a superuser manages keys: the admin asks for a second factor first
    client.force_login(boss, backend=MODEL_BACKEND)
    event = AuditEvent.objects.first()
    assert client.get(reverse("admin:accounts_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:accounts_auditevent_add")).status_code == 403
    assert client.get(reverse("admin:accounts_auditevent_delete", args=[event.pk])).status_code == 403
    response = client.post(reverse("admin:accounts_auditevent_change", args=[event.pk]), {"detail": "edited"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.detail != "edited"
    changelist = reverse("admin:accounts_auditevent_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_credential_pages_are_not_cached_and_have_no_add_page(client, account):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    credential = account.active_credential()
    for url in (
        reverse("admin:accounts_account_add"),
        reverse("admin:accounts_account_rotate", args=[account.pk]),
        reverse("admin:accounts_credential_change", args=[credential.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
    assert client.get(reverse("admin:accounts_credential_add")).status_code == 403


def test_the_credential_change_form_shows_the_fingerprint_and_no_stored_value(client, account):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    credential = account.active_credential()
    page = client.get(reverse("admin:accounts_credential_change", args=[credential.pk])).content.decode()
    assert "0001" in page
    for stored in (credential.api_key_enc, credential.secret_key_enc, credential.passphrase_enc):
        assert stored.split("$")[1][:20] not in page
    assert "_enc" not in page


def test_secret_fields_are_kept_out_of_error_reports(client, simulator, account):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    for url in (
        reverse("admin:accounts_account_add"),
        reverse("admin:accounts_account_rotate", args=[account.pk]),
    ):
        response = client.post(url, {"password": "x", **fake_key_set(7)})
        hidden = set(response.wsgi_request.sensitive_post_parameters)
        assert {"password", "api_key", "secret_key", "passphrase"} <= hidden


def test_key_admins_see_how_many_secrets_each_encryption_key_protects(client, account):
    from accounts import crypto

    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    newest = crypto.keyring().newest_id
    # On the credentials page only: the rotate form is about an API key, not the encryption keys.
    page = client.get(reverse("admin:accounts_credential_changelist")).content.decode()
    assert f"<code>{newest}</code></td><td>3</td>" in page


@pytest.mark.parametrize(("who", "shown"), [("viewer", False), ("operator", False), ("key_admin", True)])
def test_the_rotate_button_is_shown_to_key_admins_only(client, account, who, shown):
    page = as_(client, who).get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert (reverse("admin:accounts_account_rotate", args=[account.pk]) in page) is shown


def test_re_running_the_roles_migration_on_a_live_registry_keeps_permissions_working():
    """create_roles lends a migration's app config a models module; run on the live registry it must
    give back the real one, or Django stops making the accounts app's permissions."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    import accounts.models
    from accounts.roles import KEY_ADMIN, ROLE_PERMISSIONS, create_roles

    create_roles(apps)
    assert apps.get_app_config("accounts").models_module is accounts.models

    Permission.objects.filter(content_type__app_label="accounts").delete()
    create_permissions(apps.get_app_config("accounts"), verbosity=0)
    create_roles(apps)
    granted = set(Group.objects.get(name=KEY_ADMIN).permissions.values_list("codename", flat=True))
    assert granted == set(ROLE_PERMISSIONS[KEY_ADMIN])
