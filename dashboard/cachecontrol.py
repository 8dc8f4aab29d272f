"""Cache-Control: no-store on everything the dashboard answers, except its static files.

Pages, the JSON API, the CSV downloads and the admin show a team's balances, keys and errors to
whoever is signed in (a session or an API token). A browser's disk cache, a shared proxy or the
back button on a shared machine must not keep them, so every response says `no-store`.

WhiteNoise sits before this middleware and answers static files itself, so CSS and JavaScript
keep their long cache. A view that sets Cache-Control itself (Django's never_cache) keeps its own
header when it already forbids storing; an authenticated answer never leaves without no-store.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

NO_STORE = "no-store"


class NoStoreMiddleware:
    """Sets `Cache-Control: no-store` on a response that does not already forbid storing.

    A header a view set on purpose (say `max-age=60`) is kept for anonymous requests only (none
    does today); for a signed-in user or a token it is replaced, since the body is theirs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        current = response.get("Cache-Control", "")
        if NO_STORE in current.lower():
            return response
        if not current or _is_authenticated(request):
            response["Cache-Control"] = NO_STORE
        return response


def _is_authenticated(request: HttpRequest) -> bool:
    """Session or API token: DRF writes the token's user back onto the HttpRequest. `user` is
    missing when a middleware before authentication answered (an HTTPS redirect)."""
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)
