"""Alerts: where they go (AlertChannel, secrets encrypted like credentials), which rules are on
(AlertSettings, one row, and the key admins' margin and liquidation rules, RiskRule), what fired
(Alert) and what each channel was told (Delivery).

The rules and the senders live in alerts/; this module holds the rows and the small
state methods on them. A channel's webhook URL and bot token are write-only: stored encrypted
(accounts.crypto), shown back only as "set, ends …x4f", never in reprs, logs or Delivery rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts import crypto
from accounts.desks import visible_account_ids

HINT_LENGTH = 4
DEFAULT_TELEGRAM_API = "https://api.telegram.org"
# Retry a failed delivery after 1, 2, 4, 8, 16 minutes; then give up (about half an hour).
MAX_ATTEMPTS = 6
RETRY_BASE = timedelta(minutes=1)
# A delivery claimed by a worker that died mid-send is taken up again after this long.
CLAIM_TIMEOUT = timedelta(minutes=5)
# The refresh runs every minute: two missed cycles at the least, a week at the most.
REFRESH_STOPPED_MINUTES_MIN, REFRESH_STOPPED_MINUTES_MAX = 2, 7 * 24 * 60
# 0 < percent <= 100 at the field's two decimal places.
EQUITY_DROP_PERCENT_MIN, EQUITY_DROP_PERCENT_MAX = Decimal("0.01"), Decimal("100")
# A risk rule's threshold (percent): more than 0, at most this. A margin ratio of 10,000 % is a
# hundred times the margin needed; a distance to liquidation is in percent of the mark price.
RISK_THRESHOLD_MAX = {"margin_ratio": Decimal(10_000), "liq_distance": Decimal(100)}
REMIND_EVERY_HOURS_MAX = 7 * 24
# A risk rule whose chosen accounts or channels were all deleted (RiskRule.left_empty).
NO_ACCOUNTS_LEFT = "no accounts left: edit this rule"
NO_CHANNELS_LEFT = "no channels left: edit this rule"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "e-mail"
    WEBHOOK = "webhook", "JSON webhook"
    SLACK = "slack", "Slack-compatible webhook"
    TELEGRAM = "telegram", "Telegram bot"


class AlertChannel(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=True)
    recipients = models.TextField(blank=True, help_text="E-mail: addresses, one per line or comma-separated.")
    chat_id = models.CharField("Telegram chat id", max_length=64, blank=True)
    api_base_url = models.URLField(
        "Telegram API base URL",
        blank=True,
        help_text=f"Telegram: blank for {DEFAULT_TELEGRAM_API}, or a compatible server.",
    )
    # "<key id>$<Fernet token>" like Credential's secrets; the hints are the last 4 characters.
    url_enc = models.TextField(blank=True, editable=False)
    token_enc = models.TextField(blank=True, editable=False)
    url_hint = models.CharField(max_length=HINT_LENGTH, blank=True, editable=False)
    token_hint = models.CharField(max_length=HINT_LENGTH, blank=True, editable=False)
    last_error = models.CharField(max_length=300, blank=True, editable=False)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "accounts_alertchannel"  # the table this model had in the accounts app
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def __repr__(self) -> str:
        return f"<AlertChannel {self.pk} {self.kind} {self.name!r}>"

    def set_url(self, url: str) -> None:
        self.url_enc, self.url_hint = crypto.encrypt(url), url[-HINT_LENGTH:]

    def set_token(self, token: str) -> None:
        self.token_enc, self.token_hint = crypto.encrypt(token), token[-HINT_LENGTH:]

    def secret_url(self) -> str:
        """Plaintext for the sender only (alerts/channels.py)."""
        return crypto.decrypt(self.url_enc)

    def secret_token(self) -> str:
        return crypto.decrypt(self.token_enc)

    @property
    def url_display(self) -> str:
        return f"set, ends …{self.url_hint}" if self.url_enc else "not set"

    @property
    def token_display(self) -> str:
        return f"set, ends …{self.token_hint}" if self.token_enc else "not set"

    def recipient_list(self) -> list[str]:
        return [r.strip() for r in self.recipients.replace(",", "\n").splitlines() if r.strip()]


class RiskKind(models.TextChoices):
    """What a RiskRule watches (snapshots.risk reads the figures; docs/valuation.md "Risk")."""

    MARGIN_RATIO = "margin_ratio", "margin ratio below"
    LIQ_DISTANCE = "liq_distance", "distance to liquidation below"
    FORCED_CLOSE = "forced_close", "liquidation or auto-deleveraging"


class Severity(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


class AlertRule(models.TextChoices):
    KEY_FAILING = "key_failing", "key failing"
    IDLE_DELETION = "idle_deletion", "idle deletion ahead"
    EXPIRES_SOON = "expires_soon", "key expires soon"
    ACCOUNT_STALE = "account_stale", "account stale"
    REFRESH_STOPPED = "refresh_stopped", "refresh stopped"
    # The value and the settings' field names are kept from the rule this one replaced (an equity
    # drop from the 24-hour high): stored alerts and settings keep working.
    EQUITY_DROP = "equity_drop", "loss over 24 h"
    # A key admin's RiskRule: one alert per (rule, account), or per (rule, closed position).
    MARGIN_RATIO = RiskKind.MARGIN_RATIO.value, "margin ratio low"
    LIQ_DISTANCE = RiskKind.LIQ_DISTANCE.value, "near liquidation"
    FORCED_CLOSE = RiskKind.FORCED_CLOSE.value, "liquidation or auto-deleveraging"


# (rule, its threshold's field, the unit after the value)
THRESHOLDS = (
    (AlertRule.REFRESH_STOPPED.value, "refresh_stopped_minutes", " minutes"),
    (AlertRule.EQUITY_DROP.value, "equity_drop_percent", " %"),
)


class AlertSettings(models.Model):
    """The rules' switches and thresholds: one row, created with the defaults on first use."""

    key_failing = models.BooleanField("a key turns failing", default=True)
    idle_deletion = models.BooleanField("idle deletion 3 days and 1 day ahead", default=True)
    expires_soon = models.BooleanField("expiry 7 days and 1 day ahead", default=True)
    account_stale = models.BooleanField("an account goes stale", default=True)
    refresh_stopped = models.BooleanField("the refresh as a whole stops", default=True)
    refresh_stopped_minutes = models.PositiveIntegerField(
        default=10,
        validators=[
            MinValueValidator(REFRESH_STOPPED_MINUTES_MIN),
            MaxValueValidator(REFRESH_STOPPED_MINUTES_MAX),
        ],
        help_text=(
            "No successful refresh of any account for this long "
            f"({REFRESH_STOPPED_MINUTES_MIN} to {REFRESH_STOPPED_MINUTES_MAX} minutes, a week)."
        ),
    )
    equity_drop = models.BooleanField("an account loses money over 24 h (net of transfers)", default=False)
    equity_drop_percent = models.DecimalField(
        "loss threshold (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("20"),
        validators=[MinValueValidator(EQUITY_DROP_PERCENT_MIN), MaxValueValidator(EQUITY_DROP_PERCENT_MAX)],
        help_text=(
            "Fires when an account's loss over the last 24 hours, net of deposits, withdrawals and "
            "transfers, is more than this many percent of its equity at the start of those 24 hours "
            f"(more than 0, at most {EQUITY_DROP_PERCENT_MAX})."
        ),
    )

    class Meta:
        db_table = "accounts_alertsettings"  # the table this model had in the accounts app
        verbose_name = verbose_name_plural = "alert rules"

    def __str__(self) -> str:
        return "Alert rules"

    @classmethod
    def load(cls) -> AlertSettings:
        row, _ = cls.objects.get_or_create(pk=1)
        return row

    def enabled(self, rule: str) -> bool:
        return bool(getattr(self, rule))

    def out_of_range(self) -> dict[str, str]:
        """The enabled rules whose threshold its field's validators refuse (a row written before
        they existed, or not through the admin), each with the reason, e.g.
        {"refresh_stopped": "the rule \"refresh stopped\" is skipped: its threshold 0 minutes is
        refused (…)"}. The alert run skips these rules rather than fail on them."""
        problems = {}
        for rule, name, unit in THRESHOLDS:
            value = getattr(self, name)
            threshold = cast(models.Field, self._meta.get_field(name))
            try:
                threshold.clean(value, self)
            except ValidationError as error:
                problems[rule] = (
                    f'the rule "{AlertRule(rule).label}" is skipped: its threshold {value}{unit} is refused '
                    f"({' '.join(m.rstrip('.') for m in error.messages)}); fix it under Admin, Alert rules"
                )
        return {rule: reason for rule, reason in problems.items() if self.enabled(rule)}


