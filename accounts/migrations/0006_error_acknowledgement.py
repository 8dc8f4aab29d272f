"""Acknowledgements that last: one per account and error kind (category + OKX code), until the
kind recovers or a snooze ends (accounts.history.ErrorAcknowledgement)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_alerts_moved_out"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ErrorAcknowledgement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("category", models.CharField(max_length=32)),
                ("code", models.CharField(blank=True, max_length=16, verbose_name="OKX code")),
                ("at", models.DateTimeField()),
                ("until", models.DateTimeField(blank=True, help_text="empty: until it recovers", null=True)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="error_acknowledgements",
                        to="accounts.account",
                    ),
                ),
                (
                    "by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "category", "code"), name="one_acknowledgement_per_kind"
                    )
                ],
            },
        ),
    ]
