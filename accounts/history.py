"""The diagnosed error history (ApiError) and the call observer that feeds it and drives each
credential's health status: every failed call is recorded, every success clears grace/failing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from accounts.health import HealthState, WarningCode, after_failure
from accounts.okx import is_successful_signed_call
from okxapi import CallRecord, OkxError

if TYPE_CHECKING:
    from accounts.models import Account, Credential

logger = logging.getLogger(__name__)

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
        cls, account: Account, credential: Credential | None, error: OkxError, now: datetime | None = None
    ) -> ApiError:
        """Create a row, or count a repeat of the same account + endpoint + code seen within the
        last hour and not yet acknowledged (an acknowledged problem that returns is news)."""
        now = now or timezone.now()
        code = str(error.code or "")
        with transaction.atomic():
            row = (
                cls.objects.select_for_update()
                .filter(account=account, endpoint=error.endpoint, code=code, acknowledged=False)
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
                account=account,
                credential=credential,
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


def grace_period() -> timedelta:
    return timedelta(minutes=settings.GRACE_PERIOD_MINUTES)


def note_failure(credential: Credential, error: OkxError, now: datetime | None = None) -> None:
    """Move the credential along ok -> grace -> failing (see accounts.health.after_failure)."""
    from accounts.models import Credential

    now = now or timezone.now()
    with transaction.atomic():
        row = Credential.objects.select_for_update().filter(pk=credential.pk).first()
        if row is None:
            return
        since = row.failing_since if row.health_status in (HealthState.GRACE, HealthState.FAILING) else None
        status, since = after_failure(since, permanent=error.permanent, now=now, grace=grace_period())
        message = f"{error.endpoint}: {error.diagnosis.meaning}"[:MESSAGE_LENGTH]
        Credential.objects.filter(pk=row.pk).update(
            health_status=status, failing_since=since, health_message=message
        )


def note_success(credential: Credential) -> None:
    """A successful signed call clears grace/failing, unless the key belongs to another account
    (that stays failing until a person replaces it; the key-health check sets it)."""
    from accounts.models import Credential

    troubled = Credential.objects.filter(
        pk=credential.pk, health_status__in=(HealthState.GRACE, HealthState.FAILING)
    )
    warnings = troubled.values_list("warnings", flat=True).first()
    if warnings is None or any(w.get("code") == WarningCode.UID_MISMATCH for w in warnings):
        return
    troubled.update(health_status=HealthState.OK, failing_since=None, health_message="")


def call_recorder(account: Account, credential: Credential | None) -> Callable[[CallRecord], None]:
    """An on_call observer for Credential.build_client: failures become history and move the
    credential's health; successes clear it (last_success_at is stamped by build_client itself).
    `account` is the account being read (a sub-account read through its master's credential)."""

    def observe(record: CallRecord) -> None:
        if record.error is not None:
            ApiError.record(account, credential, record.error)
            if credential is not None:
                note_failure(credential, record.error)
        elif credential is not None and is_successful_signed_call(record):
            note_success(credential)

    return observe
