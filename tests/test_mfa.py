"""Two-factor authentication (issue 21): who is sent to enrol or to the code step before which
pages, enrolment with a code from a frozen clock, the sign-in's code step with its lockout,
recovery codes that work once, removal behind the password, the audit rows, and no key or code
outside django-otp's tables.

These tests sign in through the real pages (the login, the code step, the security page); a
force_login elsewhere in the suite stands for a full sign-in, second factor included
(tests/conftest.py)."""

from __future__ import annotations

import logging
import re
from base64 import b32encode
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import AuditAction, AuditEvent
from accounts.mfa import devices
from reports.models import ReportSchedule
from tests.accounts_support import (
    PASSWORD,
    authenticator_of,
    fake_key_set,
    give_second_factor,
    install,
    make_user,
    register_key,
    sim_account,
    totp_code,
)
from tests.api_support import token_for
from tests.test_accounts_secrets import every_row_of_every_table
from tests.test_settings import PRODUCTION_ENV, run_manage

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
SECURITY = "/account/security/"
CODE_STEP = "/account/two-factor/"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
WRONG_CODE = "918273"
OTP_TABLES = ("otp_totp_totpdevice", "otp_static_statictoken")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock():
    """A frozen clock at AT; .shift(timedelta) moves it (TOTP codes and lockouts follow it)."""
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


def key_action_urls() -> list[tuple[str, str]]:
    """(method, path) of every key action: every admin URL (ids filled with 1) and Send now."""

    def walk(patterns, prefix: str):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    (admin,) = [p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "admin"]
    routes = sorted(set(walk(admin.url_patterns, "admin/")))
    paths = [
        "/" + re.sub(r"<(?:\w+:)?\w+>", "1", re.sub(r"^\^|\$$", "", r)).replace("\\", "") for r in routes
    ]
    return [("get", p) for p in paths if "(?P" not in p] + [("post", reverse("reports:send_now", args=[1]))]


def sign_in(client: Client, user) -> str:
    """The password step; returns where it sent the browser."""
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def enter_code(client: Client, code: str, next_url: str = "/", **extra):
    return client.post(f"{CODE_STEP}?next={quote(next_url)}", {"code": code}, **extra)


def page(response) -> str:
    return response.content.decode()


