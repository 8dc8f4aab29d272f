"""Snapshots move here from the dashboard app: state only, their tables (dashboard_*) stay."""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ["snapshot", "balanceline", "positionline"]


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def _move_content_types(apps, schema_editor):
    """Admin log entries and any permission granted on these models keep pointing at them."""
    _relabel(apps, "dashboard", "snapshots")


def _move_content_types_back(apps, schema_editor):
    _relabel(apps, "snapshots", "dashboard")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0004_alerts"),
        ("dashboard", "0002_reports"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    state_operations = [
        migrations.CreateModel(
            name="Snapshot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("cycle", models.BigIntegerField()),
                ("taken_at", models.DateTimeField()),
                (
                    "total_equity_usd",
                    models.DecimalField(
                        blank=True,
                        decimal_places=18,
                        max_digits=38,
                        null=True,
                        verbose_name="total equity (USD)",
                    ),
                ),
                (
                    "trading_equity_usd",
                    models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True),
                ),
                (
                    "funding_usd",
                    models.DecimalField(
                        blank=True,
                        decimal_places=18,
                        max_digits=38,
                        null=True,
                        verbose_name="funding value (USD, priced currencies)",
                    ),
                ),
                ("unpriced_funding", models.JSONField(blank=True, default=list)),
                (
                    "via_master",
                    models.BooleanField(
                        default=False, help_text="Read through the master's key: no positions."
                    ),
                ),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="snapshots",
                        to="accounts.account",
                    ),
                ),
            ],
            options={
                "db_table": "dashboard_snapshot",
                "ordering": ["-taken_at"],
            },
        ),
        migrations.CreateModel(
            name="PositionLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("inst_id", models.CharField(max_length=64)),
                ("inst_type", models.CharField(max_length=16)),
                ("side", models.CharField(help_text="posSide: long, short or net.", max_length=8)),
                ("size", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                ("avg_price", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                ("mark_price", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                (
                    "upl",
                    models.DecimalField(
                        blank=True, decimal_places=18, max_digits=38, null=True, verbose_name="unrealised PnL"
                    ),
                ),
                ("upl_ratio", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                ("leverage", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                ("liq_price", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                ("margin_mode", models.CharField(max_length=16)),
                (
                    "notional_usd",
                    models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True),
                ),
                (
                    "snapshot",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="positions",
                        to="snapshots.snapshot",
                    ),
                ),
            ],
            options={
                "db_table": "dashboard_positionline",
                "ordering": ["inst_id"],
            },
        ),
        migrations.CreateModel(
            name="BalanceLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "wallet",
                    models.CharField(
                        choices=[("trading", "trading account"), ("funding", "funding account")], max_length=8
                    ),
                ),
                ("ccy", models.CharField(max_length=32)),
                ("equity", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                ("usd_value", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                ("available", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                ("frozen", models.DecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                (
                    "snapshot",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="balances",
                        to="snapshots.snapshot",
                    ),
                ),
            ],
            options={
                "db_table": "dashboard_balanceline",
                "ordering": ["wallet", "ccy"],
            },
        ),
        migrations.AddIndex(
            model_name="snapshot",
            index=models.Index(fields=["account", "taken_at"], name="snapshot_history_idx"),
        ),
        migrations.AddConstraint(
            model_name="snapshot",
            constraint=models.UniqueConstraint(fields=("account", "cycle"), name="one_snapshot_per_cycle"),
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
        migrations.RunPython(_move_content_types, _move_content_types_back),
    ]
