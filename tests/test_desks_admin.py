"""The desk admin and the admin's account pages under desks (issue 21): a key admin makes a desk
with accounts and members through the admin's own forms, and every change is in the audit trail
by name; who sees every account (DeskAccess) and an account's "excluded from team totals" are
audited too; viewers and operators cannot reach the desk admin; the admin warns of team members
who would see no account; and a desk-limited viewer's admin lists only their desks' accounts and
credentials."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.audit import AuditAction, AuditEvent
from accounts.desks import Desk, DeskAccess
from accounts.models import Account, AccountKind
from reports.models import ReportSchedule
from tests.accounts_support import fake_key_set, install, make_user

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
DESKS = reverse("admin:accounts_desk_changelist")
DESK_ADD = reverse("admin:accounts_desk_add")
ACCESS_ADD = reverse("admin:accounts_deskaccess_add")
ACCOUNTS = reverse("admin:accounts_account_changelist")
CREDENTIALS = reverse("admin:accounts_credential_changelist")


def as_user(client, user):
    client.force_login(user, backend=MODEL_BACKEND)
    return client


@pytest.fixture
def accounts() -> dict[str, Account]:
    """Alpha and Bravo, each with a key (fingerprints 0001 and 0002)."""
    found = {}
    for n, name in enumerate(("Alpha", "Bravo"), start=1):
        found[name] = Account.objects.create(name=name, kind=AccountKind.MASTER)
        install(found[name], fake_key_set(n))
    return found


def events(action: str) -> list[str]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk").values_list("detail", flat=True))


def desk_form(name: str, accounts: list[Account], members: list) -> dict:
    return {
        "name": name,
        "description": "a strategy",
        "accounts": [a.pk for a in accounts],
        "members": [m.pk for m in members],
    }


def test_a_key_admin_makes_and_changes_a_desk_and_the_audit_trail_names_every_change(client, accounts):
    admin, trader, analyst = make_user("key_admin"), make_user("viewer"), make_user("viewer")
    as_user(client, admin)

    response = client.post(DESK_ADD, desk_form("Arbitrage", [accounts["Alpha"]], [trader]))

    assert response.status_code == 302
    desk = Desk.objects.get(name="Arbitrage")
    assert list(desk.accounts.all()) == [accounts["Alpha"]] and list(desk.members.all()) == [trader]
    change = reverse("admin:accounts_desk_change", args=[desk.pk])
    response = client.post(change, desk_form("Arb desk", [accounts["Bravo"]], [trader, analyst]))
    assert response.status_code == 302

    created, changed = events(AuditAction.DESK_CHANGE)
    assert created == f"desk created; accounts added: Alpha; members added: {trader.username}"
    assert changed == (
        "renamed from Arbitrage; accounts added: Bravo; accounts removed: Alpha; "
        f"members added: {analyst.username}"
    )
    event = AuditEvent.objects.filter(action=AuditAction.DESK_CHANGE).order_by("pk").last()
    assert (event.actor_name, event.object_repr) == (admin.username, "Arb desk")


def test_giving_and_taking_all_desks_is_audited(client, accounts):
    admin, boss = make_user("key_admin"), make_user("viewer")
    as_user(client, admin)

    assert client.post(ACCESS_ADD, {"user": boss.pk, "all_desks": "on"}).status_code == 302
    access = DeskAccess.objects.get(user=boss)
    change = reverse("admin:accounts_deskaccess_change", args=[access.pk])
    assert client.post(change, {"user": boss.pk}).status_code == 302  # the box unticked
    delete = reverse("admin:accounts_deskaccess_delete", args=[access.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302

    assert events(AuditAction.DESK_ACCESS_CHANGE) == [
        f"{boss.username}: all desks",
        f"{boss.username}: own desks only",
        f"{boss.username}: own desks only",
    ]
    assert not DeskAccess.objects.exists()


def test_marking_an_account_excluded_from_team_totals_is_audited(client):
    account = Account.objects.create(name="Client money", kind=AccountKind.MASTER)
    as_user(client, make_user("key_admin"))
    change = reverse("admin:accounts_account_change", args=[account.pk])
    form = {
        "name": account.name,
        "master": "",
        "sub_acct_name": "",
        "active": "on",
        "environment": account.environment,
        "credentials-TOTAL_FORMS": "0",
        "credentials-INITIAL_FORMS": "0",
        "credentials-MIN_NUM_FORMS": "0",
        "credentials-MAX_NUM_FORMS": "1000",
    }

    assert client.post(change, {**form, "excluded_from_totals": "on"}).status_code == 302
    assert client.post(change, form).status_code == 302

    assert events(AuditAction.TOTALS_EXCLUSION) == ["excluded from team totals", "counted in team totals"]
    account.refresh_from_db()
    assert account.excluded_from_totals is False


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_cannot_reach_the_desk_admin(client, accounts, role):
    desk = Desk.objects.create(name="Arbitrage")
    as_user(client, make_user(role))
    for url in (
        DESKS,
        DESK_ADD,
        reverse("admin:accounts_desk_change", args=[desk.pk]),
        reverse("admin:accounts_deskaccess_changelist"),
        ACCESS_ADD,
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(DESK_ADD, desk_form("Mine", list(accounts.values()), [])).status_code == 403
    assert (
        Desk.objects.count() == 1 and not AuditEvent.objects.filter(action=AuditAction.DESK_CHANGE).exists()
    )


def test_the_admin_names_the_team_members_who_now_see_no_account(client, accounts):
    trader, forgotten, boss, stranger = (make_user(r) for r in ("viewer", "operator", "viewer", "stranger"))
    DeskAccess.objects.create(user=boss, all_desks=True)
    as_user(client, make_user("key_admin"))

    response = client.post(DESK_ADD, desk_form("Arbitrage", [accounts["Alpha"]], [trader]), follow=True)

    page = response.content.decode()
    assert f"1 team member(s) now see no account: {forgotten.username}." in page
    assert "give them &#x27;all desks&#x27; under Desk access" in page
    # The desk's member, the all-desks user and a user of no team role are not named.
    for user in (trader, boss, stranger):
        assert user.username not in page.split("now see no account")[1].split("</li>")[0]


def test_a_desk_that_a_report_schedule_uses_cannot_be_deleted(client, accounts):
    desk = Desk.objects.create(name="Arbitrage")
    ReportSchedule.objects.create(
        name="Arb daily", time_of_day="08:00", recipients="a@example.test", desk=desk
    )
    as_user(client, make_user("key_admin"))

    response = client.post(reverse("admin:accounts_desk_delete", args=[desk.pk]), {"post": "yes"})

    # Deleting it would turn the schedule into a report of every account sent to the desk's readers.
    assert "Arb daily" in response.content.decode() and Desk.objects.filter(pk=desk.pk).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.DESK_CHANGE).exists()


# -- the admin's accounts and credentials under desks ------------------------------------------------
@pytest.fixture
def desk_viewer(accounts):
    desk = Desk.objects.create(name="Alpha desk")
    desk.accounts.add(accounts["Alpha"])
    viewer = make_user("viewer")
    desk.members.add(viewer)
    return viewer


def test_a_desk_limited_viewer_lists_only_their_desks_accounts_and_credentials_in_the_admin(
    client, accounts, desk_viewer
):
    as_user(client, desk_viewer)
    for url in (ACCOUNTS, CREDENTIALS):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Bravo" not in response.content.decode() and "0002" not in response.content.decode(), url
    for url in (ACCOUNTS + "?q=Bravo", CREDENTIALS + "?q=Bravo"):  # a search finds nothing either
        page = client.get(url).content.decode()
        assert "0 results (" in page and "0002" not in page, url
    assert "Alpha" in client.get(ACCOUNTS).content.decode()
    assert "0001" in client.get(CREDENTIALS).content.decode()

    bravo = accounts["Bravo"]
    for url in (
        reverse("admin:accounts_account_change", args=[bravo.pk]),
        reverse("admin:accounts_credential_change", args=[bravo.credentials.get().pk]),
    ):
        response = client.get(url, follow=True)
        # Django's admin answers as for an object that does not exist: back to the index.
        assert response.redirect_chain[0][0] == reverse("admin:index"), url
        assert "Bravo" not in response.content.decode() and "0002" not in response.content.decode()


def test_a_key_admin_lists_every_account_and_filters_the_excluded_ones(client, accounts, desk_viewer):
    Account.objects.filter(name="Bravo").update(excluded_from_totals=True)
    as_user(client, make_user("key_admin"))

    page = client.get(ACCOUNTS).content.decode()
    assert "Alpha" in page and "Bravo" in page and "By excluded from team totals" in page
    excluded = client.get(ACCOUNTS + "?excluded_from_totals__exact=1").content.decode()
    assert "Bravo" in excluded and ">Alpha<" not in excluded


def test_a_desk_viewer_never_sees_the_name_of_a_master_on_another_desk(client, accounts):
    """Break-it review: the admin listed and linked a sub-account's master by name although the
    master is on a desk the viewer does not see (the pages and the API say "another account")."""
    sub = Account.objects.create(
        name="Alpha sub", kind=AccountKind.SUB, master=accounts["Bravo"], sub_acct_name="alphasub"
    )
    viewer = make_user("viewer")
    desk = Desk.objects.create(name="A")
    desk.accounts.add(accounts["Alpha"], sub)
    desk.members.add(viewer)
    as_user(client, viewer)
    listing = client.get(ACCOUNTS).content.decode()
    assert "Alpha sub" in listing and "another account" in listing and "Bravo" not in listing
    page = client.get(reverse("admin:accounts_account_change", args=[sub.pk])).content.decode()
    assert "another account" in page and "Bravo" not in page
    assert f"/admin/accounts/account/{accounts['Bravo'].pk}/" not in page
    # A key admin still sees and edits the master as before.
    as_user(client, make_user("key_admin"))
    assert "Bravo" in client.get(reverse("admin:accounts_account_change", args=[sub.pk])).content.decode()


def test_moving_all_desks_to_another_user_and_a_new_description_are_audited(client, accounts):
    """Break-it review: the trail named only the new holder of an all-desks row (the previous
    one lost it silently), and a desk's new description left no event."""
    first, second = make_user("viewer"), make_user("viewer")
    access = DeskAccess.objects.create(user=first, all_desks=True)
    desk = Desk.objects.create(name="A", description="a strategy")
    as_user(client, make_user("key_admin"))
    change = reverse("admin:accounts_deskaccess_change", args=[access.pk])
    assert client.post(change, {"user": second.pk, "all_desks": "on"}).status_code == 302
    assert events(AuditAction.DESK_ACCESS_CHANGE) == [
        f"{first.username}: own desks only",
        f"{second.username}: all desks",
    ]
    form = desk_form("A", [accounts["Alpha"]], [])
    form["description"] = "a client's money"
    assert client.post(reverse("admin:accounts_desk_change", args=[desk.pk]), form).status_code == 302
    assert events(AuditAction.DESK_CHANGE) == ["description changed; accounts added: Alpha"]
