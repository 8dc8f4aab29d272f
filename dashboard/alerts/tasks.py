"""Alert tasks: every minute, evaluate the rules and fan the due deliveries out, one task per
delivery (ids only; the channel's secrets are read from the row by the worker that sends).

Also the beat heartbeat for /readyz: beat cannot be asked whether it runs, and the only code it
runs is publishing scheduled tasks, so it stamps a Redis key whenever it publishes run_alerts
(the before_task_publish signal fires in the publishing process; beat imports this module
through CELERY_IMPORTS).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

import redis
from celery import shared_task
from celery.signals import before_task_publish
from django.conf import settings

from dashboard.alerts import engine

logger = logging.getLogger(__name__)

RUN_ALERTS = "dashboard.alerts.tasks.run_alerts"
BEAT_HEARTBEAT_KEY = "okxdash:heartbeat:beat"
HEARTBEAT_TIMEOUT_SECONDS = 1.0


@shared_task(name=RUN_ALERTS, soft_time_limit=45, time_limit=55)
def run_alerts() -> dict[str, Any]:
    changes = engine.evaluate()
    due = engine.due_deliveries()
    for delivery_id in due:
        send_delivery.delay(delivery_id)
    return {**asdict(changes), "deliveries": len(due)}


# Two HTTP timeouts (5 s connect + 10 s read) fit well inside; a retry is the sweep's job, not
# Celery's, so the backoff survives worker restarts (it is a column, next_attempt_at).
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=40, time_limit=50)
def send_delivery(delivery_id: int) -> str:
    return engine.deliver(delivery_id)


@before_task_publish.connect(sender=RUN_ALERTS, weak=False)
def stamp_beat_heartbeat(**_: Any) -> None:
    """Never let the stamp stop the publish: a failure is logged, not raised."""
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=HEARTBEAT_TIMEOUT_SECONDS,
            socket_connect_timeout=HEARTBEAT_TIMEOUT_SECONDS,
        )
        with client:
            client.set(BEAT_HEARTBEAT_KEY, f"{time.time():.3f}", ex=24 * 3600)
    except (redis.RedisError, OSError):
        logger.warning("could not record the beat heartbeat in Redis")
