"""Single sign-on with OpenID Connect against a real provider: django-oauth-toolkit's, as a process
of its own on 127.0.0.1 (tests/oidc_provider). A sign-in here is the person's: our "Sign in with"
link (/login/oidc/), the provider's login page and consent form over HTTP, and back to our
callback through the Django test client; our server exchanges the code at the provider's token
endpoint and checks the ID token against its keys, over HTTP. Nothing in between is mocked.
"""

from __future__ import annotations

import html
import logging
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from accounts.audit import AuditAction, AuditEvent
from accounts.lockout import KEY_ACTION
from accounts.sso.config import check_oidc_settings, local_passwords_mode, parse_role_map
from accounts.sso.users import OidcIdentity, role_of
from tests.accounts_support import PASSWORD, ensure_roles, make_user
from tests.oidc_provider.flow import answer_at_provider, start_provider

pytestmark = pytest.mark.django_db

CLIENT_ID = "okx-dashboard"
CLIENT_SECRET = "oidc-client-secret-7f3a9c1e5b2d"  # distinctive: looked for in logs and pages
CALLBACK = "http://testserver/login/oidc/callback/"
PROVIDER_NAME = "Test IdP"
ROLE_MAP = {"okx-viewers": "viewer", "okx-traders": "operator", "okx-admins": "key admin"}


def person(name: str, *groups: str, email: str = "", verified: bool = True) -> dict:
    """A user of the provider (its password is "pw-<name>-at-provider")."""
    return {
        "username": name,
        "password": f"pw-{name}-at-provider",
        "email": email or f"{name}@example.com",
        "verified": verified,
        "groups": list(groups),
    }


PEOPLE = {
    p["username"]: p
    for p in (
        person("alice", "okx-traders", "unrelated-group"),
        person("bruno", "okx-viewers"),
        person("carla", "okx-traders", email="carla@team.example"),
        person("dmitri", "okx-traders", email="dmitri@team.example", verified=False),
        person("erin"),
        person("frank", "okx-viewers"),
        person("gina", "okx-traders"),
        person("hugo", "okx-viewers"),
    )
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    started = start_provider(tmp_path_factory.mktemp("oidc-provider"))
    try:
        started.setup(
            clients=[{"client_id": CLIENT_ID, "secret": CLIENT_SECRET, "redirect_uri": CALLBACK}],
            users=list(PEOPLE.values()),
        )
        yield started
    finally:
        started.stop()


@pytest.fixture
def sso(settings, provider):
    """Single sign-on configured against the test provider, roles mapped from its groups."""
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.OIDC_ROLE_MAP = ROLE_MAP
    ensure_roles()
    return provider


def sign_in(client: Client, name: str, *, allow: bool = True, next_url: str = ""):
    """The whole sign-in as the person makes it; returns our callback's response."""
    start = client.get("/login/oidc/" + (f"?{urlencode({'next': next_url})}" if next_url else ""))
    assert start.status_code == 302
    return deliver(client, answer_at_provider(start["Location"], name, PEOPLE[name]["password"], allow=allow))


def deliver(client: Client, answer_url: str):
    """The browser following the provider's redirect back to our callback."""
    parts = urlsplit(answer_url)
    assert urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) == CALLBACK
    return client.get(f"{parts.path}?{parts.query}")


def with_state(answer_url: str, state: str) -> str:
    parts = urlsplit(answer_url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, "state": state})))


def message_on_login_page(client: Client, response) -> str:
    """A refused sign-in goes back to the login page; the message it shows there."""
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    page = client.get("/login/")
    assert page.status_code == 200
    shown = [str(m) for m in page.context["messages"]]
    assert len(shown) == 1 and shown[0] in html.unescape(page.content.decode())
    return shown[0]


def signed_in_user(client: Client):
    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


