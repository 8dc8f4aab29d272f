"""The alert models now belong to the alerts app (state only; the tables stay)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_alerts"),
        ("alerts", "0001_initial"),
    ]

    state_operations = [
        migrations.RemoveField(
            model_name="alert",
            name="account",
        ),
        migrations.RemoveField(
            model_name="alert",
            name="credential",
        ),
        migrations.RemoveField(
            model_name="delivery",
            name="alert",
        ),
        migrations.RemoveField(
            model_name="delivery",
            name="channel",
        ),
        migrations.DeleteModel(
            name="AlertSettings",
        ),
        migrations.DeleteModel(
            name="Alert",
        ),
        migrations.DeleteModel(
            name="AlertChannel",
        ),
        migrations.DeleteModel(
            name="Delivery",
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
