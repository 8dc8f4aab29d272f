from __future__ import annotations

from django.apps import AppConfig


class MfaConfig(AppConfig):
    """Its own app (no models: django-otp's devices hold everything) so that the sign-in receiver
    is connected in every process before the first sign-in."""

    name = "accounts.mfa"
    label = "mfa"
    verbose_name = "Two-factor authentication"

    def ready(self) -> None:
        from accounts.mfa import devices  # noqa: F401  (connects mark_code_step_due to user_logged_in)
