"""The account page's "Refresh now": an operator's POST that queues the account's refresh through
Celery, as the scheduled cycle does, but reading even when this cycle's snapshot is stored (the
new reading replaces it). The page then says it was queued; the data age shows when it lands."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import Account
from accounts.roles import operator_required
from snapshots import tasks
from snapshots.refresh import current_cycle


@require_POST
@operator_required
def refresh_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue refresh_account(pk, this cycle, on_demand=True) with the scheduled path's `expires`
    (a refresh that could not start within an interval is dropped: the next cycle reads anyway).
    A paused account is refused; a broker that does not answer is said, nothing queued."""
    account = get_object_or_404(Account, pk=pk)
    if not account.active:
        messages.error(request, f"{account.name} is paused: it is not refreshed. A key admin resumes it.")
        return redirect("pages:account", pk=account.pk)
    try:
        tasks.refresh_account.apply_async(
            (account.pk, current_cycle()),
            {"on_demand": True},
            expires=settings.REFRESH_INTERVAL_SECONDS - 1,
        )
    except BrokerError:
        messages.error(
            request, f"The refresh of {account.name} could not be queued: the broker does not answer."
        )
        return redirect("pages:account", pk=account.pk)
    at = timezone.localtime(timezone.now(), ZoneInfo(settings.DISPLAY_TIME_ZONE)).strftime("%H:%M:%S")
    zone = settings.DISPLAY_TIME_ZONE
    messages.success(
        request,
        f"Refresh of {account.name} queued at {at} ({zone}). The data age below changes when it has "
        "landed: reload the page in a few seconds.",
    )
    return redirect("pages:account", pk=account.pk)