def last_audit(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("id")


# -- the login page ----------------------------------------------------------------------------


def test_the_login_page_offers_the_provider_only_when_single_sign_on_is_configured(
    client, settings, provider
):
    page = client.get("/login/?next=/keys/").content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.get("/login/oidc/").status_code == 404

    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = (
        provider.issuer,
        CLIENT_ID,
        CLIENT_SECRET,
    )
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    page = client.get("/login/?next=/keys/").content.decode()
    assert "Sign in with Test IdP" in page and 'href="/login/oidc/?next=/keys/"' in page
    assert 'name="password"' in page  # LOCAL_PASSWORDS is on by default


# -- first and later sign-ins -------------------------------------------------------------------


def test_a_first_sign_in_creates_the_user_with_the_mapped_role(client, sso):
    response = sign_in(client, "alice", next_url="/keys/")

    assert response.status_code == 302 and response["Location"] == "/keys/"
    user = signed_in_user(client)
    assert user.username == "alice" and user.email == "alice@example.com"
    assert role_of(user) == "operator"  # okx-traders; "unrelated-group" maps to nothing
    assert set(user.groups.values_list("name", flat=True)) == {"operator"}
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    identity = OidcIdentity.objects.get(user=user)
    assert identity.issuer == sso.issuer and identity.subject  # the provider's sub
    success = last_audit(AuditAction.LOGIN_SUCCESS)
    assert success.actor == user
    assert success.detail == "single sign-on (Test IdP): user created; role none -> operator"
    page = client.get("/keys/")
    assert page.status_code == 200 and "alice" in page.content.decode()


def test_a_second_sign_in_is_the_same_user_and_the_role_follows_the_provider(client, sso):
    response = sign_in(client, "bruno", next_url="https://elsewhere.example/")
    assert response.status_code == 302 and response["Location"] == "/"  # never to another site
    bruno = signed_in_user(client)
    assert role_of(bruno) == "viewer"

    assert client.post("/logout/").status_code == 302
    logout = last_audit(AuditAction.LOGOUT)
    assert logout.actor == bruno and logout.detail == "single sign-on (Test IdP)"

    # At the provider, bruno joins the admins too: the highest role wins.
    sso.setup(users=[person("bruno", "okx-viewers", "okx-admins")])
    users_before = get_user_model().objects.count()
    assert sign_in(client, "bruno").status_code == 302
    again = signed_in_user(client)
    assert again.pk == bruno.pk and get_user_model().objects.count() == users_before
    assert role_of(again) == "key admin" and again.is_staff
    detail = last_audit(AuditAction.LOGIN_SUCCESS).detail
    assert detail == "single sign-on (Test IdP): matched by subject; role viewer -> key admin"

    # Taken out of every mapped group, bruno keeps the user but loses the role.
    sso.setup(users=[person("bruno")])
    client.post("/logout/")
    response = sign_in(client, "bruno")
    assert response["Location"] == "/login/oidc/no-role/"
    again = signed_in_user(client)
    assert again.pk == bruno.pk and role_of(again) is None and not again.is_staff
    assert OidcIdentity.objects.filter(user=bruno).count() == 1


def test_a_verified_email_links_the_existing_user_and_an_unverified_one_does_not(client, sso):
    carla = make_user("viewer")
    carla.email = "Carla@team.example"
    carla.save()
    dmitri = make_user("viewer")
    dmitri.email = "dmitri@team.example"
    dmitri.save()

    sign_in(client, "carla")
    assert signed_in_user(client).pk == carla.pk
    assert OidcIdentity.objects.get(user=carla)
    assert last_audit(AuditAction.LOGIN_SUCCESS).detail.startswith(
        "single sign-on (Test IdP): matched by verified e-mail"
    )

    client.post("/logout/")
    sign_in(client, "dmitri")  # the provider does not vouch for dmitri's address
    created = signed_in_user(client)
    assert created.pk != dmitri.pk and created.username == "dmitri"
    assert created.email == ""  # an unverified address is not kept: it could link someone later
    assert not OidcIdentity.objects.filter(user=dmitri).exists()


def test_without_a_role_mapping_a_new_user_lands_on_a_page_saying_they_have_no_role(client, sso, settings):
    settings.OIDC_ROLE_MAP = {}
    response = sign_in(client, "erin")

    assert response.status_code == 302 and response["Location"] == "/login/oidc/no-role/"
    page = client.get("/login/oidc/no-role/").content.decode()
    assert "You have no role yet" in page and "signed in as <strong>erin</strong> through Test IdP" in page
    assert "A key admin gives you one" in page
    assert client.get("/").status_code == 403
    assert role_of(signed_in_user(client)) is None
    # The page is for users without a role: others are sent on.
    assert Client().get("/login/oidc/no-role/")["Location"].startswith("/login/")
    viewer = Client()
    viewer.force_login(make_user("viewer"))
    assert viewer.get("/login/oidc/no-role/")["Location"] == "/"


def test_a_username_taken_by_another_user_is_made_unique(client, sso):
    get_user_model().objects.create_user("frank", password=PASSWORD)
    sign_in(client, "frank")
    assert signed_in_user(client).username == "frank-2"


def test_with_user_creation_off_an_unknown_person_is_refused(client, sso, settings):
    settings.OIDC_CREATE_USERS = False
    users_before = get_user_model().objects.count()

    message = message_on_login_page(client, sign_in(client, "hugo"))

    assert "single sign-on does not create users here" in message
    assert get_user_model().objects.count() == users_before
    failure = last_audit(AuditAction.LOGIN_FAILURE)
    assert failure.detail == "single sign-on (Test IdP): no such user"


# -- refusals: a clear message on the login page, an audit row, never a 500 ----------------------


def test_an_answer_with_another_state_is_refused(client, sso):
    start = client.get("/login/oidc/")
    answer = answer_at_provider(start["Location"], "gina", PEOPLE["gina"]["password"])

    message = message_on_login_page(client, deliver(client, with_state(answer, "forged-state")))
    assert "does not belong to this browser's sign-in" in message
    assert last_audit(AuditAction.LOGIN_FAILURE).detail == "single sign-on (Test IdP): state mismatch"

    # The genuine answer, in another browser (another session), is refused the same way.
    other = Client()
    message_on_login_page(other, deliver(other, answer))
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILURE).count() == 2
    assert not get_user_model().objects.filter(username="gina").exists()


