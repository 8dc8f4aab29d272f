"""Key health, the rules: a key's status values and the machine that failed and successful calls
drive (ok -> grace -> failing, and back to ok), the warnings that follow from one KeyFacts at a
moment, which of them need a person, the idle-deletion date, and when data is "stale".

Pure: nothing here reads the database, the settings or OKX. Credential (accounts/models.py) builds
the one KeyFacts from its columns, calls these rules and stores what they say; the key check
(accounts/keycheck.py) adds what OKX said about the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import models

from okxapi import IDLE_DELETION_DAYS

EXPIRES_SOON_DAYS = 14
# OKX deletes an idle trade/withdraw key without IP binding after 14 days; we warn from day 7.
IDLE_WARNING_DAYS = 7
CLOCK_SKEW_LIMIT_MS = 5000
# Two missed refresh cycles: one late cycle is normal under load, two are not.
STALE_AFTER_INTERVALS = 2
RISKY_PERMISSIONS = frozenset({"trade", "withdraw"})


class HealthStatus(models.TextChoices):
    """Credential.health_status; blank until the first key check ("unchecked" on the pages)."""

    OK = "ok", "ok"
    GRACE = "grace", "grace"
    FAILING = "failing", "failing"


class Severity(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    DANGER = "danger", "danger"


class WarningCode(models.TextChoices):
    EXPIRES_SOON = "expires_soon", "expires soon"
    EXPIRED = "expired", "expired"
    IDLE_DELETION = "idle_deletion", "idle deletion"
    ROTATION_DUE = "rotation_due", "rotation due"
    WITHDRAW_ENABLED = "withdraw_enabled", "withdraw enabled"
    NO_IP_BINDING = "no_ip_binding", "no IP binding"
    CLOCK_SKEW = "clock_skew", "clock skew"
    STALE = "stale", "stale"
    UNKNOWN_KEY = "unknown_key", "unknown key"
    UID_MISMATCH = "uid_mismatch", "key of another account"


# Sets of plain strings, not of the enum members: those hash by name, and stored warnings (JSON)
# hold the values.
# Warnings a person must act on (with a failing status, what the top bar counts); "info" is advice.
ACTION_SEVERITIES = frozenset({Severity.WARNING.value, Severity.DANGER.value})
# Warnings that follow from the stored row and the date alone, so a read recomputes them
# (warnings_at): the idle-deletion clock keeps running for a key nobody checks (a paused account's).
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
# The date rules that read nothing from OKX (the person-entered expiry, the team's rotation policy
# over the activation or creation time): they apply to a key OKX has not described yet too.
OWN_DATE_CODES = frozenset(
    {WarningCode.EXPIRES_SOON.value, WarningCode.EXPIRED.value, WarningCode.ROTATION_DUE.value}
)
# Warnings whose date is a deadline: the day the key stops working (deleted by OKX, or expired).
DEADLINE_CODES = frozenset(
    {WarningCode.IDLE_DELETION.value, WarningCode.EXPIRED.value, WarningCode.EXPIRES_SOON.value}
)


@dataclass(frozen=True)
class KeyFacts:
    """Everything the rules need about one credential, read from our row and (in a key check)
    from OKX. Built in one place: Credential.facts_from (accounts/models.py)."""

    permissions: frozenset[str] = frozenset()  # empty: never read from OKX
    ip_binding: tuple[str, ...] = ()
    demo: bool = False
    created_at: datetime | None = None  # on OKX if known, else when we activated it
    expires_on: date | None = None
    last_success_at: datetime | None = None
    clock_offset_ms: int | None = None
    last_refresh_at: datetime | None = None
    watched_since: datetime | None = None  # when refreshes began to be expected (activation)
    unknown_keys: tuple[str, ...] = ()  # OKX's labels of keys we do not hold
    uid_problem: str = ""


@dataclass(frozen=True)
class Policy:
    rotation_days: int = 90
    refresh_interval_s: int = 60


@dataclass(frozen=True)
class KeyWarning:
    code: str
    message: str
    severity: str
    on: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """As stored in Credential.warnings (JSON): code and severity as plain strings."""
        return {
            "code": str(self.code),
            "message": self.message,
            "date": self.on.isoformat() if self.on else None,
            "severity": str(self.severity),
        }


Rule = Callable[[KeyFacts, datetime, Policy], Iterable[KeyWarning]]


# --- "stale" and the idle-deletion clock: the one definition of each ---------------------------
def stale_after(refresh_interval_s: float, read_interval_s: float = 0) -> timedelta:
    """How long an account's data may go without a successful refresh before it is stale:
    STALE_AFTER_INTERVALS times the longer of the refresh interval and the account's own read
    interval (read_interval_s, seconds: a sub-account read round-robin through its master's key
    is read every snapshots.pacing.round_robin_interval, which may be longer; 0 for the others)."""
    return timedelta(seconds=STALE_AFTER_INTERVALS * max(refresh_interval_s, read_interval_s))


def is_stale(
    last_refresh_at: datetime | None, now: datetime, refresh_interval_s: float, read_interval_s: float = 0
) -> bool:
    """Whether data last refreshed at `last_refresh_at` (None: never) is stale at `now`."""
    return last_refresh_at is None or now - last_refresh_at > stale_after(refresh_interval_s, read_interval_s)


def idle_deletion_applies(facts: KeyFacts) -> bool:
    """OKX deletes an idle key that can trade or withdraw and has no IP binding (not demo keys)."""
    return bool(RISKY_PERMISSIONS & facts.permissions) and not facts.ip_binding and not facts.demo


def idle_since(facts: KeyFacts) -> datetime | None:
    """When OKX's idle clock started: the last successful signed call, else the key's creation."""
    return facts.last_success_at or facts.created_at


def idle_deletion_at(facts: KeyFacts) -> datetime | None:
    """The moment (aware, as idle_since) OKX deletes the key unless it is used: IDLE_DELETION_DAYS
    after idle_since; None when the rule does not apply or nothing says since when it is idle."""
    since = idle_since(facts)
    if not idle_deletion_applies(facts) or since is None:
        return None
    return since + timedelta(days=IDLE_DELETION_DAYS)


def idle_deletion_date(facts: KeyFacts) -> date | None:
    """The day (of idle_deletion_at, in its zone: UTC inside) OKX deletes the key unless it is
    used; None when the rule does not apply or nothing says since when the key is idle."""
    at = idle_deletion_at(facts)
    return at.date() if at else None


def rotation_due_at(facts: KeyFacts, policy: Policy) -> datetime | None:
    """When the team's rotation policy wants the key replaced: policy.rotation_days after its
    creation (on OKX if known, else its activation here); None when neither is known."""
    if facts.created_at is None:
        return None
    return facts.created_at + timedelta(days=policy.rotation_days)


# --- The rules -----------------------------------------------------------------------------------
def _expiry(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    if facts.expires_on is None:
        return
    today = now.date()
    if facts.expires_on < today:
        yield KeyWarning(
            WarningCode.EXPIRED,
            "The expiry date entered for this key has passed.",
            Severity.DANGER,
            facts.expires_on,
        )
    elif facts.expires_on <= today + timedelta(days=EXPIRES_SOON_DAYS):
        days = (facts.expires_on - today).days
        yield KeyWarning(
            WarningCode.EXPIRES_SOON,
            f"This key expires in {days} day(s): rotate it.",
            Severity.WARNING,
            facts.expires_on,
        )


def _idle_deletion(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    deletion, since = idle_deletion_date(facts), idle_since(facts)
    if deletion is None or since is None:
        return
    if now - since >= timedelta(days=IDLE_WARNING_DAYS):
        yield KeyWarning(
            WarningCode.IDLE_DELETION,
            f"No successful signed call since {since.date().isoformat()}: OKX deletes this "
            f"trade/withdraw key without IP binding on {deletion.isoformat()} unless it is used.",
            Severity.DANGER,
            deletion,
        )


def _rotation(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    due = rotation_due_at(facts, policy)
    if due is not None and now > due:
        yield KeyWarning(
            WarningCode.ROTATION_DUE,
            f"This key is older than the team's {policy.rotation_days}-day rotation policy.",
            Severity.WARNING,
            due.date(),
        )


def _security(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    if "withdraw" in facts.permissions:
        yield KeyWarning(
            WarningCode.WITHDRAW_ENABLED,
            "This key can withdraw funds; the dashboard only needs Read.",
            Severity.DANGER,
        )
    if not facts.ip_binding and not facts.demo:
        yield KeyWarning(WarningCode.NO_IP_BINDING, "This key is not bound to an IP address.", Severity.INFO)


def _clock(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    if facts.clock_offset_ms is not None and abs(facts.clock_offset_ms) > CLOCK_SKEW_LIMIT_MS:
        seconds = facts.clock_offset_ms / 1000
        yield KeyWarning(
            WarningCode.CLOCK_SKEW,
            f"This machine's clock is {seconds:+.1f} s off OKX's; enable NTP.",
            Severity.WARNING,
        )


def _stale(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    since = facts.last_refresh_at or facts.watched_since
    if since is not None and is_stale(since, now, policy.refresh_interval_s):
        what = "last successful refresh" if facts.last_refresh_at else "no successful refresh since"
        yield KeyWarning(
            WarningCode.STALE,
            f"Data is stale: {what} {since.isoformat(timespec='seconds')}.",
            Severity.WARNING,
            since.date(),
        )


def _identity(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    for label in facts.unknown_keys:
        yield KeyWarning(
            WarningCode.UNKNOWN_KEY,
            f"OKX lists a key for this account that the dashboard does not hold: {label}.",
            Severity.WARNING,
        )
    if facts.uid_problem:
        yield KeyWarning(WarningCode.UID_MISMATCH, facts.uid_problem, Severity.DANGER)


RULES: tuple[Rule, ...] = (_expiry, _idle_deletion, _rotation, _security, _clock, _stale, _identity)


def key_warnings(facts: KeyFacts, now: datetime, policy: Policy) -> list[dict[str, Any]]:
    """Every warning that applies to a key at `now`, as the dicts Credential.warnings stores:
    {"code", "message", "date" (ISO day or None), "severity"}."""
    return [warning.as_dict() for rule in RULES for warning in rule(facts, now, policy)]


def warnings_at(
    stored: list[dict[str, Any]] | None, facts: KeyFacts, now: datetime, policy: Policy
) -> list[dict[str, Any]]:
    """The stored warnings of the last key check with the DATE_RULE_CODES ones recomputed for
    `now`. A key never read from OKX (no permissions) keeps what is stored, since the other rules
    would guess, and gains the OWN_DATE_CODES warnings its row gives at `now` (expiry, rotation:
    they read nothing from OKX), so an overdue rotation shows before the first check. Dicts as
    key_warnings gives them."""
    if not facts.permissions:
        fresh = [w for w in key_warnings(facts, now, policy) if w["code"] in OWN_DATE_CODES]
        kept = list(stored or [])
        codes = {w.get("code") for w in kept}
        return [w for w in fresh if w["code"] not in codes] + kept
    fresh = [w for w in key_warnings(facts, now, policy) if w["code"] in DATE_RULE_CODES]
    return fresh + [w for w in stored or [] if w.get("code") not in DATE_RULE_CODES]


def needs_action(status: str, warnings: Iterable[dict[str, Any]]) -> bool:
    """A key a person must act on: failing, or with a warning of ACTION_SEVERITIES (given the
    warnings as of a moment: warnings_at)."""
    return status == HealthStatus.FAILING or any(w.get("severity") in ACTION_SEVERITIES for w in warnings)


# --- The status machine --------------------------------------------------------------------------
def after_failure(
    failing_since: datetime | None, *, permanent: bool, now: datetime, grace: timedelta
) -> tuple[HealthStatus, datetime]:
    """The next (health_status, failing_since) after a failed call. Permanent categories fail at
    once; transient ones (and unknown ones, which may be) move to grace, then to failing once the
    grace period has passed since the first failure without a success in between."""
    since = failing_since or now
    if permanent or now - since >= grace:
        return HealthStatus.FAILING, since
    return HealthStatus.GRACE, since


# --- The status in words -------------------------------------------------------------------------
# A message stored before the endpoint was left out began with it ("/api/v5/account/balance: ...").
_ENDPOINT_PREFIX = re.compile(r"^/api/\S*:\s*")


def failure_message(*, permanent: bool, meaning: str, code: str | None) -> str:
    """Credential.health_message after a failed call, in words: what OKX did, its meaning and
    OKX's code, e.g. "OKX refused the key: the API key is frozen by OKX (code 50100)". Never the
    endpoint: which call failed is the error history's (it varies from call to call; the key's
    state does not)."""
    said = meaning.strip().rstrip(".")
    if said[:1].isupper() and not said[1:2].isupper():  # "The API key" -> "the API key"; "OKX" stays
        said = said[0].lower() + said[1:]
    lead = "OKX refused the key" if permanent else "The last call to OKX failed"
    return f"{lead}: {said}" + (f" (code {code})" if code else "")


def without_endpoint(message: str) -> str:
    """A stored health message as people read it: without the leading "/api/...: " that older
    versions wrote (failure_message writes none)."""
    return _ENDPOINT_PREFIX.sub("", message, count=1)
