"""Celery tasks for reports: the minute dispatcher and the sender (ids and ISO strings only).

Loaded by the worker through CELERY_IMPORTS (autodiscovery looks at snapshots.tasks only).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from celery import shared_task
from django.utils import timezone

from reports import delivery
from reports.models import MAX_ATTEMPTS

DISPATCH_INTERVAL_SECONDS = 60
RETRY_BACKOFF_SECONDS = 30
RETRY_BACKOFF_MAX_SECONDS = 600


@shared_task(soft_time_limit=50, time_limit=55)
def run_due_reports() -> int:
    """Enqueue one send per due (schedule, slot); the report row makes a second enqueue harmless."""
    jobs = delivery.due(timezone.now())
    for schedule_id, slot in jobs:
        send_scheduled_report.delay(schedule_id, slot)
    return len(jobs)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(delivery.SendFailed,),
    # Celery must not give up before the row does (it turns failed after MAX_ATTEMPTS claims).
    max_retries=MAX_ATTEMPTS,
    retry_backoff=RETRY_BACKOFF_SECONDS,
    retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    soft_time_limit=240,
    time_limit=270,
)
def send_scheduled_report(self: Any, schedule_id: int, slot: str) -> dict[str, Any]:
    return asdict(delivery.deliver_slot(schedule_id, datetime.fromisoformat(slot)))
