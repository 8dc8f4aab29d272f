"""Where an account's key goes (issue 17 finding 1): only OKX's hosts, or those OKX_EXTRA_BASE_URLS
lists; changing the host is a key action (password under the login's lockout, a live check at the
new host, an audit event); the plain change form cannot edit it."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from accounts.audit import AuditAction, AuditEvent
from accounts.models import Account, HostNotAllowed, base_url_problem
from snapshots.refresh import refresh_account
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


class CaptureServer:
    """A local server that records every request it gets (what an attacker would read)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        captured = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                captured.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code":"0","msg":"","data":[]}')

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture():
    server = CaptureServer()
    yield server
    server.stop()


@pytest.fixture
def only_the_simulator(settings, simulator):
    """The extra hosts name this simulator's exact origin, so another port on 127.0.0.1 is not allowed."""
    settings.OKX_EXTRA_BASE_URLS = [simulator.url]
    return settings


@pytest.fixture
def master(simulator, only_the_simulator):
    uid = simulator.scenario.master.uid
    register_key(simulator, uid, fake_key_set(1))
    account = sim_account(simulator, uid=uid)
    install(account, fake_key_set(1))
    return account


@pytest.fixture
def key_admin(client):
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    return client


def change_host(client, account, password=PASSWORD, **fields):
    data = {"password": password, "region": "global", "base_url": "", **fields}
    return client.post(reverse("admin:accounts_account_host", args=[account.pk]), data)


def text_of(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://www.okx.com", True),
        ("https://eea.okx.com/", True),
        ("https://app.okx.com", True),
        ("https://www.okx.com.evil.example", False),
        ("https://evil.example/?https://www.okx.com", False),
        ("https://user@www.okx.com", False),
        ("http://www.okx.com", False),
        ("http://169.254.169.254", False),
        ("http://127.0.0.1:9", False),  # another port than the listed simulator's
        # Empty query, fragment or user info are still not a bare origin (issue 18 finding 6).
        ("https://www.okx.com#", False),
        ("https://www.okx.com?", False),
        ("https://www.okx.com/?", False),
        ("https://www.okx.com/#", False),
        ("https://@www.okx.com", False),
        ("https://:@www.okx.com", False),
        ("https://www.okx.com/api", False),
        ("https://www.okx.com/", True),
    ],
)
def test_only_okx_hosts_and_the_listed_extra_origins_are_allowed(settings, url, allowed):
    settings.OKX_EXTRA_BASE_URLS = ["http://127.0.0.1:8700"]
    assert (base_url_problem(url) == "") is allowed
    assert base_url_problem("http://127.0.0.1:8700") == ""


def test_the_change_form_has_no_base_url_field(master, key_admin):
    page = key_admin.get(reverse("admin:accounts_account_change", args=[master.pk])).content.decode()
    assert 'name="base_url"' not in page
    assert 'name="region"' not in page
    assert reverse("admin:accounts_account_host", args=[master.pk]) in page  # "Change host"


def test_a_key_admin_cannot_send_the_key_to_a_capture_server(simulator, master, key_admin, capture):
    response = change_host(key_admin, master, base_url=capture.url)
    assert response.status_code == 200
    assert f"{capture.url} is not one of OKX's hosts" in text_of(response)
    master.refresh_from_db()
    assert master.base_url == simulator.url
    assert not AuditEvent.objects.filter(action=AuditAction.HOST_CHANGE).exists()

    # Written into the row some other way (the old change form, the database): still nothing goes there.
    Account.objects.filter(pk=master.pk).update(base_url=capture.url)
    with pytest.raises(HostNotAllowed):
        Account.objects.get(pk=master.pk).build_client()
    outcome = refresh_account(master.pk)
    assert outcome.status == "failed"
    assert "not one of OKX's hosts" in outcome.detail
    assert capture.requests == []


