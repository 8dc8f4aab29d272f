"""Operator endpoints, without a login: /healthz (liveness), /readyz (readiness) and /metrics
(Prometheus text, behind METRICS_TOKEN).

/readyz names each component ok or failing and nothing else (no hosts, URLs or versions):
- database: SELECT 1;
- redis: PING with a 1 s timeout;
- beat: the heartbeat beat stamps when it publishes run_alerts (dashboard/celery.py),
  seen within 2 alert intervals;
- workers: a Celery control ping that returns at the first answer (at most 1 s without one);
- alerts: the last alert run (alerts.models.AlertRun) completed with every enabled rule; when it
  failed or skipped a rule, "reasons" says why in the product's words (no exception text).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import pidbox
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from alerts.models import AlertRun
from dashboard.celery import BEAT_HEARTBEAT_KEY
from dashboard.celery import app as celery_app
from dashboard.metrics import DashboardCollector

PING_TIMEOUT_SECONDS = 1  # whole seconds: kombu's ensure_connection takes an int
OK, FAILING = "ok", "failing"


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=PING_TIMEOUT_SECONDS, socket_connect_timeout=PING_TIMEOUT_SECONDS
    )


def check_database() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def check_beat(client: redis.Redis) -> bool:
    stamp = client.get(BEAT_HEARTBEAT_KEY)
    return stamp is not None and time.time() - float(stamp) <= 2 * settings.ALERTS_INTERVAL_SECONDS


def check_workers() -> bool:
    """Celery's ping, published on this check's own connection: Control.ping would publish through
    the app's producer pool, bound to whatever broker URL the app first saw."""
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=PING_TIMEOUT_SECONDS)
        mailbox = pidbox.Mailbox(
            celery_app.conf.control_exchange,
            type="fanout",
            connection=conn,
            accept=["json"],
            serializer="json",
        )
        replies = mailbox._broadcast("ping", {}, reply=True, timeout=PING_TIMEOUT_SECONDS, limit=1)
        return bool(replies)


_worker_check: threading.Thread | None = None


def check_workers_bounded() -> bool:
    """The worker ping in a daemon thread, given at most two ping timeouts: kombu retries a
    publish on a lost broker connection without end (the app's producer pool), and /readyz must
    answer. While an earlier check is still stuck, workers count as failing and no new thread
    starts, so a dead broker costs one thread, not one per probe."""
    global _worker_check
    if _worker_check is not None and _worker_check.is_alive():
        return False
    result: dict[str, str] = {}
    _worker_check = threading.Thread(
        target=lambda: result.update(outcome=_outcome(check_workers)), name="readyz-workers", daemon=True
    )
    _worker_check.start()
    _worker_check.join(2 * PING_TIMEOUT_SECONDS)
    return result.get("outcome") == OK


def alert_run_problem() -> str:
    """ "" while alerting works (also before its first run), else why not (AlertRun.problem)."""
    run = AlertRun.latest()
    return run.problem() if run is not None else ""


def _outcome(check: Callable[[], bool]) -> str:
    try:
        return OK if check() else FAILING
    except Exception:  # any failure of a dependency is "failing", never a 500 or a traceback
        return FAILING


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    client = _redis()
    try:
        components = {"database": _outcome(check_database), "redis": _outcome(client.ping)}
        reachable = components["redis"] == OK
        components["beat"] = _outcome(lambda: check_beat(client)) if reachable else FAILING
        components["workers"] = _outcome(check_workers_bounded) if reachable else FAILING
    finally:
        client.close()
    reasons = {}
    try:
        if problem := alert_run_problem():
            reasons["alerts"] = problem
        components["alerts"] = FAILING if problem else OK
    except Exception:  # the database is down: that component already says so
        components["alerts"] = FAILING
    ready = all(state == OK for state in components.values())
    body: dict = {"status": OK if ready else FAILING, "components": components}
    if reasons:
        body["reasons"] = reasons
    return JsonResponse(body, status=200 if ready else 503)


def _token_ok(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN.encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        raise Http404("metrics are off")
    if not _token_ok(request):
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DashboardCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
]
