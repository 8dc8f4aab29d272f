"""Issue 20: the key admins' margin and liquidation rules (RiskRule: every account or the chosen
ones, every channel or the chosen ones); an alert carries its risk rule, severity, last reminder
and, near liquidation, its position; deliveries may be reminders."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_account_constraint_messages_host_change"),
        ("alerts", "0004_loss_rule_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="reminded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="alert",
            name="position",
            field=models.CharField(blank=True, max_length=80),
        ),
        migrations.AddField(
            model_name="alert",
            name="severity",
            field=models.CharField(
                blank=True,
                choices=[("info", "info"), ("warning", "warning"), ("critical", "critical")],
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="alert",
            name="rule",
            field=models.CharField(
                choices=[
                    ("key_failing", "key failing"),
                    ("idle_deletion", "idle deletion ahead"),
                    ("expires_soon", "key expires soon"),
                    ("account_stale", "account stale"),
                    ("refresh_stopped", "refresh stopped"),
                    ("equity_drop", "loss over 24 h"),
                    ("margin_ratio", "margin ratio low"),
                    ("liq_distance", "near liquidation"),
                    ("forced_close", "liquidation or auto-deleveraging"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="event",
            field=models.CharField(
                choices=[("firing", "firing"), ("recovered", "recovered"), ("reminder", "reminder")],
                max_length=10,
            ),
        ),
        migrations.CreateModel(
            name="RiskRule",
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
                            ("margin_ratio", "margin ratio below"),
                            ("liq_distance", "distance to liquidation below"),
                            ("forced_close", "liquidation or auto-deleveraging"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "threshold",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        help_text=(
                            "Margin ratio: fires below this many percent (OKX's mgnRatio; OKX "
                            "liquidates as it nears 100 %; the pages mark below 300 % and 150 %). "
                            "Distance to liquidation: fires when an open position's mark price is "
                            "within this many percent of its liquidation price. More than 0, at "
                            "most 10,000 % (margin ratio) or 100 % (distance). Blank for "
                            "liquidation or ADL."
                        ),
                        max_digits=7,
                        null=True,
                        verbose_name="threshold (%)",
                    ),
                ),
                (
                    "all_accounts",
                    models.BooleanField(
                        default=True,
                        help_text="Watch every active live account. Choosing accounts below turns this off.",
                        verbose_name="every active live account",
                    ),
                ),
                (
                    "severity",
                    models.CharField(
                        choices=[("info", "info"), ("warning", "warning"), ("critical", "critical")],
                        default="warning",
                        max_length=10,
                    ),
                ),
                (
                    "all_channels",
                    models.BooleanField(
                        default=True,
                        help_text="Tell every enabled channel. Choosing channels below turns this off.",
                        verbose_name="every enabled channel",
                    ),
                ),
                (
                    "remind_every_hours",
                    models.PositiveSmallIntegerField(
                        default=0,
                        help_text="Remind every this many hours while it fires (at most 168); 0 never.",
                        validators=[django.core.validators.MaxValueValidator(168)],
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "accounts",
                    models.ManyToManyField(
                        blank=True,
                        help_text=(
                            "The accounts to watch (demo-trading ones only this way). A deleted account "
                            "leaves the rule; with none left it watches nothing."
                        ),
                        related_name="risk_rules",
                        to="accounts.account",
                    ),
                ),
                (
                    "channels",
                    models.ManyToManyField(
                        blank=True,
                        help_text=(
                            "The channels to tell. A deleted channel leaves the rule; with none left it "
                            "tells nobody."
                        ),
                        related_name="risk_rules",
                        to="alerts.alertchannel",
                    ),
                ),
            ],
            options={
                "verbose_name": "risk alert rule",
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="alert",
            name="risk_rule",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="alerts",
                to="alerts.riskrule",
            ),
        ),
    ]