def test_the_provider_refusing_says_so_on_the_login_page(client, sso):
    message = message_on_login_page(client, sign_in(client, "gina", allow=False))  # "Cancel" at consent

    assert message == "Test IdP did not sign you in (access_denied)."
    assert (
        last_audit(AuditAction.LOGIN_FAILURE).detail
        == "single sign-on (Test IdP): provider refused: access_denied"
    )


def test_an_id_token_issued_for_another_sign_in_is_refused(client, sso):
    start = client.get("/login/oidc/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    # The session now expects a nonce the provider never saw: the ID token it signs names the
    # original one, as a token replayed from another sign-in would.
    session = client.session
    stored = session[f"_state_oidc_{state}"]
    stored["data"]["nonce"] = "the-nonce-of-another-sign-in"
    session[f"_state_oidc_{state}"] = stored
    session.save()

    answer = answer_at_provider(start["Location"], "gina", PEOPLE["gina"]["password"])
    message = message_on_login_page(client, deliver(client, answer))

    assert "did not pass the checks (its ID token was refused)" in message
    assert last_audit(AuditAction.LOGIN_FAILURE).detail.startswith("single sign-on (Test IdP): bad ID token")
    assert not get_user_model().objects.filter(username="gina").exists()


def test_an_unreachable_provider_is_a_message_not_an_error(client, settings, provider):
    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = (
        "http://127.0.0.1:9/o",  # the discard port: nothing answers
        CLIENT_ID,
        CLIENT_SECRET,
    )
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    message = message_on_login_page(client, client.get("/login/oidc/"))
    assert message.startswith("Test IdP could not be reached")


def test_a_provider_naming_another_issuer_is_refused(client, sso, settings):
    settings.OIDC_ISSUER = sso.issuer + "/"  # same discovery URL, but not the issuer it names
    message = message_on_login_page(client, client.get("/login/oidc/"))
    assert "OIDC_ISSUER" in message and "misconfigured" in message


def test_the_client_secret_is_in_no_log_page_message_or_audit_row(client, sso, settings, caplog):
    for name in ("", "urllib3", "authlib", "accounts"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    pages = []
    response = sign_in(client, "gina")
    pages += [response, client.get(response["Location"])]
    client.post("/logout/")

    # A wrong secret: the provider's token endpoint refuses the client; the person is told so.
    wrong = "wrong-" + CLIENT_SECRET
    settings.OIDC_CLIENT_SECRET = wrong
    start = client.get("/login/oidc/")
    refused = deliver(client, answer_at_provider(start["Location"], "gina", PEOPLE["gina"]["password"]))
    message = message_on_login_page(client, refused)
    assert message == "Test IdP did not accept this sign-in (invalid_client). Please sign in again."
    pages += [start, refused, client.get("/login/")]

    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "token endpoint refused" in logged  # the refusal is logged, without the secret
    shown = "".join(page.content.decode() + str(page.headers) for page in pages)
    audit = str(list(AuditEvent.objects.values()))
    for secret in (CLIENT_SECRET, wrong):
        assert secret not in logged and secret not in shown and secret not in audit


# -- local passwords ----------------------------------------------------------------------------


def test_local_passwords_off_hides_the_form_and_refuses_a_password_everywhere(client, sso, settings):
    settings.LOCAL_PASSWORDS = "off"
    viewer = make_user("viewer")

    page = client.get("/login/").content.decode()
    assert 'name="password"' not in page and "Password sign-in is switched off here." in page
    assert "Sign in with Test IdP" in page
    response = client.post("/login/", {"username": viewer.username, "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "Password sign-in is switched off here. Sign in with Test IdP." in response.content.decode()
    failure = last_audit(AuditAction.LOGIN_FAILURE)
    assert failure.actor_name == viewer.username

    # The admin's own login page asks the same backends.
    superuser = get_user_model().objects.create_superuser("root-1", password=PASSWORD)
    client.post("/admin/login/", {"username": superuser.username, "password": PASSWORD})
    assert "_auth_user_id" not in client.session

    # A signed-in person's password re-entry for a key action is not a sign-in: still checked.
    request = RequestFactory().post("/")
    assert authenticate(request, username=viewer.username, password=PASSWORD, **{KEY_ACTION: True}) == viewer


def test_break_glass_lets_only_superusers_sign_in_with_a_password(client, settings):
    settings.LOCAL_PASSWORDS = "superusers"
    viewer = make_user("viewer")
    superuser = get_user_model().objects.create_superuser("root-2", password=PASSWORD)

    page = client.get("/login/").content.decode()
    assert 'name="password"' in page and "superusers only (break-glass)" in page
    refused = client.post("/login/", {"username": viewer.username, "password": PASSWORD})
    assert "password sign-in is open to superusers only" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.post("/login/", {"username": superuser.username, "password": PASSWORD}).status_code == 302
    assert signed_in_user(client) == superuser


def test_signing_out_is_audited_for_password_users_too(client):
    viewer = make_user("viewer")
    client.post("/login/", {"username": viewer.username, "password": PASSWORD})
    client.post("/logout/")
    logout = last_audit(AuditAction.LOGOUT)
    assert logout.actor == viewer and logout.detail == "password" and logout.ip == "127.0.0.1"
    client.post("/logout/")  # nobody signed in: no second row
    assert AuditEvent.objects.filter(action=AuditAction.LOGOUT).count() == 1


# -- the settings' readers ------------------------------------------------------------------------


def test_the_role_map_reads_groups_to_roles_and_refuses_what_it_cannot_use():
    assert parse_role_map("okx-viewers=viewer, okx-admins = key admin,") == {
        "okx-viewers": "viewer",
        "okx-admins": "key admin",
    }
    assert parse_role_map("") == {}
    for raw, words in [
        ("okx-viewers", "provider-group=role"),
        ("okx=boss", "'boss' is not a role"),
        ("a=viewer,a=operator", "names the provider group 'a' twice"),
    ]:
        with pytest.raises(ImproperlyConfigured, match=words):
            parse_role_map(raw)


def test_local_passwords_reads_on_off_and_superusers():
    assert [local_passwords_mode(raw) for raw in (None, "", "On", "0", "off", "superusers")] == [
        "on",
        "on",
        "on",
        "off",
        "off",
        "superusers",
    ]
    with pytest.raises(ImproperlyConfigured, match="LOCAL_PASSWORDS must be on, off or superusers"):
        local_passwords_mode("admins")


def test_an_incomplete_or_unsafe_configuration_stops_start_up_without_showing_the_secret():
    good = {
        "issuer": "https://id.example.com/realms/team",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": "openid email profile",
        "local_passwords": "on",
        "embedded": False,
    }
    check_oidc_settings(**good)
    check_oidc_settings(**{**good, "issuer": "", "client_id": "", "client_secret": ""})
    for change, words in [
        ({"client_id": ""}, "OIDC_CLIENT_ID is required"),
        ({"issuer": ""}, "OIDC_ISSUER is required"),
        ({"issuer": "http://id.example.com"}, "OIDC_ISSUER must be the provider's https issuer URL"),
        ({"scopes": "email profile"}, "OIDC_SCOPES must include openid"),
        (
            {"issuer": "", "client_id": "", "client_secret": "", "local_passwords": "off"},
            "nobody could sign in",
        ),
    ]:
        with pytest.raises(ImproperlyConfigured, match=words) as refused:
            check_oidc_settings(**{**good, **change})
        assert CLIENT_SECRET not in str(refused.value)
    check_oidc_settings(**{**good, "issuer": "http://127.0.0.1:8080/o", "embedded": True})
