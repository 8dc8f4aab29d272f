"""Alert state changes and their deliveries.

evaluate() compares what holds now (rules.find) with the open alerts, so an alert fires once per
state change however often it runs: a new condition opens an alert, a new stage of an open one
(idle deletion 3 days, then 1 day ahead) notifies again, a condition gone resolves its alert with
one "recovered" message. Every state change creates one Delivery per enabled channel (a risk
rule's: every enabled one or its chosen ones, which may be none); deliver() sends one, retrying
with backoff through the periodic sweep (tasks.py). A risk rule (alerts/risk.py) may also remind
while its alert fires, once per period; its firing alert's title and message follow the rule and
figures in force without a delivery; it recovers only when judged clear: one that ends otherwise
(a forced close leaving the window or of the alert's own position, a rule switched off) resolves
quietly. run() is the periodic evaluation: it records how it went (AlertRun) for /readyz and
/metrics and never raises.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from alerts import channels
from alerts.models import (
    Alert,
    AlertChannel,
    AlertRun,
    AlertSettings,
    AlertState,
    Delivery,
    DeliveryEvent,
    RiskKind,
    RiskRule,
    new_delivery,
)
from alerts.risk import FORCE_CLOSED, find_risk
from alerts.rules import Condition, Findings, _local, find

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "[OKX dashboard]"
RECOVERED = "recovered"
SWITCHED_OFF = "rule switched off"
OUT_OF_WINDOW = "older than 24 hours"
NOT_WATCHED = "account no longer watched by the rule"


@dataclass
class Changes:
    opened: int = 0
    renotified: int = 0
    reminded: int = 0
    rewritten: int = 0  # firing risk alerts whose title or message changed, quietly
    resolved: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # rule -> why it was not evaluated


def run(now: datetime | None = None) -> dict[str, Any]:
    """One periodic evaluation, recorded in AlertRun whether it completes or fails (the failure
    is logged with its traceback, not raised: the due deliveries still go out after it).
    Returns Changes as a dict, plus "ok"."""
    started = timezone.now()
    try:
        changes = evaluate(now)
    except Exception as error:  # recorded and shown in /readyz and /metrics, never silent
        logger.exception("alert run failed")
        AlertRun.record(started=started, error=error)
        return {"ok": False}
    if changes.skipped:
        logger.warning("alert run skipped rules: %s", "; ".join(changes.skipped.values()))
    AlertRun.record(started=started, skipped=changes.skipped)
    return {"ok": True, **asdict(changes)}


def evaluate(now: datetime | None = None) -> Changes:
    now = now or timezone.now()
    rules = AlertSettings.load()
    findings = find(now, rules)
    find_risk(now, findings)
    changes = Changes(skipped=findings.skipped)
    open_alerts = {(a.rule, a.subject): a for a in Alert.objects.firing()}
    for key, condition in findings.conditions.items():
        alert = open_alerts.get(key)
        if alert is None:
            changes.opened += _open(condition, now)
        elif alert.stage != condition.stage:
            changes.renotified += _restage(alert, condition, now)
        elif _reminder_due(alert, condition, now):
            changes.reminded += _remind(alert, condition, now)
        elif condition.risk_rule_id is not None and _reads(alert) != _reads(condition):
            changes.rewritten += _rewrite(alert, condition)
    for key, alert in open_alerts.items():
        if key in findings.conditions or findings.is_held(key):
            continue
        resolution = _resolution(alert, findings, rules)
        changes.resolved += _resolve(alert, now, resolution, findings.clear.get(key, ""))
    return changes


def _resolution(alert: Alert, findings: Findings, rules: AlertSettings) -> str:
    """Why a firing alert whose condition is gone resolves: RECOVERED (it says so to its
    channels) or a quiet reason. A risk rule's alert recovers only when judged clear."""
    if alert.rule not in RiskKind.values:
        return RECOVERED if rules.enabled(alert.rule) else SWITCHED_OFF
    key = (alert.rule, alert.subject)
    closed_at = findings.force_closed.get(key, {}).get(alert.position)
    if closed_at is not None and alert.opened_at <= closed_at:
        return FORCE_CLOSED  # its own position, not another one of the account
    if key in findings.clear:
        return RECOVERED
    if alert.risk_rule_id not in findings.risk_rules:
        return SWITCHED_OFF  # switched off or deleted
    return OUT_OF_WINDOW if alert.rule == RiskKind.FORCED_CLOSE else NOT_WATCHED


def _open(condition: Condition, now: datetime) -> bool:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=condition.rule,
                subject=condition.subject,
                stage=condition.stage,
                account_id=condition.account_id,
                credential_id=condition.credential_id,
                risk_rule_id=condition.risk_rule_id,
                severity=condition.severity,
                title=condition.title,
                message=condition.text,
                position=condition.position,
                opened_at=now,
                changed_at=now,
            )
            _notify(alert, DeliveryEvent.FIRING, condition.title, condition.text)
    except IntegrityError:
        return False  # another evaluation opened it first (one firing alert per subject)
    logger.info("alert opened: %s %s", condition.rule, condition.subject)
    return True


