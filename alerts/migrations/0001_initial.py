"""The alert models move here from the accounts app: state only, their tables (accounts_*) stay."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models

MOVED = ["alertchannel", "alertsettings", "alert", "delivery"]


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def _move_content_types(apps, schema_editor):
    """Admin log entries and any permission granted on these models keep pointing at them."""
    _relabel(apps, "accounts", "alerts")


def _move_content_types_back(apps, schema_editor):
    _relabel(apps, "alerts", "accounts")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0004_alerts"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    state_operations = [
        migrations.CreateModel(
            name="AlertChannel",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("email", "e-mail"),
                            ("webhook", "JSON webhook"),
                            ("slack", "Slack-compatible webhook"),
                            ("telegram", "Telegram bot"),
                        ],
                        max_length=10,
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                (
                    "recipients",
                    models.TextField(
                        blank=True, help_text="E-mail: addresses, one per line or comma-separated."
                    ),
                ),
                ("chat_id", models.CharField(blank=True, max_length=64, verbose_name="Telegram chat id")),
                (
                    "api_base_url",
                    models.URLField(
                        blank=True,
                        help_text="Telegram: blank for https://api.telegram.org, or a compatible server.",
                        verbose_name="Telegram API base URL",
                    ),
                ),
                ("url_enc", models.TextField(blank=True, editable=False)),
                ("token_enc", models.TextField(blank=True, editable=False)),
                ("url_hint", models.CharField(blank=True, editable=False, max_length=4)),
                ("token_hint", models.CharField(blank=True, editable=False, max_length=4)),
                ("last_error", models.CharField(blank=True, editable=False, max_length=300)),
                ("last_sent_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "db_table": "accounts_alertchannel",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="AlertSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key_failing", models.BooleanField(default=True, verbose_name="a key turns failing")),
                (
                    "idle_deletion",
                    models.BooleanField(default=True, verbose_name="idle deletion 3 days and 1 day ahead"),
                ),
                (
                    "expires_soon",
                    models.BooleanField(default=True, verbose_name="expiry 7 days and 1 day ahead"),
                ),
                ("account_stale", models.BooleanField(default=True, verbose_name="an account goes stale")),
                (
                    "refresh_stopped",
                    models.BooleanField(default=True, verbose_name="the refresh as a whole stops"),
                ),
                (
                    "refresh_stopped_minutes",
                    models.PositiveIntegerField(
                        default=10, help_text="No successful refresh of any account for this long."
                    ),
                ),
                ("equity_drop", models.BooleanField(default=False, verbose_name="an account's equity drops")),
                (
                    "equity_drop_percent",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("20"),
                        help_text="Fires when equity is this many percent below its 24-hour high.",
                        max_digits=5,
                    ),
                ),
            ],
            options={
                "verbose_name": "alert rules",
                "verbose_name_plural": "alert rules",
                "db_table": "accounts_alertsettings",
            },
        ),
        migrations.CreateModel(
            name="Alert",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "rule",
                    models.CharField(
                        choices=[
                            ("key_failing", "key failing"),
                            ("idle_deletion", "idle deletion ahead"),
                            ("expires_soon", "key expires soon"),
                            ("account_stale", "account stale"),
                            ("refresh_stopped", "refresh stopped"),
                            ("equity_drop", "equity drop"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "subject",
                    models.CharField(help_text='e.g. "credential:12", "account:3", "all"', max_length=40),
                ),
                ("stage", models.CharField(blank=True, max_length=16)),
                (
                    "state",
                    models.CharField(
                        choices=[("firing", "firing"), ("resolved", "resolved")],
                        default="firing",
                        max_length=10,
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("message", models.TextField()),
                ("opened_at", models.DateTimeField()),
                ("changed_at", models.DateTimeField()),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                ("resolution", models.CharField(blank=True, max_length=100)),
                (
                    "account",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alerts",
                        to="accounts.account",
                    ),
                ),
                (
                    "credential",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="alerts",
                        to="accounts.credential",
                    ),
                ),
            ],
            options={
                "db_table": "accounts_alert",
                "ordering": ["-opened_at"],
            },
        ),
        migrations.CreateModel(
            name="Delivery",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("channel_name", models.CharField(max_length=100)),
                (
                    "event",
                    models.CharField(
                        choices=[("firing", "firing"), ("recovered", "recovered")], max_length=10
                    ),
                ),
                ("subject", models.CharField(max_length=200)),
                ("text", models.TextField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                            ("sending", "sending"),
                            ("sent", "sent"),
                            ("retrying", "retrying"),
                            ("failed", "failed"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("http_status", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("error", models.CharField(blank=True, max_length=300)),
                ("created_at", models.DateTimeField()),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("claimed_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "alert",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="alerts.alert",
                    ),
                ),
                (
                    "channel",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="deliveries",
                        to="alerts.alertchannel",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "deliveries",
                "db_table": "accounts_delivery",
                "ordering": ["created_at", "pk"],
            },
        ),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(fields=["state", "-opened_at"], name="alert_page_idx"),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state", "firing")),
                fields=("rule", "subject"),
                name="one_firing_alert_per_subject",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
        migrations.RunPython(_move_content_types, _move_content_types_back),
    ]