def test_the_add_form_refuses_a_host_that_is_not_okx(simulator, only_the_simulator, key_admin, capture):
    register_key(simulator, simulator.scenario.master.uid, fake_key_set(1))
    data = {"name": "main", "kind": "master", "environment": "live", "region": "global", **fake_key_set(1)}
    response = key_admin.post(reverse("admin:accounts_account_add"), {**data, "base_url": capture.url})
    assert response.status_code == 200
    assert "is not one of OKX's hosts" in text_of(response)
    assert not Account.objects.exists()
    assert capture.requests == []


def test_changing_the_host_is_checked_live_and_audited(
    make_simulator, simulator, master, key_admin, settings
):
    other = make_simulator("demo")
    settings.OKX_EXTRA_BASE_URLS = [simulator.url, other.url]
    register_key(other, master.uid, fake_key_set(1))
    response = change_host(key_admin, master, base_url=other.url)
    assert response.status_code == 302
    master.refresh_from_db()
    assert master.base_url == other.url
    assert calls_to(other, CONFIG) == 1
    event = AuditEvent.objects.get(action=AuditAction.HOST_CHANGE)
    assert event.detail == f"{simulator.url} -> {other.url} (checked with key …0001)"
    assert event.actor_name.startswith("key_admin-")
    assert master.build_client().get_account_config().uid == master.uid


def test_a_host_that_does_not_know_the_key_is_refused_with_okx_code(
    make_simulator, simulator, master, key_admin, settings
):
    other = make_simulator("demo")  # the key is not registered there: OKX answers 50119
    settings.OKX_EXTRA_BASE_URLS = [simulator.url, other.url]
    text = text_of(change_host(key_admin, master, base_url=other.url))
    assert "Refused (key), OKX code 50119" in text
    master.refresh_from_db()
    assert master.base_url == simulator.url
    assert not AuditEvent.objects.filter(action=AuditAction.HOST_CHANGE).exists()
    assert AuditEvent.objects.filter(action=AuditAction.VALIDATION_FAILED, detail__contains="50119").exists()


def test_changing_the_host_needs_the_password_and_asks_nothing_before(
    make_simulator, simulator, master, key_admin, settings
):
    other = make_simulator("demo")
    settings.OKX_EXTRA_BASE_URLS = [simulator.url, other.url]
    register_key(other, master.uid, fake_key_set(1))
    text = text_of(change_host(key_admin, master, password="not-my-password", base_url=other.url))
    assert "That is not your password." in text
    assert calls_to(other, CONFIG) == 0
    master.refresh_from_db()
    assert master.base_url == simulator.url


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_key_admins_change_a_host(client, master, role):
    client.force_login(make_user(role), backend=MODEL_BACKEND)
    response = change_host(client, master, base_url="https://www.okx.com")
    assert response.status_code == 403
    master.refresh_from_db()
    assert master.base_url != "https://www.okx.com"


def test_a_host_that_is_busy_is_refused_with_steps_for_the_person_at_the_form(
    make_simulator, simulator, master, key_admin, settings
):
    other = make_simulator("demo")
    settings.OKX_EXTRA_BASE_URLS = [simulator.url, other.url]
    register_key(other, master.uid, fake_key_set(1))
    other.inject_fault(CONFIG, code="50013", times=None)
    text = text_of(change_host(key_admin, master, base_url=other.url))
    assert "Refused (exchange_busy), OKX code 50013" in text
    assert "Step 1: Try again in a minute; if it persists, check OKX's status page." in text
    assert "Nothing to do" not in text and "the client retries" not in text
    master.refresh_from_db()
    assert master.base_url == simulator.url


def test_a_listed_extra_origin_with_an_empty_fragment_or_query_is_not_allowed(settings):
    settings.OKX_EXTRA_BASE_URLS = ["http://127.0.0.1:8700"]
    for url in ("http://127.0.0.1:8700#", "http://127.0.0.1:8700?", "http://@127.0.0.1:8700"):
        assert "is not one of OKX's hosts" in base_url_problem(url)
