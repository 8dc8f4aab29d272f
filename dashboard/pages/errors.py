"""The errors page (the diagnosed history of failed calls to OKX, filtered and paginated) and the
operator's POST that acknowledges one error row."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.forms.utils import flatatt
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

from accounts.history import ApiError
from accounts.models import Account
from accounts.roles import OPERATE, operator_required, viewer_required
from dashboard.pages.common import render_page, render_partial
from okxapi import CATEGORIES

ERRORS_PER_PAGE = 50


class QuickSelect(forms.Select):
    """A <select> drawn by one Jinja2 template that loops over the options, instead of Django's
    widget template per option: the filter lists every account (500 options took ~0.1-0.2 s)."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        chosen = set(self.format_value(value))
        options, selected = [], False
        for option_value, label in self.choices:
            text = "" if option_value is None else str(option_value)
            mark = not selected and text in chosen  # the first match only, as Django's Select
            selected = selected or mark
            options.append((text, label, mark))
        html_attrs = flatatt(self.build_attrs(self.attrs, attrs))  # sorted, after the name as Django's
        return render_partial(
            None, "dashboard/_quick_select.html", {"name": name, "attrs": html_attrs, "options": options}
        )


class ErrorFilter(forms.Form):
    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name"), required=False, empty_label="all", widget=QuickSelect
    )
    category = forms.ChoiceField(
        choices=[("", "all"), *((c, c) for c in CATEGORIES)], required=False, widget=QuickSelect
    )
    code = forms.RegexField(
        regex=r"^[0-9A-Za-z_]{1,16}$",
        required=False,
        error_messages={"invalid": "An OKX code is digits (e.g. 50113)."},
    )
    since = forms.DateField(
        required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The 'since' date must be on or before the 'until' date.")
        return self.cleaned_data

    def apply(self, rows: QuerySet[ApiError]) -> QuerySet[ApiError]:
        """Dates are whole days in the display zone: since from its midnight, until through its end."""
        data, zone = self.cleaned_data, ZoneInfo(settings.DISPLAY_TIME_ZONE)
        if data.get("account"):
            rows = rows.filter(account=data["account"])
        if data.get("category"):
            rows = rows.filter(category=data["category"])
        if data.get("code"):
            rows = rows.filter(code=data["code"])
        if data.get("since"):
            rows = rows.filter(last_seen__gte=datetime.combine(data["since"], time.min, zone))
        if data.get("until"):
            end = datetime.combine(data["until"] + timedelta(days=1), time.min, zone)
            rows = rows.filter(first_seen__lt=end)
        return rows


@require_GET
@viewer_required
def errors(request: HttpRequest) -> HttpResponse:
    form = ErrorFilter(request.GET or None)
    rows: QuerySet[ApiError] = ApiError.objects.select_related("account", "acknowledged_by").order_by(
        "-last_seen", "-pk"
    )
    status = 200
    if form.is_bound and not form.is_valid():
        rows, status = rows.none(), 400
    elif form.is_bound:
        rows = form.apply(rows)
    page = Paginator(rows, ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "filters": query.urlencode(),
        "here": request.get_full_path(),
        "can_operate": request.user.has_perm(OPERATE),
    }
    return render_page(request, "dashboard/errors.html", context, status=status)


@require_POST
@operator_required
def acknowledge_error(request: HttpRequest, pk: int) -> HttpResponse:
    error = get_object_or_404(ApiError, pk=pk)
    changed = ApiError.objects.filter(pk=error.pk, acknowledged=False).update(
        acknowledged=True, acknowledged_by=request.user, acknowledged_at=timezone.now()
    )
    if changed:
        messages.success(request, f"Acknowledged: {error.account.name} {error.endpoint} {error.code}.")
    return _back(request, reverse("pages:errors"))


def _back(request: HttpRequest, default: str) -> HttpResponse:
    """To the page the form was on (?next=, this site only), else to default."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(target)
    return redirect(default)
