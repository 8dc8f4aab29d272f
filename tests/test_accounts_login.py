from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from accounts.audit import AuditAction, AuditEvent
from tests.accounts_support import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def login(client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_login_page_signs_in_and_audits_success_and_failure(client):
    user = make_user("viewer")
    assert client.get("/login/").status_code == 200
    assert login(client, user.username, "wrong-password-1").status_code == 200
    assert not is_signed_in(client)
    response = login(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert is_signed_in(client)
    failure = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILURE)
    success = AuditEvent.objects.get(action=AuditAction.LOGIN_SUCCESS)
    assert failure.actor_name == success.actor_name == user.username
    assert failure.ip == success.ip == "127.0.0.1"
    assert success.actor == user
    assert PASSWORD not in str(list(AuditEvent.objects.values()))


def lock_out(client, username: str) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, username, "wrong-password-1")


def test_after_five_failures_even_the_right_password_is_refused_until_the_cool_off_ends(client):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    user = make_user("viewer")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        lock_out(client, user.username)
        response = login(client, user.username, PASSWORD)
        assert response.status_code == 429
        assert not is_signed_in(client)
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        response = login(client, user.username, PASSWORD)
        assert response.status_code == 302
        assert is_signed_in(client)
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILURE).count() == 6


def test_trying_again_during_the_cool_off_restarts_it(client):
    user = make_user("viewer")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        lock_out(client, user.username)
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert login(client, user.username, PASSWORD).status_code == 429
    with time_machine.travel(start + timedelta(minutes=20), tick=False):  # 15 min from the start: still
        assert login(client, user.username, PASSWORD).status_code == 429
    with time_machine.travel(start + timedelta(minutes=36), tick=False):  # 16 min after the last try
        assert login(client, user.username, PASSWORD).status_code == 302


def test_four_failures_do_not_lock_the_account(client):
    user = make_user("viewer")
    for _ in range(4):
        login(client, user.username, "wrong-password-1")
    assert login(client, user.username, PASSWORD).status_code == 302
