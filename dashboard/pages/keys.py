"""The keys page and the operator's POST that tests a key now; key_rows and KeyRow are also what the
API's key list reads.

The page answers "which key dies when": first a compact table of every active key (account, key,
permissions, IP binding, age, rotate-by date, the day OKX deletes an idle key, expiry, status,
last success), sortable with plain links (?sort=<column>&dir=asc|desc: no script, the CSP allows
none inline); then one card per key, most urgent first, with its warnings and what to do.

Pages read rows; test_key is the one view that calls the exchange, on an explicit POST.
A desk-limited user (accounts.desks) sees the keys of their desks' accounts only; testing another
account's key answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import desks, health
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
from accounts.models import ENCRYPTED_FIELDS, Account, Credential, CredentialStatus, health_policy
from accounts.roles import MANAGE_KEYS, OPERATE, operator_required, viewer_required
from dashboard.pages import context_processors
from dashboard.pages.common import (
    BadQuery,
    account_or_404,
    amount,
    bad_request,
    render_page,
    render_partial,
    sees,
    shown_name,
    span,
    visible,
)
from okxapi import IDLE_DELETION_DAYS
from snapshots import pacing, queries

# What the date of each deadline warning (accounts.health.DEADLINE_CODES) means on a key's card.
DEADLINE_WORDS = {
    WarningCode.IDLE_DELETION.value: "deleted by OKX",
    WarningCode.EXPIRED.value: "expired",
    WarningCode.EXPIRES_SOON.value: "expires",
}


# What the date beside each warning is ("(rotation due since 2026-08-11)", never a bare date).
WARNING_DATE_WORDS = {
    WarningCode.IDLE_DELETION.value: "OKX deletes it on",
    WarningCode.EXPIRED.value: "expired on",
    WarningCode.EXPIRES_SOON.value: "expires on",
    WarningCode.ROTATION_DUE.value: "rotation due since",
    WarningCode.STALE.value: "since",
}


# --- The keys page -----------------------------------------------------------------------------
UNCHECKED = "unchecked"
# The status as the page says it: never "ok"-like words for a key nobody has checked.
STATUS_WORDS = {UNCHECKED: "not checked yet"}
# Why a key has no idle-deletion date (accounts.health.idle_deletion_applies), for the table.
NOT_READ = "not read yet"


@dataclass
class KeyRow:
    credential: Credential
    status: str  # ok | grace | failing | unchecked
    warnings: list[dict[str, Any]]  # as of now (Credential.warnings_at)
    needs_action: bool = False  # failing, or a warning/danger (Credential.needs_action's rule)
    deadline: date | None = None
    deadline_what: str = ""
    days_left: int | None = None
    steps: list[str] = field(default_factory=list)
    rotate_url: str = ""
    # In the set the top bar counts and the overview lists (needs action, account active).
    counted: bool = False
    created_at: datetime | None = None  # on OKX if known, else when it was activated here
    rotate_by: datetime | None = None  # accounts.health.rotation_due_at
    deletes_at: datetime | None = None  # accounts.health.idle_deletion_at
    age_days: int | None = None
    master_name: str = ""  # a sub-account's master, "another account" when the user does not see it

    @property
    def account(self) -> Account:
        return self.credential.account

    @property
    def status_text(self) -> str:
        """The status in words: "ok", "grace", "failing", "not checked yet"."""
        return STATUS_WORDS.get(self.status, self.status)

    @property
    def deletion_note(self) -> str:
        """Why OKX's idle rule has no date for this key ("" when it has one)."""
        credential = self.credential
        if self.deletes_at is not None:
            return ""
        if not credential.permissions:
            return NOT_READ
        if self.account.is_demo:
            return "never: demo-trading key"
        if credential.ip_binding:
            return "never: bound to an IP"
        return "never: read-only key"

    @property
    def deadline_text(self) -> str:
        """E.g. "Deleted by OKX in 4 days (2026-05-14)", "Expired 2 days ago (2026-05-08)"."""
        if self.deadline is None or self.days_left is None:
            return ""
        days = self.days_left
        when = {0: "today", 1: "tomorrow", -1: "yesterday"}.get(days)
        when = when or (f"in {days} days" if days > 0 else f"{-days} days ago")
        what = self.deadline_what[:1].upper() + self.deadline_what[1:]
        return f"{what} {when} (on {self.deadline.isoformat()})"

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


