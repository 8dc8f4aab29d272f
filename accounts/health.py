"""Key health: the warning rules (pure functions, reused by pages and alerts) and the status
machine that failed and successful calls drive (ok -> grace -> failing, and back to ok).

Nothing here talks to OKX or the database; accounts/keycheck.py gathers the facts.
"""

from __future__ import annotations

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
STALE_AFTER_INTERVALS = 5
RISKY_PERMISSIONS = frozenset({"trade", "withdraw"})


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


@dataclass(frozen=True)
class KeyFacts:
    """Everything the rules need about one credential, already read from OKX and our tables."""

    permissions: frozenset[str] = frozenset()
    ip_binding: tuple[str, ...] = ()
    demo: bool = False
    created_at: datetime | None = None  # on OKX if known, else when we stored it
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
        return {
            "code": self.code,
            "message": self.message,
            "date": self.on.isoformat() if self.on else None,
            "severity": self.severity,
        }


Rule = Callable[[KeyFacts, datetime, Policy], Iterable[KeyWarning]]


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


def idle_deletion_applies(facts: KeyFacts) -> bool:
    return bool(RISKY_PERMISSIONS & facts.permissions) and not facts.ip_binding and not facts.demo


def _idle_deletion(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    idle_since = facts.last_success_at or facts.created_at
    if not idle_deletion_applies(facts) or idle_since is None:
        return
    if now - idle_since >= timedelta(days=IDLE_WARNING_DAYS):
        deletion = (idle_since + timedelta(days=IDLE_DELETION_DAYS)).date()
        yield KeyWarning(
            WarningCode.IDLE_DELETION,
            f"No successful signed call since {idle_since.date().isoformat()}: OKX deletes this "
            f"trade/withdraw key without IP binding on {deletion.isoformat()} unless it is used.",
            Severity.DANGER,
            deletion,
        )


def _rotation(facts: KeyFacts, now: datetime, policy: Policy) -> Iterable[KeyWarning]:
    if facts.created_at is None:
        return
    due = facts.created_at + timedelta(days=policy.rotation_days)
    if now > due:
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
    limit = timedelta(seconds=STALE_AFTER_INTERVALS * policy.refresh_interval_s)
    if since is not None and now - since > limit:
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
    """Every warning that applies to a key at `now`, as the dicts Credential.warnings stores."""
    return [warning.as_dict() for rule in RULES for warning in rule(facts, now, policy)]


def after_failure(
    failing_since: datetime | None, *, permanent: bool, now: datetime, grace: timedelta
) -> tuple[str, datetime]:
    """The next (health_status, failing_since) after a failed call. Permanent categories fail at
    once; transient ones (and unknown ones, which may be) move to grace, then to failing once the
    grace period has passed since the first failure without a success in between."""
    since = failing_since or now
    if permanent:
        return HealthState.FAILING, since
    if now - since >= grace:
        return HealthState.FAILING, since
    return HealthState.GRACE, since


class HealthState:
    """The values of accounts.models.HealthStatus (kept here so the rules stay importable alone)."""

    OK = "ok"
    GRACE = "grace"
    FAILING = "failing"
