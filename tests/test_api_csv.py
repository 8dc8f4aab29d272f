"""CSV exports: parseable, with a header, the same numbers as the JSON API, a file name, the API's
access rules, and no formula a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Account
from tests.api_support import WHO, balance, client_as, make_world, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Many users are made here; their password hashing is not what these tests are about."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world():
    return make_world()


@pytest.fixture
def viewer(client):
    return client_as(client, "viewer")


def rows_of(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


def test_the_accounts_csv_is_the_accounts_table_with_the_api_totals(viewer, world):
    response = viewer.get(reverse("api:accounts_csv"))
    rows = rows_of(response)
    header = response.content.decode().splitlines()[0]
    assert header.startswith("id,name,kind,master,environment,equity_usd,share,change_24h_usd,upl_usd")
    assert [row["name"] for row in rows] == ["Fake Master", "Fake Sub A", "Fake Sub B"]
    api = viewer.get(reverse("api:accounts")).json()
    csv_total = sum(Decimal(row["equity_usd"]) for row in rows if row["equity_usd"])
    assert csv_total == Decimal(api["totals"]["equity_usd"]) == Decimal("14846.178901")
    by_name = {row["name"]: row for row in rows}
    assert by_name["Fake Master"]["upl_usd"] == "27.75"
    assert by_name["Fake Master"]["key_status"] == "failing"
    assert by_name["Fake Sub A"]["master"] == "Fake Master"
    assert by_name["Fake Sub B"]["equity_usd"] == "" and by_name["Fake Sub B"]["stale"] == "true"
    assert sum(Decimal(row["share"]) for row in rows if row["share"]) == Decimal(1)


def test_the_balances_csv_matches_the_json_balances(viewer, world):
    *rows, earn = rows_of(viewer.get(reverse("api:balances_csv", args=[world.master.pk])))
    api = viewer.get(reverse("api:balances", args=[world.master.pk])).json()
    assert [(r["wallet"], r["ccy"], r["equity"], r["usd_value"]) for r in rows] == [
        (b["wallet"], b["ccy"], b["equity"], b["usd_value"]) for b in api["balances"]
    ]
    assert {r["taken_at"] for r in rows} == {earn["taken_at"]} == {api["taken_at"]}
    assert sum(Decimal(r["usd_value"]) for r in rows) == Decimal("7654.321") + Decimal("4691.357901")
    # The last row is Earn (one USD figure, not per currency), unknown here with its reason.
    assert (earn["wallet"], earn["ccy"], earn["usd_value"]) == ("earn", "USD", "")
    assert api["earn_usd"] is None and earn["usd_value_unknown_reason"] == api["earn_unknown_reason"]


def test_each_csv_is_an_attachment_with_a_dated_file_name(viewer, world):
    accounts = viewer.get(reverse("api:accounts_csv"))
    assert accounts["Content-Disposition"].startswith('attachment; filename="accounts-')
    balances = viewer.get(reverse("api:balances_csv", args=[world.master.pk]))
    taken = world.master.snapshots.order_by("-taken_at").first().taken_at
    expected = f'attachment; filename="balances-fake-master-{taken:%Y%m%d-%H%M}.csv"'
    assert balances["Content-Disposition"] == expected


def test_an_account_without_snapshots_gives_a_header_only_csv(viewer, world):
    response = viewer.get(reverse("api:balances_csv", args=[world.keyless.pk]))
    assert rows_of(response) == []
    header = "account,taken_at,wallet,ccy,equity,usd_value,available,frozen,usd_value_unknown_reason"
    assert response.content.decode().strip() == header


def test_a_csv_for_an_unknown_account_is_a_404(viewer, world):
    response = viewer.get(reverse("api:balances_csv", args=[world.keyless.pk + 1000]))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_text_from_outside_cannot_become_a_formula(viewer, world):
    """An account name from the admin and a currency name from OKX that start like formulas are
    written with a leading apostrophe; negative amounts stay numbers."""
    evil = Account.objects.create(name='=HYPERLINK("http://example.invalid","x")')
    snap = snapshot(evil, world.now, "-5.25")
    balance(snap, "@SUM(A1)", "-1.5", "-3")
    balance(snap, "+CMD", "1", "1")
    accounts = {row["id"]: row for row in rows_of(viewer.get(reverse("api:accounts_csv")))}
    assert accounts[str(evil.pk)]["name"] == "'" + evil.name
    assert accounts[str(evil.pk)]["equity_usd"] == "-5.25"
    rows = [
        r for r in rows_of(viewer.get(reverse("api:balances_csv", args=[evil.pk]))) if r["wallet"] != "earn"
    ]
    assert {r["ccy"] for r in rows} == {"'@SUM(A1)", "'+CMD"}
    assert {r["account"] for r in rows} == {"'" + evil.name}
    assert {r["equity"] for r in rows} == {"-1.5", "1"}


EXPECTED = {"anonymous": 401, "stranger": 403, "viewer": 200, "operator": 200, "key_admin": 200}
CALLERS = [(who, False) for who in WHO] + [(who, True) for who in WHO if who != "anonymous"]


@pytest.mark.parametrize(
    ("who", "token"), CALLERS, ids=[f"{w}-{'token' if t else 'session'}" for w, t in CALLERS]
)
def test_the_csvs_follow_the_api_access_rules(client, world, who, token):
    client = client_as(client, who, token=token)
    for url in (reverse("api:accounts_csv"), reverse("api:balances_csv", args=[world.master.pk])):
        response = client.get(url)
        assert response.status_code == EXPECTED[who], url
        if response.status_code != 200:
            assert response["Content-Type"] == "application/json" and "detail" in response.json()


def test_an_unpriced_balance_is_an_empty_cell_with_its_reason(viewer, world):
    """Unknown is never 0: a spreadsheet reads the empty usd_value cell beside the reason."""
    from snapshots.models import BalanceLine, Wallet

    snapshot = world.master.snapshots.order_by("-taken_at").first()
    BalanceLine.objects.create(
        snapshot=snapshot, wallet=Wallet.FUNDING, ccy="XYZ", equity=Decimal(5), usd_value=None
    )
    rows = rows_of(viewer.get(reverse("api:balances_csv", args=[world.master.pk])))
    xyz = next(row for row in rows if row["ccy"] == "XYZ")
    assert xyz["usd_value"] == ""
    assert xyz["usd_value_unknown_reason"] == "unpriced: no USD price for this currency"
    assert all(
        row["usd_value_unknown_reason"] == ""
        for row in rows
        if row["ccy"] != "XYZ" and row["wallet"] != "earn"
    )
