"""Alert tasks: every minute, evaluate the rules and fan the due deliveries out, one task per
delivery (ids only; the channel's secrets are read from the row by the worker that sends).
Beat's heartbeat for /readyz is stamped when it publishes run_alerts (dashboard/celery.py)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from alerts import engine


@shared_task(soft_time_limit=45, time_limit=55)
def run_alerts() -> dict[str, Any]:
    """Evaluate (recorded in AlertRun, never raising), then send what is due: also after a
    failed evaluation, so the retries of earlier alerts go on."""
    outcome = engine.run()
    due = engine.due_deliveries()
    for delivery_id in due:
        send_delivery.delay(delivery_id)
    return {**outcome, "deliveries": len(due)}


# Two HTTP timeouts (5 s connect + 10 s read) fit well inside; a retry is the sweep's job, not
# Celery's, so the backoff survives worker restarts (it is a column, next_attempt_at).
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=40, time_limit=50)
def send_delivery(delivery_id: int) -> str:
    return engine.deliver(delivery_id)