def _restage(alert: Alert, condition: Condition, now: datetime) -> bool:
    with transaction.atomic():
        changed = Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING, stage=alert.stage).update(
            stage=condition.stage, changed_at=now, **_reads(condition)
        )
        if changed:
            alert.refresh_from_db()
            _notify(alert, DeliveryEvent.FIRING, condition.title, condition.text)
    return bool(changed)


def _reminder_due(alert: Alert, condition: Condition, now: datetime) -> bool:
    every = condition.remind_every
    return every is not None and now - (alert.reminded_at or alert.changed_at) >= every


def _remind(alert: Alert, condition: Condition, now: datetime) -> bool:
    """One reminder per period (a conditional UPDATE on the last reminder's time: of two
    evaluations only one sends it), with the figures as they are now."""
    with transaction.atomic():
        changed = Alert.objects.filter(
            pk=alert.pk, state=AlertState.FIRING, reminded_at=alert.reminded_at
        ).update(reminded_at=now, **_reads(condition))
        if changed:
            alert.refresh_from_db()
            text = f"{condition.text}\nFiring since {_local(alert.opened_at)}."
            _notify(alert, DeliveryEvent.REMINDER, f"Reminder: {condition.title}", text)
    return bool(changed)


def _reads(row: Alert | Condition) -> dict[str, str]:
    """What an alert says: its stored fields, or a condition's as they would be stored."""
    if isinstance(row, Alert):
        return {"title": row.title, "message": row.message, "position": row.position}
    return {"title": row.title, "message": row.text, "position": row.position}


def _rewrite(alert: Alert, condition: Condition) -> bool:
    """A firing risk alert in the same state, read anew (a changed threshold, the figures as
    they are now): its title and message follow, with no delivery and no change of its times."""
    changed = Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING).update(**_reads(condition))
    return bool(changed)


def _resolve(alert: Alert, now: datetime, resolution: str, reads: str = "") -> bool:
    """Resolve once (a conditional UPDATE: of two evaluations only one sends "recovered"), saying
    what is read now when known (`reads`: "margin ratio 160.00 %"). Any other resolution (a rule
    switched off, a forced close out of its window) is quiet."""
    quiet = resolution != RECOVERED
    with transaction.atomic():
        changed = Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING).update(
            state=AlertState.RESOLVED, resolved_at=now, changed_at=now, resolution=resolution
        )
        if changed and not quiet:
            alert.refresh_from_db()
            title = f"Recovered: {alert.title}"
            now_reads = f" Now: {reads}." if reads else ""
            text = f"RECOVERED: {alert.title}.{now_reads} No action needed."
            _notify(alert, DeliveryEvent.RECOVERED, title, text)
    if changed:
        logger.info("alert %s: %s %s", resolution, alert.rule, alert.subject)
    return bool(changed)


def _notify(alert: Alert, event: str, title: str, text: str) -> None:
    """One Delivery per channel; the severity (risk rules) leads the subject: "[critical] …"."""
    severity = f"[{alert.severity}] " if alert.severity else ""
    subject = f"{SUBJECT_PREFIX} {severity}{title}"
    rows = [new_delivery(alert, c, event, subject, text) for c in _channels(alert)]
    Delivery.objects.bulk_create(rows)


def _channels(alert: Alert) -> QuerySet[AlertChannel]:
    """Every enabled channel, or for a risk rule's alert its chosen enabled ones unless it tells
    every one (RiskRule.all_channels): none when its chosen channels were deleted."""
    enabled = AlertChannel.objects.filter(enabled=True)
    if alert.risk_rule_id is None:
        return enabled
    everyone = RiskRule.objects.filter(pk=alert.risk_rule_id, all_channels=True).exists()
    return enabled if everyone else enabled.filter(risk_rules=alert.risk_rule_id)


def due_deliveries(now: datetime | None = None) -> list[int]:
    return list(Delivery.objects.due(now or timezone.now()).order_by("pk").values_list("pk", flat=True))


def deliver(delivery_id: int) -> str:
    """Send one due delivery (claimed first, so no two workers send it) and record the result.
    Returns the status it ends in ("" when it was not due or another worker had it)."""
    now = timezone.now()
    delivery = Delivery.objects.select_related("alert__account", "channel").filter(pk=delivery_id).first()
    if delivery is None or not delivery.claim(now):
        return ""
    channel = delivery.channel
    if channel is None or not channel.enabled:
        delivery.record(
            ok=False, permanent=True, http_status=None, error="channel removed or disabled", now=now
        )
        return delivery.status
    result = channels.send(channel, delivery.subject, delivery.text, channels.webhook_payload(delivery))
    finished = timezone.now()
    delivery.record(
        ok=result.ok,
        permanent=result.permanent,
        http_status=result.http_status,
        error=result.error,
        now=finished,
    )
    AlertChannel.objects.filter(pk=channel.pk).update(
        last_error="" if result.ok else result.error[:300],
        **({"last_sent_at": finished} if result.ok else {}),
    )
    log = logger.info if result.ok else logger.warning
    log("alert delivery %s to channel %s: %s", delivery.pk, channel.name, result.describe())
    return delivery.status


def deliver_due(now: datetime | None = None) -> dict[int, str]:
    """Send every due delivery here and now (the command line and tests; the task fans out)."""
    return {pk: deliver(pk) for pk in due_deliveries(now)}
