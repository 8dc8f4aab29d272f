"""Celery tasks of the snapshots: the refresh of every account each cycle, the daily retention,
and the chart warming. Thin wrappers that take ids, run one account's job and record its outcome
(accounts/jobs.py says how they retry).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.jobs import RELIABLE_TASK, database_failure, retry_if_due
from accounts.models import Account, Credential, CredentialStatus
from okxapi import ENDPOINT_LIMITS
from okxapi.ratelimit import padded_window
from snapshots import queries, refresh
from snapshots.models import Snapshot

logger = logging.getLogger(__name__)

SOFT_LIMIT, HARD_LIMIT = refresh.refresh_time_limits()
# Calls through one master key are spread over at most this share of the interval, not sent in
# a burst.
STAGGER_SHARE = 0.8
THIN_LIMITS = (1700, 1800)


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


@shared_task(**RELIABLE_TASK, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def refresh_account(self: Any, account_id: int, cycle: int, on_demand: bool = False) -> dict[str, Any]:
    """One account's refresh of `cycle`; on_demand (an operator's "Refresh now") reads even when
    the cycle is stored and replaces its snapshot (snapshots.refresh.refresh_account)."""
    try:
        outcome = refresh.refresh_account(account_id, cycle, on_demand=on_demand)
    except (OperationalError, InterfaceError) as error:
        outcome = database_failure(f"account {account_id}", error)
    retry_if_due(self, outcome, f"the refresh of {outcome.account}")
    if outcome.status == "failed":
        logger.warning("refresh of %s failed: %s", outcome.account, outcome.category)
    return asdict(outcome)


@shared_task(
    acks_late=True, reject_on_worker_lost=True, soft_time_limit=THIN_LIMITS[0], time_limit=THIN_LIMITS[1]
)
def thin_snapshots() -> int:
    """Daily retention: raw for 7 days, hourly for 90, daily after (idempotent)."""
    return Snapshot.objects.thin(timezone.now())


@shared_task(soft_time_limit=240, time_limit=300)
def warm_charts() -> list[str]:
    """The overview's all-accounts equity series computed ahead of the pages. A large series keeps
    its settled buckets in the cache (snapshots/queries.py); when a new bucket settles, the next
    reader would pay for the whole range (500 accounts over 7 days read about 5 million snapshot
    rows). Beat runs this every refresh interval, so a page never does. Returns the ranges."""
    ranges = queries.cached_ranges()
    for range_key in ranges:
        queries.equity_series(None, range_key)
    return ranges