class RiskRule(models.Model):
    """A key admin's margin or liquidation rule (issue 20), evaluated with the others every
    minute (alerts/risk.py): per watched account, fire when its figure is below `threshold`
    percent, or, for forced_close, once per liquidation or auto-deleveraging in its positions
    history. It watches every active live account (`all_accounts`) or the chosen ones, and tells
    every enabled channel (`all_channels`) or the chosen ones: a choice emptied by deleting its
    accounts or channels means none, never all (left_empty() says so)."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=RiskKind.choices)
    threshold = models.DecimalField(
        "threshold (%)",
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=(
            "Margin ratio: fires below this many percent (OKX's mgnRatio; OKX liquidates as it nears "
            "100 %; the pages mark below 300 % and 150 %). Distance to liquidation: fires when an open "
            "position's mark price is within this many percent of its liquidation price. More than 0, "
            "at most 10,000 % (margin ratio) or 100 % (distance). Blank for liquidation or ADL."
        ),
    )
    all_accounts = models.BooleanField(
        "every active live account",
        default=True,
        help_text="Watch every active live account. Choosing accounts below turns this off.",
    )
    accounts = models.ManyToManyField(
        "accounts.Account",
        blank=True,
        related_name="risk_rules",
        help_text=(
            "The accounts to watch (demo-trading ones only this way). A deleted account leaves the "
            "rule; with none left it watches nothing."
        ),
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    all_channels = models.BooleanField(
        "every enabled channel",
        default=True,
        help_text="Tell every enabled channel. Choosing channels below turns this off.",
    )
    channels = models.ManyToManyField(
        AlertChannel,
        blank=True,
        related_name="risk_rules",
        help_text="The channels to tell. A deleted channel leaves the rule; with none left it tells nobody.",
    )
    remind_every_hours = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(REMIND_EVERY_HOURS_MAX)],
        help_text=f"Remind every this many hours while it fires (at most {REMIND_EVERY_HOURS_MAX}); 0 never.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "risk alert rule"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problem = self.threshold_problem()
        if problem:
            raise ValidationError({"threshold": problem})

    def threshold_problem(self) -> str:
        """ "" when the threshold suits the kind, else why not (the admin's error, and the reason
        the alert run skips a rule stored some other way)."""
        if self.kind == RiskKind.FORCED_CLOSE:
            return (
                ""
                if self.threshold is None
                else "A liquidation or ADL rule has no threshold: leave it blank."
            )
        top = RISK_THRESHOLD_MAX.get(self.kind)
        if top is None:
            return ""  # no kind yet: the kind field reports it
        if self.threshold is None:
            return f"Enter the threshold in percent (more than 0, at most {top:,} %)."
        if not 0 < self.threshold <= top:
            return f"The threshold must be more than 0 and at most {top:,} % (not {self.threshold} %)."
        return ""

    @property
    def remind_every(self) -> timedelta | None:
        return timedelta(hours=self.remind_every_hours) if self.remind_every_hours else None

    def left_empty(self) -> list[str]:
        """What the rule's choices have lost: NO_ACCOUNTS_LEFT when it watches chosen accounts
        and none is left, NO_CHANNELS_LEFT likewise for channels ([] when neither). For a saved
        rule (reads its choices, prefetched or not)."""
        empty = []
        if not self.all_accounts and not self.accounts.all():
            empty.append(NO_ACCOUNTS_LEFT)
        if not self.all_channels and not self.channels.all():
            empty.append(NO_CHANNELS_LEFT)
        return empty


class AlertRun(models.Model):
    """How the periodic alert run went (one row, pk 1), for /readyz, /metrics and the Alerts
    page. `error` is the exception's class name only: its message could quote anything."""

    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    ok = models.BooleanField(default=True)
    error = models.CharField(max_length=100, blank=True)
    skipped = models.JSONField(default=dict, blank=True, help_text="rule -> why it was skipped")
    last_ok_at = models.DateTimeField(null=True)
    runs = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "alert run"

    def __str__(self) -> str:
        return f"alert run {'ok' if self.ok else 'failed'} at {self.finished_at}"

    @classmethod
    def latest(cls) -> AlertRun | None:
        return cls.objects.filter(pk=1).first()

    @classmethod
    def record(
        cls, *, started: datetime, error: BaseException | None = None, skipped: dict[str, str] | None = None
    ) -> None:
        """Store one run's outcome: `error` the exception it failed with (None: it completed),
        `skipped` the rules it left out with why (AlertSettings.out_of_range)."""
        finished = timezone.now()
        fields: dict = {
            "started_at": started,
            "finished_at": finished,
            "ok": error is None,
            "error": type(error).__name__ if error is not None else "",
            "skipped": skipped or {},
            "runs": F("runs") + 1,
            "failures": F("failures") + (0 if error is None else 1),
        }
        if error is None:
            fields["last_ok_at"] = finished
        cls.objects.get_or_create(pk=1)
        cls.objects.filter(pk=1).update(**fields)

    def problem(self) -> str:
        """ "" when the last run completed with every enabled rule; otherwise what went wrong, in
        words for /readyz and the Alerts page (times in UTC)."""
        if not self.ok:
            when = f"{self.finished_at:%Y-%m-%d %H:%M:%S} UTC" if self.finished_at else "an unknown time"
            return f"the last alert run failed at {when} ({self.error}); see the worker log"
        return "; ".join(self.skipped.values())


