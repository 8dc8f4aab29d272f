"""Login success and failure go to the audit trail (Django's auth signals are the only hook)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts.audit import AuditAction, AuditEvent

USERNAME_MAX_LENGTH = 150


@receiver(user_logged_in, dispatch_uid="accounts.audit_login_success")
def audit_login_success(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    AuditEvent.record(AuditAction.LOGIN_SUCCESS, request=request, actor=user)


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failure")
def audit_login_failure(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Django has already masked the password in `credentials`; only the user name is kept.
    username = str(credentials.get("username", ""))[:USERNAME_MAX_LENGTH]
    AuditEvent.record(AuditAction.LOGIN_FAILURE, request=request, actor_name=username)