def key_rows(
    credentials: QuerySet, *, today: date, now: datetime, ids: frozenset[int] | None = None
) -> list[KeyRow]:
    """One KeyRow per credential (in the queryset's order): its status, warnings as of `now`, the
    nearest deadline counted in days from `today` (the display zone's), and the table's dates
    (aware UTC; the templates show them in the display zone). `ids`: the accounts the user sees
    (a master is named only when it is one of them). No extra query per row: the queryset
    selects the account (and may select account__master); the masters not loaded are linked from
    the rows' own accounts, one query for those that are not among them (queries.link_masters)."""
    rows, policy, zone = [], health_policy(), ZoneInfo(settings.DISPLAY_TIME_ZONE)
    listed = list(credentials)
    queries.link_masters(credential.account for credential in listed)
    for credential in listed:
        facts = credential.key_facts()
        # Credential.warnings_at(now), with the facts and the policy read once.
        warnings = health.warnings_at(credential.warnings, facts, now, policy)
        deadline, what = _deadline(warnings, today)
        deletes_at = health.idle_deletion_at(facts)
        if what == DEADLINE_WORDS[WarningCode.IDLE_DELETION.value] and deletes_at is not None:
            # The day in the display zone, as the table shows it (the rule's date is UTC's).
            deadline = deletes_at.astimezone(zone).date()
        rows.append(
            KeyRow(
                credential=credential,
                status=credential.health_status or UNCHECKED,
                warnings=sorted(warnings, key=_severity_order),
                # The rule Credential.needs_action applies, on the warnings just computed.
                needs_action=needs_action(credential.health_status, warnings),
                deadline=deadline,
                deadline_what=what,
                days_left=(deadline - today).days if deadline else None,
                created_at=facts.created_at,
                rotate_by=health.rotation_due_at(facts, policy),
                deletes_at=deletes_at,
                age_days=(now - facts.created_at).days if facts.created_at else None,
                master_name=shown_name(credential.account.master, ids),
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
    """The steps for one key, in the user's words: OKX's refusal and its diagnosed steps for a
    failing key, the first check for an unchecked one, then one step per warning."""
    steps: list[str] = []
    if row.status in (HealthStatus.FAILING, HealthStatus.GRACE):
        if row.credential.health_reason:
            steps.append(row.credential.health_reason)
        steps.extend(error.steps if error else [])
        if row.status == HealthStatus.GRACE:
            steps.append(
                "A temporary problem: the key becomes failing if it lasts "
                f"{settings.GRACE_PERIOD_MINUTES} minutes."
            )
    elif row.status == UNCHECKED:
        steps.append(first_check_step())
    for warning in row.warnings:
        step = _WARNING_STEPS.get(warning.get("code", ""))
        if step and step not in steps:
            steps.append(step)
    return steps


def first_check_step() -> str:
    """What happens to a key nobody has checked yet (accounts.signals queues the checks)."""
    minutes = settings.KEY_HEALTH_INTERVAL_SECONDS // 60
    return (
        "Wait for the first check: a worker checks a key as soon as it is added and whenever the "
        f"workers start, and every {minutes} minutes after that. Until then its permissions, IP "
        "binding and warnings are not known. An operator can press “Test this key now”."
    )


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


# --- The table's columns and their sort -------------------------------------------------------
@dataclass(frozen=True)
class Column:
    key: str  # the ?sort= value
    label: str
    value: Callable[[KeyRow], Any]  # None: unknown, listed last in either direction
    first_dir: str = "asc"


_STATUS_ORDER = {
    HealthStatus.FAILING.value: 0,
    HealthStatus.GRACE.value: 1,
    UNCHECKED: 2,
    HealthStatus.OK.value: 3,
}
COLUMNS = (
    Column("account", "Account", lambda r: r.account.name.lower()),
    Column("key", "Key", lambda r: r.credential.fingerprint),
    Column("permissions", "Permissions", lambda r: ", ".join(r.credential.permissions) or None),
    Column("ip", "IP bound", lambda r: bool(r.credential.ip_binding) if r.credential.permissions else None),
    Column("age", "Age", lambda r: r.age_days, "desc"),
    Column("rotate_by", "Rotate by", lambda r: r.rotate_by),
    Column("deletes_on", "OKX deletes it on", lambda r: r.deletes_at),
    Column("expires", "Expires", lambda r: r.credential.expires_on),
    Column("status", "Status", lambda r: (not r.counted, _STATUS_ORDER.get(r.status, 9))),
    Column("last_success", "Last success", lambda r: r.credential.last_success_at, "desc"),
)
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
URGENCY = "urgency"  # the default order: the cards' (KeyRow.urgency)


def table_sort(request: HttpRequest) -> tuple[str, str]:
    """(sort, dir) from ?sort=&dir=; BadQuery (a 400 naming the allowed values) for others."""
    sort = request.GET.get("sort") or URGENCY
    if sort != URGENCY and sort not in COLUMN_BY_KEY:
        raise BadQuery(f"Unknown sort. Use one of: {', '.join([URGENCY, *COLUMN_BY_KEY])}.")
    column = COLUMN_BY_KEY.get(sort)
    direction = request.GET.get("dir") or (column.first_dir if column else "asc")
    if direction not in ("asc", "desc"):
        raise BadQuery("Unknown dir. Use asc or desc.")
    return sort, direction


def sorted_rows(rows: list[KeyRow], sort: str, direction: str) -> list[KeyRow]:
    """The rows in the table's order; unknown values last whichever the direction, then by
    urgency."""
    if sort == URGENCY:
        return sorted(rows, key=lambda row: row.urgency, reverse=direction == "desc")
    value = COLUMN_BY_KEY[sort].value
    by_urgency = sorted(rows, key=lambda row: row.urgency)
    known = [row for row in by_urgency if value(row) is not None]
    unknown = [row for row in by_urgency if value(row) is None]
    return sorted(known, key=value, reverse=direction == "desc") + unknown


def headers(sort: str, direction: str) -> list[dict[str, Any]]:
    """Each column's label and link: a click on the sorted column flips its direction."""
    found = []
    for column in COLUMNS:
        current = column.key == sort
        next_dir = ("desc" if direction == "asc" else "asc") if current else column.first_dir
        found.append(
            {
                "key": column.key,
                "label": column.label,
                "href": f"?sort={column.key}&dir={next_dir}",
                "current": current,
                "aria_sort": ("ascending" if direction == "asc" else "descending") if current else "none",
            }
        )
    return found


@require_GET
@viewer_required
def keys(request: HttpRequest) -> HttpResponse:
    try:
        sort, direction = table_sort(request)
    except BadQuery as error:
        return bad_request(error, request)
    now = timezone.now()
    today = now.astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE)).date()
    # The ciphertexts are never shown: not loading 500 of each is ~10 % of the page.
    credentials = desks.limit_to_visible(
        Credential.objects.select_related("account").defer(*ENCRYPTED_FIELDS), request.user
    )
    ids = visible(request)
    active = key_rows(credentials.filter(status=CredentialStatus.ACTIVE), today=today, now=now, ids=ids)
    for row in active:
        # The top bar's set (context_processors.attention_ids) by the same rule on the same
        # columns, without its query again (~35-60 ms at 500 keys).
        row.counted = row.needs_action and row.account.active
    context_processors.known(request, warnings=sum(row.counted for row in active))
    active.sort(key=lambda row: row.urgency)
    _with_advice(active, request)
    retired = credentials.filter(status=CredentialStatus.RETIRED).order_by("-retired_at")
    table = render_partial(
        request,
        "dashboard/_key_table.html",
        {
            "rows": sorted_rows(active, sort, direction),
            "headers": headers(sort, direction),
            "dir": direction,
            "now": now,
        },
    )
    cards = render_partial(
        request,
        "dashboard/_key_cards.html",
        {
            "rows": active,
            "can_operate": request.user.has_perm(OPERATE),
            "date_words": WARNING_DATE_WORDS,
            "first_check": first_check_step(),
        },
    )
    context = {
        "rows": active,
        "table": table,
        "cards": cards,
        "retired": retired,
        "headers": headers(sort, direction),
        "dir": direction,
        "counted": sum(row.counted for row in active),
        "unchecked": sum(row.status == UNCHECKED for row in active),
        "paused_listed": sum(row.needs_action and not row.account.active for row in active),
        "rotation_days": settings.ROTATION_POLICY_DAYS,
        "idle_days": IDLE_DELETION_DAYS,
        "own_key": own_key_gains(ids),
    }
    return render_page(request, "dashboard/keys.html", context)


