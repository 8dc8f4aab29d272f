"""A sentinel credential set goes through add, a refused check, rotation, retirement and deletion;
afterwards no table, log line or rendered page holds any of its values, raw or base64."""

from __future__ import annotations

import base64
import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accounts.audit import AuditAction, AuditEvent
from accounts.models import Account, Credential
from tests.accounts_support import make_user, register_key

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def sentinel_set(n: int) -> dict[str, str]:
    return {
        "api_key": f"FAKESENT-INEL-AKEY-0000-{n:012d}",
        "secret_key": f"FAKESECRETSENTINEL{n:014d}",
        "passphrase": f"Fake-Sentinel-Pass-{n:04d}",
    }


def forms_of(value: str) -> list[str]:
    raw = value.encode()
    encoded = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return [value, *encoded, *(e.rstrip("=") for e in encoded)]


def every_row_of_every_table() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from introspection)
            chunks.append(f"{table}: {cursor.fetchall()!r}")
    return "\n".join(chunks)


class Pages:
    """A test client that keeps every page it was sent."""

    def __init__(self, client):
        self.client = client
        self.seen: list[str] = []

    def get(self, url: str, **kwargs):
        return self._keep(self.client.get(url, follow=True, **kwargs))

    def post(self, url: str, data: dict, **kwargs):
        return self._keep(self.client.post(url, data, follow=True, **kwargs))

    def _keep(self, response):
        for hop in [*getattr(response, "redirect_chain", [])]:
            self.seen.append(str(hop))
        self.seen.append(response.content.decode())
        return response


def test_sentinel_secrets_never_reach_the_database_logs_or_pages(client, simulator, caplog):
    caplog.set_level(logging.DEBUG)
    first, second = sentinel_set(1), sentinel_set(2)
    master_uid = simulator.scenario.master.uid
    register_key(simulator, master_uid, first)
    register_key(simulator, master_uid, second)
    client.force_login(make_user("key_admin"), backend=MODEL_BACKEND)
    pages = Pages(client)

    # add
    pages.get(reverse("admin:accounts_account_add"))
    form = {
        "name": "main",
        "kind": "master",
        "environment": "live",
        "region": "global",
        "base_url": simulator.url,
    }
    response = pages.post(reverse("admin:accounts_account_add"), {**form, **first})
    assert response.status_code == 200
    account = Account.objects.get(name="main")
    pages.get(reverse("admin:accounts_account_change", args=[account.pk]))

    # a refused check (the first set's passphrase with the second key), then the rotation
    rotate_url = reverse("admin:accounts_account_rotate", args=[account.pk])
    pages.get(rotate_url)
    refused = pages.post(rotate_url, {"password": "correct-horse-battery-staple-9", **second,
                                      "passphrase": first["passphrase"]})  # fmt: skip
    assert "Refused (passphrase)" in refused.content.decode()
    done = pages.post(rotate_url, {"password": "correct-horse-battery-staple-9", **second})
    assert "Now delete the old key" in done.content.decode()
    account.build_client().get_balance()  # a worker's call with the stored secrets

    # retire, then delete the retired credential sets
    credentials = reverse("admin:accounts_credential_changelist")
    pages.get(credentials)
    active = account.active_credential()
    pages.get(reverse("admin:accounts_credential_change", args=[active.pk]))
    pages.post(credentials, {"action": "retire_selected", "_selected_action": [active.pk]})
    retired = list(Credential.objects.values_list("pk", flat=True))
    pages.post(credentials, {"action": "delete_selected", "_selected_action": retired, "post": "yes"})
    assert not Credential.objects.exists()
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    pages.get(reverse("admin:accounts_auditevent_changelist"))

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditAction.CREDENTIAL_ADD, AuditAction.VALIDATION_FAILED, AuditAction.CREDENTIAL_ROTATE,
            AuditAction.CREDENTIAL_RETIRE, AuditAction.CREDENTIAL_DELETE} <= actions  # fmt: skip

    places = {
        "database": every_row_of_every_table(),
        "logs": caplog.text + "\n".join(str(r.args) for r in caplog.records),
        "pages": "\n".join(pages.seen) + out.getvalue(),
    }
    assert "FAKESENT" not in places["database"]  # the checks below can fail: the key appears raw
    assert "…0001" in places["pages"] and "…0002" in places["database"]
    for value in [*first.values(), *second.values()]:
        for form_of_value in forms_of(value):
            for place, text in places.items():
                assert form_of_value not in text, f"a sentinel ({value[:4]}…) appears in the {place}"


def test_the_sentinel_check_would_notice_a_leak(client):
    """The dump really covers the tables the secrets could reach."""
    user = make_user("key_admin")
    user.first_name = sentinel_set(3)["passphrase"]
    user.save()
    assert sentinel_set(3)["passphrase"] in every_row_of_every_table()
    AuditEvent.record(AuditAction.LOGIN_FAILURE, actor_name=forms_of(sentinel_set(3)["api_key"])[1][:150])
    assert forms_of(sentinel_set(3)["api_key"])[1] in every_row_of_every_table()
