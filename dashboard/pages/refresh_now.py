"""The account page's "Refresh now": an operator's POST that queues the account's refresh through
Celery, as the scheduled cycle does, but reading even when this cycle's snapshot is stored (the
new reading replaces it). The page then says it was queued; the data age shows when it lands.

One request per account per REPEAT_SECONDS is queued: a second click (or a second operator) in
that time is told when the first was queued, so repeated clicks cannot spend the account's rate
budget on readings the first one is already taking."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as BrokerError
from redis import RedisError

from accounts.models import Account
from accounts.roles import operator_required
from dashboard.pages.common import account_or_404
from snapshots import tasks
from snapshots.models import Snapshot
from snapshots.refresh import current_cycle

REPEAT_SECONDS = 15


@require_POST
@operator_required
def refresh_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue refresh_account(pk, this cycle, on_demand=True) with the scheduled path's `expires`
    (a refresh that could not start within an interval is dropped: the next cycle reads anyway).
    A paused account is refused; a repeat within REPEAT_SECONDS is refused with the time of the
    queued one; a broker that does not answer is said, nothing queued."""
    account = account_or_404(request, pk)  # 404 for an account of a desk the user does not see
    if not account.active:
        messages.error(request, f"{account.name} is paused: it is not refreshed. A key admin resumes it.")
        return redirect("pages:account", pk=account.pk)
    now = timezone.now()
    zone = settings.DISPLAY_TIME_ZONE
    key = f"refresh-now:{account.pk}"
    try:
        # add() is atomic (SET NX in Redis): of two clicks at once, one queues.
        first = cache.add(key, now.timestamp(), timeout=REPEAT_SECONDS)
        if first:
            tasks.refresh_account.apply_async(
                (account.pk, current_cycle()),
                {"on_demand": True},
                expires=settings.REFRESH_INTERVAL_SECONDS - 1,
            )
        else:
            queued = datetime.fromtimestamp(cache.get(key) or now.timestamp(), UTC)
    except (BrokerError, RedisError):
        with contextlib.suppress(RedisError):
            # Nothing was queued: a retry may queue it. Only our own mark: a publish that hung past
            # REPEAT_SECONDS must not clear a later click's.
            if cache.get(key) == now.timestamp():
                cache.delete(key)
        messages.error(
            request, f"The refresh of {account.name} could not be queued: the broker does not answer."
        )
        return redirect("pages:account", pk=account.pk)
    if not first:
        messages.info(request, _repeat_text(account, queued, zone))
        return redirect("pages:account", pk=account.pk)
    at = _clock(now, zone)
    messages.success(
        request,
        f"Refresh of {account.name} queued at {at} ({zone}). The data age below changes when it has "
        "landed: reload the page in a few seconds.",
    )
    return redirect("pages:account", pk=account.pk)


def _clock(moment: datetime, zone: str) -> str:
    return timezone.localtime(moment, ZoneInfo(zone)).strftime("%H:%M:%S")


def _repeat_text(account: Account, queued: datetime, zone: str) -> str:
    """What a click within REPEAT_SECONDS of the queued refresh is told: that it landed, if a
    snapshot newer than the request is stored, else that it is on its way."""
    again = _clock(queued + timedelta(seconds=REPEAT_SECONDS), zone)
    landed = Snapshot.objects.filter(account=account, taken_at__gte=queued).exists()
    if landed:
        return (
            f"{account.name} was refreshed after the request of {_clock(queued, zone)} ({zone}): the data "
            f"on this page is that reading. Another refresh can be asked for from {again}."
        )
    return (
        f"A refresh of {account.name} was already queued at {_clock(queued, zone)} ({zone}); it is not "
        f"queued again before {again}. Reload the page in a few seconds to see it land."
    )
