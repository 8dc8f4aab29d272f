"""The keys page (every credential by urgency, with what to do) and the operator's POST that tests
a key now; key_rows and KeyRow are also what the API's key list reads.

Pages read rows; test_key is the one view that calls the exchange, on an explicit POST.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.health import (
    ACTION_SEVERITIES,
    DEADLINE_CODES,
    HealthStatus,
    Severity,
    WarningCode,
    needs_action,
)
from accounts.history import ApiError
from accounts.keycheck import check_key
from accounts.models import ENCRYPTED_FIELDS, Account, Credential, CredentialStatus
from accounts.roles import MANAGE_KEYS, OPERATE, operator_required, viewer_required
from dashboard.pages.common import render_page, render_partial
from okxapi import IDLE_DELETION_DAYS

# What the date of each deadline warning (accounts.health.DEADLINE_CODES) means on a key's card.
DEADLINE_WORDS = {
    WarningCode.IDLE_DELETION.value: "deleted by OKX",
    WarningCode.EXPIRED.value: "expired",
    WarningCode.EXPIRES_SOON.value: "expires",
}


# --- The keys page -----------------------------------------------------------------------------
@dataclass
class KeyRow:
    credential: Credential
    status: str  # ok | grace | failing | unchecked
    warnings: list[dict[str, Any]]  # as of now (Credential.warnings_at)
    needs_action: bool = False  # failing, or a warning/danger (what the top bar counts)
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
        (date.fromisoformat(w["date"]), DEADLINE_WORDS[w["code"]])
        for w in warnings
        if w.get("code") in DEADLINE_CODES and w.get("date")
    ]
    return min(dated) if dated else (None, "")


def key_rows(credentials: QuerySet, *, today: date, now: datetime) -> list[KeyRow]:
    rows = []
    for credential in credentials:
        warnings = credential.warnings_at(now)
        deadline, what = _deadline(warnings, today)
        rows.append(
            KeyRow(
                credential=credential,
                status=credential.health_status or "unchecked",
                warnings=sorted(warnings, key=_severity_order),
                # The rule Credential.needs_action applies, on the warnings just computed.
                needs_action=needs_action(credential.health_status, warnings),
                deadline=deadline,
                deadline_what=what,
                days_left=(deadline - today).days if deadline else None,
            )
        )
    return rows


def _severity_order(warning: dict[str, Any]) -> int:
    return {Severity.DANGER.value: 0, Severity.WARNING.value: 1}.get(str(warning.get("severity")), 2)


def _with_advice(rows: list[KeyRow], request: HttpRequest) -> None:
    """What to do for each key; failing keys get the steps of their latest diagnosed error
    (one query for all of them)."""
    failing = [row.credential.pk for row in rows if row.status in (HealthStatus.FAILING, HealthStatus.GRACE)]
    latest: dict[int | None, ApiError] = {}
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
    cards = render_partial(
        request, "dashboard/_key_cards.html", {"rows": active, "can_operate": request.user.has_perm(OPERATE)}
    )
    return render_page(request, "dashboard/keys.html", {"rows": active, "cards": cards, "retired": retired})


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
    # A malformed answer's message names the endpoint's field and the value refused: the one
    # thing a person needs to compare with OKX's website.
    refused = f"({latest.endpoint}: {latest.message})" if latest and latest.category == "malformed" else ""
    text = (
        f"{account.name}: key {credential.display_fingerprint} failed the check: {detail} {refused} {steps}"
    )
    return " ".join(text.split())
