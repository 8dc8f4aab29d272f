"""Single sign-on with OpenID Connect (issue 21): the authorization code flow with PKCE against one
provider configured from the environment (OIDC_* in dashboard/settings.py), the LOCAL_PASSWORDS
switch, and what sign-in and sign-out write to the audit trail.

Library: Authlib (pinned in requirements.txt), chosen over mozilla-django-oidc because it reads
the provider's discovery document (<issuer>/.well-known/openid-configuration) for its endpoints
and keys, and does the whole protocol: state, nonce and PKCE kept in the session, the code
exchange, and the ID token's signature (JWKS, refetched on an unknown key id) and claims checks.
mozilla-django-oidc has no discovery (every endpoint would be configured by hand) and no PKCE by
default. Nothing here validates a token by hand.

Modules: config (the settings' readers), provider (Authlib: start and finish a sign-in),
users (OidcIdentity, matching or creating the user, roles from the provider's groups), backends
(LOCAL_PASSWORDS on every password sign-in), views and urls (the login page, /login/oidc/ and its
callback, the "no role yet" page).

The second factor (enforced by middleware on the session) applies whatever the sign-in method:
the callback signs in through django.contrib.auth.login like the password form does.
"""

from __future__ import annotations

from django.http import HttpRequest

# Set on the request by the callback for the LOGIN_SUCCESS audit row (accounts.signals), and in
# the session afterwards for the LOGOUT row: "single sign-on (<provider name>)…".
REQUEST_DETAIL_ATTRIBUTE = "single_sign_on_detail"
SESSION_KEY = "single_sign_on"


def sign_in_detail(request: HttpRequest | None) -> str:
    """The LOGIN_SUCCESS audit detail: how a single sign-on found the user; "" for a password."""
    return str(getattr(request, REQUEST_DETAIL_ATTRIBUTE, ""))


def sign_out_detail(request: HttpRequest | None) -> str:
    """The LOGOUT audit detail: "single sign-on (<provider>)" for a session it began, else "password"."""
    session = getattr(request, "session", None)
    provider = session.get(SESSION_KEY) if session is not None else None
    return f"single sign-on ({provider})" if provider else "password"
