"""The read-only JSON API (/api/v1/): what each endpoint says, who may read it (session or token),
bad parameters, secrets, and a query count that does not grow with the number of accounts."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import Account, Credential
from snapshots import queries
from snapshots.models import Snapshot
from tests.accounts_support import fake_key_set, install, make_user
from tests.api_support import WHO, api_error, client_as, make_world, snapshot, token_for

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


def json_routes(world) -> list[str]:
    pk = world.master.pk
    return [
        reverse("api:accounts"),
        reverse("api:account", args=[pk]),
        reverse("api:balances", args=[pk]),
        reverse("api:positions", args=[pk]),
        reverse("api:equity", args=[pk]),
        reverse("api:keys"),
        reverse("api:errors"),
        reverse("api:schema"),
    ]


# -- content ------------------------------------------------------------------------------------
def test_accounts_lists_the_overview_rows_and_totals(viewer, world):
    body = viewer.get(reverse("api:accounts")).json()
    rows = {row["name"]: row for row in body["accounts"]}
    assert list(rows) == ["Fake Master", "Fake Sub A", "Fake Sub B"]
    master = rows["Fake Master"]
    assert Decimal(master["equity_usd"]) == Decimal("12345.678901")
    assert master["equity_usd"] == "12345.678901"  # a plain decimal string, no exponent or padding
    assert Decimal(master["change_24h_usd"]) == Decimal("2345.678901")
    assert Decimal(master["upl_usd"]) == Decimal("27.75")
    assert master["open_positions"] == 2
    assert master["key_status"] == "failing"
    assert master["kind"] == "master" and master["master"] is None
    assert rows["Fake Sub A"]["master_name"] == "Fake Master"
    assert rows["Fake Sub B"]["key_status"] == "none"
    assert rows["Fake Sub B"]["equity_usd"] is None and rows["Fake Sub B"]["stale"] is True
    assert master["last_refresh_at"].endswith("Z")
    assert Decimal(body["totals"]["equity_usd"]) == Decimal("12345.678901") + Decimal("2500.5")
    assert Decimal(body["totals"]["equity_usd"]) == sum(
        Decimal(row["equity_usd"]) for row in body["accounts"] if row["equity_usd"] is not None
    )


def test_one_account_is_its_row_of_the_list(viewer, world):
    listed = viewer.get(reverse("api:accounts")).json()["accounts"]
    one = viewer.get(reverse("api:account", args=[world.sub.pk])).json()
    assert one == next(row for row in listed if row["id"] == world.sub.pk)
    Account.objects.filter(pk=world.sub.pk).update(active=False)
    paused = viewer.get(reverse("api:account", args=[world.sub.pk]))
    assert paused.status_code == 404 and "inactive" in paused.json()["detail"]
    assert viewer.get(reverse("api:balances", args=[world.sub.pk])).status_code == 200


def test_balances_are_the_latest_snapshots_lines_exactly(viewer, world):
    body = viewer.get(reverse("api:balances", args=[world.master.pk])).json()
    latest = Snapshot.objects.filter(account=world.master).order_by("-taken_at").first()
    assert body["account"] == world.master.pk
    assert body["taken_at"] == latest.taken_at.isoformat().replace("+00:00", "Z")
    assert Decimal(body["total_equity_usd"]) == latest.total_equity_usd
    stored = {(line.wallet, line.ccy): line for line in latest.balances.all()}
    assert {(b["wallet"], b["ccy"]) for b in body["balances"]} == set(stored)
    for line in body["balances"]:
        row = stored[(line["wallet"], line["ccy"])]
        assert Decimal(line["equity"]) == row.equity and Decimal(line["usd_value"]) == row.usd_value
    assert {b["ccy"]: b["equity"] for b in body["balances"]} == {"BTC": "0.12345678", "USDT": "4691.357901"}


def test_an_account_without_snapshots_has_no_balances_and_unknown_positions(viewer, world):
    body = viewer.get(reverse("api:balances", args=[world.keyless.pk])).json()
    assert body["balances"] == [] and body["taken_at"] is None and body["total_equity_usd"] is None
    # Never read: unknown (null with the reason), not an empty list.
    body = viewer.get(reverse("api:positions", args=[world.keyless.pk])).json()
    assert (body["positions"], body["positions_unknown_reason"]) == (None, "never read")


def test_positions_carry_their_unrealised_pnl(viewer, world):
    body = viewer.get(reverse("api:positions", args=[world.master.pk])).json()
    assert [(p["inst_id"], p["upl"]) for p in body["positions"]] == [
        ("BTC-USDT-SWAP", "-12.5"),
        ("ETH-USDT-SWAP", "40.25"),
    ]
    assert body["positions"][0]["mark_price"] == "61000.25"


def test_equity_series_covers_the_range_asked(viewer, world):
    url = reverse("api:equity", args=[world.master.pk])
    day = viewer.get(url, {"range": "1d"}).json()
    week = viewer.get(url, {"range": "7d"}).json()
    assert day["range"] == "1d" and day["account"] == world.master.pk
    # One snapshot per bucket here, so each point is that snapshot's equity (to the cent).
    assert [Decimal(p["equity_usd"]) for p in day["points"]] == [Decimal("12345.68")]
    assert [Decimal(p["equity_usd"]) for p in week["points"]] == [Decimal("10000"), Decimal("12345.68")]
    assert week["points"] == [
        {"time": when.isoformat().replace("+00:00", "Z"), "equity_usd": f"{value.normalize():f}"}
        for when, value in queries.equity_series(world.master, "7d")
    ]
    assert viewer.get(url).json()["range"] == "7d"  # the default


def test_keys_show_health_and_dates_most_urgent_first(viewer, world):
    keys = viewer.get(reverse("api:keys")).json()
    assert [(k["account_name"], k["status"]) for k in keys] == [
        ("Fake Master", "failing"),
        ("Fake Sub A", "ok"),
    ]
    sub = keys[1]
    assert sub["fingerprint"] == "…" + world.keys[1]["api_key"][-4:]
    assert sub["permissions"] == ["read_only"] and sub["ip_binding"] == ["203.0.113.7"]
    assert sub["created_at"].endswith("Z") and sub["expires_on"] is None


def test_errors_filter_by_account_category_code_and_dates_newest_first(viewer, world):
    url = reverse("api:errors")
    older = api_error(world.master, world.now - timedelta(days=10), "signature", "50113")
    everything = viewer.get(url).json()
    assert everything["count"] == 3
    assert [e["code"] for e in everything["results"]] == ["50113", "50011", "50113"]
    assert everything["results"][-1]["id"] == older.pk
    by_category = viewer.get(url, {"category": "rate_limit"}).json()["results"]
    assert [(e["account_name"], e["message"]) for e in by_category] == [("Fake Sub A", "Too Many Requests")]
    assert viewer.get(url, {"account": world.sub.pk}).json()["count"] == 1
    assert viewer.get(url, {"code": "50113"}).json()["count"] == 2
    today = timezone.now().date()
    since = viewer.get(url, {"since": str(today - timedelta(days=5))}).json()
    assert since["count"] == 2
    until = viewer.get(url, {"until": str(today - timedelta(days=5))}).json()
    assert [e["id"] for e in until["results"]] == [older.pk]


def test_errors_are_paginated(viewer, world):
    for n in range(5):
        api_error(world.sub, world.now - timedelta(minutes=n), "timeout", f"9{n}")
    page = viewer.get(reverse("api:errors"), {"limit": 2, "offset": 2}).json()
    assert page["count"] == 7 and len(page["results"]) == 2
    assert [e["code"] for e in page["results"]] == ["92", "93"]
    assert "offset=4" in page["next"]


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("route", "params", "field"),
    [
        ("equity", {"range": "2y"}, "range"),
        ("errors", {"since": "2025-13-01"}, "since"),
        ("errors", {"until": "yesterday"}, "until"),
        ("errors", {"since": "2025-02-02", "until": "2025-02-01"}, "until"),
        ("errors", {"account": "abc"}, "account"),
        ("errors", {"category": "nonsense"}, "category"),
        ("errors", {"code": "=1+1"}, "code"),
        ("errors", {"limit": "ten"}, "limit"),
        ("errors", {"offset": "-1"}, "offset"),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(viewer, world, route, params, field):
    args = [world.master.pk] if route == "equity" else []
    response = viewer.get(reverse(f"api:{route}", args=args), params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert field in response.json() and response.json()[field][0]


@pytest.mark.parametrize("bad_id", ["abc", "0", "-3", "1.5", str(2**70)])
@pytest.mark.parametrize("route", ["account", "balances", "positions", "equity", "balances_csv"])
def test_a_malformed_account_id_is_a_400(viewer, world, route, bad_id):
    response = viewer.get(reverse(f"api:{route}", args=[bad_id]))
    assert response.status_code == 400
    assert "id" in response.json()


@pytest.mark.parametrize("route", ["account", "balances", "positions", "equity"])
def test_an_unknown_account_is_a_json_404(viewer, world, route):
    response = viewer.get(reverse(f"api:{route}", args=[world.keyless.pk + 1000]))
    assert response.status_code == 404 and response.json() == {
        "detail": "No Account matches the given query."
    }


def test_an_unknown_api_path_is_a_json_404(viewer):
    response = viewer.get("/api/v1/nothing/here")
    assert response.status_code == 404 and "/api/v1/docs" in response.json()["detail"]


def test_the_api_only_reads(viewer, world):
    response = viewer.post(reverse("api:accounts"), {}, content_type="application/json")
    assert response.status_code in (403, 405)  # session POSTs need CSRF first; then 405
    assert Account.objects.count() == 3


# -- access -------------------------------------------------------------------------------------
EXPECTED = {"anonymous": 401, "stranger": 403, "viewer": 200, "operator": 200, "key_admin": 200}


CALLERS = [(who, False) for who in WHO] + [(who, True) for who in WHO if who != "anonymous"]


@pytest.mark.parametrize(
    ("who", "token"), CALLERS, ids=[f"{w}-{'token' if t else 'session'}" for w, t in CALLERS]
)
def test_each_route_is_open_to_the_dashboard_roles_only(client, world, who, token):
    client = client_as(client, who, token=token)
    for url in json_routes(world):
        response = client.get(url)
        assert response.status_code == EXPECTED[who], url
        if EXPECTED[who] != 200:
            assert "detail" in response.json()


def test_anonymous_is_told_to_send_a_token(client, world):
    response = client.get(reverse("api:accounts"))
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_or_an_inactive_users_token_is_refused(client, world):
    user = make_user("viewer")
    key = token_for(user)
    assert client.get(reverse("api:keys"), HTTP_AUTHORIZATION="Token " + "f" * 40).status_code == 401
    assert client.get(reverse("api:keys"), HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    user.is_active = False
    user.save()
    assert client.get(reverse("api:keys"), HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


# -- secrets ------------------------------------------------------------------------------------
def test_no_response_carries_a_secret(client, world):
    client = client_as(client, "key_admin")
    credential = Credential.objects.get(account=world.master)
    secrets = [value for keys in world.keys for value in keys.values()]
    secrets += [credential.api_key_enc, credential.secret_key_enc, credential.passphrase_enc]
    urls = [
        *json_routes(world),
        reverse("api:accounts_csv"),
        reverse("api:balances_csv", args=[world.master.pk]),
    ]
    for url in urls:
        body = client.get(url).content.decode()
        assert not [secret for secret in secrets if secret in body], url
        assert "_enc" not in body, url


# -- query count --------------------------------------------------------------------------------
def _team(start: int, count: int) -> None:
    now = timezone.now()
    for n in range(start, start + count):
        account = Account.objects.create(name=f"Fake Team {n:03d}")
        install(account, fake_key_set(1000 + n))
        snapshot(account, now - timedelta(hours=25), "100")
        snapshot(account, now - timedelta(minutes=1), f"{100 + n}.5")


def _queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("route", ["accounts", "accounts_csv"])
def test_the_accounts_list_runs_the_same_queries_for_10_and_200_accounts(client, route):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_for(make_user('viewer'))}"
    _team(0, 10)
    with_10 = _queries_for(client, reverse(f"api:{route}"))
    _team(10, 190)
    with_200 = _queries_for(client, reverse(f"api:{route}"))
    print(f"GET {reverse(f'api:{route}')}: {with_10} queries for 10 accounts, {with_200} for 200")
    assert with_10 == with_200
    assert len(client.get(reverse("api:accounts")).json()["accounts"]) == 200


def test_an_empty_query_parameter_is_refused_not_read_as_absent(viewer, world):
    response = viewer.get(reverse("api:equity", args=[world.master.pk]), {"range": ""})
    assert response.status_code == 400 and "range" in response.json()


def test_options_is_not_offered(viewer, world):
    assert viewer.options(reverse("api:accounts")).status_code == 405


# -- tokens: manage.py api_token ----------------------------------------------------------------
def api_token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_api_token_prints_a_new_token_once_and_it_works(client, world):
    user = make_user("viewer")
    key, note = api_token(user.username)
    assert "shown only this once" in note
    assert client.get(reverse("api:accounts"), HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    with pytest.raises(CommandError, match="already has a token") as refused:
        api_token(user.username)
    assert key not in str(refused.value)
    assert AuthToken.objects.filter(user=user).count() == 1
    assert client.get(reverse("api:accounts"), HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_api_token_rotate_replaces_the_token_and_the_old_one_stops_working(client, world):
    user = make_user("operator")
    old, _ = api_token(user.username)
    new, note = api_token(user.username, "--rotate")
    assert new != old and "old token no longer works" in note
    assert client.get(reverse("api:keys"), HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    assert client.get(reverse("api:keys"), HTTP_AUTHORIZATION=f"Token {new}").status_code == 200
    assert AuthToken.objects.filter(user=user).count() == 1


def test_api_token_refuses_an_unknown_user_and_warns_about_a_user_without_a_role(world):
    with pytest.raises(CommandError, match="no user named"):
        api_token("nobody-at-all")
    assert not AuthToken.objects.exists()
    _, note = api_token(make_user("stranger").username)
    assert "no dashboard role" in note
