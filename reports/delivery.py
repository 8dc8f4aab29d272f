"""Which reports are due, and sending one exactly once.

The dispatcher runs every minute (one beat entry) and reads the schedules from the database. Per
enabled schedule it takes the latest due slot and creates that slot's report row if absent; only
the creator enqueues, so a second beat or an overlapping run adds nothing. The sender claims the
row with a conditional UPDATE (row count 1 wins), so a redelivered or duplicated task sends no
second e-mail. A failed send goes back to pending with its error and is retried by Celery with
backoff; after MAX_ATTEMPTS it stays failed.

A slot first noticed more than MISSED_AFTER late (the system was down) is recorded as skipped,
not sent: a "morning" report arriving in the evening with morning numbers misleads more than it
helps, and the numbers stay available on the balances-at page and through `send_report --at`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from reports import build, render
from reports.models import MAX_ATTEMPTS, Report, ReportSchedule, ReportStatus

logger = logging.getLogger(__name__)

MISSED_AFTER = timedelta(hours=6)
# A pending report untouched this long lost its task (broker restart): enqueue it again.
REQUEUE_AFTER = timedelta(minutes=15)


class SendFailed(Exception):
    """The mail transport refused or failed; the report row holds the error."""


@dataclass(frozen=True)
class Outcome:
    report_id: int
    status: str
    detail: str = ""


def due(now: datetime) -> list[tuple[int, str]]:
    """1. For each enabled schedule, its latest slot at or before `now` (none before it existed).
    2. Too late -> a skipped row; else the slot's row, enqueued only by the run that created it.
    3. Plus pending rows whose task was lost. Returns (schedule id, slot ISO) to enqueue."""
    to_send: list[tuple[int, str]] = []
    for schedule in ReportSchedule.objects.filter(enabled=True):
        slot = schedule.latest_slot(now)
        if slot is None or slot < schedule.created_at.replace(second=0, microsecond=0):
            continue
        if now - slot > MISSED_AFTER:
            Report.objects.for_slot(
                schedule, slot, status=ReportStatus.SKIPPED, last_error=f"missed by more than {MISSED_AFTER}"
            )
            continue
        _, created = Report.objects.for_slot(schedule, slot)
        if created:
            to_send.append((schedule.pk, slot.isoformat()))
    lost = Report.objects.annotate(touched=Coalesce("claimed_at", "created_at")).filter(
        Q(status=ReportStatus.PENDING) | Q(status=ReportStatus.SENDING),
        schedule__enabled=True,
        slot__gte=now - MISSED_AFTER,
        touched__lt=now - REQUEUE_AFTER,
    )
    to_send += [(pk, slot.isoformat()) for pk, slot in lost.values_list("schedule_id", "slot")]
    return to_send


def previous_total(report: Report) -> tuple[datetime, Decimal] | None:
    """The last sent report of the same schedule and desk before this slot: (its slot, its total
    USD). One of another desk (the schedule's desk was changed since) is no baseline: the change
    would tell a desk's readers the other accounts' total."""
    desk = report.schedule.desk_id if report.schedule is not None else report.desk_id
    same_desk = Q(desk__isnull=True) if desk is None else Q(desk=desk)
    earlier = (
        Report.objects.filter(
            same_desk, schedule_id=report.schedule_id, status=ReportStatus.SENT, slot__lt=report.slot
        )
        .order_by("-slot")
        .values_list("slot", "totals")
        .first()
    )
    if earlier is None or not earlier[1].get("total_usd"):
        return None
    return earlier[0], Decimal(earlier[1]["total_usd"])


def produce(report: Report) -> None:
    """Compute and store the report's content once; a retry sends exactly what was stored. A
    desk's schedule reports on the desk's accounts only (ReportSchedule.included_accounts, and
    the desk's PnL, never the team's) and the report row keeps that desk."""
    if report.has_content:
        return
    schedule = report.schedule
    if schedule is None:  # deleted since deliver() looked (the foreign key is SET_NULL)
        raise LookupError(f"the schedule of report {report.pk} was deleted")
    since = schedule.latest_slot(report.slot - timedelta(seconds=1))  # the PnL period's start
    desk = schedule.desk
    data = build.build(
        schedule.included_accounts(),
        report.slot,
        schedule.currency,
        previous_total(report),
        since,
        desk=desk.name if desk is not None else "",
    )
    rendered = render.render(data, schedule.name, schedule.time_zone)
    report.subject, report.text, report.html, report.csv = (
        rendered.subject,
        rendered.text,
        rendered.html,
        rendered.csv,
    )
    report.totals, report.currency = rendered.totals, data.currency
    report.stale_accounts = [row.name for row in data.stale]
    report.recipients = "\n".join(schedule.recipient_list())
    # Who may open it follows the desk its figures are of (ReportQuerySet.visible_to).
    report.desk = desk
    report.save(
        update_fields=[
            "subject",
            "text",
            "html",
            "csv",
            "totals",
            "currency",
            "stale_accounts",
            "recipients",
            "desk",
        ]
    )


def send_mail_for(report: Report) -> None:
    message = EmailMultiAlternatives(
        subject=report.subject,
        body=report.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=report.recipients.split("\n"),
    )
    message.attach_alternative(report.html, "text/html")
    message.attach(csv_filename(report), report.csv, "text/csv")
    message.send()


def csv_filename(report: Report) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in report.schedule_name.lower()).strip("-")
    return f"{slug or 'report'}-{report.local_slot:%Y-%m-%d-%H%M}.csv"


def deliver_slot(schedule_id: int, slot: datetime) -> Outcome:
    """The task's entry: the (schedule, slot) row, created if the dispatcher's is gone, then sent."""
    schedule = ReportSchedule.objects.filter(pk=schedule_id).first()
    if schedule is None:
        return Outcome(0, "missing", f"schedule {schedule_id} was deleted")
    report, _ = Report.objects.for_slot(schedule, slot)
    return deliver(report.pk)


def deliver(report_id: int, *, now: datetime | None = None, require_enabled: bool = True) -> Outcome:
    """Claim, produce, send, record. Raises SendFailed (row back to pending) when the mail
    transport fails and attempts remain; after the last attempt the row stays failed."""
    now = now or timezone.now()
    report = Report.objects.select_related("schedule").filter(pk=report_id).first()
    if report is None:
        return Outcome(report_id, "missing")
    if report.schedule is None or (require_enabled and not report.schedule.enabled):
        Report.objects.filter(pk=report_id, status=ReportStatus.PENDING).update(
            status=ReportStatus.SKIPPED, last_error="schedule disabled or deleted before sending"
        )
        return Outcome(report_id, "skipped", "schedule disabled or deleted")
    if not Report.objects.claim(report_id, now):
        return Outcome(report_id, "not claimed", f"already {report.status}")
    report.refresh_from_db()
    try:
        produce(report)
        send_mail_for(report)
    except Exception as error:  # the transport's errors vary (SMTPException, OSError, ...)
        return _record_failure(report, error)
    Report.objects.filter(pk=report_id).update(
        status=ReportStatus.SENT, sent_at=timezone.now(), last_error=""
    )
    return Outcome(report_id, "sent")


def _record_failure(report: Report, error: Exception) -> Outcome:
    final = report.attempts >= MAX_ATTEMPTS
    text = f"{type(error).__name__}: {error}"[:500]
    status = ReportStatus.FAILED if final else ReportStatus.PENDING
    Report.objects.filter(pk=report.pk).update(status=status, last_error=text)
    logger.warning("report %s attempt %s failed: %s", report.pk, report.attempts, type(error).__name__)
    if final:
        return Outcome(report.pk, "failed", text)
    raise SendFailed(text) from error
