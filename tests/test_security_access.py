"""Every URL the project serves, for every kind of visitor: the patterns come from the resolver,
so a URL added later is in the matrix at once (and fails here until someone decides who may see
it). The Django admin has its own tests (test_accounts_access.py); the login throttle, the
deploy check and the secret fields of error reports are pinned in test_accounts_login.py,
test_settings.py and test_accounts_access.py. Here also: CSRF on every POST, session cookies.

Desks (issue 21): a desk-limited viewer gets a viewer's answer for the objects of its own desk and
404 (never 403) for every URL that names an object of a desk it does not see; a report of every
account is for users who see every account (tests/test_desks_pages.py checks what the answers
hold)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.desks import Desk
from accounts.history import ApiError
from accounts.models import Account
from reports.delivery import deliver_slot
from reports.models import ReportSchedule
from snapshots.refresh import refresh_account
from tests.accounts_support import PASSWORD, make_user
from tests.workers_support import add_account, frozen

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
VISITORS = ("anonymous", "stranger", "viewer", "operator", "key_admin")
READERS = ("viewer", "operator", "key_admin")
POST_ONLY = {
    "pages:test_key": "operator",
    "pages:acknowledge_error": "operator",
    "pages:acknowledge_account": "operator",
    "pages:refresh_now": "operator",
    "reports:send_now": "key_admin",
}
PUBLIC = {"login", "logout", "healthz", "readyz", "metrics"}
# Single sign-on (accounts/sso; tests/test_oidc.py): /login/oidc/ and its callback answer 404 while
# it is not configured; the "no role yet" page is for signed-in users without a role.
PUBLIC |= {"sso:start", "sso:callback", "sso:no_role"}
# The API's one HTML page (its documentation) treats a browser like the pages do: to the login page.
API_PAGES = {"api:docs"}
SKIPPED_NAMESPACES = {"admin"}
# Two-factor authentication (accounts/mfa): every signed-in user, whatever the role, has the
# security page; the code step, with nothing to verify, goes on; the other URLs are its forms (POST).
SECOND_FACTOR_GET = {"mfa:security": {200}, "mfa:verify": {302}}


def url_names() -> list[tuple[str, str]]:
    """(name, route) of every named URL outside the admin."""

    def walk(patterns, prefix: str, namespace: str):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace in SKIPPED_NAMESPACES:
                    continue
                inner = f"{namespace}{p.namespace}:" if p.namespace else namespace
                yield from walk(p.url_patterns, prefix + str(p.pattern), inner)
            elif isinstance(p, URLPattern) and p.name:
                yield f"{namespace}{p.name}", prefix + str(p.pattern)

    return sorted(set(walk(get_resolver().url_patterns, "", "")))


@pytest.fixture
def objects(make_simulator):
    """One of each object a URL can name: an account with a snapshot, an error, a report."""
    sim = make_simulator(frozen())
    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=1)
    sim.inject_fault("/api/v5/account/balance", code="50013", times=3)
    refresh_account(account.pk, cycle=2)
    schedule = ReportSchedule.objects.create(name="daily", time_of_day=time(8), recipients="t@example.com")
    deliver_slot(schedule.pk, datetime.now(tz=UTC).replace(microsecond=0))
    report = schedule.reports.get()
    return {"account": account, "error": ApiError.objects.first(), "report": report, "schedule": schedule}


def concrete(name: str, route: str, objects) -> str:
    """The route with real ids: errors/<pk> an ApiError, reports/<pk> a report, else the account."""
    if name == "api:not_found":
        return "/api/v1/no-such-thing"
    kind = (
        "error"
        if name == "pages:acknowledge_error"
        else "schedule"
        if name == "reports:send_now"
        else "report"
        if name.startswith("reports:")
        else "account"
    )
    # A caller without a schedule (tests/test_reliability_malformed.py) GETs send_now: 405 anyway.
    pk = str(objects[kind].pk) if kind in objects else "0"
    path = "/" + re.sub(r"<(?:\w+:)?\w+>", lambda _: pk, route)
    if name == "reports:balances_at_csv":
        path += "?date=2026-01-02&time=08:00&zone=UTC"
    return path


# Desk-limited viewers: a member of the desk that holds the objects' account, and a member of
# another desk (desk_objects).
DESK_VISITORS = ("desk_viewer", "desk_outsider")
# The URLs that name a stored report (the objects' report).
REPORT_URLS = ("reports:detail", "reports:email", "reports:csv")
# Where a URL's id names an account or what belongs to one (an error, a report of a desk).
DESK_NAMESPACES = ("pages", "api", "reports")


@pytest.fixture
def desk_objects(objects):
    """The objects with desks in use: desk "own" holds their account, desk "other" another
    account; "report" is a report of desk "own" (its schedule's desk), "every" the report of
    every account."""
    own = Desk.objects.create(name="own")
    own.accounts.add(objects["account"])
    other = Desk.objects.create(name="other")
    other.accounts.add(Account.objects.create(name="elsewhere"))
    schedule = ReportSchedule.objects.create(
        name="own desk daily", time_of_day=time(8), recipients="t@example.com", desk=own
    )
    deliver_slot(schedule.pk, datetime.now(tz=UTC).replace(microsecond=0))
    return {
        **objects,
        "report": schedule.reports.get(),
        "every": objects["report"],
        "own": own,
        "other": other,
    }


def desk_visitor(who: str, desk_objects, role: str = "viewer") -> Client:
    """A user of `role` who is a member of desk "own" (desk_viewer) or "other" (desk_outsider)."""
    user = make_user(role)
    desk_objects["own" if who == "desk_viewer" else "other"].members.add(user)
    client = Client()
    client.force_login(user, backend=MODEL_BACKEND)
    return client


def visitor(who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(make_user(who), backend=MODEL_BACKEND)
    return client


def expected_get(name: str, who: str) -> set[int]:
    if name in PUBLIC:  # answered by their own rules (the ops and login tests)
        return {200, 302, 404, 405, 503}
    if name == "api:not_found":  # an unknown API path is unknown to everyone; it serves nothing
        return {404}
    if name in POST_ONLY:
        return {302, 405} if who == "anonymous" else {403, 405}
    if who == "anonymous":
        return {401, 403} if name.startswith("api:") and name not in API_PAGES else {302}
    if name.startswith("mfa:"):
        return SECOND_FACTOR_GET.get(name, {405})
    if who == "stranger":
        return {403}
    return {200}


def test_the_matrix_covers_every_url_the_project_serves():
    names = {name for name, _ in url_names()}
    assert {"pages:overview", "api:accounts", "reports:list", "alerts:index"} <= names
    assert len(names) >= 25


@pytest.mark.parametrize("who", VISITORS)
def test_every_url_answers_each_visitor_as_the_access_rules_say(objects, who):
    client = visitor(who)
    wrong = []
    for name, route in url_names():
        url = concrete(name, route, objects)
        response = client.get(url)
        if response.status_code not in expected_get(name, who):
            wrong.append(f"GET {url} ({name}) -> {response.status_code}")
        elif "no-store" not in response.get("Cache-Control", ""):  # issue 17.8: no copy is kept
            wrong.append(f"GET {url} ({name}) -> Cache-Control {response.get('Cache-Control')!r}")
        elif who == "anonymous" and response.status_code == 302 and name not in PUBLIC:
            assert response["Location"].startswith(reverse("login")), url
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("who", DESK_VISITORS)
def test_a_desk_limited_viewer_gets_a_viewers_answer_on_its_desk_and_404_on_another(desk_objects, who):
    client = desk_visitor(who, desk_objects)
    wrong = []
    for name, route in url_names():
        url = concrete(name, route, desk_objects)
        response = client.get(url)
        expected = expected_get(name, "viewer")
        # Every URL that names an object (an account, a report) of a desk it does not see.
        names_an_object = "<" in route and name.split(":")[0] in DESK_NAMESPACES
        if who == "desk_outsider" and names_an_object and name not in POST_ONLY:
            expected = {404}
        if response.status_code not in expected:
            wrong.append(f"GET {url} ({name}) -> {response.status_code}, expected {sorted(expected)}")
        elif "no-store" not in response.get("Cache-Control", ""):
            wrong.append(f"GET {url} ({name}) -> Cache-Control {response.get('Cache-Control')!r}")
    # A report of every account is for users who see every account only.
    for name in REPORT_URLS:
        url = reverse(name, args=[desk_objects["every"].pk])
        if client.get(url).status_code != 404:
            wrong.append(f"GET {url} ({name}, a report of every account) is not 404")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("who", DESK_VISITORS)
def test_a_desk_limited_operator_acts_on_its_desk_only(desk_objects, who):
    client = desk_visitor(who, desk_objects, role="operator")
    for name, route in url_names():
        if name not in POST_ONLY:
            continue
        response = client.post(concrete(name, route, desk_objects))
        if POST_ONLY[name] == "key_admin":  # a key admin is never desk-limited
            assert response.status_code == 403, name
        elif who == "desk_viewer":
            assert response.status_code in (200, 302), name
        else:
            assert response.status_code == 404, name
    acknowledged = ApiError.objects.filter(pk=desk_objects["error"].pk, acknowledged=True).exists()
    assert acknowledged == (who == "desk_viewer")


@pytest.mark.parametrize("who", VISITORS)
def test_the_acting_posts_are_for_operators_and_up(objects, who):
    client = visitor(who)
    for name, route in url_names():
        if name not in POST_ONLY:
            continue
        response = client.post(concrete(name, route, objects))
        if who == "anonymous":
            assert response.status_code == 302 and response["Location"].startswith(reverse("login")), name
        elif who in ("stranger", "viewer") or (POST_ONLY[name] == "key_admin" and who != "key_admin"):
            assert response.status_code == 403, name
        else:
            assert response.status_code in (200, 302), name


def test_a_post_without_its_csrf_token_is_refused_on_every_acting_url(objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    account = objects["account"]
    urls = [
        reverse("pages:test_key", args=[account.pk]),
        reverse("pages:acknowledge_error", args=[objects["error"].pk]),
        reverse("admin:accounts_account_rotate", args=[account.pk]),
        reverse("admin:accounts_account_add"),
        reverse("logout"),
    ]
    for url in urls:
        assert client.post(url, {"password": PASSWORD}).status_code == 403, url
    assert not ApiError.objects.filter(acknowledged=True).exists()
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post(reverse("login"), {"username": "x", "password": "y"}).status_code == 403


@pytest.mark.parametrize("debug", [False])
def test_the_session_cookie_is_httponly_samesite_and_secure_in_production(settings, debug):
    from django.conf import settings as live

    assert live.SESSION_COOKIE_HTTPONLY and live.SESSION_COOKIE_SAMESITE == "Lax"
    assert live.CSRF_COOKIE_HTTPONLY
    user = make_user("viewer")
    settings.SESSION_COOKIE_SECURE = True  # what DEBUG=0 sets (test_settings checks the deploy check)
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
