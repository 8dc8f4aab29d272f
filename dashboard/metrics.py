"""The /metrics collector: everything is computed at scrape time, from the database (key
statuses, last refreshes, open alerts, deliveries, the last alert run), from the workers' Redis counters
(accounts/callstats.py: calls, errors, 50011, limiter waits, refresh outcomes and durations) and
from the broker (queue length). Nothing is kept in the web process, so any number of gunicorn
and Celery processes on any number of machines report one consistent set of numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from django.conf import settings
from django.db.models import Count, Max
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

from accounts import callstats
from accounts.models import Account, Credential, CredentialStatus
from alerts.models import Alert, AlertRule, AlertRun, Delivery, DeliveryStatus
from snapshots.models import Snapshot

NS = "okxdash"
# kombu's Redis transport: the queue is a list under the global key prefix, one list per
# priority step (0 is the bare name, the others "<name>\x06\x16<step>").
QUEUE_PRIORITY_STEPS = (0, 3, 6, 9)
PRIORITY_SEPARATOR = "\x06\x16"
HEALTH_STATES = ("ok", "grace", "failing", "unchecked")


def queue_keys(queue: str = "celery") -> list[str]:
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    return [
        f"{prefix}{queue}" + (f"{PRIORITY_SEPARATOR}{step}" if step else "") for step in QUEUE_PRIORITY_STEPS
    ]


class DashboardCollector:
    """A prometheus_client custom collector (collect() yields metric families)."""

    def collect(self) -> Iterator[Metric]:
        names = dict(Account.objects.values_list("pk", "name"))
        yield from self._keys()
        yield from self._last_refresh(names)
        yield from self._alerts()
        yield from self._alert_run()
        client = callstats.redis_client()
        try:
            stats = callstats.read_all(client)
            queued = sum(client.llen(key) for key in queue_keys())
        except (redis.RedisError, OSError):
            yield GaugeMetricFamily(f"{NS}_redis_up", "Whether Redis answered this scrape.", value=0)
            return
        yield GaugeMetricFamily(f"{NS}_redis_up", "Whether Redis answered this scrape.", value=1)
        yield GaugeMetricFamily(f"{NS}_queue_length", "Tasks waiting in the Celery queue.", value=queued)
        yield from self._calls(stats)
        yield from self._refreshes(stats, names)

    def _keys(self) -> Iterator[Metric]:
        active = Credential.objects.filter(status=CredentialStatus.ACTIVE, account__active=True)
        counts = {state: 0 for state in HEALTH_STATES}
        per_key = GaugeMetricFamily(
            f"{NS}_key_status",
            "1 for the health status of each account's active key.",
            labels=["account", "status"],
        )
        for name, status in active.values_list("account__name", "health_status"):
            status = status or "unchecked"
            counts[status] = counts.get(status, 0) + 1
            per_key.add_metric([name, status], 1)
        totals = GaugeMetricFamily(f"{NS}_keys", "Active keys by health status.", labels=["status"])
        for status, count in counts.items():
            totals.add_metric([status], count)
        yield totals
        yield per_key

    def _last_refresh(self, names: dict[int, str]) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{NS}_refresh_last_success_timestamp_seconds",
            "When each account's latest snapshot was taken (Unix time).",
            labels=["account"],
        )
        latest = Snapshot.objects.values("account_id").annotate(at=Max("taken_at"))
        for row in latest:
            if row["account_id"] in names:
                family.add_metric([names[row["account_id"]]], row["at"].timestamp())
        yield family

    def _alerts(self) -> Iterator[Metric]:
        firing = dict(Alert.objects.firing().values("rule").annotate(n=Count("pk")).values_list("rule", "n"))
        family = GaugeMetricFamily(f"{NS}_alerts_firing", "Open alerts by rule.", labels=["rule"])
        for rule in AlertRule.values:
            family.add_metric([rule], firing.get(rule, 0))
        yield family
        statuses = dict(Delivery.objects.values("status").annotate(n=Count("pk")).values_list("status", "n"))
        deliveries = GaugeMetricFamily(
            f"{NS}_alert_deliveries", "Alert deliveries by status.", labels=["status"]
        )
        for status in DeliveryStatus.values:
            deliveries.add_metric([status], statuses.get(status, 0))
        yield deliveries

    def _alert_run(self) -> Iterator[Metric]:
        """The last alert run: whether it completed, when, the rules it skipped, and totals.
        Before the first run the families are there without samples."""
        run = AlertRun.latest()
        success = GaugeMetricFamily(
            f"{NS}_alert_run_last_success", "1 when the last alert run completed, 0 when it failed."
        )
        finished = GaugeMetricFamily(
            f"{NS}_alert_run_last_timestamp_seconds", "When the last alert run ended (Unix time)."
        )
        succeeded = GaugeMetricFamily(
            f"{NS}_alert_run_last_success_timestamp_seconds",
            "When the last alert run that completed ended (Unix time).",
        )
        skipped = GaugeMetricFamily(
            f"{NS}_alert_rule_skipped",
            "1 for an enabled rule the last alert run skipped (its threshold is out of range).",
            labels=["rule"],
        )
        runs = CounterMetricFamily(f"{NS}_alert_runs", "Alert runs, completed or failed.")
        failures = CounterMetricFamily(f"{NS}_alert_run_failures", "Alert runs that failed.")
        if run is not None:
            success.add_metric([], 1 if run.ok else 0)
            if run.finished_at is not None:
                finished.add_metric([], run.finished_at.timestamp())
            if run.last_ok_at is not None:
                succeeded.add_metric([], run.last_ok_at.timestamp())
            for rule in AlertRule.values:
                skipped.add_metric([rule], 1 if rule in run.skipped else 0)
            runs.add_metric([], run.runs)
            failures.add_metric([], run.failures)
        yield from (success, finished, succeeded, skipped, runs, failures)

    def _calls(self, stats: dict[str, dict[str, float]]) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            f"{NS}_api_calls",
            "OKX API calls by endpoint and outcome category (ok = success).",
            labels=["endpoint", "category"],
        )
        errors = CounterMetricFamily(
            f"{NS}_api_errors",
            "Failed OKX API calls by endpoint and diagnosis category.",
            labels=["endpoint", "category"],
        )
        for field, count in sorted(stats["calls"].items()):
            endpoint, _, category = field.rpartition(callstats.SEPARATOR)
            calls.add_metric([endpoint, category], count)
            if category != "ok":
                errors.add_metric([endpoint, category], count)
        yield calls
        yield errors
        limited = CounterMetricFamily(
            f"{NS}_rate_limited", "OKX 50011 (HTTP 429) answers by endpoint.", labels=["endpoint"]
        )
        for endpoint, count in sorted(stats["rate_limited"].items()):
            limited.add_metric([endpoint], count)
        yield limited
        yield _summary(
            "api_call_duration_seconds",
            "Time of OKX API calls.",
            stats["limiter_waits"],
            stats["call_seconds"],
        )
        yield _summary(
            "limiter_wait_seconds",
            "Time calls waited for rate-limit budget.",
            stats["limiter_waits"],
            stats["limiter_seconds"],
        )

    def _refreshes(self, stats: dict[str, dict[str, float]], names: dict[int, str]) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            f"{NS}_refreshes",
            "Account refreshes by outcome (ok, failed, skipped; expired: planned, but no worker started it "
            "within its interval).",
            labels=["account", "outcome"],
        )
        timed: dict[str, int] = {}
        for field, count in sorted(stats["refreshes"].items()):
            account_id, _, outcome = field.partition(callstats.SEPARATOR)
            name = names.get(int(account_id))
            if name is not None:
                outcomes.add_metric([name, outcome], count)
                if outcome in callstats.TIMED_OUTCOMES:
                    timed[account_id] = timed.get(account_id, 0) + int(count)
        yield outcomes
        durations = SummaryMetricFamily(
            f"{NS}_refresh_duration_seconds", "Time of account refreshes (ok and failed).", labels=["account"]
        )
        for account_id, count in sorted(timed.items()):
            seconds = stats["refresh_seconds"].get(account_id, 0.0)
            durations.add_metric([names[int(account_id)]], count_value=count, sum_value=seconds)
        yield durations


def _summary(name: str, doc: str, counts: dict[str, float], sums: dict[str, float]) -> Metric:
    family = SummaryMetricFamily(f"{NS}_{name}", doc, labels=["endpoint"])
    for endpoint, count in sorted(counts.items()):
        # Redis hands every hash value back as a float; a count is whole.
        family.add_metric([endpoint], count_value=int(count), sum_value=sums.get(endpoint, 0.0))
    return family
