"""The Reports pages: the schedules with their next run, stored reports (open, download) and
balances at a chosen moment.

Everyone of the team (accounts.view_dashboard) reads them; schedules are edited in the admin and
key admins (accounts.manage_keys) may send a schedule's report now. A desk-limited user (see
accounts.desks) sees the schedules and stored reports of their own desks only (a report of every
account is for users who see every account: 404 for anyone else, as for a report that does not
exist) and the balances of the accounts they see. A stored report is a mail
document with inline styles: its page shows it in the page's own flow (no fixed-height frame to
scroll inside), allowing style attributes for that page alone (style-src-attr) while scripts
stay as strict as everywhere; the document as e-mailed is also served by its own URL under its
own policy (no scripts at all, sandboxed, inline styles only).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from csp.decorators import csp_replace, csp_update
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from accounts.desks import sees_all, visible_accounts
from accounts.roles import MANAGE_KEYS, viewer_required
from reports import balances, delivery
from reports.delivery import csv_filename
from reports.forms import BalancesAtForm
from reports.models import Report, ReportSchedule, ReportStatus

PAGE_SIZE = 50
# The stored e-mail may style itself inline and show data: images; nothing else, ever.
EMAIL_POLICY = {
    "default-src": ["'none'"],
    "script-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["data:"],
    "connect-src": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["'self'"],
    "sandbox": [True],
}
# The report page shows the stored e-mail's body in its own flow: style attributes only, no
# <style> element, no script (the site's script-src stays 'self' and the document has none).
INLINE_REPORT_POLICY = {"style-src-attr": ["'unsafe-inline'"]}
BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


def team_only(view: Callable) -> Callable:
    """Anonymous -> login page; signed in without view_dashboard -> 403."""
    return require_GET(viewer_required(view))


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """A reports page with times shown in the team's display zone (`zone` names it)."""
    zone = settings.DISPLAY_TIME_ZONE
    with timezone.override(ZoneInfo(zone)):
        return render(request, template, {**context, "zone": zone}, status=status)


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@team_only
def report_list(request: HttpRequest) -> HttpResponse:
    reports = Report.objects.visible_to(request.user).defer("html", "text", "csv", "totals")
    reports = reports.order_by("-slot", "-pk")
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    visible = ReportSchedule.objects.visible_to(request.user).select_related("desk")
    schedules = [
        {"schedule": schedule, "next": schedule.next_slot(now) if schedule.enabled else None}
        for schedule in visible.order_by("name")
    ]
    context = {"page": page, "schedules": schedules, "limited": not sees_all(request.user)}
    return _page(request, "reports/list.html", context)


@team_only
@csp_update(INLINE_REPORT_POLICY)  # type: ignore[arg-type]
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report.objects.visible_to(request.user).defer("text", "csv"), pk=pk)
    body = BODY.search(report.html)
    # The stored HTML is the product's own rendering (every value escaped when it was made).
    document = mark_safe(body.group(1) if body else report.html)  # noqa: S308
    return _page(request, "reports/detail.html", {"report": report, "document": document})


@require_POST
@login_required
@permission_required(MANAGE_KEYS, raise_exception=True)
def send_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Key admins: produce and send the schedule's report as of now, through the same row, claim
    and mail path as a scheduled one (as `send_report` does); the row names who asked for it."""
    schedule = get_object_or_404(ReportSchedule, pk=pk)
    slot = timezone.now().replace(microsecond=0)
    report, created = Report.objects.for_slot(schedule, slot, requested_by=request.user.get_username())
    if not created:
        messages.info(request, f"A report of {schedule.name} as of this second exists already.")
        return redirect("reports:list")
    try:
        outcome = delivery.deliver(report.pk, require_enabled=False)
    except delivery.SendFailed:
        messages.error(
            request,
            f"Sending {schedule.name} failed; the error is on the report below and it is retried "
            "automatically.",
        )
        return redirect("reports:list")
    if outcome.status == ReportStatus.SENT:
        count = len(schedule.recipient_list())
        messages.success(request, f"Sent {schedule.name} to {count} recipient{'s' if count != 1 else ''}.")
    else:
        messages.error(request, f"{schedule.name} was not sent: {outcome.detail or outcome.status}.")
    return redirect("reports:list")


@team_only
@xframe_options_sameorigin
# django-csp annotates a view as taking the request alone; its wrapper passes `pk` through.
@csp_replace(EMAIL_POLICY)  # type: ignore[arg-type]
def report_email(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report.objects.visible_to(request.user).only("html"), pk=pk)
    return HttpResponse(report.html or "<p>This report has no content (it was not produced).</p>")


@team_only
def report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    reports = Report.objects.visible_to(request.user).only("csv", "schedule_name", "slot", "time_zone")
    report = get_object_or_404(reports, pk=pk)
    return _csv_response(report.csv, csv_filename(report))


def _moment(request: HttpRequest) -> tuple[BalancesAtForm, datetime | None]:
    form = BalancesAtForm(request.GET or None)
    return form, (form.moment() if form.is_valid() else None)


@team_only
def balances_at(request: HttpRequest) -> HttpResponse:
    form, moment = _moment(request)
    rows = balances.at(moment, visible_accounts(request.user)) if moment else None
    context = {
        "form": form,
        "moment": moment,
        "rows": rows,
        "chosen_zone": form.tz() if moment else None,
        "team_total": balances.team_total(rows) if rows is not None else None,
        "limited": not sees_all(request.user),  # the total is of the user's desks' accounts
    }
    # A date, time or zone that cannot be read answers 400 with the form's message.
    status = 400 if form.is_bound and moment is None else 200
    return render(request, "reports/balances_at.html", context, status=status)  # times say UTC


@team_only
def balances_at_csv(request: HttpRequest) -> HttpResponse:
    form, moment = _moment(request)
    if moment is None:
        return HttpResponse(
            f"Bad date, time or zone: {form.errors.as_text()}",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    text = balances.to_csv(balances.at(moment, visible_accounts(request.user)), moment)
    return _csv_response(text, f"balances-at-{moment.astimezone(form.tz()):%Y-%m-%d-%H%M}.csv")
