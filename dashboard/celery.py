"""The Celery app: settings from Django's (CELERY_*), tasks found by autodiscovery alone (each
app's tasks.py), the schedule one literal in settings (CELERY_BEAT_SCHEDULE); and beat's heartbeat.

Beat cannot be asked whether it runs, and the only code it runs is publishing scheduled tasks, so
it stamps a Redis key whenever it publishes run_alerts (every ALERTS_INTERVAL_SECONDS); /readyz
reads the key (dashboard/ops.py). before_task_publish fires in the publishing process.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import redis
from celery import Celery
from celery.signals import before_task_publish

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

logger = logging.getLogger(__name__)

BEAT_HEARTBEAT_TASK = "alerts.tasks.run_alerts"
BEAT_HEARTBEAT_KEY = "okxdash:heartbeat:beat"
HEARTBEAT_TIMEOUT_SECONDS = 1.0

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect(sender=BEAT_HEARTBEAT_TASK, weak=False)
def stamp_beat_heartbeat(**_: Any) -> None:
    """Never let the stamp stop the publish: a failure is logged, not raised."""
    from django.conf import settings

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
