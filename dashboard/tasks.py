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
from django.conf import settings
from django.utils import timezone

from accounts.models import Account, Credential, CredentialStatus
from dashboard import keyhealth, refresh
from dashboard.models import Snapshot

logger = logging.getLogger(__name__)

SOFT_LIMIT, HARD_LIMIT = refresh.refresh_time_limits()
MAX_RETRIES = 2
RETRY_BASE_SECONDS = 2.0
# Calls through one master key are spread over this share of the interval, not sent in a burst.
STAGGER_SHARE = 0.8
KEY_CHECK_LIMITS = (240, 270)
THIN_LIMITS = (1700, 1800)

RELIABLE = {"acks_late": True, "reject_on_worker_lost": True, "bind": True, "max_retries": MAX_RETRIES}


def _backoff(retries: int) -> float:
    """Full jitter, capped to a quarter interval so a retry stays inside its cycle."""
    cap = settings.REFRESH_INTERVAL_SECONDS / 4
    return random.uniform(0, min(cap, RETRY_BASE_SECONDS * 2**retries))


def refresh_plan() -> list[tuple[int, float]]:
    """(account id, countdown) for every active account: own keys at once; sub-accounts read
    through a master staggered over the interval, so they share the master's budget evenly."""
    spread = settings.REFRESH_INTERVAL_SECONDS * STAGGER_SHARE
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
        plan.extend((pk, round(i * spread / len(ids), 3)) for i, pk in enumerate(ids))
    return plan


@shared_task(soft_time_limit=30, time_limit=40)
def refresh_all() -> int:
    """Enqueue one refresh per active account for the current cycle (ids and the cycle only)."""
    cycle = refresh.current_cycle()
    expires = settings.REFRESH_INTERVAL_SECONDS - 1
    plan = refresh_plan()
    for account_id, countdown in plan:
        refresh_account.apply_async((account_id, cycle), countdown=countdown, expires=expires)
    return len(plan)


@shared_task(**RELIABLE, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def refresh_account(self: Any, account_id: int, cycle: int) -> dict[str, Any]:
    outcome = refresh.refresh_account(account_id, cycle)
    if outcome.transient and self.request.retries < MAX_RETRIES:
        raise self.retry(countdown=_backoff(self.request.retries))
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
    outcome = keyhealth.check_key(credential_id)
    if outcome.transient and self.request.retries < MAX_RETRIES:
        raise self.retry(countdown=_backoff(self.request.retries))
    return asdict(outcome)


@shared_task(
    acks_late=True, reject_on_worker_lost=True, soft_time_limit=THIN_LIMITS[0], time_limit=THIN_LIMITS[1]
)
def thin_snapshots() -> int:
    """Daily retention: raw for 7 days, hourly for 90, daily after (idempotent)."""
    return Snapshot.objects.thin(timezone.now())
