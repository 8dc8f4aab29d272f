"""The chart-warming task: after it runs, the overview reads only the open bucket of its chart
from the database (the settled part comes from the cache), and shows the same chart."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.desks import Desk
from accounts.models import Account
from dashboard.celery import app
from snapshots import queries
from snapshots.tasks import warm_charts
from tests.accounts_support import make_user
from tests.test_pages_queries import make_account, snap

pytestmark = pytest.mark.django_db


def bucket_queries(captured: CaptureQueriesContext) -> list[str]:
    """The queries that average snapshots per time bucket (the chart's expensive part)."""
    return [q["sql"] for q in captured.captured_queries if "AVG(" in q["sql"]]


def chart(html: str) -> str:
    return re.search(r"<svg.*?</svg>", html, re.S).group(0)


@pytest.fixture
def history(settings, monkeypatch):
    """Three accounts with a snapshot every 6 hours for 10 days; every series counts as large."""
    settings.REFRESH_INTERVAL_SECONDS = 60
    monkeypatch.setattr(queries, "SERIES_CACHE_MIN_ROWS", 0)
    now = timezone.now()
    for i in range(3):
        account = make_account(f"warm-{i}")
        for h in range(0, 240, 6):
            snap(account, str(1000 + 10 * i + h), at=now - timedelta(hours=h, seconds=30))


def test_after_warming_the_overview_reads_no_settled_bucket(client, history):
    client.force_login(make_user("viewer"))
    with CaptureQueriesContext(connection) as cold:
        first = client.get("/").content.decode()
    assert len(bucket_queries(cold)) == 2  # the settled buckets, then the open one
    queries_cache_cleared()

    assert warm_charts.apply().get() == list(queries.RANGES)

    with CaptureQueriesContext(connection) as warm:
        second = client.get("/").content.decode()
    assert len(bucket_queries(warm)) == 1  # the open bucket only
    assert chart(second) == chart(first)


def test_warming_covers_each_desk_limited_users_chart_too(client, history):
    """A desk-limited viewer's chart sums their desk's accounts: its settled buckets are cached
    under those accounts and warmed as the all-accounts chart is."""
    desk = Desk.objects.create(name="warm desk")
    desk.accounts.add(*Account.objects.filter(name__in=["warm-0", "warm-2"]))
    user = make_user("viewer")
    desk.members.add(user)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    queries_cache_cleared()

    warmed = warm_charts.apply().get()
    assert warmed == [*queries.RANGES, *(f"{key} (2 accounts)" for key in queries.RANGES)]

    with CaptureQueriesContext(connection) as warm:
        html = client.get("/?range=7d").content.decode()
    assert len(bucket_queries(warm)) == 1  # the open bucket only
    assert "warm-1" not in html


def queries_cache_cleared() -> None:
    from django.core.cache import cache

    cache.clear()


def test_beat_runs_the_warming_every_refresh_interval():
    entry = settings.CELERY_BEAT_SCHEDULE["warm-charts"]
    assert entry["task"] == warm_charts.name
    assert entry["schedule"] == settings.REFRESH_INTERVAL_SECONDS
    assert entry["options"]["expires"] < settings.REFRESH_INTERVAL_SECONDS
    app.loader.import_default_modules()
    assert warm_charts.name in app.tasks