OWN_KEY_SHOWN = 5


def own_key_gains(ids: frozenset[int] | None = None) -> dict[str, Any]:
    """The sub-accounts read through their master that a read-only key of their own would help
    most (snapshots.pacing.own_key_candidates: most equity first), of those the user sees (`ids`,
    None: every account), the first OWN_KEY_SHOWN of them with their read intervals in words, and
    how many more there are."""
    candidates = [gain for gain in pacing.own_key_candidates() if sees(ids, gain.account.pk)]
    rows = [
        {
            "account": gain.account,
            "equity": amount(gain.equity_usd, "USD"),
            "read_every": span(gain.read_every_s),
            "own_key_every": span(gain.own_key_every_s),
        }
        for gain in candidates[:OWN_KEY_SHOWN]
    ]
    # How many keyless sub-accounts one master's budget reads within one refresh interval.
    fit = int(settings.REFRESH_INTERVAL_SECONDS // pacing.master_pace())
    return {"rows": rows, "more": max(len(candidates) - OWN_KEY_SHOWN, 0), "fit": fit}


# --- Test a key now ----------------------------------------------------------------------------
@require_POST
@operator_required
def test_key(request: HttpRequest, pk: int) -> HttpResponse:
    account = account_or_404(request, pk)
    credential = account.active_credential()
    if credential is None:
        messages.error(request, f"{account.name} has no key of its own to test.")
        return redirect("pages:account", pk=account.pk)
    outcome = check_key(credential.pk)
    if outcome.status == "ok":
        credential.refresh_from_db()
        messages.success(request, _success_text(account, credential))
    else:
        messages.error(request, _failure_text(account, credential, outcome.detail))
    return redirect("pages:account", pk=account.pk)


def _success_text(account: Account, credential: Credential) -> str:
    """E.g. "desk: OKX accepts key …abcd. 2 warnings: This key is older than … ; This key is not
    bound to an IP address." The warnings' own sentences, never their codes."""
    warnings = sorted(credential.warnings_at(timezone.now()), key=_severity_order)
    said = f"{account.name}: OKX accepts key {credential.display_fingerprint}"
    if not warnings:
        return f"{said}, with no warnings."
    sentences = " ".join(_sentence(w.get("message", "")) for w in warnings)
    count = f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    return f"{said}. {count}: {sentences} See the keys page for what to do."


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


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
