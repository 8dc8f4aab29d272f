"""The audit trail: who did what to which credential or account, from where, and when.

Rows are append-only from the application's point of view: the admin shows them read-only and
nobody (superusers included) may add, change or delete them there. Details are short, non-secret
descriptions such as a fingerprint ("…1a2b") or a diagnosis category.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest

DETAIL_MAX_LENGTH = 500


class AuditAction(models.TextChoices):
    ACCOUNT_ADD = "account_add", "account added"
    CREDENTIAL_ADD = "credential_add", "credential added"
    VALIDATION_FAILED = "validation_failed", "credential refused"
    CREDENTIAL_ROTATE = "credential_rotate", "credential rotated"
    CREDENTIAL_RETIRE = "credential_retire", "credential retired"
    CREDENTIAL_DELETE = "credential_delete", "credential deleted"
    HOST_CHANGE = "host_change", "host changed"
    ENCRYPTION_ROTATE = "encryption_rotate", "encryption key rotated"
    SUBACCOUNTS_DISCOVER = "subaccounts_discover", "sub-accounts discovered"
    REAUTH_FAILED = "reauth_failed", "re-authentication failed"
    LOGIN_SUCCESS = "login_success", "login succeeded"
    LOGIN_FAILURE = "login_failure", "login failed"
    LOGOUT = "logout", "signed out"
    MFA_ENROL = "mfa_enrol", "second factor enrolled"
    MFA_REMOVE = "mfa_remove", "second factor removed"
    MFA_FAILURE = "mfa_failure", "second factor refused"
    RECOVERY_CODE_USED = "recovery_code_used", "recovery code used"
    RECOVERY_CODES_NEW = "recovery_codes_new", "recovery codes made"
    DESK_CHANGE = "desk_change", "desk changed"
    DESK_ACCESS_CHANGE = "desk_access_change", "desk access changed"
    TOTALS_EXCLUSION = "totals_exclusion", "team totals inclusion changed"


class AuditEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the trail survives a deleted user and names CLI runs and failed logins.
    actor_name = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=40, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=DETAIL_MAX_LENGTH, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.object_repr}"

    @classmethod
    def record(
        cls,
        action: str,
        *,
        request: HttpRequest | None = None,
        actor: Any = None,
        actor_name: str = "",
        obj: models.Model | None = None,
        detail: str = "",
    ) -> AuditEvent:
        """Write one event. `request` supplies actor and IP; `actor_name` names a CLI run."""
        if request is not None:
            actor = actor or getattr(request, "user", None)
        if actor is not None and not getattr(actor, "is_authenticated", False):
            actor = None
        return cls.objects.create(
            action=action,
            actor=actor,
            actor_name=actor_name or (actor.get_username() if actor else ""),
            ip=client_ip(request),
            object_type=obj._meta.model_name if obj is not None else "",
            object_id=str(obj.pk) if obj is not None and obj.pk else "",
            object_repr=str(obj)[:200] if obj is not None else "",
            detail=detail[:DETAIL_MAX_LENGTH],
        )


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as django-axes sees it (same proxy-count setting), else None."""
    if request is None:
        return None
    from axes.helpers import get_client_ip_address  # not at import time: this module loads with the models

    return get_client_ip_address(request) or None