class AlertState(models.TextChoices):
    FIRING = "firing", "firing"
    RESOLVED = "resolved", "resolved"


# Alerts about no account that tell of no account's figures, only of the system (the refresh
# stopped for every account): every team member sees them, desk-limited or not, since their own
# accounts' numbers go stale too. Any other alert without an account would be a team-level one
# (team figures): for users who see every account only.
SYSTEM_RULES = (AlertRule.REFRESH_STOPPED,)


class AlertQuerySet(models.QuerySet["Alert"]):
    def firing(self) -> AlertQuerySet:
        return self.filter(state=AlertState.FIRING)

    def visible_to(self, user: Any) -> AlertQuerySet:
        """The alerts `user` may see (accounts.desks): all of them for a user who sees every
        account; for a desk-limited one, those about an account of their desks, and the system's
        (SYSTEM_RULES). A credential's alert is about its account."""
        ids = visible_account_ids(user)
        if ids is None:
            return self
        return self.filter(Q(account__in=ids) | Q(account__isnull=True, rule__in=SYSTEM_RULES))

    def for_page(self, limit: int) -> list[Alert]:
        """Firing ones first, then newest first; deliveries and subjects loaded with them."""
        rows = self.select_related("account", "credential", "risk_rule").prefetch_related(
            "deliveries__channel"
        )
        order = models.Case(models.When(state=AlertState.FIRING, then=0), default=1)
        return list(rows.order_by(order, "-opened_at", "-pk")[:limit])


