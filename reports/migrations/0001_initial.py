"""Reports move here from the dashboard app: state only, their tables (dashboard_*) stay."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

MOVED = ["reportschedule", "report"]


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def _move_content_types(apps, schema_editor):
    """Admin log entries and any permission granted on these models keep pointing at them."""
    _relabel(apps, "dashboard", "reports")


def _move_content_types_back(apps, schema_editor):
    _relabel(apps, "reports", "dashboard")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0004_alerts"),
        ("dashboard", "0002_reports"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    state_operations = [
        migrations.CreateModel(
            name="ReportSchedule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                (
                    "cadence",
                    models.CharField(
                        choices=[("daily", "daily"), ("weekly", "weekly"), ("monthly", "monthly")],
                        default="daily",
                        max_length=8,
                    ),
                ),
                ("time_of_day", models.TimeField(help_text="Local time in the schedule's time zone.")),
                (
                    "weekday",
                    models.PositiveSmallIntegerField(
                        blank=True,
                        choices=[
                            (0, "Monday"),
                            (1, "Tuesday"),
                            (2, "Wednesday"),
                            (3, "Thursday"),
                            (4, "Friday"),
                            (5, "Saturday"),
                            (6, "Sunday"),
                        ],
                        help_text="Weekly reports only.",
                        null=True,
                    ),
                ),
                (
                    "day_of_month",
                    models.PositiveSmallIntegerField(
                        blank=True,
                        help_text="Monthly only, 1-31; a shorter month reports on its last day.",
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(31),
                        ],
                    ),
                ),
                (
                    "time_zone",
                    models.CharField(
                        default="UTC", help_text="IANA name, e.g. Europe/Berlin.", max_length=64
                    ),
                ),
                (
                    "recipients",
                    models.TextField(help_text="E-mail addresses, one per line or separated by commas."),
                ),
                (
                    "all_accounts",
                    models.BooleanField(
                        default=True, help_text="Every active account, including ones added later."
                    ),
                ),
                (
                    "currency",
                    models.CharField(
                        default="USD",
                        help_text="USD, or a currency the stored balances price in USD (e.g. BTC).",
                        max_length=16,
                        verbose_name="currency of presentation",
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "accounts",
                    models.ManyToManyField(
                        blank=True,
                        help_text="Used when 'all accounts' is off.",
                        related_name="report_schedules",
                        to="accounts.account",
                    ),
                ),
            ],
            options={
                "db_table": "dashboard_reportschedule",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="Report",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("schedule_name", models.CharField(max_length=100)),
                ("time_zone", models.CharField(max_length=64)),
                (
                    "slot",
                    models.DateTimeField(
                        help_text="The report time (UTC); its numbers are as of this moment."
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                            ("sending", "sending"),
                            ("sent", "sent"),
                            ("failed", "failed"),
                            ("skipped", "skipped"),
                        ],
                        default="pending",
                        max_length=8,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                ("claimed_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("recipients", models.TextField(blank=True)),
                ("currency", models.CharField(default="USD", max_length=16)),
                ("stale_accounts", models.JSONField(blank=True, default=list)),
                ("totals", models.JSONField(blank=True, default=dict, help_text="Decimal strings.")),
                ("subject", models.CharField(blank=True, max_length=200)),
                ("html", models.TextField(blank=True)),
                ("text", models.TextField(blank=True)),
                ("csv", models.TextField(blank=True)),
                (
                    "schedule",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="reports",
                        to="reports.reportschedule",
                    ),
                ),
            ],
            options={
                "db_table": "dashboard_report",
                "ordering": ["-slot", "-pk"],
                "constraints": [
                    models.UniqueConstraint(fields=("schedule", "slot"), name="one_report_per_slot")
                ],
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
        migrations.RunPython(_move_content_types, _move_content_types_back),
    ]
