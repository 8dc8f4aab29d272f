"""API tokens are stored as digests only (issue 17, finding 8): the token is shown once by
`manage.py api_token`, the database never holds it, it still signs a script in with the same
header, and tokens made by the previous release (DRF's plain-text table) are hashed on migrate."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from knox.models import AuthToken

from tests.accounts_support import make_user
from tests.api_support import make_world

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def new_token(username: str, *args: str) -> str:
    out = io.StringIO()
    call_command("api_token", username, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def database_text() -> str:
    """Every row of every table, as text: what someone with a copy of the database could read."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (introspected names)
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)


def status(client, token: str) -> int:
    return client.get(reverse("api:accounts"), HTTP_AUTHORIZATION=f"Token {token}").status_code


def test_the_database_holds_no_token_only_its_digest(client):
    make_world()
    user = make_user("viewer")
    token = new_token(user.username)
    assert len(token) == 64
    stored = AuthToken.objects.get(user=user)
    assert stored.expiry is None  # it lasts until rotated or deleted, as before
    assert token not in database_text()
    assert token not in repr(stored) and token not in str(stored)
    assert status(client, token) == 200


def test_a_wrong_token_is_refused_with_401_even_with_the_right_lookup_prefix(client):
    make_world()
    token = new_token(make_user("viewer").username)
    last = "0" if token[-1] != "0" else "1"
    for wrong in (token[:-1] + last, token[:15] + "f" * 49, "f" * 40, token[:15]):
        response = client.get(reverse("api:accounts"), HTTP_AUTHORIZATION=f"Token {wrong}")
        assert response.status_code == 401, wrong
        assert response["WWW-Authenticate"] == "Token"
    assert status(client, token) == 200


def test_a_rotated_token_stops_working_and_a_deleted_one_too(client):
    make_world()
    user = make_user("operator")
    old = new_token(user.username)
    new = new_token(user.username, "--rotate")
    assert (status(client, old), status(client, new)) == (401, 200)
    AuthToken.objects.filter(user=user).delete()
    assert status(client, new) == 401


# -- the admin: whose token, since when; never the token or its lookup prefix --------------------
def test_key_admins_see_and_revoke_tokens_in_the_admin_without_any_token_material(client):
    make_world()
    owner = make_user("viewer")
    token = new_token(owner.username)
    stored = AuthToken.objects.get(user=owner)
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    listing = client.get(reverse("admin:dashboard_apitoken_changelist"))
    assert listing.status_code == 200 and owner.username in listing.content.decode()
    assert client.get(reverse("admin:dashboard_apitoken_add")).status_code == 403
    delete_url = reverse("admin:dashboard_apitoken_delete", args=[stored.pk])
    confirm = client.get(delete_url)
    pages = listing.content.decode() + confirm.content.decode()
    # The row's id in the admin's URLs is knox's digest: one-way, and no key to the API itself.
    assert token not in pages and stored.token_key not in pages
    assert status(client, stored.digest) == 401
    assert client.post(delete_url, {"post": "yes"}).status_code == 302
    assert status(client, token) == 401
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert owner.username in entry.object_repr and stored.digest not in entry.object_repr


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_other_roles_do_not_see_the_tokens_in_the_admin(client, role):
    client.force_login(make_user(role), backend=MODEL_BACKEND)
    assert client.get(reverse("admin:dashboard_apitoken_changelist")).status_code == 403


# -- the previous release's plain tokens ---------------------------------------------------------
OLD_TOKEN = "0123456789abcdef0123456789abcdef01234567"  # DRF's shape: 40 hex characters
OLD_CREATED = datetime(2026, 11, 20, 8, 30, 15, tzinfo=UTC)


def _migrate(targets: list[tuple[str, str]] | None = None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_hashing(transactional_db) -> Iterator[None]:
    """The database as the previous release left it: before dashboard 0004, with DRF's table."""
    ContentType.objects.clear_cache()
    try:
        _migrate([("dashboard", "0003_moved_out")])
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")
        _migrate()
        ContentType.objects.clear_cache()


def _old_release_token(user_id: int) -> None:
    """DRF's authtoken table and row, and the admin log row that named the token by its key."""
    created_type = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    with connection.cursor() as cursor:
        cursor.execute(
            'CREATE TABLE authtoken_token ("key" varchar(40) NOT NULL PRIMARY KEY, '
            f'"created" {created_type} NOT NULL, "user_id" integer NOT NULL UNIQUE)'
        )
        cursor.execute(
            'INSERT INTO authtoken_token ("key", "created", "user_id") VALUES (%s, %s, %s)',
            [OLD_TOKEN, OLD_CREATED, user_id],
        )
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, %s)",
            ["authtoken", "0001_initial", OLD_CREATED],
        )
    drf_type = ContentType.objects.create(app_label="authtoken", model="token")
    LogEntry.objects.create(
        user_id=user_id, content_type=drf_type, object_id=OLD_TOKEN, object_repr=OLD_TOKEN, action_flag=1
    )


def test_migrating_hashes_the_old_plain_tokens_and_they_keep_working(before_hashing, client):
    make_world()
    user = make_user("viewer")
    _old_release_token(user.pk)
    assert OLD_TOKEN in database_text()
    _migrate()
    assert OLD_TOKEN not in database_text()
    assert "authtoken_token" not in connection.introspection.table_names()
    stored = AuthToken.objects.get(user=user)
    assert stored.created == OLD_CREATED and stored.expiry is None
    assert status(client, OLD_TOKEN) == 200
    assert LogEntry.objects.get().object_repr == "API token"