def actions(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


# -- who is sent where -----------------------------------------------------------------------------


def test_a_key_admin_without_a_second_factor_reaches_no_key_action_and_is_sent_to_enrol(client):
    user = make_user("key_admin", second_factor=False)
    client.force_login(user, backend=MODEL_BACKEND)
    urls = key_action_urls()
    assert len(urls) > 40 and ("get", "/admin/accounts/account/1/rotate/") in urls
    for method, url in urls:
        response = getattr(client, method)(url, HTTP_REFERER="http://testserver/reports/")
        assert response.status_code == 302, url
        expected = "/reports/" if method == "post" else url
        assert response["Location"] == f"{SECURITY}?next={quote(expected, safe='')}", url
    assert ReportSchedule.objects.count() == 0 and not TOTPDevice.objects.filter(confirmed=True).exists()
    # The other pages stay open.
    assert client.get(reverse("pages:overview")).status_code == 200
    assert client.get(reverse("reports:list")).status_code == 200


def test_a_viewer_in_the_admin_is_not_asked_for_a_second_factor_by_default(client):
    client.force_login(make_user("viewer"), backend=MODEL_BACKEND)
    assert client.get(reverse("admin:accounts_account_changelist")).status_code == 200
    assert client.get(SECURITY).status_code == 200  # still free to turn it on


def test_a_key_admin_with_a_verified_session_does_key_actions(client):
    # force_login stands for a full sign-in, the second factor included.
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    assert client.get(reverse("admin:accounts_account_add")).status_code == 200


def test_everyone_must_enrol_before_any_page_but_sign_in_health_and_tokens_stay_open(client, settings):
    settings.TWO_FACTOR_REQUIRED = devices.EVERYONE
    viewer = make_user("viewer")
    client.force_login(viewer, backend=MODEL_BACKEND)
    for url in (
        reverse("pages:overview"),
        reverse("pages:keys"),
        reverse("alerts:index"),
        reverse("api:docs"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(SECURITY), url
    api = client.get(reverse("api:accounts"))
    assert api.status_code == 403 and SECURITY in api.json()["detail"]
    assert client.get(SECURITY).status_code == 200
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(reverse("login")).status_code == 200
    # A script with a token (made by a key admin with manage.py api_token) is not asked.
    scripted = Client(HTTP_AUTHORIZATION=f"Token {token_for(viewer)}")
    assert scripted.get(reverse("api:accounts")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_a_session_signed_in_before_its_user_enrolled_elsewhere_is_asked_for_the_code(client):
    user = make_user("key_admin", second_factor=False)
    client.force_login(user, backend=MODEL_BACKEND)
    give_second_factor(user)  # from another browser
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(CODE_STEP)
    # ... and cannot add an authenticator of its own with the password alone.
    assert client.get(SECURITY)["Location"].startswith(CODE_STEP)


def test_a_bad_two_factor_setting_stops_start_up_naming_it():
    result = run_manage("check", env={**PRODUCTION_ENV, "TWO_FACTOR_REQUIRED": "admins"})
    assert result.returncode != 0
    assert "TWO_FACTOR_REQUIRED must be key_admins or everyone; got 'admins'" in result.stderr


# -- enrolment -------------------------------------------------------------------------------------


def test_enrolment_with_a_code_from_a_frozen_clock_confirms_the_device(client, clock):
    user = make_user("key_admin", second_factor=False)
    client.force_login(user, backend=MODEL_BACKEND)
    rotate = reverse("admin:accounts_account_add")
    sent = client.get(rotate)["Location"]
    form = page(client.get(sent))
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    key = b32encode(pending.bin_key).decode()
    assert "<svg" in form and 'aria-label="QR code for your authenticator app"' in form
    assert " ".join(re.findall(".{4}", key)) in form  # the key for typing in, in groups of four
    assert "<script" not in form and " style=" not in form  # the strict CSP holds

    wrong = client.post(reverse("mfa:confirm"), {"name": "work phone", "code": WRONG_CODE, "next": rotate})
    assert "That is not the code the app shows" in page(wrong)
    assert WRONG_CODE not in page(wrong)  # a typed code is never written back
    clock.shift(timedelta(seconds=2))  # django-otp's throttle after a wrong code: 1 s
    code = f"{totp(pending.bin_key):06d}"
    done = client.post(reverse("mfa:confirm"), {"name": "work phone", "code": code, "next": rotate})
    assert done.status_code == 200
    shown = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", page(done))
    stored = StaticToken.objects.filter(device__user=user).values_list("token", flat=True)
    assert len(shown) == devices.RECOVERY_CODE_COUNT == 10
    assert sorted(c.replace("-", "") for c in shown) == sorted(stored)
    assert f'href="{rotate}"' in page(done)  # then on to where the person was going
    pending.refresh_from_db()
    assert pending.confirmed and pending.name == "work phone"
    assert client.get(rotate).status_code == 200  # the session is verified
    (enrol,) = actions(AuditAction.MFA_ENROL)
    assert (enrol.actor, enrol.detail) == (user, "authenticator app 'work phone'")
    assert actions(AuditAction.RECOVERY_CODES_NEW)[0].detail.startswith("10 new recovery codes")
    assert "on" in page(client.get(SECURITY)) and "10 of 10" in page(client.get(SECURITY))


# -- the sign-in's code step -----------------------------------------------------------------------


def test_signing_in_asks_for_the_code_before_any_page_then_opens_key_actions(client, clock):
    user = make_user("key_admin")
    assert sign_in(client, user) == "/"
    for url in ("/", reverse("admin:index"), reverse("api:accounts"), SECURITY):
        response = client.get(url)
        assert response.status_code in (302, 403), url
        if response.status_code == 302:
            assert response["Location"].startswith(CODE_STEP), url
    step = client.get(f"{CODE_STEP}?next=/admin/")
    assert step.status_code == 200 and "Two-factor code" in page(step)
    assert 'class="sections"' not in page(step)  # no pages' top bar before the second factor
    response = enter_code(client, totp_code(authenticator_of(user.username)), "/admin/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get(reverse("admin:accounts_account_add")).status_code == 200
    assert not actions(AuditAction.MFA_FAILURE)


def test_a_wrong_code_is_refused_audited_and_five_lock_the_user_from_any_address(client, clock):
    user = make_user("key_admin")
    sign_in(client, user)
    device = authenticator_of(user.username)
    refused = enter_code(client, WRONG_CODE)
    assert refused.status_code == 200 and "That code is not right." in page(refused)
    assert WRONG_CODE not in page(refused)
    (failure,) = actions(AuditAction.MFA_FAILURE)
    assert (failure.actor, failure.detail, failure.ip) == (user, "wrong code", "127.0.0.1")
    # django-otp's throttle: right after a wrong code, no code is checked for 1 s.
    quick = enter_code(client, totp_code(device))
    assert "Too many wrong codes in a row: wait 1 second," in page(quick)
    for wait in (1, 2, 4, 8):  # four more wrong codes, each after the throttle's wait
        clock.shift(timedelta(seconds=wait))
        last = enter_code(client, WRONG_CODE)
    assert "your user is locked for 15 minutes, from any address" in page(last)
    assert actions(AuditAction.MFA_FAILURE)[-1].detail == "wrong code; now locked out"
    clock.shift(timedelta(seconds=20))
    elsewhere = enter_code(client, totp_code(device), REMOTE_ADDR="203.0.113.9")
    assert elsewhere.status_code == 200 and "locked for 15 minutes" in page(elsewhere)
    assert client.get("/")["Location"].startswith(CODE_STEP)
    # The posted code never reaches axes' rows; the password login from here is locked too.
    assert {a.post_data.split("code=")[1].split("\n")[0] for a in AccessAttempt.objects.all()} == {"*" * 20}
    assert (
        Client().post(reverse("login"), {"username": user.username, "password": PASSWORD}).status_code == 429
    )
    clock.shift(settings.AXES_COOLOFF_TIME + timedelta(minutes=1))
    assert enter_code(client, totp_code(device))["Location"] == "/"
    assert len(actions(AuditAction.MFA_FAILURE)) == 7  # 5 wrong, 1 throttled, 1 while locked


def test_a_recovery_code_signs_in_once(clock):
    user = make_user("key_admin")
    owner = Client()
    owner.force_login(user, backend=MODEL_BACKEND)
    codes = re.findall(r"<code>([a-z2-7-]{9})</code>", page(owner.post(reverse("mfa:recovery_codes"))))
    assert len(codes) == 10
    first = Client()
    sign_in(first, user)
    used = enter_code(first, codes[0].upper().replace("-", " "))  # as typed from paper
    assert used.status_code == 302
    assert "9 recovery codes left" in page(first.get(used["Location"], follow=True))
    (event,) = actions(AuditAction.RECOVERY_CODE_USED)
    assert (event.actor, event.detail) == (user, "9 recovery codes left")
    again = Client()
    sign_in(again, user)
    clock.shift(timedelta(seconds=5))
    assert "That code is not right." in page(enter_code(again, codes[0]))
    clock.shift(timedelta(seconds=2))  # django-otp's throttle after a wrong code
    assert enter_code(again, codes[1]).status_code == 302
    assert StaticToken.objects.filter(device__user=user).count() == 8


def test_new_recovery_codes_replace_the_old_ones(client, clock):
    user = make_user("key_admin")
    client.force_login(user, backend=MODEL_BACKEND)
    old = re.findall(r"<code>([a-z2-7-]{9})</code>", page(client.post(reverse("mfa:recovery_codes"))))
    new = re.findall(r"<code>([a-z2-7-]{9})</code>", page(client.post(reverse("mfa:recovery_codes"))))
    assert len(new) == 10 and not set(old) & set(new)
    stranger = Client()
    sign_in(stranger, user)
    assert "That code is not right." in page(enter_code(stranger, old[0]))
    clock.shift(timedelta(seconds=5))
    assert enter_code(stranger, new[0]).status_code == 302
    assert len(actions(AuditAction.RECOVERY_CODES_NEW)) == 2


# -- removal ---------------------------------------------------------------------------------------


def test_removing_an_authenticator_needs_the_password_and_the_last_turns_it_off(client):
    user = make_user("key_admin")
    spare = give_second_factor(user, "spare phone")
    client.force_login(user, backend=MODEL_BACKEND)
    client.post(reverse("mfa:recovery_codes"))
    first = authenticator_of(user.username)
    refused = client.post(reverse("mfa:remove", args=[spare.pk]), {"password": "not-my-password-1"})
    assert refused.status_code == 200 and "That is not your password." in page(refused)
    assert TOTPDevice.objects.filter(pk=spare.pk).exists()
    assert actions(AuditAction.REAUTH_FAILED)[0].object_repr.startswith("spare phone")

    assert client.post(reverse("mfa:remove", args=[spare.pk]), {"password": PASSWORD}).status_code == 302
    assert not TOTPDevice.objects.filter(pk=spare.pk).exists()
    assert StaticToken.objects.filter(device__user=user).count() == 10  # another app remains
    client.post(reverse("mfa:remove", args=[first.pk]), {"password": PASSWORD})
    assert not devices.has_second_factor(user) and not StaticToken.objects.filter(device__user=user).exists()
    removed = actions(AuditAction.MFA_REMOVE)
    assert [e.detail for e in removed] == [
        "authenticator app 'spare phone'",
        "authenticator app 'test phone'; two-factor authentication is off, its recovery codes deleted",
    ]
    assert client.get(reverse("admin:index"))["Location"].startswith(SECURITY)  # enrol again first


def test_nobody_removes_another_users_authenticator(client):
    other = authenticator_of(make_user("key_admin").username)
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    assert client.post(reverse("mfa:remove", args=[other.pk]), {"password": PASSWORD}).status_code == 404
    assert TOTPDevice.objects.filter(pk=other.pk).exists()


# -- secrets ---------------------------------------------------------------------------------------


def test_no_key_or_code_leaves_django_otps_tables(client, clock, caplog):
    caplog.set_level(logging.DEBUG)
    user = make_user("key_admin", second_factor=False)
    client.force_login(user, backend=MODEL_BACKEND)
    client.get(SECURITY)
    pending = TOTPDevice.objects.get(user=user)
    client.post(reverse("mfa:confirm"), {"name": "phone", "code": f"{totp(pending.bin_key):06d}"})
    codes = list(StaticToken.objects.values_list("token", flat=True))
    second = Client()
    sign_in(second, user)
    enter_code(second, WRONG_CODE)
    clock.shift(timedelta(seconds=2))
    enter_code(second, codes[0])
    device = authenticator_of(user.username)
    secrets = [device.key, b32encode(device.bin_key).decode(), *codes, WRONG_CODE]
    outside = "\n".join(
        line for line in every_row_of_every_table().splitlines() if not line.startswith(OTP_TABLES)
    )
    for secret in secrets:
        assert secret not in outside
        assert secret.upper() not in outside
        assert secret not in caplog.text
    assert {e.action for e in AuditEvent.objects.all()} >= {
        AuditAction.MFA_ENROL,
        AuditAction.RECOVERY_CODES_NEW,
        AuditAction.MFA_FAILURE,
        AuditAction.RECOVERY_CODE_USED,
    }


def test_axes_rows_keep_no_posted_code_nor_the_key_a_rotation_posts_beside_a_wrong_password(
    client, simulator
):
    """settings.AXES_SENSITIVE_PARAMETERS: axes stores a failed attempt's posted fields."""
    uid = simulator.scenario.master.uid
    register_key(simulator, uid, fake_key_set(1))
    register_key(simulator, uid, fake_key_set(2))
    account = sim_account(simulator, uid=uid)
    install(account, fake_key_set(1))
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    url = reverse("admin:accounts_account_rotate", args=[account.pk])
    assert "not your password" in page(client.post(url, {"password": "wrong-password-1", **fake_key_set(2)}))
    (attempt,) = AccessAttempt.objects.all()
    for field, value in fake_key_set(2).items():
        assert f"{field}=********************" in attempt.post_data and value not in attempt.post_data


def test_a_user_without_a_password_confirms_a_key_action_with_a_code(client):
    """A key admin created by single sign-on has no password here: a key action's re-entry
    (here: removing an authenticator) takes a current authenticator code instead, with the
    same lockout and audit as a wrong password."""
    user = make_user("key_admin")
    user.set_unusable_password()
    user.save()
    spare = give_second_factor(user, "spare phone")
    first = authenticator_of(user.username)
    client.force_login(user, backend=MODEL_BACKEND)
    assert "Your two-factor code" in page(client.get(SECURITY))
    refused = client.post(reverse("mfa:remove", args=[spare.pk]), {"password": WRONG_CODE})
    assert refused.status_code == 200 and "That code is not right." in page(refused)
    assert TOTPDevice.objects.filter(pk=spare.pk).exists()
    assert actions(AuditAction.REAUTH_FAILED)[0].object_repr.startswith("spare phone")
    # django-otp's back-off after the wrong code: a second later the right one is checked.
    with time_machine.travel(datetime.now(tz=UTC) + timedelta(seconds=5), tick=False):
        right = client.post(reverse("mfa:remove", args=[spare.pk]), {"password": totp_code(first)})
    assert right.status_code == 302 and not TOTPDevice.objects.filter(pk=spare.pk).exists()
