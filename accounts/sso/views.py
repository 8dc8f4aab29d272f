"""The sign-in pages: the login page (password form per LOCAL_PASSWORDS, the "Sign in with
<provider>" button when single sign-on is configured), /login/oidc/ (to the provider) and its
callback, and the page a signed-in user without a role lands on.

A failed single sign-on never answers 500: the person is sent back to the login page with a
message saying what happened, and a LOGIN_FAILURE audit row names single sign-on and why.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from accounts import sso
from accounts.audit import AuditAction, AuditEvent
from accounts.roles import VIEW_DASHBOARD
from accounts.sso import provider, users
from accounts.sso.config import LOCAL_PASSWORDS_OFF, LOCAL_PASSWORDS_ON, LOCAL_PASSWORDS_SUPERUSERS

# Users found by single sign-on are loaded on later requests by Django's ModelBackend.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
NEXT_SESSION_KEY = "single_sign_on_next"


class LoginForm(AuthenticationForm):
    """Django's login form. While LOCAL_PASSWORDS limits password sign-in, a refused password is
    told so, the same words for every user name (none is shown to be a superuser's)."""

    def get_invalid_login_error(self) -> ValidationError:
        if settings.LOCAL_PASSWORDS == LOCAL_PASSWORDS_ON:
            return super().get_invalid_login_error()
        other_way = f" Sign in with {provider.provider_name()}." if provider.is_configured() else ""
        if settings.LOCAL_PASSWORDS == LOCAL_PASSWORDS_OFF:
            text = "Password sign-in is switched off here."
        else:
            text = (
                "Wrong user name or password, or not a superuser: "
                "password sign-in is open to superusers only."
            )
        return ValidationError(text + other_way, code="local_passwords")


class LoginView(auth_views.LoginView):
    template_name = "dashboard/login.html"
    form_class = LoginForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["single_sign_on"] = provider.provider_name() if provider.is_configured() else None
        context["password_sign_in_off"] = settings.LOCAL_PASSWORDS == LOCAL_PASSWORDS_OFF
        context["password_sign_in_superusers_only"] = settings.LOCAL_PASSWORDS == LOCAL_PASSWORDS_SUPERUSERS
        return context


@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """To the provider's sign-in; `next` (a path on this site) is where the callback ends."""
    if not provider.is_configured():
        raise Http404("single sign-on is not configured")
    next_url = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    request.session[NEXT_SESSION_KEY] = next_url if safe else ""
    try:
        return provider.start(request, request.build_absolute_uri(reverse("sso:callback")))
    except provider.SignInFailed as failure:
        messages.error(request, failure.message)
        return redirect(settings.LOGIN_URL)


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: check it, find the user, sign in (Django's login, so the second
    factor's middleware sees an ordinary session); or back to the login page saying why."""
    if not provider.is_configured():
        raise Http404("single sign-on is not configured")
    name = provider.provider_name()
    try:
        found = users.sign_in(provider.finish(request), issuer=settings.OIDC_ISSUER)
    except provider.SignInFailed as failure:
        AuditEvent.record(
            AuditAction.LOGIN_FAILURE, request=request, detail=f"single sign-on ({name}): {failure.reason}"
        )
        messages.error(request, failure.message)
        return redirect(settings.LOGIN_URL)
    next_url = request.session.pop(NEXT_SESSION_KEY, "") or settings.LOGIN_REDIRECT_URL
    setattr(request, sso.REQUEST_DETAIL_ATTRIBUTE, f"single sign-on ({name}): {found.detail}")
    login(request, found.user, backend=MODEL_BACKEND)
    request.session[sso.SESSION_KEY] = name
    if not found.user.has_perm(VIEW_DASHBOARD):
        return redirect("sso:no_role")
    return redirect(next_url)


@login_required
def no_role(request: HttpRequest) -> HttpResponse:
    """Signed in, but without a role: says so and who can give one (a user with a role goes home)."""
    if request.user.has_perm(VIEW_DASHBOARD):
        return redirect(settings.LOGIN_REDIRECT_URL)
    context = {
        "role_map": bool(settings.OIDC_ROLE_MAP),
        "provider_name": provider.provider_name(),
        "signed_in_with_sso": bool(request.session.get(sso.SESSION_KEY)),
    }
    return render(request, "accounts/no_role.html", context)
