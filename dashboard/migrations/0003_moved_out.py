"""Snapshots and reports now belong to their own apps (state only; the tables stay)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0002_reports"),
        ("snapshots", "0001_initial"),
        ("reports", "0001_initial"),
    ]

    state_operations = [
        migrations.RemoveField(
            model_name="positionline",
            name="snapshot",
        ),
        migrations.RemoveField(
            model_name="report",
            name="schedule",
        ),
        migrations.RemoveField(
            model_name="reportschedule",
            name="accounts",
        ),
        migrations.RemoveField(
            model_name="snapshot",
            name="account",
        ),
        migrations.DeleteModel(
            name="BalanceLine",
        ),
        migrations.DeleteModel(
            name="PositionLine",
        ),
        migrations.DeleteModel(
            name="Report",
        ),
        migrations.DeleteModel(
            name="ReportSchedule",
        ),
        migrations.DeleteModel(
            name="Snapshot",
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
