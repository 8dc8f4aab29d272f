"""The errors page (the diagnosed history of failed calls to OKX, filtered and paginated) and the
operator's POSTs that acknowledge a kind of error of an account, or all its open kinds, until it
recovers or for a snooze (accounts.history.ErrorAcknowledgement). A desk-limited user
(accounts.desks) sees the errors of their desks' accounts only; acknowledging another account's
answers 404."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
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

from accounts import desks
from accounts.history import ApiError, ErrorAcknowledgement
from accounts.models import Account
from accounts.roles import OPERATE, operator_required, viewer_required
from dashboard.pages.common import (
    BadQuery,
    account_or_404,
    bad_request,
    render_page,
    render_partial,
    visible_or_404,
)
from okxapi import CATEGORIES

ERRORS_PER_PAGE = 50
# Whole days whose start and end exist as aware times in any zone (UTC-12 to UTC+14): outside
# them, datetime overflows (?until=9999-12-31 answered 500).
EARLIEST_DAY, LATEST_DAY = date(1, 1, 2), date(9999, 12, 30)
OUT_OF_RANGE = f"Enter a date from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}."
# How long an acknowledgement lasts at most: it always ends when the kind recovers.
SNOOZES: dict[str, tuple[str, timedelta | None]] = {
    "recovery": ("until it recovers", None),
    "1h": ("1 hour, or until it recovers", timedelta(hours=1)),
    "1d": ("1 day, or until it recovers", timedelta(days=1)),
    "1w": ("1 week, or until it recovers", timedelta(weeks=1)),
}


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

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        """`user`: the account choices are the accounts this user sees (accounts.desks); another
        account's id is refused as an unknown one."""
        super().__init__(*args, **kwargs)
        if user is not None:
            field = self.fields["account"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = desks.visible_accounts(user).order_by("name")

    def clean_since(self) -> date | None:
        return _in_range(self.cleaned_data.get("since"))

    def clean_until(self) -> date | None:
        return _in_range(self.cleaned_data.get("until"))

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


def _in_range(day: date | None) -> date | None:
    if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
        raise forms.ValidationError(OUT_OF_RANGE)
    return day


class AcknowledgeForm(forms.Form):
    snooze = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in SNOOZES.items()],
        required=False,
        error_messages={"invalid_choice": "Choose how long: until it recovers, 1 hour, 1 day or 1 week."},
    )

    def until(self, now: datetime) -> datetime | None:
        """When the acknowledgement ends at the latest (None: only when the kind recovers)."""
        length = SNOOZES[self.cleaned_data.get("snooze") or "recovery"][1]
        return None if length is None else now + length


@require_GET
@viewer_required
def errors(request: HttpRequest) -> HttpResponse:
    form = ErrorFilter(request.GET or None, user=request.user)
    rows: QuerySet[ApiError] = desks.limit_to_visible(
        ApiError.objects.select_related("account", "acknowledged_by").order_by("-last_seen", "-pk"),
        request.user,
    )
    status = 200
    if form.is_bound and not form.is_valid():
        rows, status = rows.none(), 400
    elif form.is_bound:
        rows = form.apply(rows)
    page = Paginator(rows, ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    _attach_acknowledgements(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "filters": query.urlencode(),
        "here": request.get_full_path(),
        "can_operate": request.user.has_perm(OPERATE),
        "snoozes": [(key, label) for key, (label, _) in SNOOZES.items()],
    }
    return render_page(request, "dashboard/errors.html", context, status=status)


def _attach_acknowledgements(rows: Any) -> None:
    """Each acknowledged row gets `acknowledgement`: the acknowledgement in force that covers it
    (which says until when), or None when it ended (recovered, snooze over). One query."""
    rows = list(rows)
    accounts = {row.account_id for row in rows if row.acknowledged}
    live = {
        (ack.account_id, ack.category, ack.code, ack.at): ack
        for ack in ErrorAcknowledgement.objects.active().filter(account_id__in=accounts)
    }
    for row in rows:
        row.acknowledgement = live.get((row.account_id, row.category, row.code, row.acknowledged_at))


@require_POST
@operator_required
def acknowledge_error(request: HttpRequest, pk: int) -> HttpResponse:
    """Acknowledge the kind (category + OKX code) of this row for its account: its open rows and
    its next failures show as acknowledged until it recovers or the snooze ends."""
    error = get_object_or_404(ApiError.objects.select_related("account"), pk=pk)
    visible_or_404(request, error)
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        return _refused(form, request)
    now = timezone.now()
    until = form.until(now)
    ErrorAcknowledgement.acknowledge(
        error.account_id, [(error.category, error.code)], request.user.pk, until, now
    )
    kind = f"{error.code or 'no code'} ({error.category})"
    messages.success(request, f"Acknowledged {kind} errors of {error.account.name} {_how_long(until)}.")
    return _back(request, reverse("pages:errors"))


@require_POST
@operator_required
def acknowledge_account(request: HttpRequest, pk: int) -> HttpResponse:
    """Acknowledge every kind of error the account has open (unacknowledged rows), each until it
    recovers or the snooze ends. A kind that first fails later is news."""
    account = account_or_404(request, pk)
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        return _refused(form, request)
    kinds = set(ApiError.objects.filter(account=account, acknowledged=False).values_list("category", "code"))
    if not kinds:
        messages.info(request, f"{account.name} has no open errors to acknowledge.")
        return _back(request, reverse("pages:errors"))
    now = timezone.now()
    until = form.until(now)
    marked = ErrorAcknowledgement.acknowledge(account.pk, kinds, request.user.pk, until, now)
    messages.success(
        request,
        f"Acknowledged {len(kinds)} kind{'s' if len(kinds) != 1 else ''} of error of {account.name} "
        f"({marked} row{'s' if marked != 1 else ''}) {_how_long(until)}.",
    )
    return _back(request, reverse("pages:errors"))


def _how_long(until: datetime | None) -> str:
    if until is None:
        return "until they recover"
    local = timezone.localtime(until, ZoneInfo(settings.DISPLAY_TIME_ZONE))
    return f"until {local:%Y-%m-%d %H:%M} ({settings.DISPLAY_TIME_ZONE}) or until they recover"


def _refused(form: AcknowledgeForm, request: HttpRequest) -> HttpResponse:
    problems = " ".join(str(problem) for problems in form.errors.values() for problem in problems)
    return bad_request(BadQuery(f"Not acknowledged: {problems}"), request)


def _back(request: HttpRequest, default: str) -> HttpResponse:
    """To the page the form was on (?next=, this site only), else to default."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(target)
    return redirect(default)
