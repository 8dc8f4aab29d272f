"""No copy of a team's figures is kept by a browser or a proxy (issue 17, finding 8): pages, the
JSON API, the API's CSVs and the report CSVs answer `Cache-Control: no-store`, whether the reader
signed in with a session or a token. Every other URL is checked in test_security_access.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from reports import delivery
from reports.models import Report
from snapshots.models import Wallet
from tests.accounts_support import make_user
from tests.api_support import client_as, make_world
from tests.test_reports import make_account, make_schedule, make_snapshot

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def assert_no_store(response) -> None:
    assert response.status_code == 200, response.status_code
    assert "no-store" in response["Cache-Control"]


def test_a_signed_in_page_is_not_stored(client):
    world = make_world()
    client.force_login(make_user("viewer"), backend=MODEL_BACKEND)
    for url in ("/", reverse("pages:account", args=[world.master.pk]), "/keys/", "/errors/"):
        assert_no_store(client.get(url))


@pytest.mark.parametrize("token", [True, False], ids=["token", "session"])
def test_api_json_and_csv_are_not_stored(client, token):
    world = make_world()
    client = client_as(client, "viewer", token=token)
    json = client.get(reverse("api:accounts"))
    assert json["Content-Type"] == "application/json"
    assert_no_store(json)
    csv = client.get(reverse("api:balances_csv", args=[world.master.pk]))
    assert csv["Content-Type"].startswith("text/csv")
    assert_no_store(csv)
    assert_no_store(client.get(reverse("api:accounts_csv")))


def test_report_csvs_are_not_stored(client):
    account = make_account("Fake desk")
    slot = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    make_snapshot(account, slot - timedelta(seconds=20), [(Wallet.TRADING, "USDT", "123.45", "123.45")])
    delivery.deliver_slot(make_schedule(time_zone="UTC").pk, slot)
    client.force_login(make_user("viewer"), backend=MODEL_BACKEND)
    stored = client.get(reverse("reports:csv", args=[Report.objects.get().pk]))
    assert stored["Content-Disposition"].startswith("attachment")
    assert_no_store(stored)
    query = {"date": "2026-06-10", "time": "08:00", "zone": "UTC"}
    assert_no_store(client.get(reverse("reports:balances_at_csv"), query))


def test_a_refusal_is_not_stored_either(client):
    assert "no-store" in client.get(reverse("api:accounts"))["Cache-Control"]  # 401
    assert "no-store" in client.get(reverse("login"))["Cache-Control"]
