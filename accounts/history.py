"""The diagnosed error history: one ApiError row per kind of failure of one account's calls,
and the operators' acknowledgements of a kind that last until it recovers (ErrorAcknowledgement).
The call observer that writes both is accounts.calls.CallRecorder.

It references accounts and credentials by id only, so accounts.models can import it (Django
registers the model through that import) without a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from okxapi import OkxError

REPEAT_WINDOW = timedelta(hours=1)
MESSAGE_LENGTH = 500
# The "endpoint" of a failure of the dashboard's own database (not a call to OKX).
DATABASE_ENDPOINT = "(dashboard database)"


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
        last hour. Failures without an OKX code (timeouts, resets, cut or HTML bodies) share code
        "", so the diagnosis category and HTTP status are part of what makes a repeat.

        While the kind (category + code) is acknowledged for the account (ErrorAcknowledgement),
        the failure is still recorded, on a row acknowledged by that acknowledgement (who, when);
        otherwise it counts only on an unacknowledged row (an acknowledged problem whose
        acknowledgement ended is news)."""
        now = now or timezone.now()
        code = str(error.code or "")
        category = error.diagnosis.category
        with transaction.atomic():
            ack = (
                ErrorAcknowledgement.objects.active(now)
                .filter(account_id=account_id, category=category, code=code)
                .first()
            )
            rows = cls.objects.select_for_update().filter(
                account_id=account_id, endpoint=error.endpoint, code=code, category=category
            )
            rows = rows.filter(acknowledged_at=ack.at) if ack else rows.filter(acknowledged=False)
            row = (
                rows.filter(http_status=error.http_status, last_seen__gte=now - REPEAT_WINDOW)
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
                category=category,
                meaning=error.diagnosis.meaning,
                steps=list(error.diagnosis.steps),
                first_seen=now,
                last_seen=now,
                acknowledged=ack is not None,
                acknowledged_by_id=ack.by_id if ack else None,
                acknowledged_at=ack.at if ack else None,
            )

    @classmethod
    def record_database_failure(cls, account_id: int, detail: str, now: datetime | None = None) -> ApiError:
        """A refresh the dashboard's own database refused (`manage.py refresh`): a row in the
        account's history, so its page says why it is stale. `detail` is the database's one-line
        message (no values: secrets are never in a statement in plaintext). Raises django.db.Error
        when the database still refuses."""
        now = now or timezone.now()
        return cls.objects.create(
            account_id=account_id,
            endpoint=DATABASE_ENDPOINT,
            message=detail[:MESSAGE_LENGTH],
            category="database",
            meaning="The dashboard's database refused the refresh; nothing was stored for this account.",
            steps=[
                "Run `manage.py refresh --account <name>` again.",
                "If it repeats, check the database: its disk, its locks, and that one process "
                "configuration is used (docs/reliability.md).",
            ],
            first_seen=now,
            last_seen=now,
        )


class ErrorAcknowledgementQuerySet(models.QuerySet):
    def active(self, now: datetime | None = None) -> ErrorAcknowledgementQuerySet:
        """The acknowledgements in force at `now`: until recovery, or snoozed to a later time."""
        return self.filter(Q(until__isnull=True) | Q(until__gt=now or timezone.now()))

    def recover(self, account_id: int, endpoints: Iterable[str]) -> int:
        """End the account's acknowledgements whose errors were on one of `endpoints`, which just
        answered a call successfully: the kind recovered, so its next failure is news again. One
        DELETE; returns how many ended."""
        endpoints = sorted(set(endpoints))
        if not endpoints:
            return 0
        failed_there = ApiError.objects.filter(
            account_id=account_id,
            category=OuterRef("category"),
            code=OuterRef("code"),
            acknowledged_at=OuterRef("at"),
            endpoint__in=endpoints,
        )
        deleted, _ = self.filter(Exists(failed_there), account_id=account_id).delete()
        return deleted


class ErrorAcknowledgement(models.Model):
    """An operator's "I know" for one kind of error (diagnosis category + OKX code) of one account.

    It lasts until the kind recovers (a successful call to an endpoint where it failed ends it,
    ErrorAcknowledgementQuerySet.recover) or, when snoozed, until `until` (whichever comes
    first). Meanwhile new failures of that kind are recorded on rows acknowledged by it
    (ApiError.record), so they do not show as new open errors; `at` ties those rows to it."""

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="error_acknowledgements"
    )
    category = models.CharField(max_length=32)
    code = models.CharField("OKX code", max_length=16, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True, help_text="empty: until it recovers")

    objects = ErrorAcknowledgementQuerySet.as_manager()

    class Meta:
        app_label = "accounts"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "category", "code"], name="one_acknowledgement_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.code or '-'} until {self.until or 'recovery'}"

    @classmethod
    def acknowledge(
        cls,
        account_id: int,
        kinds: Iterable[tuple[str, str]],
        user_id: int | None,
        until: datetime | None,
        now: datetime | None = None,
    ) -> int:
        """Acknowledge each (category, code) kind of the account until it recovers, or until
        `until` (aware) if that comes first; replaces an earlier acknowledgement of the kind. Its
        open rows, and those of the replaced acknowledgement, become acknowledged by this one.
        Returns how many error rows that marked."""
        now = now or timezone.now()
        marked = 0
        with transaction.atomic():
            for category, code in sorted(set(kinds)):
                previous = cls.objects.filter(account_id=account_id, category=category, code=code).first()
                rows = ApiError.objects.filter(account_id=account_id, category=category, code=code)
                mine = Q(acknowledged=False)
                if previous is not None:
                    mine |= Q(acknowledged_at=previous.at)
                    previous.delete()
                marked += rows.filter(mine).update(
                    acknowledged=True, acknowledged_by_id=user_id, acknowledged_at=now
                )
                cls.objects.create(
                    account_id=account_id, category=category, code=code, by_id=user_id, at=now, until=until
                )
        return marked
