"""Chart warming: the overview's all-accounts equity series computed ahead of the pages.

A large series keeps its settled buckets in the cache (dashboard.pages.queries); when a new
bucket settles, the next reader would pay for the whole range (500 accounts over 7 days read
about 5 million snapshot rows). Beat runs this every refresh interval, so a page never does.
"""

from __future__ import annotations

from celery import shared_task

from dashboard.pages import queries

WARM_CHARTS = "dashboard.pages.tasks.warm_charts"


@shared_task(name=WARM_CHARTS, soft_time_limit=240, time_limit=300)
def warm_charts() -> list[str]:
    """Compute (and so cache) the series of every range that is cached; returns those ranges."""
    ranges = queries.cached_ranges()
    for range_key in ranges:
        queries.equity_series(None, range_key)
    return ranges
