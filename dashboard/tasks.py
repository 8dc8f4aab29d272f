"""Celery tasks: thin wrappers that take ids, run one account's job and record its outcome.

Reliability (design.md, style.md): JSON only (settings), acks_late + reject_on_worker_lost so a
worker lost mid-task gives the message back (every task here is idempotent: a refresh writes at
most one snapshot per cycle), time limits below the broker's visibility timeout, `expires` on
everything periodic, and retries with backoff and jitter for transient errors only.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict
from typing import Any

from celery import shared_task
from celery.exceptions import Reject
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import Account, Credential, CredentialStatus
from dashboard import keyhealth, refresh
from dashboard.models import Snapshot
from okxapi.limits import ENDPOINT_LIMITS
from okxapi.ratelimit import padded_window

logger = logging.getLogger(__name__)

SOFT_LIMIT, HARD_LIMIT = refresh.refresh_time_limits()
MAX_RETRIES = 2
RETRY_BASE_SECONDS = 2.0
# Calls through one master key are spread over at most this share of the interval, not sent in
# a burst.
STAGGER_SHARE = 0.8
KEY_CHECK_LIMITS = (240, 270)
THIN_LIMITS = (1700, 1800)

RELIABLE = {"acks_late": True, "reject_on_worker_lost": True, "bind": True, "max_retries": MAX_RETRIES}


def _backoff(retries: int) -> float:
    """Full jitter, capped to a quarter interval so a retry stays inside its cycle."""
    cap = settings.REFRESH_INTERVAL_SECONDS / 4
    return random.uniform(0, min(cap, RETRY_BASE_SECONDS * 2**retries))


def master_pace() -> float:
    """Seconds between two sub-accounts read through one master: each of their calls (refresh.
    VIA_MASTER_PATHS) is limited per master UID, 6 per 2 s at OKX, 6 per 2.3 s as our limiter
    pads the window (okxapi/ratelimit.py), so one every 0.383 s keeps every call inside it."""
    limits = [ENDPOINT_LIMITS[path] for path in refresh.VIA_MASTER_PATHS]
    return max(padded_window(limit) / limit.count for limit in limits)


def refresh_plan() -> list[tuple[int, float]]:
    """(account id, countdown) for every active account: own keys at once; sub-accounts read
    through a master one after another at the pace its budget allows (100 in ~38 s), but always
    within 80 % of the interval, so each is read once per cycle. Spreading them over 80 % of the
    interval whatever their number took 48 s for 100 (bench/refresh.py)."""
    spread = settings.REFRESH_INTERVAL_SECONDS * STAGGER_SHARE
    pace = master_pace()
    plan: list[tuple[int, float]] = []
    through: dict[int, list[int]] = {}
    keyed = set(
        Credential.objects.filter(status=CredentialStatus.ACTIVE).values_list("account_id", flat=True)
    )
    for pk, master_id in Account.objects.filter(active=True).order_by("pk").values_list("pk", "master_id"):
        if pk not in keyed and master_id:
            through.setdefault(master_id, []).append(pk)
        else:
            plan.append((pk, 0.0))
    for ids in through.values():
        step = min(spread / len(ids), pace)
        plan.extend((pk, round(i * step, 3)) for i, pk in enumerate(ids))
    return plan


@shared_task(soft_time_limit=30, time_limit=40)
def refresh_all() -> int:
    """Enqueue one refresh per active account for the current cycle (ids and the cycle only)."""
    cycle = refresh.current_cycle()
    expires = settings.REFRESH_INTERVAL_SECONDS - 1
    plan = refresh_plan()
    for sent, (account_id, countdown) in enumerate(plan):
        try:
            refresh_account.apply_async((account_id, cycle), countdown=countdown, expires=expires)
        except KombuOperationalError:
            logger.warning("the broker stopped answering after %d of %d refreshes", sent, len(plan))
            return sent
    return len(plan)


def _retry_countdown(outcome: refresh.Outcome, retries: int) -> float | None:
    if retries >= MAX_RETRIES:
        return None
    if outcome.transient:
        return _backoff(retries)
    if outcome.retry_after is not None:
        # Another process holds the account: a slow refresh, or one killed mid-task whose message
        # came back (reject_on_worker_lost). Try again when its lease ends, within the cycle
        # (the message's `expires` drops a retry that would land in the next one).
        return outcome.retry_after + random.uniform(0.1, 1.0)
    return None


def _retry(task: Any, countdown: float, what: str) -> None:
    """Raise Celery's Retry; if the broker cannot take the retry either, log one line and return.
    Celery would raise Reject carrying the whole chained traceback, and a pool process blocked
    sending that to a worker busy reconnecting to Redis outlived its time limit and crashed the
    worker (the Redis-outage soak test)."""
    try:
        raise task.retry(countdown=countdown)
    except Reject:
        logger.warning("no retry for %s: the broker does not answer; the next cycle tries again", what)


def _database_failure(name: str, error: DatabaseError) -> refresh.Outcome:
    # Unreachable or locked database: each snapshot is one transaction, so nothing half-written.
    logger.warning("%s: the database is unavailable (%s)", name, type(error).__name__)
    return refresh.Outcome(name, "failed", "database", type(error).__name__, transient=True)


@shared_task(**RELIABLE, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def refresh_account(self: Any, account_id: int, cycle: int) -> dict[str, Any]:
    try:
        outcome = refresh.refresh_account(account_id, cycle)
    except (OperationalError, InterfaceError) as error:
        outcome = _database_failure(f"account {account_id}", error)
    countdown = _retry_countdown(outcome, self.request.retries)
    if countdown is not None:
        _retry(self, countdown, f"the refresh of {outcome.account}")
    if outcome.status == "failed":
        logger.warning("refresh of %s failed: %s", outcome.account, outcome.category)
    return asdict(outcome)


@shared_task(soft_time_limit=30, time_limit=40)
def check_all_keys() -> int:
    ids = list(keyhealth.credentials_to_check())
    for credential_id in ids:
        check_key.apply_async((credential_id,), expires=settings.KEY_HEALTH_INTERVAL_SECONDS * 0.9)
    return len(ids)


@shared_task(**RELIABLE, soft_time_limit=KEY_CHECK_LIMITS[0], time_limit=KEY_CHECK_LIMITS[1])
def check_key(self: Any, credential_id: int) -> dict[str, Any]:
    try:
        outcome = keyhealth.check_key(credential_id)
    except (OperationalError, InterfaceError) as error:
        outcome = _database_failure(f"credential {credential_id}", error)
    countdown = _retry_countdown(outcome, self.request.retries)
    if countdown is not None:
        _retry(self, countdown, f"the key check of {outcome.account}")
    return asdict(outcome)


@shared_task(
    acks_late=True, reject_on_worker_lost=True, soft_time_limit=THIN_LIMITS[0], time_limit=THIN_LIMITS[1]
)
def thin_snapshots() -> int:
    """Daily retention: raw for 7 days, hourly for 90, daily after (idempotent)."""
    return Snapshot.objects.thin(timezone.now())
