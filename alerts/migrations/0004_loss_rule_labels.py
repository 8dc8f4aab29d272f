"""Issue 19: the equity-drop rule became a loss rule on PnL net of transfers. The stored value
("equity_drop") and the settings' fields stay; only their labels and help text change."""

from decimal import Decimal

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_drop_stored_receiver_replies"),
    ]

    operations = [
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
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="alertsettings",
            name="equity_drop",
            field=models.BooleanField(
                default=False, verbose_name="an account loses money over 24 h (net of transfers)"
            ),
        ),
        migrations.AlterField(
            model_name="alertsettings",
            name="equity_drop_percent",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("20"),
                help_text=(
                    "Fires when an account's loss over the last 24 hours, net of deposits, withdrawals "
                    "and transfers, is more than this many percent of its equity at the start of those "
                    "24 hours (more than 0, at most 100)."
                ),
                max_digits=5,
                validators=[
                    django.core.validators.MinValueValidator(Decimal("0.01")),
                    django.core.validators.MaxValueValidator(Decimal("100")),
                ],
                verbose_name="loss threshold (%)",
            ),
        ),
    ]
