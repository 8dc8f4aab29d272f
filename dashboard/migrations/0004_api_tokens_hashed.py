"""API tokens move from DRF's authtoken table (plain text) to django-rest-knox (SHA-512 digests).

Every existing token is hashed into knox's table, so scripts keep working with the token they
have; then DRF's table is dropped, so no plain token is left in the database. DRF's admin log
rows named a token by its key (its primary key and its str()); those rows are kept, without it.
Knox hashes a token as SHA-512 of its UTF-8 bytes; the digest is computed here with hashlib so
this migration does not change if knox's settings do (tests/test_api_tokens.py checks that a
migrated token signs in).
"""

import hashlib
from datetime import UTC

from django.db import migrations, models
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

DRF_TABLE = "authtoken_token"
KNOX_LOOKUP_LENGTH = 15  # knox.settings.CONSTANTS.TOKEN_KEY_LENGTH


def hash_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if DRF_TABLE in connection.introspection.table_names():
        AuthToken = apps.get_model("knox", "AuthToken")
        with connection.cursor() as cursor:
            columns = f"{_q(schema_editor, 'key')}, user_id, created"
            cursor.execute(f"SELECT {columns} FROM {_q(schema_editor, DRF_TABLE)}")  # noqa: S608 (constant names)
            old = cursor.fetchall()
        for key, user_id, created in old:
            created = models.DateTimeField().to_python(created)  # a string on some SQLite builds
            if timezone.is_naive(created):  # Django keeps UTC without an offset on SQLite
                created = timezone.make_aware(created, UTC)
            digest = hashlib.sha512(key.encode()).hexdigest()
            AuthToken.objects.create(
                digest=digest, token_key=key[:KNOX_LOOKUP_LENGTH], user_id=user_id, expiry=None
            )
            AuthToken.objects.filter(digest=digest).update(created=created)  # auto_now_add set now
        schema_editor.execute(f"DROP TABLE {_q(schema_editor, DRF_TABLE)}")
    # Re-adding rest_framework.authtoken one day must create its table afresh.
    MigrationRecorder(connection).migration_qs.filter(app="authtoken").delete()
    ContentType = apps.get_model("contenttypes", "ContentType")
    LogEntry = apps.get_model("admin", "LogEntry")
    drf_types = ContentType.objects.filter(app_label="authtoken")
    LogEntry.objects.filter(content_type__in=drf_types).update(object_id="", object_repr="API token")
    drf_types.delete()  # and their permissions; the log rows keep their action, without a type


def _q(schema_editor, name):
    return schema_editor.quote_name(name)


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0003_moved_out"),
        ("knox", "0009_extend_authtoken_field"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[],
            options={"verbose_name": "API token", "proxy": True, "indexes": [], "constraints": []},
            bases=("knox.authtoken",),
        ),
        # Irreversible in substance (a digest cannot give the token back); going back keeps knox's rows.
        migrations.RunPython(hash_drf_tokens, migrations.RunPython.noop),
    ]
