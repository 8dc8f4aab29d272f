"""Report schedules (edited by key admins in the admin) and the reports they produce.

A schedule lives in the database rather than in Celery beat's own schedule (no
django-celery-beat): one beat entry runs the dispatcher every minute and it reads these rows, so
an edit applies at the next minute without restarting anything. A report row is unique per
(schedule, slot) and sending is claimed with a conditional UPDATE and its row count (as
healthchecks claims its work), so two dispatchers, two beats or a retry send one e-mail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.desks import sees_all
from accounts.models import Account
from reports import schedule as timing

MAX_ATTEMPTS = 5
# A claimed send that has not finished after this long belongs to a worker that died.
CLAIM_LEASE = timedelta(minutes=10)


class Cadence(models.TextChoices):
    DAILY = timing.DAILY, "daily"
    WEEKLY = timing.WEEKLY, "weekly"
    MONTHLY = timing.MONTHLY, "monthly"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


def _of_visible_desks(queryset: models.QuerySet[Any], user: Any) -> models.QuerySet[Any]:
    """`queryset` (rows with a `desk`) as `user` may see it: every row for a user who sees every
    account (accounts.desks.sees_all); otherwise the rows of a desk the user is a member of, so a
    row of every account (no desk) is for the former only. Anonymous: none."""
    if sees_all(user):
        return queryset
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    return queryset.filter(desk__members=user)


class ReportScheduleQuerySet(models.QuerySet["ReportSchedule"]):
    def visible_to(self, user: Any) -> models.QuerySet[ReportSchedule]:
        """The schedules `user` may see listed (_of_visible_desks)."""
        return _of_visible_desks(self, user)


class ReportSchedule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    cadence = models.CharField(max_length=8, choices=Cadence.choices, default=Cadence.DAILY)
    time_of_day = models.TimeField(help_text="Local time in the schedule's time zone.")
    weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices, null=True, blank=True, help_text="Weekly reports only."
    )
    day_of_month = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="Monthly only, 1-31; a shorter month reports on its last day.",
    )
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    recipients = models.TextField(help_text="E-mail addresses, one per line or separated by commas.")
    all_accounts = models.BooleanField(
        default=True, help_text="Every active account, including ones added later."
    )
    accounts = models.ManyToManyField(
        Account, blank=True, related_name="report_schedules", help_text="Used when 'all accounts' is off."
    )
    # A desk's schedule reports on that desk's accounts only, and its stored reports are for that
    # desk's members (and users who see every account). PROTECT: deleting the desk must not turn
    # the schedule into a report of every account sent to the desk's recipients.
    desk = models.ForeignKey(
        "accounts.Desk",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="report_schedules",
        help_text="Only this desk's accounts (and 'all accounts' means all of the desk's). Empty: "
        "every account, and its reports are for users who see every account.",
    )
    currency = models.CharField(
        "currency of presentation",
        max_length=16,
        default="USD",
        help_text="USD, or a currency the stored balances price in USD (e.g. BTC).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ReportScheduleQuerySet.as_manager()

    class Meta:
        db_table = "dashboard_reportschedule"  # the table this model had in the dashboard app
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def _timing(self) -> dict:
        return {
            "cadence": self.cadence,
            "at": self.time_of_day,
            "zone_name": self.time_zone,
            "weekday": self.weekday,
            "day_of_month": self.day_of_month,
        }

    def latest_slot(self, now: datetime) -> datetime | None:
        return timing.latest_slot(now, **self._timing())

    def next_slot(self, now: datetime) -> datetime | None:
        return timing.next_slot(now, **self._timing())

    def recipient_list(self) -> list[str]:
        return split_addresses(self.recipients)

    def included_accounts(self) -> models.QuerySet[Account]:
        """The active accounts the report covers: the desk's (when it has one), all of them or
        the chosen ones, by name."""
        accounts = Account.objects.filter(active=True)
        if self.desk_id is not None:
            accounts = accounts.filter(desks=self.desk_id)
        if not self.all_accounts:
            accounts = accounts.filter(pk__in=self.accounts.values("pk"))
        return accounts.order_by("name")


def split_addresses(text: str) -> list[str]:
    """Addresses separated by commas, semicolons, spaces or lines; duplicates dropped, order kept."""
    parts = text.replace(";", ",").replace("\n", ",").replace(" ", ",").split(",")
    return list(dict.fromkeys(part.strip() for part in parts if part.strip()))


class ReportStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed"
    SKIPPED = "skipped", "skipped"


class ReportQuerySet(models.QuerySet["Report"]):
    def for_slot(self, schedule: ReportSchedule, slot: datetime, **defaults: object) -> tuple[Report, bool]:
        """The report of this slot, created if absent; (report, created). A concurrent creator
        wins on the unique constraint and this returns its row."""
        defaults = {
            "schedule_name": schedule.name,
            "time_zone": schedule.time_zone,
            "desk_id": schedule.desk_id,
            **defaults,
        }
        try:
            with transaction.atomic():
                return self.get_or_create(schedule=schedule, slot=slot, defaults=defaults)
        except IntegrityError:
            return self.get(schedule=schedule, slot=slot), False

    def visible_to(self, user: Any) -> models.QuerySet[Report]:
        """The reports `user` may list and open (_of_visible_desks, by the report's own desk): a
        report of every account, or whose desk was deleted, is for users who see every account."""
        return _of_visible_desks(self, user)

    def claim(self, pk: int, now: datetime) -> bool:
        """Take the right to send: pending, or sending under an expired lease. One caller wins."""
        claimable = Q(status=ReportStatus.PENDING) | Q(
            status=ReportStatus.SENDING, claimed_at__lt=now - CLAIM_LEASE
        )
        won = self.filter(claimable, pk=pk).update(
            status=ReportStatus.SENDING, claimed_at=now, attempts=models.F("attempts") + 1
        )
        return won == 1


class Report(models.Model):
    """One report of one schedule for one slot: what was sent (or why not), stored for the team."""

    # Stored reports outlive their schedule: deleting a schedule keeps its reports (and the name).
    schedule = models.ForeignKey(ReportSchedule, null=True, on_delete=models.SET_NULL, related_name="reports")
    schedule_name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64)
    slot = models.DateTimeField(help_text="The report time (UTC); its numbers are as of this moment.")
    status = models.CharField(max_length=8, choices=ReportStatus.choices, default=ReportStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    recipients = models.TextField(blank=True)
    # Who pressed "Send now" on the reports page (empty for a scheduled slot or the command).
    requested_by = models.CharField(max_length=150, blank=True)
    # The desk whose accounts the report covers (its schedule's when it was made), None for every
    # account; who may open it follows from this (ReportQuerySet.visible_to). A deleted desk leaves
    # None, so its old reports are for users who see every account only.
    desk = models.ForeignKey(
        "accounts.Desk", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    currency = models.CharField(max_length=16, default="USD")
    stale_accounts = models.JSONField(default=list, blank=True)
    totals = models.JSONField(default=dict, blank=True, help_text="Decimal strings.")
    subject = models.CharField(max_length=200, blank=True)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    csv = models.TextField(blank=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        db_table = "dashboard_report"  # the table this model had in the dashboard app
        ordering = ["-slot", "-pk"]
        constraints = [models.UniqueConstraint(fields=["schedule", "slot"], name="one_report_per_slot")]

    def __str__(self) -> str:
        return f"{self.schedule_name} @ {self.slot:%Y-%m-%d %H:%M} UTC"

    @property
    def local_slot(self) -> datetime:
        return self.slot.astimezone(ZoneInfo(self.time_zone))

    @property
    def is_stale(self) -> bool:
        return bool(self.stale_accounts)

    @property
    def has_content(self) -> bool:
        return bool(self.html)
