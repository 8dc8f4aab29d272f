"""The single sign-on settings as dashboard/settings.py reads them from the environment: each reader
raises ImproperlyConfigured naming the variable, so a typo stops start-up instead of signing
people in with a silent default. Plain functions over strings (settings.py imports this module
before Django is set up); no reader ever puts OIDC_CLIENT_SECRET's value in a message.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from accounts.roles import ROLE_PERMISSIONS

# LOCAL_PASSWORDS: "on" (the default) every user may sign in with a password; "off" nobody may
# (single sign-on only); "superusers" only superusers may: the break-glass way in while the
# provider is down, switched on by whoever runs the server (README, "Single sign-on (OIDC)").
LOCAL_PASSWORDS_ON = "on"
LOCAL_PASSWORDS_OFF = "off"
LOCAL_PASSWORDS_SUPERUSERS = "superusers"
_LOCAL_PASSWORDS_SPELLINGS = {
    **dict.fromkeys(("on", "1", "true", "yes"), LOCAL_PASSWORDS_ON),
    **dict.fromkeys(("off", "0", "false", "no"), LOCAL_PASSWORDS_OFF),
    LOCAL_PASSWORDS_SUPERUSERS: LOCAL_PASSWORDS_SUPERUSERS,
}


def local_passwords_mode(raw: str | None) -> str:
    """LOCAL_PASSWORDS as one of "on", "off", "superusers"; unset or empty is "on"."""
    if not raw:
        return LOCAL_PASSWORDS_ON
    mode = _LOCAL_PASSWORDS_SPELLINGS.get(raw.lower())
    if mode is None:
        raise ImproperlyConfigured(f"LOCAL_PASSWORDS must be on, off or superusers; got {raw!r}")
    return mode


def parse_role_map(raw: str) -> dict[str, str]:
    """OIDC_ROLE_MAP "provider-group=role,provider-group=role" as {provider group: role}.

    Roles are the product's role groups (viewer, operator, key admin). Empty: {} (roles are given
    in the admin, never by the provider). A group named twice, an unknown role or an item without
    "=" stops start-up."""
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        group, sep, role = (text.strip() for text in item.partition("="))
        if not sep or not group:
            raise ImproperlyConfigured(
                f"OIDC_ROLE_MAP items are provider-group=role, comma-separated; got {item!r}"
            )
        if role not in ROLE_PERMISSIONS:
            roles = ", ".join(ROLE_PERMISSIONS)
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP: {role!r} is not a role (one of {roles})")
        if group in mapping:
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP names the provider group {group!r} twice")
        mapping[group] = role
    return mapping


def check_oidc_settings(
    *, issuer: str, client_id: str, client_secret: str, scopes: str, local_passwords: str, embedded: bool
) -> None:
    """Stop start-up on an incomplete or unsafe single sign-on configuration.

    - OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET come together (or not at all);
    - the issuer is an https URL (plain http only in the embedded mode: a local test provider);
    - OIDC_SCOPES includes openid (without it there is no ID token to check);
    - LOCAL_PASSWORDS=off needs single sign-on, or nobody could sign in."""
    given = {"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": client_id, "OIDC_CLIENT_SECRET": client_secret}
    if any(given.values()):
        for name, value in given.items():
            if not value:
                raise ImproperlyConfigured(
                    f"{name} is required for single sign-on (OIDC_ISSUER, OIDC_CLIENT_ID and "
                    "OIDC_CLIENT_SECRET come together). See .env.example."
                )
        parts = urlsplit(issuer)
        schemes = ("https", "http") if embedded else ("https",)
        if parts.scheme not in schemes or not parts.netloc or parts.query or parts.fragment:
            raise ImproperlyConfigured(
                f"OIDC_ISSUER must be the provider's {' or '.join(schemes)} issuer URL "
                f"(its discovery document is at <issuer>/.well-known/openid-configuration); got {issuer!r}"
            )
        if "openid" not in scopes.split():
            raise ImproperlyConfigured(f"OIDC_SCOPES must include openid; got {scopes!r}")
    elif local_passwords == LOCAL_PASSWORDS_OFF:
        raise ImproperlyConfigured(
            "LOCAL_PASSWORDS=off needs single sign-on (OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET): "
            "otherwise nobody could sign in"
        )
