"""LOCAL_PASSWORDS as an authentication backend, so it holds wherever Django checks a password to
sign someone in: the login page, the admin's login page, any later one.

Listed after django-axes' backend and before Django's ModelBackend: it signs nobody in itself; it
stops a password sign-in (PermissionDenied, which Django reports as a failed login: audited,
counted by axes) that LOCAL_PASSWORDS does not allow, and lets ModelBackend check the others.
A key action's password re-entry (accounts.forms.PasswordReentry) is not a sign-in: the person is
signed in already, so it is left to ModelBackend whatever LOCAL_PASSWORDS says.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.lockout import KEY_ACTION
from accounts.sso.config import LOCAL_PASSWORDS_ON, LOCAL_PASSWORDS_SUPERUSERS


def password_sign_in_allowed(username: str | None) -> bool:
    """Whether LOCAL_PASSWORDS lets this user name sign in with a password: "on" everyone,
    "superusers" an active superuser only, "off" nobody."""
    mode = settings.LOCAL_PASSWORDS
    if mode == LOCAL_PASSWORDS_ON:
        return True
    if mode == LOCAL_PASSWORDS_SUPERUSERS and username:
        users = get_user_model().objects
        return users.filter(
            **{users.model.USERNAME_FIELD: username}, is_superuser=True, is_active=True
        ).exists()
    return False


class LocalPasswordSwitch:
    """An authentication backend that only refuses: see the module docstring."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if password is None or kwargs.get(KEY_ACTION) or password_sign_in_allowed(username):
            return None
        raise PermissionDenied("password sign-in is switched off (LOCAL_PASSWORDS)")

    # No get_user: nobody is signed in through this backend, and without one Django (and its test
    # client's force_login) never picks it to load a user.
