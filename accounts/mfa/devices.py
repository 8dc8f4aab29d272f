"""The second factor's rules over django-otp's devices, and their audit events.

A user's second factor is one or more authenticator apps (TOTPDevice: 6 digits, 30 s steps, one
step of clock drift either way, each code accepted once) and one set of RECOVERY_CODE_COUNT
single-use recovery codes (a StaticDevice named "Recovery codes"). Two-factor authentication is on
for a user with at least one confirmed authenticator; removing the last one turns it off and
deletes the recovery codes with it (codes alone are no second factor).

The sign-in: the password step (Django's LoginView, or single sign-on) signs the session in; for a
user with an authenticator, mark_code_step_due marks it, and the middleware sends every page to
the code step until check_code accepts a code and verifies the session (django_otp.login).

Wrong codes count toward django-axes' lockout like a key action's wrong password (per user name,
from any address: accounts.lockout), so five wrong codes or passwords lock the code step for the
cool-off. A signed-in password resets axes' count for that address (AXES_RESET_ON_SUCCESS), so
django-otp's own throttle stays on as well: after n wrong codes in a row a device refuses to check
any code for 2**(n-1) s, and only a right code resets that.
"""

from __future__ import annotations

import math
import re
from base64 import b32encode
from dataclasses import dataclass
from typing import Any

import django_otp
import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import AuditAction, AuditEvent
from accounts.lockout import KEY_ACTION
from accounts.roles import MANAGE_KEYS

# settings.TWO_FACTOR_REQUIRED (validated there): who must have a second factor.
KEY_ADMINS = "key_admins"
EVERYONE = "everyone"
# In the session from a sign-in of a user with an authenticator until the code step passes.
CODE_STEP_DUE = "mfa.code_step_due"
RECOVERY_CODE_COUNT = 10
DEFAULT_NAME = "Authenticator app"
RECOVERY_SET_NAME = "Recovery codes"
TOTP_CODE = re.compile(r"^\d{6}$")
_SEPARATORS = re.compile(r"[\s-]+")


@dataclass(frozen=True)
class Outcome:
    """What the code step answers: accepted or not, and a sentence for the person."""

    ok: bool
    message: str = ""


def required_for(user: Any) -> bool:
    """Whether `user` must have a second factor: everyone, or (the default) whoever may manage keys
    (key admins, superusers)."""
    return settings.TWO_FACTOR_REQUIRED == EVERYONE or bool(user.has_perm(MANAGE_KEYS))


def authenticators(user: Any) -> QuerySet[TOTPDevice]:
    """The user's confirmed authenticator apps, oldest first."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk")


def has_second_factor(user: Any) -> bool:
    return authenticators(user).exists()


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def normalise(code: str) -> str:
    """A typed code without spaces and dashes, lower case ("abcd-efgh" as shown, "123 456")."""
    return _SEPARATORS.sub("", code).lower()


# -- enrolment ---------------------------------------------------------------------------------


def pending_authenticator(user: Any, *, create: bool) -> TOTPDevice | None:
    """The authenticator app being added: an unconfirmed device whose key the security page shows
    until a code from the app confirms it; made (with a new random key) when `create`."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None and create:
        device = TOTPDevice.objects.create(user=user, name=DEFAULT_NAME, confirmed=False)
    return device


def manual_key(device: TOTPDevice) -> str:
    """The key as an app takes it typed in: base32 in groups of four ("ABCD EFGH ...")."""
    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def qr_svg(device: TOTPDevice) -> SafeString:
    """The device's otpauth:// URL as an inline SVG QR code (a path, no script, no style)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    svg = image.to_string(encoding="unicode").replace(
        "<svg ", '<svg role="img" aria-label="QR code for your authenticator app" ', 1
    )
    return mark_safe(svg)  # noqa: S308  (qrcode's markup of our own URL)


def confirm(request: HttpRequest, device: TOTPDevice, name: str, code: str) -> list[str] | None:
    """Confirm the authenticator being added with a code from it; the session counts as verified
    with it. Returns the new recovery codes when the user had none left (shown once), [] when they
    keep theirs, None when the code is not the app's (or the device is throttled)."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if not device.verify_token(code):
            return None
        device.confirmed = True
        device.name = name
        device.save(update_fields=["confirmed", "name"])
    _verified(request, device)
    AuditEvent.record(
        AuditAction.MFA_ENROL, request=request, obj=device, detail=f"authenticator app {name!r}"
    )
    return [] if recovery_codes_left(request.user) else new_recovery_codes(request)


