"""Delivery errors and channels' last errors stored before receivers' replies were checked for
secrets (issue 17.2) kept the reply with only the exact URL removed: "HTTP 404: Cannot POST
/hooks/<token>". Keep only the status, as today's product message."""

import re

from django.db import migrations

STORED_REPLY = re.compile(r"^HTTP (\d{3}):")


def _drop_replies(apps, schema_editor):
    for model, column in (("Delivery", "error"), ("AlertChannel", "last_error")):
        rows = apps.get_model("alerts", model).objects.filter(**{f"{column}__startswith": "HTTP "})
        for row in rows.only("pk", column):
            match = STORED_REPLY.match(getattr(row, column))
            if match:
                setattr(row, column, f"receiver answered HTTP {match.group(1)}")
                row.save(update_fields=[column])


class Migration(migrations.Migration):
    dependencies = [("alerts", "0002_settings_ranges_and_alert_run")]

    operations = [migrations.RunPython(_drop_replies, migrations.RunPython.noop)]
