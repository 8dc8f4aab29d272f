"""The Reports pages: stored reports (open, download) and balances at a chosen moment.

Everyone of the team (accounts.view_dashboard) reads them; schedules are edited in the admin.
A stored report is a mail document with inline styles: it is served by its own URL with its own
strict policy (no scripts at all, sandboxed, inline styles only) and framed by the report page,
so the site-wide CSP stays strict everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from csp.decorators import csp_replace
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from accounts.roles import viewer_required
from reports import balances
from reports.delivery import csv_filename
from reports.forms import BalancesAtForm
from reports.models import Report

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


def team_only(view: Callable) -> Callable:
    """Anonymous -> login page; signed in without view_dashboard -> 403."""
    return require_GET(viewer_required(view))


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@team_only
def report_list(request: HttpRequest) -> HttpResponse:
    reports = Report.objects.defer("html", "text", "csv", "totals").order_by("-slot", "-pk")
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "reports/list.html", {"page": page})


@team_only
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report.objects.defer("html", "text", "csv"), pk=pk)
    return render(request, "reports/detail.html", {"report": report})


@team_only
@xframe_options_sameorigin
# django-csp annotates a view as taking the request alone; its wrapper passes `pk` through.
@csp_replace(EMAIL_POLICY)  # type: ignore[arg-type]
def report_email(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report.objects.only("html"), pk=pk)
    return HttpResponse(report.html or "<p>This report has no content (it was not produced).</p>")


@team_only
def report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report.objects.only("csv", "schedule_name", "slot", "time_zone"), pk=pk)
    return _csv_response(report.csv, csv_filename(report))


def _moment(request: HttpRequest) -> tuple[BalancesAtForm, datetime | None]:
    form = BalancesAtForm(request.GET or None)
    return form, (form.moment() if form.is_valid() else None)


@team_only
def balances_at(request: HttpRequest) -> HttpResponse:
    form, moment = _moment(request)
    rows = balances.at(moment) if moment else None
    context = {"form": form, "moment": moment, "rows": rows, "zone": form.tz() if moment else None}
    return render(request, "reports/balances_at.html", context)


@team_only
def balances_at_csv(request: HttpRequest) -> HttpResponse:
    form, moment = _moment(request)
    if moment is None:
        return HttpResponse(
            f"Bad date, time or zone: {form.errors.as_text()}", status=400, content_type="text/plain"
        )
    text = balances.to_csv(balances.at(moment), moment)
    return _csv_response(text, f"balances-at-{moment.astimezone(form.tz()):%Y-%m-%d-%H%M}.csv")
