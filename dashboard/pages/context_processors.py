"""The top bar's facts on every signed-in page: how many keys need attention ("3 keys need
attention": failing keys count too, so it is no "warnings" count), when data was last refreshed,
and whether it may be stale (old snapshots, or the Redis broker not answering).

It runs on every page, so it makes a fixed number of queries (two) and never raises: a page must
render even when Redis is down. A desk-limited user's counts and times are over the accounts of
their desks only (accounts.desks; the visible set is cached on the user, so the page's own
filtering and the top bar share its queries).
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from django.conf import settings
from django.db.models import Max, OuterRef, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from accounts import desks
from accounts.models import Account, Credential, CredentialStatus
from snapshots.models import Snapshot
from snapshots.queries import is_stale, stale_after

BROKER_PING_TIMEOUT_S = 0.2
_CACHE_ATTRIBUTE = "_topbar_context"
_KNOWN_ATTRIBUTE = "_topbar_known"


def topbar(request: HttpRequest) -> dict[str, Any]:
    """Computed once per request (cached on it), only for signed-in users."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cached = getattr(request, _CACHE_ATTRIBUTE, None)
    if cached is None:
        # Lazy: computed when a template reads it. The overview's polled fragment and other
        # templates without the top bar do not pay its queries (~35-60 ms at 500 keys).
        cached = {"topbar": SimpleLazyObject(lambda: _facts(user, getattr(request, _KNOWN_ATTRIBUTE, {})))}
        setattr(request, _CACHE_ATTRIBUTE, cached)
    return cached


def known(request: HttpRequest, **facts: Any) -> None:
    """Facts of the top bar a page has just read itself, so the top bar does not ask again (each
    costs ~35-60 ms at 500 keys): "warnings", how many keys need attention (attention_ids' set, by
    the same rule: the overview's rows, the keys page's); "refreshed_at", newest_refresh()'s
    time (the overview's rows: every active account's newest snapshot). Both over the accounts
    the user sees, as the top bar's own queries would be."""
    setattr(request, _KNOWN_ATTRIBUTE, facts)


def _facts(user: Any, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """The top bar's facts; `known`: those the page has read itself (known()), not asked again."""
    known = known or {}
    now = timezone.now()
    ids = desks.visible_account_ids(user)  # cached on the user: the page has usually asked already
    refreshed_at = known["refreshed_at"] if "refreshed_at" in known else newest_refresh(ids)
    old = is_stale(refreshed_at, now)
    broker_ok = broker_answers(settings.REDIS_URL)
    return {
        # Keys needing attention (attention_ids), not warnings.
        "warnings": known["warnings"] if "warnings" in known else warnings_count(now, ids),
        "refreshed_at": refreshed_at,
        "refreshed_note": _refreshed_note(refreshed_at, now),
        "stale": old or not broker_ok,
        "stale_reasons": _stale_reasons(refreshed_at, old, broker_ok),
    }


def newest_refresh(visible: Collection[int] | None = None) -> datetime | None:
    """The newest snapshot of any active account (of `visible` when it is not None), in one
    query that walks each account's (account, taken_at) index instead of scanning the whole
    snapshot history."""
    latest = Snapshot.objects.filter(account=OuterRef("pk")).order_by("-taken_at").values("taken_at")[:1]
    rows = Account.objects.filter(active=True)
    if visible is not None:
        rows = rows.filter(pk__in=list(visible))
    rows = rows.annotate(latest=Subquery(latest))
    return rows.aggregate(newest=Max("latest"))["newest"]


def attention_ids(now: datetime, visible: Collection[int] | None = None) -> list[int]:
    """Ids of the keys needing attention at `now`: active keys of active accounts a person must act
    on (Credential.needs_action: failing, or a warning of severity warning/danger; "info" advice
    such as a missing IP binding is not counted), in one query over plain columns
    (CredentialQuerySet.needing_action). The one set the top bar counts, the overview lists and
    the keys page marks "needs attention"; alerts and reports watch the same keys. A paused
    account's key is on the keys page, marked "account paused", and not in the set. `visible`:
    the accounts a desk-limited user sees (None: every account)."""
    keys = Credential.objects.filter(status=CredentialStatus.ACTIVE, account__active=True)
    if visible is not None:
        keys = keys.filter(account_id__in=list(visible))
    return keys.needing_action(now)


def warnings_count(now: datetime, visible: Collection[int] | None = None) -> int:
    """How many keys need attention (attention_ids) among the accounts of `visible` (None: every
    account): the top bar's count."""
    return len(attention_ids(now, visible))


def broker_answers(url: str) -> bool:
    try:
        return bool(_client(url).ping())
    except (redis.RedisError, OSError):
        return False


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # One small pool per process; short timeouts so a dead broker costs a page 0.2 s at most.
    return redis.Redis.from_url(
        url, socket_timeout=BROKER_PING_TIMEOUT_S, socket_connect_timeout=BROKER_PING_TIMEOUT_S
    )


def _refreshed_note(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "No data refreshed yet"
    zone = settings.DISPLAY_TIME_ZONE
    local = at.astimezone(ZoneInfo(zone))
    shown = (
        local.strftime("%H:%M")
        if local.date() == now.astimezone(ZoneInfo(zone)).date()
        else f"{local:%Y-%m-%d %H:%M}"
    )
    return f"Data refreshed {shown} ({zone})"


def _stale_reasons(at: datetime | None, old: bool, broker_ok: bool) -> list[str]:
    reasons = []
    if old:
        reasons.append("no account has been refreshed in the last " + _minutes(stale_after()))
    if not broker_ok:
        reasons.append("the Redis broker does not answer, so the workers cannot run")
    return reasons


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes} minutes" if minutes != 1 else "minute"
