"""Celery tasks of the pages: the overview's PnL worked out ahead (dashboard/pages/pnl.py), beside
snapshots.tasks.warm_charts (its equity chart). Beat runs it every refresh interval
(dashboard/settings.py, "warm-pnl")."""

from __future__ import annotations

from celery import shared_task

from dashboard.pages import pnl
from snapshots.tasks import desk_scopes


@shared_task(soft_time_limit=240, time_limit=300)
def warm_pnl() -> list[int]:
    """Every active account's PnL over 24 h and 7 d, the team's and the team's calendar, kept in
    the cache for the overview (pnl.warm_overview_pnl); seconds at 500 accounts with a year of
    history, which a page must not spend. The team's figures are worked out for the whole team
    and for each set of accounts a desk-limited user sees (the team of their desks, as their
    overview shows it). Returns each team's number of accounts."""
    return pnl.warm_overview_pnl([None, *desk_scopes()])
