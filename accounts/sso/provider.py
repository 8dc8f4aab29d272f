"""The conversation with the OpenID Connect provider, all of it done by Authlib's Django client:
discovery (<OIDC_ISSUER>/.well-known/openid-configuration), the authorization request with state,
nonce and PKCE (S256) kept in the session, the code exchange at the token endpoint (client
secret by HTTP basic auth), and the ID token's checks (signature against the provider's JWKS,
iss, aud, exp, iat, nonce, at_hash). This module adds only what Authlib leaves to its caller: the
discovery document must name the configured issuer (OpenID Connect Discovery 1.0, section 4.3),
and every way a sign-in can fail becomes one SignInFailed with a sentence for the person.

HTTP calls to the provider time out after HTTP_TIMEOUT_SECONDS. The provider's discovery
document is read once per process (and its keys again when a token names an unknown key), so a
provider that moved its endpoints needs a restart.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from joserfc.errors import JoseError

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 10
DISCOVERY_PATH = "/.well-known/openid-configuration"
# Everything the provider (or the network to it) can answer instead of a valid sign-in. Authlib
# raises RuntimeError for a discovery document without an endpoint it needs.
_PROVIDER_ERRORS = (AuthlibBaseError, JoseError, requests.RequestException, RuntimeError)


class SignInFailed(Exception):
    """A single sign-on that did not complete. `message` is for the person on the login page;
    `reason` is the short audit detail. Neither carries a secret (the client secret is never in
    either; a provider's own error text is not copied into them)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


def is_configured() -> bool:
    """True when OIDC_ISSUER (and so, as settings checks, the client id and secret) is set."""
    return bool(settings.OIDC_ISSUER)


def provider_name() -> str:
    return str(settings.OIDC_PROVIDER_NAME)


def start(request: HttpRequest, redirect_uri: str) -> HttpResponse:
    """The redirect to the provider's authorization endpoint; state, nonce and the PKCE verifier
    go into the session for finish(). SignInFailed when the provider cannot be reached."""
    client = _client()
    try:
        _check_discovery(client)
        response: HttpResponse = client.authorize_redirect(request, redirect_uri)
    except _PROVIDER_ERRORS as error:
        raise _unreachable(error, "start") from None
    return response


def finish(request: HttpRequest) -> dict[str, Any]:
    """The provider's answer on the callback URL, checked and exchanged: the ID token's claims,
    completed from the userinfo endpoint when the provider has one (the ID token's own claims win;
    a userinfo answer for another subject is ignored). SignInFailed for a provider's refusal, a
    state that is not this browser's, a code the token endpoint refuses, or a bad ID token."""
    client = _client()
    name = provider_name()
    if request.GET.get("error"):
        # The provider's error code only: its free-text description is not ours to show.
        code = str(request.GET["error"])[:64]
        raise SignInFailed(f"provider refused: {code}", f"{name} did not sign you in ({code}).")
    try:
        _check_discovery(client)
        token = client.authorize_access_token(request, claims_options=_claims_options())
    except MismatchingStateError:
        raise SignInFailed(
            "state mismatch",
            "This sign-in answer does not belong to this browser's sign-in (it expired, was used "
            "already or was started elsewhere). Please sign in again.",
        ) from None
    except OAuthError as error:
        logger.warning("single sign-on: the token endpoint refused the code (%s)", error.error)
        raise SignInFailed(
            f"token refused: {error.error}",
            f"{name} did not accept this sign-in ({error.error}). Please sign in again.",
        ) from None
    except (JoseError, AuthlibBaseError) as error:
        logger.warning("single sign-on: the ID token was refused (%s)", type(error).__name__)
        raise SignInFailed(
            f"bad ID token: {type(error).__name__}",
            f"The answer from {name} did not pass the checks (its ID token was refused). "
            "Nobody was signed in.",
        ) from None
    except (requests.RequestException, RuntimeError) as error:
        raise _unreachable(error, "finish") from None
    claims = token.get("userinfo")
    if not claims:
        raise SignInFailed("no ID token", f"{name} sent no ID token (is the openid scope allowed?).")
    return _with_userinfo(client, token, dict(claims))


def _with_userinfo(client: DjangoOAuth2App, token: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    if not client.load_server_metadata().get("userinfo_endpoint"):
        return claims
    try:
        info = client.userinfo(token=token)
    except _PROVIDER_ERRORS as error:
        raise _unreachable(error, "userinfo") from None
    if info.get("sub") == claims.get("sub"):
        for key, value in info.items():
            claims.setdefault(key, value)
    return claims


def _check_discovery(client: DjangoOAuth2App) -> None:
    issuer = client.load_server_metadata().get("issuer")
    if issuer != settings.OIDC_ISSUER:
        logger.error(
            "single sign-on: the provider names its issuer %r, OIDC_ISSUER is %r: they must be equal",
            issuer,
            settings.OIDC_ISSUER,
        )
        raise SignInFailed(
            "issuer mismatch",
            f"Single sign-on is misconfigured: {provider_name()} names another issuer than OIDC_ISSUER. "
            "An administrator must set OIDC_ISSUER to exactly the provider's issuer.",
        )


def _claims_options() -> dict[str, Any]:
    """What Authlib checks iss and aud against: the configured issuer, our client id."""
    return {
        "iss": {"essential": True, "values": [settings.OIDC_ISSUER]},
        "aud": {"essential": True, "values": [settings.OIDC_CLIENT_ID]},
    }


def _unreachable(error: Exception, step: str) -> SignInFailed:
    # The exception's class only: a requests error's text can hold URLs with query strings.
    logger.warning(
        "single sign-on: no usable answer from the provider at %s (%s)", step, type(error).__name__
    )
    return SignInFailed(
        f"provider unreachable ({step}): {type(error).__name__}",
        f"{provider_name()} could not be reached or did not answer as expected. "
        "Please try again in a minute.",
    )


def _client() -> DjangoOAuth2App:
    return _client_for(
        settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET, settings.OIDC_SCOPES
    )


@functools.lru_cache(maxsize=4)
def _client_for(issuer: str, client_id: str, client_secret: str, scopes: str) -> DjangoOAuth2App:
    """One Authlib client per configuration (it keeps the discovery document and keys it read)."""
    client: DjangoOAuth2App = OAuth().register(
        "oidc",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=issuer.rstrip("/") + DISCOVERY_PATH,
        client_kwargs={
            "scope": scopes,
            "code_challenge_method": "S256",
            "default_timeout": HTTP_TIMEOUT_SECONDS,
        },
    )
    return client
