"""Every URL the project serves, for every kind of visitor: the patterns come from the resolver,
so a URL added later is in the matrix at once (and fails here until someone decides who may see
it). The Django admin has its own tests (test_accounts_access.py); the login throttle, the
deploy check and the secret fields of error reports are pinned in test_accounts_login.py,
test_settings.py and test_accounts_access.py. Here also: CSRF on every POST, session cookies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.history import ApiError
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
# The API's one HTML page (its documentation) treats a browser like the pages do: to the login page.
API_PAGES = {"api:docs"}
SKIPPED_NAMESPACES = {"admin"}


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