class Alert(models.Model):
    """One state of one subject under one rule. `stage` says how far it went (e.g. "3d" then
    "1d" before an idle deletion): a new stage notifies again, the same stage never does."""

    rule = models.CharField(max_length=20, choices=AlertRule.choices)
    subject = models.CharField(max_length=40, help_text='e.g. "credential:12", "account:3", "all"')
    stage = models.CharField(max_length=16, blank=True)
    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    credential = models.ForeignKey(
        "accounts.Credential", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    state = models.CharField(max_length=10, choices=AlertState.choices, default=AlertState.FIRING)
    title = models.CharField(max_length=200)
    message = models.TextField()
    opened_at = models.DateTimeField()
    changed_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=100, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)  # risk rules'
    risk_rule = models.ForeignKey(
        RiskRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    reminded_at = models.DateTimeField(null=True, blank=True)  # the last reminder (RiskRule's)
    # A near-liquidation alert's position as last judged, "BTC-USDT-SWAP long": only a forced
    # close of that position ends the alert quietly (alerts/risk.py).
    position = models.CharField(max_length=80, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        db_table = "accounts_alert"  # the table this model had in the accounts app
        ordering = ["-opened_at"]
        constraints = [
            # Two evaluations running at once cannot open the same alert twice.
            models.UniqueConstraint(
                fields=["rule", "subject"], condition=Q(state="firing"), name="one_firing_alert_per_subject"
            )
        ]
        indexes = [models.Index(fields=["state", "-opened_at"], name="alert_page_idx")]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject} {self.state}"


class DeliveryEvent(models.TextChoices):
    FIRING = "firing", "firing"
    RECOVERED = "recovered", "recovered"
    REMINDER = "reminder", "reminder"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    SENT = "sent", "sent"
    RETRYING = "retrying", "retrying"
    FAILED = "failed", "failed"


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def due(self, now: datetime) -> DeliveryQuerySet:
        waiting = Q(status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING), next_attempt_at__lte=now)
        abandoned = Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
        return self.filter(waiting | abandoned)


