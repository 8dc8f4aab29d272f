"""Celery tasks of key health: every KEY_HEALTH_INTERVAL_SECONDS, one check per active key (ids
only; accounts/keycheck.py does the work, accounts/jobs.py says how a task retries). Also queued
when beat starts and when a key is added or rotated in (accounts/signals.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from accounts import keycheck
from accounts.jobs import RELIABLE_TASK, database_failure, retry_if_due

KEY_CHECK_LIMITS = (240, 270)


@shared_task(soft_time_limit=30, time_limit=40)
def check_all_keys() -> int:
    ids = list(keycheck.credentials_to_check())
    for credential_id in ids:
        check_key.apply_async((credential_id,), expires=settings.KEY_HEALTH_INTERVAL_SECONDS * 0.9)
    return len(ids)


@shared_task(**RELIABLE_TASK, soft_time_limit=KEY_CHECK_LIMITS[0], time_limit=KEY_CHECK_LIMITS[1])
def check_key(self: Any, credential_id: int) -> dict[str, Any]:
    try:
        outcome = keycheck.check_key(credential_id)
    except (OperationalError, InterfaceError) as error:
        outcome = database_failure(f"credential {credential_id}", error)
    retry_if_due(self, outcome, f"the key check of {outcome.account}")
    return asdict(outcome)
