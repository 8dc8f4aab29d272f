"""The keys page (every credential by urgency, with what to do), the errors page (the diagnosed
history, filtered and paginated), and the two operator POSTs: acknowledge an error, test a key now.

Pages read rows; test_key is the one view that calls the exchange, on an explicit POST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.health import KeyFacts, Severity, WarningCode, key_warnings
from accounts.history import ApiError
from accounts.keycheck import check_key, policy
from accounts.models import ENCRYPTED_FIELDS, Account, Credential, CredentialStatus, HealthStatus
from accounts.roles import MANAGE_KEYS, OPERATE, VIEW_DASHBOARD
from dashboard.pages.cards import QuickSelect, key_cards
from okxapi import CATEGORIES, IDLE_DELETION_DAYS

ERRORS_PER_PAGE = 50
# Plain strings, not the enum members: those hash by name, and stored warnings hold values.
# Warnings a person must act on (the top bar counts them); "info" ones are advice only.
ACTION_SEVERITIES = frozenset({Severity.WARNING.value, Severity.DANGER.value})
# These follow from the stored row and today's date alone, so the page recomputes them: the
# idle-deletion clock keeps running for a key nobody uses (a paused account's key is not checked).
DATE_RULE_CODES = frozenset(
    {
        WarningCode.EXPIRES_SOON.value,
        WarningCode.EXPIRED.value,
        WarningCode.IDLE_DELETION.value,
        WarningCode.ROTATION_DUE.value,
        WarningCode.WITHDRAW_ENABLED.value,
        WarningCode.NO_IP_BINDING.value,
    }
)
DEADLINE_CODES = {
    WarningCode.IDLE_DELETION.value: "deleted by OKX",
    WarningCode.EXPIRED.value: "expired",
    WarningCode.EXPIRES_SOON.value: "expires",
}


def viewer_required(view: Callable) -> Callable:
    """Anonymous: to the login page; signed in without the permission: 403."""
    return login_required(permission_required(VIEW_DASHBOARD, raise_exception=True)(view))


def operator_required(view: Callable) -> Callable:
    return login_required(permission_required(OPERATE, raise_exception=True)(view))


# --- Warnings as of now ------------------------------------------------------------------------
def current_warnings(credential: Credential, now: datetime | None = None) -> list[dict[str, Any]]:
    """The stored warnings of the last key check, with the date-driven ones recomputed for now."""
    if not credential.permissions:  # never read from OKX: the date rules would guess
        return list(credential.warnings or [])
    return warnings_as_of(
        credential.warnings,
        credential.permissions,
        KeyFacts(
            permissions=frozenset(credential.permissions or ()),
            ip_binding=tuple(credential.ip_binding or ()),
            demo=credential.account.is_demo,
            created_at=credential.okx_created_at or credential.activated_at,
            expires_on=credential.expires_on,
            last_success_at=credential.last_success_at,
        ),
        now or timezone.now(),
    )


def warnings_as_of(
    stored: list[dict[str, Any]] | None, permissions: list[str] | None, facts: KeyFacts, now: datetime
) -> list[dict[str, Any]]:
    """current_warnings from the columns alone (the top bar reads them without model instances)."""
    kept = [w for w in stored or [] if w.get("code") not in DATE_RULE_CODES]
    if not permissions:  # never read from OKX: the date rules would guess
        return list(stored or [])
    fresh = [_plain(w) for w in key_warnings(facts, now, policy())]
    fresh = [w for w in fresh if w["code"] in DATE_RULE_CODES]
    return fresh + kept


def _plain(warning: dict[str, Any]) -> dict[str, Any]:
    """As stored in the JSON column: code and severity as plain strings."""
    return {**warning, "code": str(warning["code"]), "severity": str(warning["severity"])}


def needs_action(credential: Credential, warnings: list[dict[str, Any]]) -> bool:
    if credential.health_status == HealthStatus.FAILING:
        return True
    return any(w.get("severity") in ACTION_SEVERITIES for w in warnings)


# --- The keys page -----------------------------------------------------------------------------
@dataclass
class KeyRow:
    credential: Credential
    status: str  # ok | grace | failing | unchecked
    warnings: list[dict[str, Any]]
    deadline: date | None = None
    deadline_what: str = ""
    days_left: int | None = None
    steps: list[str] = field(default_factory=list)
    rotate_url: str = ""

    @property
    def account(self) -> Account:
        return self.credential.account

    @property
    def deadline_text(self) -> str:
        """E.g. "Deleted by OKX in 4 days (2026-05-14)", "Expired 2 days ago (2026-05-08)"."""
        if self.deadline is None or self.days_left is None:
            return ""
        days = self.days_left
        when = {0: "today", 1: "tomorrow", -1: "yesterday"}.get(days)
        when = when or (f"in {days} days" if days > 0 else f"{-days} days ago")
        what = self.deadline_what[:1].upper() + self.deadline_what[1:]
        return f"{what} {when} ({self.deadline.isoformat()})"

    @property
    def urgency(self) -> tuple:
        """Failing first; then the nearest idle deletion or expiry; then grace; then the rest
        (warnings needing action before clean keys)."""
        if self.status == HealthStatus.FAILING:
            return (0, 0, self.account.name)
        if self.days_left is not None:
            return (1, self.days_left, self.account.name)
        if self.status == HealthStatus.GRACE:
            return (2, 0, self.account.name)
        quiet = not any(w.get("severity") in ACTION_SEVERITIES for w in self.warnings)
        return (3, int(quiet), self.account.name)


def _deadline(warnings: list[dict[str, Any]], today: date) -> tuple[date | None, str]:
    dated = [
        (date.fromisoformat(w["date"]), DEADLINE_CODES[w["code"]])
        for w in warnings
        if w.get("code") in DEADLINE_CODES and w.get("date")
    ]
    return min(dated) if dated else (None, "")


def key_rows(credentials: QuerySet, *, today: date, now: datetime) -> list[KeyRow]:
    rows = []
    for credential in credentials:
        warnings = current_warnings(credential, now)
        deadline, what = _deadline(warnings, today)
        rows.append(
            KeyRow(
                credential=credential,
                status=credential.health_status or "unchecked",
                warnings=sorted(warnings, key=_severity_order),
                deadline=deadline,
                deadline_what=what,
                days_left=(deadline - today).days if deadline else None,
            )
        )
    return rows


def _severity_order(warning: dict[str, Any]) -> int:
    return {Severity.DANGER.value: 0, Severity.WARNING.value: 1}.get(warning.get("severity"), 2)


def _with_advice(rows: list[KeyRow], request: HttpRequest) -> None:
    """What to do for each key; failing keys get the steps of their latest diagnosed error
    (one query for all of them)."""
    failing = [row.credential.pk for row in rows if row.status in (HealthStatus.FAILING, HealthStatus.GRACE)]
    latest: dict[int, ApiError] = {}
    for error in ApiError.objects.filter(credential_id__in=failing).order_by("-last_seen"):
        latest.setdefault(error.credential_id, error)
    may_rotate = request.user.has_perm(MANAGE_KEYS)
    for row in rows:
        row.steps = advice(row, latest.get(row.credential.pk))
        if may_rotate and row.credential.status == CredentialStatus.ACTIVE:
            row.rotate_url = reverse("admin:accounts_account_rotate", args=[row.account.pk])


def advice(row: KeyRow, error: ApiError | None) -> list[str]:
    steps: list[str] = []
    if row.status in (HealthStatus.FAILING, HealthStatus.GRACE):
        if row.credential.health_message:
            steps.append(f"OKX refuses this key: {row.credential.health_message}")
        steps.extend(error.steps if error else [])
        if row.status == HealthStatus.GRACE:
            steps.append(
                "A temporary problem: the key becomes failing if it lasts "
                f"{settings.GRACE_PERIOD_MINUTES} minutes."
            )
    for warning in row.warnings:
        step = _WARNING_STEPS.get(warning.get("code", ""))
        if step and step not in steps:
            steps.append(step)
    return steps


_WARNING_STEPS = {
    WarningCode.IDLE_DELETION.value: (
        f"OKX deletes a trade key without IP binding after {IDLE_DELETION_DAYS} days without a signed "
        "call: make a signed call with it (keep the account active so the dashboard refreshes it), "
        "or bind the key to an IP address on OKX, or replace it with a read-only key."
    ),
    WarningCode.EXPIRED.value: "Create a new key on OKX and rotate it here; the old one no longer works.",
    WarningCode.EXPIRES_SOON.value: "Create a new key on OKX and rotate it here before the expiry date.",
    WarningCode.ROTATION_DUE.value: "Create a new key on OKX, rotate it here, then delete the old one.",
    WarningCode.WITHDRAW_ENABLED.value: "Use a key that cannot withdraw: the dashboard only reads.",
    WarningCode.NO_IP_BINDING.value: "Bind the key to the dashboard server's IP address on OKX.",
    WarningCode.CLOCK_SKEW.value: "Enable time synchronisation (NTP) on the servers running the workers.",
    WarningCode.STALE.value: "Check that the Celery worker and beat run; see the errors page.",
    WarningCode.UNKNOWN_KEY.value: "Check on OKX who made the other key; delete it if nobody needs it.",
    WarningCode.UID_MISMATCH.value: "Rotate in the key created in this account on OKX.",
}


@require_GET
@viewer_required
def keys(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    today = now.astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE)).date()
    # The ciphertexts are never shown: not loading 500 of each is ~10 % of the page.
    credentials = Credential.objects.select_related("account", "account__master").defer(*ENCRYPTED_FIELDS)
    active = key_rows(credentials.filter(status=CredentialStatus.ACTIVE), today=today, now=now)
    active.sort(key=lambda row: row.urgency)
    _with_advice(active, request)
    retired = credentials.filter(status=CredentialStatus.RETIRED).order_by("-retired_at")
    cards = key_cards(active, request, can_operate=request.user.has_perm(OPERATE))
    return _render(request, "dashboard/keys.html", {"rows": active, "cards": cards, "retired": retired})


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """Times on the page in the display zone."""
    zone = settings.DISPLAY_TIME_ZONE
    with timezone.override(ZoneInfo(zone)):
        return render(request, template, {**context, "zone": zone}, status=status)


# --- The errors page ---------------------------------------------------------------------------
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
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The 'since' date must be on or before the 'until' date.")
        return data

    def apply(self, rows: QuerySet) -> QuerySet:
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
    rows = ApiError.objects.select_related("account", "acknowledged_by").order_by("-last_seen", "-pk")
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
    return _render(request, "dashboard/errors.html", context, status=status)


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
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(target)
    return redirect(default)


# --- Test a key now ----------------------------------------------------------------------------
@require_POST
@operator_required
def test_key(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account, pk=pk)
    credential = account.active_credential()
    if credential is None:
        messages.error(request, f"{account.name} has no key of its own to test.")
        return redirect("pages:account", pk=account.pk)
    outcome = check_key(credential.pk)
    if outcome.status == "ok":
        messages.success(
            request, f"{account.name}: OKX accepts key {credential.display_fingerprint} ({outcome.detail})."
        )
    else:
        messages.error(request, _failure_text(account, credential, outcome.detail))
    return redirect("pages:account", pk=account.pk)


def _failure_text(account: Account, credential: Credential, detail: str) -> str:
    latest = ApiError.objects.filter(credential=credential).order_by("-last_seen").first()
    steps = " ".join(f"{n}. {step}" for n, step in enumerate(latest.steps if latest else [], 1))
    return f"{account.name}: key {credential.display_fingerprint} failed the check: {detail} {steps}".strip()
