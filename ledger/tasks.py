"""Celery tasks of the ledger: each refresh interval, one sync per active account with an active key
of its own (beat's "sync-ledger" entry in dashboard/settings.py). Thin wrappers that take ids and
record the outcome (accounts/jobs.py says how they retry)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.jobs import RELIABLE_TASK, JobOutcome, database_failure, retry_if_due
from accounts.models import Account, CredentialStatus
from ledger import sync
from snapshots.refresh import refresh_time_limits
from snapshots.tasks import STAGGER_SHARE

logger = logging.getLogger(__name__)

SOFT_LIMIT, HARD_LIMIT = refresh_time_limits()


def ledger_accounts() -> list[int]:
    """Ids of the active accounts with an active key of their own: a keyless sub-account costs
    nothing (its transfers are in its master's history)."""
    return list(
        Account.objects.filter(active=True, credentials__status=CredentialStatus.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    )


@shared_task(soft_time_limit=30, time_limit=40)
def sync_all() -> int:
    """Enqueue one sync_ledger per account of ledger_accounts(), spread over STAGGER_SHARE of the
    interval (not in a burst: the public candle reads share one budget per IP) and expiring
    before the next run. Returns how many were sent."""
    ids = ledger_accounts()
    interval = settings.REFRESH_INTERVAL_SECONDS
    step = interval * STAGGER_SHARE / max(len(ids), 1)
    for sent, account_id in enumerate(ids):
        try:
            sync_ledger.apply_async((account_id,), countdown=round(sent * step, 3), expires=interval - 1)
        except KombuOperationalError:
            logger.warning("the broker stopped answering after %d of %d ledger syncs", sent, len(ids))
            return sent
    return len(ids)


@shared_task(**RELIABLE_TASK, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def sync_ledger(self: Any, account_id: int) -> dict[str, Any]:
    """One account's ledger sync (ledger.sync.sync_account); a transient failure retries with
    backoff (accounts.jobs.retry_if_due), the rest waits for the next run."""
    outcome: JobOutcome
    try:
        outcome = sync.sync_account(account_id)
    except (OperationalError, InterfaceError) as error:
        outcome = database_failure(f"account {account_id}", error)
    retry_if_due(self, outcome, f"the ledger sync of {outcome.account}")
    if outcome.status == "failed":
        logger.warning("ledger sync of %s failed: %s", outcome.account, outcome.category)
    return asdict(outcome)