class Delivery(models.Model):
    """What one channel was (to be) told about one alert event. `error` never holds a URL, a
    token or a response body that echoes them (alerts/channels.py keeps them out)."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel_name = models.CharField(max_length=100)
    event = models.CharField(max_length=10, choices=DeliveryEvent.choices)
    subject = models.CharField(max_length=200)
    text = models.TextField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        db_table = "accounts_delivery"  # the table this model had in the accounts app
        ordering = ["created_at", "pk"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel_name}: {self.status}"

    def claim(self, now: datetime) -> bool:
        """Take this delivery for sending; False when another worker already has it (one
        conditional UPDATE, so two workers never send the same message)."""
        claimed = (
            Delivery.objects.due(now).filter(pk=self.pk).update(status=DeliveryStatus.SENDING, claimed_at=now)
        )
        return bool(claimed)

    def record(
        self, *, ok: bool, permanent: bool, http_status: int | None, error: str, now: datetime
    ) -> None:
        """Store one attempt's result; schedule the next attempt with exponential backoff."""
        self.attempts += 1
        self.http_status, self.error, self.claimed_at = http_status, error[:300], None
        if ok:
            self.status, self.sent_at, self.next_attempt_at = DeliveryStatus.SENT, now, None
        elif permanent or self.attempts >= MAX_ATTEMPTS:
            self.status, self.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            self.status = DeliveryStatus.RETRYING
            self.next_attempt_at = now + RETRY_BASE * 2 ** (self.attempts - 1)
        self.save(
            update_fields=[
                "attempts",
                "http_status",
                "error",
                "claimed_at",
                "status",
                "sent_at",
                "next_attempt_at",
            ]
        )


def new_delivery(alert: Alert, channel: AlertChannel, event: str, subject: str, text: str) -> Delivery:
    now = timezone.now()
    return Delivery(
        alert=alert,
        channel=channel,
        channel_name=channel.name,
        event=event,
        subject=subject[:200],
        text=text,
        created_at=now,
        next_attempt_at=now,
    )
