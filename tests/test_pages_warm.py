"""The chart-warming task: after it runs, the overview reads no bucket's means from the database
(the settled part comes from the cache, the open bucket ends on the latest total), and shows the
same chart."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.desks import Desk
from accounts.models import Account
from dashboard.celery import app
from dashboard.tasks import warm_pnl
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
def clock(request):
    """The clock runs from 10:30 UTC: mid-bucket (the overview's 30 d chart of `history` has
    3-hour buckets, the open one from 09:00); or request.param minutes after 09:00."""
    start = datetime(2026, 11, 20, 9, tzinfo=UTC) + timedelta(minutes=getattr(request, "param", 90))
    with time_machine.travel(start, tick=True):
        yield


@pytest.fixture
def history(settings, monkeypatch, clock):
    """Three accounts with a snapshot every 6 hours for 10 days; every series counts as large."""
    settings.REFRESH_INTERVAL_SECONDS = 60
    monkeypatch.setattr(queries, "SERIES_CACHE_MIN_ROWS", 0)
    now = timezone.now()
    for i in range(3):
        account = make_account(f"warm-{i}")
        for h in range(0, 240, 6):
            snap(account, str(1000 + 10 * i + h), at=now - timedelta(hours=h, seconds=30))


@pytest.mark.parametrize(("clock", "unsettled"), [(90, 0), (1, 1)], indirect=["clock"])
def test_after_warming_the_overview_reads_no_settled_bucket(client, history, unsettled, monkeypatch):
    """The open bucket's value is the latest snapshots' total: its means are never read. A minute
    into it, the bucket before has not settled (a snapshot may still land in it): read live."""
    client.force_login(make_user("viewer"))
    with CaptureQueriesContext(connection) as cold:
        first = client.get("/").content.decode()
    assert len(bucket_queries(cold)) == 1 + unsettled  # the settled buckets (then the unsettled one)
    queries_cache_cleared()

    assert warm_charts.apply().get() == list(queries.RANGES)

    with CaptureQueriesContext(connection) as warm:
        second = client.get("/").content.decode()
    assert len(bucket_queries(warm)) == unsettled
    assert chart(second) == chart(first)
    cached = queries.equity_series(None, "30d")
    monkeypatch.setattr(queries, "SERIES_CACHE_MIN_ROWS", 10**9)  # each bucket's means read afresh
    assert queries.equity_series(None, "30d") == cached


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
    assert bucket_queries(warm) == []  # the settled buckets from the cache, the open one ends on the latest
    assert "warm-1" not in html


def queries_cache_cleared() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.mark.parametrize(("name", "task"), [("warm-charts", warm_charts), ("warm-pnl", warm_pnl)])
def test_beat_runs_the_warming_every_refresh_interval(name, task):
    entry = settings.CELERY_BEAT_SCHEDULE[name]
    assert entry["task"] == task.name
    assert entry["schedule"] == settings.REFRESH_INTERVAL_SECONDS
    assert entry["options"]["expires"] < settings.REFRESH_INTERVAL_SECONDS
    app.loader.import_default_modules()
    assert task.name in app.tasks
