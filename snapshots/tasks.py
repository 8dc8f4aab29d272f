"""Celery tasks of the snapshots: the refresh of every account (each beat, as snapshots.pacing
plans it), the daily retention, and the chart warming. Thin wrappers that take ids, run one
account's job and record its outcome (accounts/jobs.py says how they retry).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import redis
from celery import shared_task
from celery.signals import task_revoked
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts import callstats, desks
from accounts.jobs import RELIABLE_TASK, database_failure, retry_if_due
from snapshots import queries, refresh
from snapshots.models import Snapshot
from snapshots.pacing import Planned, refresh_plan

logger = logging.getLogger(__name__)

SOFT_LIMIT, HARD_LIMIT = refresh.refresh_time_limits()
# The ledger's syncs are spread over at most this share of the interval (ledger.tasks.sync_all).
STAGGER_SHARE = 0.8
THIN_LIMITS = (1700, 1800)


@shared_task(soft_time_limit=30, time_limit=40)
def refresh_all() -> int:
    """Enqueue this beat's refreshes (snapshots.pacing.refresh_plan: own keys at once, keyless
    sub-accounts round-robin at their master's budget), ids and the cycle only. Redis (the
    round-robin cursors, and the broker) not answering sends nothing, without raising: a task
    failing while the broker is down blocked its pool process past its time limit (the
    Redis-outage soak test); the next beat plans again."""
    try:
        plan = refresh_plan()
    except redis.exceptions.RedisError as error:
        logger.warning("no refresh planned this beat: Redis does not answer (%s)", type(error).__name__)
        return 0
    return send_plan(plan, refresh.current_cycle())


def send_plan(plan: list[Planned], cycle: int, **options: Any) -> int:
    """Send one refresh_account per planned task of `cycle`, with its countdown and expiry
    (options: apply_async's, e.g. a queue). Returns how many were sent: fewer when the broker
    stops answering (those accounts wait for their next turn)."""
    for sent, task in enumerate(plan):
        try:
            refresh_account.apply_async(
                (task.account_id, cycle), countdown=task.countdown, expires=task.expires, **options
            )
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


@task_revoked.connect
def count_expired_refresh(sender: Any = None, request: Any = None, expired: bool = False, **_: Any) -> None:
    """A refresh that expired unrun (no worker started it within its interval: more accounts than
    the workers refresh in one, see pacing.refresh_plan) is the account's "expired" refresh
    outcome in /metrics (okxdash_refreshes), so a team sees it before the accounts go stale.
    Only a beat's planned refresh counts, not a retry or a "Refresh now"."""
    if not expired or getattr(sender, "name", None) != refresh_account.name:
        return
    # A retry keeps its first try's expiry and an operator's "Refresh now" is no planned refresh:
    # neither says the workers are too few.
    if getattr(request, "retries", 0) or (getattr(request, "kwargs", None) or {}).get("on_demand"):
        return
    args = getattr(request, "args", None) or ()
    if args:
        callstats.record_refresh(int(args[0]), "expired", 0.0)


@shared_task(
    acks_late=True, reject_on_worker_lost=True, soft_time_limit=THIN_LIMITS[0], time_limit=THIN_LIMITS[1]
)
def thin_snapshots() -> int:
    """Daily retention: raw for 7 days, hourly for 90, daily after (idempotent)."""
    return Snapshot.objects.thin(timezone.now())


@shared_task(soft_time_limit=240, time_limit=300)
def warm_charts() -> list[str]:
    """The overview's team equity series computed ahead of the pages: the all-accounts one, and
    the one of each set of accounts a desk-limited user sees (accounts.desks; cached under its
    sorted account ids, so users with the same desks share it). A large series keeps its settled
    buckets in the cache (snapshots/queries.py); when a new bucket settles, the next reader would
    pay for the whole range (500 accounts over 7 days read about 5 million snapshot rows). Beat
    runs this every refresh interval, so a page never does. Returns the ranges warmed: the
    all-accounts series' keys ("7d"), then a desk set's as "7d (12 accounts)"."""
    warmed = []
    for scope in [None, *desk_scopes()]:
        for range_key in queries.cached_ranges(scope):
            queries.equity_series(None, range_key, scope)
            warmed.append(range_key if scope is None else f"{range_key} ({len(scope)} accounts)")
    return warmed


def desk_scopes() -> list[frozenset[int]]:
    """Each distinct, non-empty set of accounts an active desk-limited user sees
    (accounts.desks.visible_account_ids), largest first; none while no desk exists. A few queries
    per desk member: this runs in the worker, never on a page."""
    if not desks.desks_in_use():
        return []
    members = get_user_model().objects.filter(is_active=True, desks__isnull=False).distinct()
    found = {desks.visible_account_ids(user) for user in members}
    return sorted((ids for ids in found if ids), key=lambda ids: (-len(ids), sorted(ids)))
