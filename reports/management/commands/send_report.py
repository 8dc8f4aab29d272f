"""`python manage.py send_report SCHEDULE_NAME [--at DATETIME]`: produce and send one report now.

The report goes through the same row, claim and mail path as a scheduled one, so running the
command twice for the same --at sends one e-mail. Without --at the report is as of now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from reports import delivery
from reports import schedule as timing
from reports.models import Report, ReportSchedule, ReportStatus


class Command(BaseCommand):
    help = "Produce and send one report of a schedule now (or as of --at)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("schedule", metavar="SCHEDULE_NAME")
        parser.add_argument(
            "--at",
            metavar="DATETIME",
            help="ISO date-time the report is as of, e.g. 2026-12-31T23:59:59; without an offset it is "
            "read in the schedule's time zone. Default: now.",
        )

    def handle(self, *args: Any, schedule: str, at: str | None, **options: Any) -> None:
        found = ReportSchedule.objects.filter(name=schedule).first()
        if found is None:
            names = ", ".join(ReportSchedule.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No report schedule named {schedule!r}. Schedules: {names}.")
        slot = self._slot(found, at)
        report, _ = Report.objects.for_slot(found, slot)
        if report.status == ReportStatus.SENT:
            self.stdout.write(
                f"Already sent at {report.sent_at:%Y-%m-%d %H:%M} UTC (report {report.pk}); nothing sent."
            )
            return
        if report.status in (ReportStatus.FAILED, ReportStatus.SKIPPED):
            Report.objects.filter(pk=report.pk).update(status=ReportStatus.PENDING, attempts=0)
        try:
            outcome = delivery.deliver(report.pk, require_enabled=False)
        except delivery.SendFailed as error:
            raise CommandError(
                f"Sending failed (recorded on report {report.pk}, retried later): {error}"
            ) from None
        if outcome.status != "sent":
            raise CommandError(f"Report {report.pk} was not sent: {outcome.status} {outcome.detail}".strip())
        report.refresh_from_db()
        self.stdout.write(
            f"Sent {report.subject!r} to {len(report.recipients.split())} recipient(s) (report {report.pk})."
        )

    @staticmethod
    def _slot(schedule: ReportSchedule, at: str | None) -> datetime:
        if not at:
            return timezone.now().replace(microsecond=0)
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise CommandError(f"--at {at!r} is not an ISO date-time (e.g. 2026-12-31T23:59:59).") from None
        if moment.tzinfo is None:  # a wall-clock time in the schedule's zone, resolved as slots are
            return timing.local_instant(moment.date(), moment.time(), schedule.zone)
        return moment.astimezone(UTC)
