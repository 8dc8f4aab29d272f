"""Report schedules in the admin: key admins (accounts.manage_keys) edit them; the stored reports
are listed read-only. Edits apply at the dispatcher's next minute, no restart needed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from accounts.roles import KeyAdminsOnly
from reports.forms import ReportScheduleForm
from reports.models import Report, ReportSchedule


@admin.register(ReportSchedule)
class ReportScheduleAdmin(KeyAdminsOnly, admin.ModelAdmin):
    form = ReportScheduleForm
    list_display = (
        "name",
        "enabled",
        "cadence",
        "time_of_day",
        "time_zone",
        "currency",
        "desk",
        "next_report",
    )
    list_filter = ("enabled", "cadence", "desk")
    search_fields = ("name", "recipients")
    filter_horizontal = ("accounts",)
    fieldsets = [
        (None, {"fields": ("name", "enabled", "recipients", "currency")}),
        ("When", {"fields": ("cadence", "time_of_day", "weekday", "day_of_month", "time_zone")}),
        ("Accounts", {"fields": ("desk", "all_accounts", "accounts")}),
    ]

    @admin.display(description="next report")
    def next_report(self, schedule: ReportSchedule) -> str:
        slot = schedule.next_slot(timezone.now()) if schedule.enabled else None
        return f"{slot.astimezone(schedule.zone):%Y-%m-%d %H:%M %Z}" if slot else "—"


@admin.register(Report)
class ReportAdmin(KeyAdminsOnly, admin.ModelAdmin):
    list_display = ("schedule_name", "slot", "status", "attempts", "last_error", "sent_at")
    list_filter = ("status", "schedule_name")
    fields = readonly_fields = (
        "schedule_name",
        "desk",
        "slot",
        "status",
        "attempts",
        "last_error",
        "claimed_at",
        "sent_at",
        "requested_by",
        "recipients",
        "stale_accounts",
        "totals",
    )

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # reports come from schedules and `send_report`

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
