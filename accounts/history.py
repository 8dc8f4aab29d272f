"""The diagnosed error history: one ApiError row per kind of failure of one account's calls.
The call observer that writes it is accounts.calls.CallRecorder.

It references accounts and credentials by id only, so accounts.models can import it (Django
registers the model through that import) without a cycle.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from okxapi import OkxError

REPEAT_WINDOW = timedelta(hours=1)
MESSAGE_LENGTH = 500


class ApiErrorQuerySet(models.QuerySet):
    def unacknowledged(self) -> ApiErrorQuerySet:
        return self.filter(acknowledged=False)


class ApiError(models.Model):
    """One kind of failure of one account's calls; repeats within an hour raise `count`."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="api_errors")
    credential = models.ForeignKey(
        "accounts.Credential", null=True, blank=True, on_delete=models.SET_NULL, related_name="api_errors"
    )
    endpoint = models.CharField(max_length=200)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    code = models.CharField("OKX code", max_length=16, blank=True)
    message = models.CharField("OKX message", max_length=MESSAGE_LENGTH, blank=True)
    category = models.CharField(max_length=32)
    meaning = models.CharField(max_length=500)
    steps = models.JSONField(default=list)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = ApiErrorQuerySet.as_manager()

    class Meta:
        app_label = "accounts"
        ordering = ["-last_seen"]
        indexes = [
            models.Index(fields=["account", "endpoint", "code", "last_seen"], name="apierror_repeat_idx"),
            models.Index(fields=["-last_seen"], name="apierror_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.code or self.http_status or '-'} x{self.count}"

    @classmethod
    def record(
        cls, account_id: int, credential_id: int | None, error: OkxError, now: datetime | None = None
    ) -> ApiError:
        """Create a row, or count a repeat of the same account + endpoint + code seen within the
        last hour and not yet acknowledged (an acknowledged problem that returns is news).
        Failures without an OKX code (timeouts, resets, cut or HTML bodies) share code "", so
        the diagnosis category and HTTP status are part of what makes a repeat."""
        now = now or timezone.now()
        code = str(error.code or "")
        with transaction.atomic():
            row = (
                cls.objects.select_for_update()
                .filter(account_id=account_id, endpoint=error.endpoint, code=code, acknowledged=False)
                .filter(category=error.diagnosis.category, http_status=error.http_status)
                .filter(last_seen__gte=now - REPEAT_WINDOW)
                .order_by("-last_seen")
                .first()
            )
            if row is not None:
                cls.objects.filter(pk=row.pk).update(
                    count=F("count") + 1, last_seen=now, message=error.message[:MESSAGE_LENGTH]
                )
                row.refresh_from_db()
                return row
            return cls.objects.create(
                account_id=account_id,
                credential_id=credential_id,
                endpoint=error.endpoint,
                http_status=error.http_status,
                code=code,
                message=error.message[:MESSAGE_LENGTH],
                category=error.diagnosis.category,
                meaning=error.diagnosis.meaning,
                steps=list(error.diagnosis.steps),
                first_seen=now,
                last_seen=now,
            )
