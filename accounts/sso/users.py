"""Who a single sign-on is: the dashboard user for the provider's checked claims, and the role the
provider's groups give them.

A user is found, in this order:
1. by the provider's subject: the OidcIdentity (issuer + sub, unique) stored at the first sign-in;
2. by e-mail, only when the provider says email_verified: the one active user with that address
   (case-insensitive) who has no identity at this issuer yet; the identity is stored;
3. else created (OIDC_CREATE_USERS, on by default): the user name from preferred_username, else
   the e-mail address, else "sso-<sub>", made valid and unique; no usable password; the e-mail
   address only when verified (an unverified one could later link someone else, step 2).
Otherwise the sign-in is refused (SignInFailed), as it is for a deactivated user.

With OIDC_ROLE_MAP set, the user's role follows the provider at every sign-in: the highest role
any of their provider groups (the OIDC_GROUPS_CLAIM claim) maps to, and none when no group maps
(the user then sees nothing). Without it, roles are given in the admin and a new user has none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.roles import ROLE_PERMISSIONS
from accounts.sso.provider import SignInFailed

# Lowest first: "highest role wins" picks the last of these that a user's groups map to.
ROLE_ORDER = tuple(ROLE_PERMISSIONS)
USERNAME_MAX_LENGTH = 150
_NOT_IN_USERNAME = re.compile(r"[^\w.@+-]")


class OidcIdentity(models.Model):
    """One account at the provider (issuer + subject) that signs in as one dashboard user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)
    last_sign_in = models.DateTimeField()

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


@dataclass(frozen=True)
class SignIn:
    """The user a sign-in found, and how: `how` is "subject", "verified e-mail" or "created";
    `role` the role after this sign-in (None: no role), `role_before` the one before it."""

    user: User
    how: str
    role: str | None
    role_before: str | None

    @property
    def detail(self) -> str:
        """The audit detail: how the user was found, and a role the provider changed."""
        text = f"matched by {self.how}" if self.how != "created" else "user created"
        if self.role != self.role_before:
            text += f"; role {self.role_before or 'none'} -> {self.role or 'none'}"
        return text


def sign_in(claims: Mapping[str, Any], *, issuer: str) -> SignIn:
    """The dashboard user for these checked ID token claims (see the module docstring), with
    roles applied. SignInFailed when no user may be found or made."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255 or len(issuer) > 255:
        raise SignInFailed("no usable subject", "The provider's answer has no usable subject (sub).")
    try:
        with transaction.atomic():
            user, how = _find_or_create(claims, issuer, subject)
            before = role_of(user)
            role = _apply_role_map(user, claims)
            OidcIdentity.objects.update_or_create(
                issuer=issuer, subject=subject, defaults={"user": user, "last_sign_in": timezone.now()}
            )
    except IntegrityError:  # the same person's first sign-in twice at once: the other one won
        raise SignInFailed(
            "concurrent first sign-in", "Signing in did not complete: please try again."
        ) from None
    return SignIn(user=user, how=how, role=role, role_before=before)


def _find_or_create(claims: Mapping[str, Any], issuer: str, subject: str) -> tuple[User, str]:
    identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if identity is not None:
        return _active(identity.user), "subject"
    email = verified_email(claims)
    if email:
        users = list(get_user_model().objects.filter(email__iexact=email)[:2])
        if len(users) > 1:
            raise SignInFailed(
                "e-mail names several users",
                "Several dashboard users have your e-mail address, so none was chosen: a key admin must "
                "give it to one of them only.",
            )
        if users:
            user = _active(users[0])
            if OidcIdentity.objects.filter(user=user, issuer=issuer).exists():
                raise SignInFailed(
                    "e-mail user linked to another subject",
                    "The dashboard user with your e-mail address signs in as another account "
                    "at the provider.",
                )
            return user, "verified e-mail"
    if not settings.OIDC_CREATE_USERS:
        raise SignInFailed(
            "no such user",
            "There is no dashboard user for you yet, and single sign-on does not create users here: "
            "ask a key admin to create one with your e-mail address.",
        )
    username = unique_username(_username_base(claims, subject, email))
    user = get_user_model().objects.create_user(username, email=email or "")  # no usable password
    return user, "created"


def _active(user: User) -> User:
    if not user.is_active:
        raise SignInFailed("user deactivated", "Your dashboard user is deactivated: ask a key admin.")
    return user


def verified_email(claims: Mapping[str, Any]) -> str | None:
    """The e-mail claim when the provider says it is verified (true, or "true" as some send it)."""
    email = claims.get("email")
    if isinstance(email, str) and "@" in email and claims.get("email_verified") in (True, "true"):
        return email.strip()
    return None


def _username_base(claims: Mapping[str, Any], subject: str, email: str | None) -> str:
    for candidate in (claims.get("preferred_username"), email, f"sso-{subject}"):
        if isinstance(candidate, str):
            cleaned = _NOT_IN_USERNAME.sub("-", candidate.strip())[: USERNAME_MAX_LENGTH - 10]
            if cleaned.strip("-"):
                return cleaned
    return "sso-user"


def unique_username(base: str) -> str:
    """`base`, or `base-2`, `base-3`, … : the first no user has (user names compare case-insensitively)."""
    users = get_user_model().objects
    candidate, n = base, 1
    while users.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def role_of(user: User) -> str | None:
    """The user's highest role group, or None."""
    names = set(user.groups.filter(name__in=ROLE_ORDER).values_list("name", flat=True))
    held = [role for role in ROLE_ORDER if role in names]
    return held[-1] if held else None


def provider_groups(claims: Mapping[str, Any]) -> list[str]:
    """The OIDC_GROUPS_CLAIM claim as a list of group names (a single string is one group;
    anything else, or a missing claim, is no group)."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def mapped_role(groups: list[str], role_map: Mapping[str, str]) -> str | None:
    """The highest role that any of `groups` maps to, or None."""
    roles = {role_map[group] for group in groups if group in role_map}
    return max(roles, key=ROLE_ORDER.index) if roles else None


def _apply_role_map(user: User, claims: Mapping[str, Any]) -> str | None:
    """With OIDC_ROLE_MAP: exactly the mapped role among the role groups (other groups are kept),
    and admin access (is_staff) while it has one; superuser status is never touched. Without it:
    nothing changes. Returns the role after."""
    role_map: Mapping[str, str] = settings.OIDC_ROLE_MAP
    if not role_map:
        return role_of(user)
    role = mapped_role(provider_groups(claims), role_map)
    user.groups.remove(*Group.objects.filter(name__in=ROLE_ORDER).exclude(name=role))
    if role is not None:
        user.groups.add(Group.objects.get(name=role))
    if not user.is_superuser and user.is_staff != (role is not None):
        user.is_staff = role is not None
        user.save(update_fields=["is_staff"])
    return role
