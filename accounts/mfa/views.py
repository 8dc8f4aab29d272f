"""The code step (/account/two-factor/) and the security page (/account/security/) with its forms.

Every signed-in user may use them, whatever the role: with TWO_FACTOR_REQUIRED=everyone a user of
no role enrols too. The middleware keeps a session whose code step is due away from the security
page (a password alone must not add an authenticator). Recovery codes are shown once, in the
answer to the POST that made them: a redirect would need them kept somewhere until the next page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.mfa import devices
from accounts.mfa.forms import CodeForm, ConfirmForm, RemoveForm


def next_url(request: HttpRequest, default: str = "/") -> str:
    """The same-site ?next= (or posted next) to go on to, else `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The sign-in's second step: a code from an authenticator app or a recovery code."""
    user: Any = request.user
    target = next_url(request)
    if user.is_verified() or not devices.has_second_factor(user):
        request.session.pop(devices.CODE_STEP_DUE, None)
        return redirect(target)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = devices.check_code(request, form.cleaned_data["code"])
        if outcome.ok:
            if outcome.message:
                messages.warning(request, outcome.message)
            return redirect(target)
        form.add_error("code", outcome.message)
    return render(request, "accounts/mfa/verify.html", {"form": form, "next": target, "signing_in": True})


@login_required
def security(request: HttpRequest) -> HttpResponse:
    return _security_page(request)


@login_required
@require_POST
def add(request: HttpRequest) -> HttpResponse:
    """Start adding another authenticator app (a new key, shown until a code confirms it)."""
    devices.pending_authenticator(request.user, create=True)
    return _back_to_security(request)


@login_required
@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    """Drop the authenticator app being added (its key was never confirmed)."""
    pending = devices.pending_authenticator(request.user, create=False)
    if pending is not None and devices.has_second_factor(request.user):
        pending.delete()
    return _back_to_security(request)


@login_required
@require_POST
def confirm(request: HttpRequest) -> HttpResponse:
    pending = devices.pending_authenticator(request.user, create=False)
    if pending is None:
        messages.info(request, "That authenticator was confirmed or cancelled already.")
        return _back_to_security(request)
    form = ConfirmForm(request.POST)
    wait = devices.throttled_seconds([pending])  # after wrong codes in a row, no code is checked
    if form.is_valid() and wait:
        form.add_error(
            "code", f"Too many wrong codes in a row: wait {devices.seconds(wait)}, then try again."
        )
    elif form.is_valid():
        codes = devices.confirm(request, pending, form.cleaned_data["name"], form.cleaned_data["code"])
        if codes is not None:
            added = f"Two-factor authentication is on: {form.cleaned_data['name']} was added."
            if codes:
                return _recovery_codes_page(request, codes, added)
            messages.success(request, added)
            return HttpResponseRedirect(next_url(request, reverse("mfa:security")))
        form.add_error(
            "code",
            "That is not the code the app shows for this key. Check that the app added this key "
            "(scan the QR code again), that the phone's clock is right, and type the newest code.",
        )
    return _security_page(request, confirm_form=form)


@login_required
@require_POST
def remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove an authenticator app: the person's password again (a key action's re-entry)."""
    device = get_object_or_404(devices.authenticators(request.user), pk=pk)
    form = RemoveForm(request.user, device, request.POST, request=request)  # type: ignore[arg-type]
    if not form.is_valid():
        return _security_page(request, remove_forms={device.pk: form})
    last = devices.remove_authenticator(request, device)
    messages.success(
        request,
        f"{device.name} was removed."
        + (" Two-factor authentication is off; your recovery codes no longer work." if last else ""),
    )
    return _back_to_security(request)


@login_required
@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes (the old ones stop working), for a user with two-factor authentication."""
    if not devices.has_second_factor(request.user):
        raise Http404("Recovery codes come with an authenticator app: add one first.")
    codes = devices.new_recovery_codes(request)
    return _recovery_codes_page(request, codes, "New recovery codes were made: the old ones no longer work.")


def _security_page(
    request: HttpRequest,
    *,
    confirm_form: ConfirmForm | None = None,
    remove_forms: dict[int, RemoveForm] | None = None,
) -> HttpResponse:
    user: Any = request.user
    confirmed = list(devices.authenticators(user))
    # A user without a second factor sees a key to add at once (made on this first visit).
    pending = devices.pending_authenticator(user, create=not confirmed)
    bound = remove_forms or {}
    rows = [
        (device, bound.get(device.pk) or RemoveForm(user, device, request=request)) for device in confirmed
    ]
    context = {
        "authenticators": rows,
        "pending": pending,
        "qr": devices.qr_svg(pending) if pending else "",
        "manual_key": devices.manual_key(pending) if pending else "",
        "issuer": settings.OTP_TOTP_ISSUER,
        "confirm_form": confirm_form or ConfirmForm(),
        "codes_left": devices.recovery_codes_left(user) if confirmed else 0,
        "code_count": devices.RECOVERY_CODE_COUNT,
        "required": devices.required_for(user),
        "everyone": settings.TWO_FACTOR_REQUIRED == devices.EVERYONE,
        "next": next_url(request, ""),
        "zone": settings.DISPLAY_TIME_ZONE,
    }
    with timezone.override(ZoneInfo(settings.DISPLAY_TIME_ZONE)):
        return render(request, "accounts/mfa/security.html", context)


def _recovery_codes_page(request: HttpRequest, codes: list[str], headline: str) -> HttpResponse:
    context = {"codes": codes, "headline": headline, "next": next_url(request, reverse("mfa:security"))}
    return render(request, "accounts/mfa/recovery_codes.html", context)


def _back_to_security(request: HttpRequest) -> HttpResponse:
    url = reverse("mfa:security")
    target = next_url(request, "")
    return HttpResponseRedirect(f"{url}?{urlencode({'next': target})}" if target else url)
