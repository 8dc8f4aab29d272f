"""Login lockouts behind reverse proxies (PROXY_COUNT): one client's lockout is its own, and
X-Forwarded-For counts only when the settings say proxies write it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from accounts.audit import AuditAction, AuditEvent
from tests.accounts_support import PASSWORD, make_user

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"  # what gunicorn sees as REMOTE_ADDR behind the proxy
ATTACKER = "198.51.100.7"
COLLEAGUE = "203.0.113.9"


def login(client: Client, username: str, password: str, forwarded_for: str):
    return client.post(
        "/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def lock_out(username: str, forwarded_for: str) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, username, "wrong-password-1", forwarded_for)
    assert login(client, username, PASSWORD, forwarded_for).status_code == 429


def test_behind_one_proxy_a_locked_out_client_does_not_lock_out_a_colleague(settings):
    settings.PROXY_COUNT = 1
    user = make_user("viewer")
    lock_out(user.username, ATTACKER)

    # The colleague behind the same proxy signs in; the attacker cannot pose as someone else by
    # writing an address of their own into the header (the proxy appends the real one).
    assert login(Client(), user.username, PASSWORD, COLLEAGUE).status_code == 302
    assert login(Client(), user.username, PASSWORD, f"{COLLEAGUE}, {ATTACKER}").status_code == 429
    failures = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILURE)
    assert set(failures.values_list("ip", flat=True)) == {ATTACKER}
    assert AuditEvent.objects.get(action=AuditAction.LOGIN_SUCCESS).ip == COLLEAGUE


def test_behind_two_proxies_the_client_is_the_second_address_from_the_right(settings):
    settings.PROXY_COUNT = 2
    user = make_user("viewer")
    lock_out(user.username, f"{ATTACKER}, 10.0.0.4")
    assert login(Client(), user.username, PASSWORD, f"{COLLEAGUE}, 10.0.0.4").status_code == 302


def test_without_proxies_the_forwarded_header_is_ignored(settings):
    settings.PROXY_COUNT = 0
    user = make_user("viewer")
    lock_out(user.username, ATTACKER)

    # Every request came from the same address; a header the client wrote changes nothing.
    assert login(Client(), user.username, PASSWORD, COLLEAGUE).status_code == 429
    failures = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILURE)
    assert set(failures.values_list("ip", flat=True)) == {PROXY}
