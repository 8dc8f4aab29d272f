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
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.callstats import record_call
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
        last hour and not yet acknowledged (an acknowledged problem that returns is news).
        Failures without an OKX code (timeouts, resets, cut or HTML bodies) share code "", so
        the diagnosis category and HTTP status are part of what makes a repeat."""
        now = now or timezone.now()
        code = str(error.code or "")
        with transaction.atomic():
            row = (
                cls.objects.select_for_update()
                .filter(account=account, endpoint=error.endpoint, code=code, acknowledged=False)
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


def note_undecryptable(credential: Credential | None, error: Exception, now: datetime | None = None) -> None:
    """A stored secret that cannot be decrypted fails closed: nothing is sent, and the key shows
    as failing at once with the reason (a key id, never a value) for the keys page."""
    from accounts.models import Credential

    if credential is None:
        return
    now = now or timezone.now()
    message = (
        f"The stored secret cannot be decrypted ({error}); nothing was sent to OKX. Restore the "
        "encryption key in FERNET_KEYS, or enter this credential set again."
    )[:MESSAGE_LENGTH]
    Credential.objects.filter(pk=credential.pk).update(
        health_status=HealthState.FAILING,
        health_message=message,
        failing_since=Coalesce(F("failing_since"), Value(now)),
    )


def note_success(credential: Credential) -> None:
    """A successful signed call clears grace/failing, unless the key belongs to another account
    (that stays failing until a person replaces it; the key-health check sets it)."""
    from accounts.models import Credential

    # order_by(): Credential's Meta ordering would join the account for nothing.
    troubled = Credential.objects.filter(
        pk=credential.pk, health_status__in=(HealthState.GRACE, HealthState.FAILING)
    ).order_by()
    warnings = troubled.values_list("warnings", flat=True).first()
    if warnings is None or any(w.get("code") == WarningCode.UID_MISMATCH for w in warnings):
        return
    troubled.update(health_status=HealthState.OK, failing_since=None, health_message="")


class CallRecorder:
    """An on_call observer for Credential.build_client: failures become history and move the
    credential's health; successes clear it. `account` is the account being read (a sub-account
    read through its master's credential).

    batch=False (key checks): each success clears grace/failing at once, and build_client stamps
    last_success_at. batch=True (a refresh; its client is built with stamp_successes=False):
    successes are held and written once by flush(), last_success_at at the latest of them, then
    the recovery; a failure flushes first, so health moves in the order the calls happened.
    Found by bench/refresh.py: per call, that was 6 of a refresh's ~16 queries."""

    def __init__(self, account: Account, credential: Credential | None, *, batch: bool = False) -> None:
        self.account = account
        self.credential = credential
        self.batch = batch
        self._success_at: datetime | None = None

    def __call__(self, record: CallRecord) -> None:
        record_call(record)  # the /metrics counters (accounts/callstats.py)
        if record.error is not None:
            self.flush()
            ApiError.record(self.account, self.credential, record.error)
            if self.credential is not None:
                note_failure(self.credential, record.error)
        elif self.credential is not None and is_successful_signed_call(record):
            if self.batch:
                self._success_at = timezone.now()
            else:
                note_success(self.credential)

    def flush(self) -> None:
        """Write the held successes (batch mode). Like a failing observer inside the client,
        a failure here is logged and never fails the refresh."""
        at, self._success_at = self._success_at, None
        if at is None or self.credential is None:
            return
        try:
            self.credential.record_success(at)
            note_success(self.credential)
        except Exception:
            logger.exception("could not record the successful calls of credential %s", self.credential.pk)


def call_recorder(account: Account, credential: Credential | None) -> Callable[[CallRecord], None]:
    """The per-call observer (see CallRecorder); last_success_at is stamped by build_client."""
    return CallRecorder(account, credential)
