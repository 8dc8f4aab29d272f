"""Where a signed-in session must show its second factor first (settings.MIDDLEWARE, after
django-otp's OTPMiddleware, which gives request.user.is_verified()).

Before a view runs, a session that is not verified (django-otp) is sent
- to the code step (mfa:verify) while its sign-in's code step is due (devices.mark_code_step_due),
  from every page;
- before the pages its user needs a second factor for (key actions for key admins; every page
  with TWO_FACTOR_REQUIRED=everyone): to the code step when the user has an authenticator (a
  session signed in before they added it), else to enrolment (mfa:security).
Always open: the login and logout, the code step itself, the health and metrics probes (static
files never get here: WhiteNoise answers them first). The JSON API answers 403 with the way to go
instead of a redirect; a request with an API token has no session user here and is not affected
(tokens are made by key admins with `manage.py api_token`).

Key actions: the whole admin (add an account, rotate a key, change its host, discover sub-accounts,
retire credentials, alert channels and rules, report schedules, desks, users) and the reports'
"Send now". Encryption-key rotation and API tokens are `manage.py` commands, run with shell access.

Queries: none for a session without a second factor on a page that does not need one; one (the
verified device) per request of a verified session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect, JsonResponse
from django.urls import ResolverMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.mfa import devices

ALWAYS_OPEN = frozenset({"login", "logout", "healthz", "readyz", "metrics", "mfa:verify"})
# The security page and its forms: a user who must enrol is sent there, so they are open to a
# session without a second factor (and only to such a session or a verified one).
ENROLMENT = frozenset(
    {"mfa:security", "mfa:add", "mfa:confirm", "mfa:cancel", "mfa:remove", "mfa:recovery_codes"}
)
# Key actions outside the admin (every admin URL is one).
KEY_ACTIONS = frozenset({"reports:send_now"})
API_NAMESPACE = "api"
API_PAGES = frozenset({"api:docs"})  # the API's HTML page is sent on like any page


def is_key_action(match: ResolverMatch) -> bool:
    return "admin" in match.namespaces or match.view_name in KEY_ACTIONS


def needs_second_factor(user: Any, match: ResolverMatch) -> bool:
    """Whether `user` must have shown a second factor before this view."""
    if settings.TWO_FACTOR_REQUIRED == devices.EVERYONE:
        return True
    return is_key_action(match) and devices.required_for(user)  # has_perm: only on key actions


class SecondFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        user: Any = request.user
        match = request.resolver_match
        if match is None or not user.is_authenticated or match.view_name in ALWAYS_OPEN:
            return None
        if user.is_verified():
            return None
        if request.session.get(devices.CODE_STEP_DUE):
            return send(request, match, "mfa:verify")
        enrolment = match.view_name in ENROLMENT
        if not enrolment and not needs_second_factor(user, match):
            return None
        if devices.has_second_factor(user):
            return send(request, match, "mfa:verify")
        return None if enrolment else send(request, match, "mfa:security")


def send(request: HttpRequest, match: ResolverMatch, target: str) -> HttpResponseBase:
    """A redirect to `target` with ?next= (where the person was going; for a POST, the page it came
    from), or for the JSON API a 403 saying where to go."""
    url = reverse(target)
    if match.namespace == API_NAMESPACE and match.view_name not in API_PAGES:
        what = "enter your two-factor code" if target == "mfa:verify" else "set up two-factor authentication"
        return JsonResponse({"detail": f"Sign in in a browser and {what} at {url} first."}, status=403)
    back = request.get_full_path() if request.method in ("GET", "HEAD") else came_from(request)
    return HttpResponseRedirect(f"{url}?{urlencode({'next': back})}" if back else url)


def came_from(request: HttpRequest) -> str:
    """The path of the same-site page a POST came from (its Referer), else ""."""
    referer = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(referer, {request.get_host()}, require_https=request.is_secure()):
        return ""
    parts = urlsplit(referer)
    return parts.path + (f"?{parts.query}" if parts.query else "")
