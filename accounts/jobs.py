"""What every per-account job (a refresh, a key check) reports, how its Celery task retries, and
the summary the operator commands print. Shared by accounts.tasks and snapshots.tasks.

Reliability (design.md, style.md): JSON only (settings), acks_late + reject_on_worker_lost so a
worker lost mid-task gives the message back (every job is idempotent: a refresh writes at most
one snapshot per cycle), time limits below the broker's visibility timeout, `expires` on
everything periodic, and retries with backoff and jitter for transient errors only.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict

from celery.exceptions import Reject
from django import db
from django.conf import settings
from django.core.management.base import OutputWrapper

logger = logging.getLogger(__name__)

MAX_RETRIES = 2
RETRY_BASE_SECONDS = 2.0


class TaskOptions(TypedDict):
    """Typed so that `@shared_task(**RELIABLE_TASK)` checks: `bind` must be literally True."""

    acks_late: bool
    reject_on_worker_lost: bool
    bind: Literal[True]
    max_retries: int


# The options of every per-account task (a bound task, so it can retry itself).
RELIABLE_TASK: Final[TaskOptions] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "bind": True,
    "max_retries": MAX_RETRIES,
}


@dataclass
class JobOutcome:
    """The result of one per-account job: "ok", "failed" or "skipped", with why."""

    account: str
    status: str  # "ok", "failed", "skipped"
    category: str = ""
    detail: str = ""
    transient: bool = False
    retry_after: float | None = None  # skipped for a held lock: seconds until its lease ends


def backoff(retries: int) -> float:
    """Full jitter, capped to a quarter interval so a retry stays inside its cycle."""
    cap = settings.REFRESH_INTERVAL_SECONDS / 4
    return random.uniform(0, min(cap, RETRY_BASE_SECONDS * 2**retries))


def retry_countdown(outcome: JobOutcome, retries: int) -> float | None:
    if retries >= MAX_RETRIES:
        return None
    if outcome.transient:
        return backoff(retries)
    if outcome.retry_after is not None:
        # Another process holds the account: a slow refresh, or one killed mid-task whose message
        # came back (reject_on_worker_lost). Try again when its lease ends, within the cycle
        # (the message's `expires` drops a retry that would land in the next one).
        return outcome.retry_after + random.uniform(0.1, 1.0)
    return None


def retry(task: Any, countdown: float, what: str) -> None:
    """Raise Celery's Retry; if the broker cannot take the retry either, log one line and return.
    Celery would raise Reject carrying the whole chained traceback, and a pool process blocked
    sending that to a worker busy reconnecting to Redis outlived its time limit and crashed the
    worker (the Redis-outage soak test)."""
    try:
        raise task.retry(countdown=countdown)
    except Reject:
        logger.warning("no retry for %s: the broker does not answer; the next cycle tries again", what)


def retry_if_due(task: Any, outcome: JobOutcome, what: str) -> None:
    countdown = retry_countdown(outcome, task.request.retries)
    if countdown is not None:
        retry(task, countdown, what)


def database_failure(name: str, error: db.Error) -> JobOutcome:
    # Unreachable or locked database: each snapshot is one transaction, so nothing half-written.
    logger.warning("%s: the database is unavailable (%s)", name, type(error).__name__)
    return JobOutcome(name, "failed", "database", type(error).__name__, transient=True)


def print_summary(stdout: OutputWrapper, outcomes: Iterable[JobOutcome], what: str) -> int:
    """Print the outcomes, one line per account, then totals by category; return how many failed."""
    outcomes = list(outcomes)
    for outcome in outcomes:
        category = f" [{outcome.category}]" if outcome.category else ""
        detail = f" {outcome.detail}" if outcome.detail else ""
        stdout.write(f"{outcome.account}: {outcome.status}{category}{detail}")
    statuses = Counter(outcome.status for outcome in outcomes)
    categories = Counter(outcome.category for outcome in outcomes if outcome.status == "failed")
    by_category = ", ".join(f"{name} {count}" for name, count in sorted(categories.items()))
    stdout.write(
        f"{what}: {statuses['ok']} ok, {statuses['failed']} failed, {statuses['skipped']} skipped"
        + (f" ({by_category})" if by_category else "")
    )
    return statuses["failed"]
