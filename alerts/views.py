"""The Alerts page: recent alerts with what each channel was told, firing ones on top; a warning
when no channel is enabled or the last alert run failed or skipped a rule. A desk-limited user
sees the alerts about their desks' accounts and the system's (AlertQuerySet.visible_to)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.roles import MANAGE_KEYS, viewer_required
from alerts.models import Alert, AlertChannel, AlertRun

RECENT = 100


@require_GET
@viewer_required
def index(request: HttpRequest) -> HttpResponse:
    alerts = Alert.objects.visible_to(request.user).for_page(RECENT)
    run = AlertRun.latest()
    context = {
        "alerts": alerts,
        "firing": sum(1 for alert in alerts if alert.state == "firing"),
        "channels": AlertChannel.objects.filter(enabled=True).count(),
        "run_problem": run.problem() if run is not None else "",
        "can_manage": request.user.has_perm(MANAGE_KEYS),
        "display_zone": settings.DISPLAY_TIME_ZONE,
    }
    return render(request, "alerts/index.html", context)