def new_recovery_codes(request: HttpRequest) -> list[str]:
    """RECOVERY_CODE_COUNT new single-use codes for the request's user, as shown ("abcd-efgh");
    any earlier ones stop working. Only django-otp's table keeps them."""
    user = request.user
    with transaction.atomic():
        device = StaticDevice.objects.filter(user=user).order_by("pk").first()
        if device is None:
            device = StaticDevice.objects.create(user=user, name=RECOVERY_SET_NAME, confirmed=True)
        device.token_set.all().delete()
        tokens = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=token) for token in tokens)
    detail = f"{RECOVERY_CODE_COUNT} new recovery codes; earlier ones no longer work"
    AuditEvent.record(AuditAction.RECOVERY_CODES_NEW, request=request, obj=device, detail=detail)
    return [f"{token[:4]}-{token[4:]}" for token in tokens]


def remove_authenticator(request: HttpRequest, device: TOTPDevice) -> bool:
    """Remove one of the request user's authenticator apps (the view has checked the password).
    Returns True when it was the last: two-factor authentication is then off for the user, and
    their recovery codes are deleted with it."""
    user = request.user
    with transaction.atomic():
        last = not authenticators(user).exclude(pk=device.pk).exists()
        detail = f"authenticator app {device.name!r}"
        if last:
            detail += "; two-factor authentication is off, its recovery codes deleted"
        AuditEvent.record(AuditAction.MFA_REMOVE, request=request, obj=device, detail=detail)
        device.delete()
        if last:
            StaticDevice.objects.filter(user=user).delete()
    return last


# -- the sign-in's code step -------------------------------------------------------------------


@receiver(user_logged_in, dispatch_uid="accounts.mfa.code_step_due")
def mark_code_step_due(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Any sign-in (the login page, single sign-on, the admin's login) of a user with an
    authenticator leaves the session at the code step. A sign-in that verified a device itself
    (user.otp_device set, which django-otp's own receiver puts in the session) is complete."""
    if request is None or not hasattr(request, "session"):
        return
    if getattr(user, "otp_device", None) is None and has_second_factor(user):
        request.session[CODE_STEP_DUE] = True


def check_code(request: HttpRequest, typed: str) -> Outcome:
    """The code step for the request's (signed-in) user: 6 digits are checked against their
    authenticator apps, anything else against their recovery codes (each works once). A right code
    verifies the session; a wrong one counts toward the lockout and is audited (MFA_FAILURE)."""
    user = request.user
    credentials = {"username": user.get_username(), KEY_ACTION: True}
    if AxesProxyHandler.is_locked(request, credentials):
        _refused(request, "locked out")
        return Outcome(False, locked_message())
    code = normalise(typed)
    candidates: list[Device] = list(
        authenticators(user)
        if TOTP_CODE.match(code)
        else StaticDevice.objects.filter(user=user, confirmed=True)
    )
    wait = throttled_seconds(candidates)
    if wait:
        _refused(request, f"not checked: {wait} s to wait after wrong codes in a row")
        return Outcome(False, f"Too many wrong codes in a row: wait {seconds(wait)}, then try again.")
    device = next((d for d in candidates if django_otp.verify_token(user, d.persistent_id, code)), None)
    if device is None:
        AxesProxyHandler.user_login_failed(sender=check_code, credentials=credentials, request=request)
        locked = bool(getattr(request, "axes_locked_out", False))
        request.axes_locked_out = False  # type: ignore[attr-defined]  # this page says so itself
        _refused(request, "wrong code" + ("; now locked out" if locked else ""))
        return Outcome(False, "That code is not right." + (f" {locked_message()}" if locked else ""))
    _verified(request, device)
    if isinstance(device, StaticDevice):
        left = device.token_set.count()
        detail = f"{left} recovery code{'' if left == 1 else 's'} left"
        AuditEvent.record(AuditAction.RECOVERY_CODE_USED, request=request, obj=device, detail=detail)
        return Outcome(
            True, f"You signed in with a recovery code: {detail}. Make new ones on the security page."
        )
    return Outcome(True)


def throttled_seconds(devices: list[Device]) -> int:
    """Seconds until one of `devices` checks a code again (django-otp's throttle after wrong codes
    in a row); 0 when one checks now or there are none."""
    until = []
    for device in devices:
        allowed, info = device.verify_is_allowed()
        if allowed:
            return 0
        until.append((info or {}).get("locked_until") or timezone.now())
    if not until:
        return 0
    return max(1, math.ceil((min(until) - timezone.now()).total_seconds()))


def seconds(n: int) -> str:
    return f"{n} second{'' if n == 1 else 's'}"


def locked_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many wrong codes or passwords: your user is locked for {minutes} minutes, from any "
        "address (the same limit as the login). Try again later, or sign out."
    )


def _verified(request: HttpRequest, device: Device) -> None:
    """The session passed the second factor with `device`: a new session key for the new standing."""
    request.session.cycle_key()
    django_otp.login(request, device)
    request.session.pop(CODE_STEP_DUE, None)


def _refused(request: HttpRequest, detail: str) -> None:
    AuditEvent.record(AuditAction.MFA_FAILURE, request=request, detail=detail)
