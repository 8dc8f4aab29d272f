"""The PnL and cash-flow endpoints (/api/v1/pnl, /api/v1/flows, flows.csv): known rows give known
figures, net of transfers; a bad parameter is a 400 naming it; the dashboard roles (a viewer's
token too) may read them; the query count does not grow with the number of accounts.

The team: a master that received a deposit and sent its sub-account a transfer, the sub-account,
and a demo-trading account, with readings before the last 24 hours and now. The clock is frozen
at NOW (UTC is the display zone in the tests): the 24 hours are split at midnight for the return.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Account, AccountKind, Environment
from ledger.models import FlowKind
from ledger.pnl import SUB_ACCOUNT_NOTE
from tests.accounts_support import make_user
from tests.api_support import WHO, client_as, snapshot, token_for
from tests.ledger_support import stored_flow

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BEFORE = NOW - timedelta(hours=25)  # the readings the last 24 hours start from
LATEST = NOW - timedelta(minutes=1)
STABLECOIN = "stablecoin at 1 USD"  # the usd_basis the flows listing shows for the team's flows


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team() -> dict[str, Account]:
    """Master: 10,000 -> 12,500 with a deposit of 3,000 and 1,000 sent to the sub: PnL +500.
    Sub: 5,000 -> 5,600 with the 1,000 received: PnL -400. Team: +3,100 of equity less the
    deposit (the transfer stays inside): +100. Demo: 1,000 -> 900, never in the team."""
    master = Account.objects.create(name="Desk", kind=AccountKind.MASTER)
    sub = Account.objects.create(
        name="Desk sub", kind=AccountKind.SUB, master=master, sub_acct_name="desksub"
    )
    demo = Account.objects.create(name="Paper", environment=Environment.DEMO)
    for account, start, end in ((master, "10000", "12500"), (sub, "5000", "5600"), (demo, "1000", "900")):
        snapshot(account, BEFORE, start)
        snapshot(account, LATEST, end)
    nine, ten = NOW - timedelta(hours=3), NOW - timedelta(hours=2)
    stored_flow(master, FlowKind.TRANSFER_OUT, "-1000", nine, "b1", counterparty=sub, usd_basis=STABLECOIN)
    stored_flow(sub, FlowKind.TRANSFER_IN, "1000", nine, "b1", counterparty=master, usd_basis=STABLECOIN)
    stored_flow(master, FlowKind.DEPOSIT, "3000", ten, "d1", state="2", usd_basis=STABLECOIN)
    # pending: not counted
    stored_flow(master, FlowKind.DEPOSIT, "7", ten, "d2", state="0", counts=False, usd_basis=STABLECOIN)
    return {"master": master, "sub": sub, "demo": demo}


@pytest.fixture
def viewer(client):
    return client_as(client, "viewer", token=True)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def rounded(value: str | None, places: str = "0.000001") -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal(places))


# -- /api/v1/pnl -----------------------------------------------------------------------------------
def test_the_pnl_of_each_account_and_the_team_is_net_of_transfers(viewer, team):
    body = viewer.get(reverse("api:pnl")).json()
    assert body["period"] == {
        "key": "24h",
        "label": "Last 24 hours",
        "start": iso(NOW - timedelta(hours=24)),
        "end": iso(NOW),
    }
    rows = {row["name"]: row for row in body["accounts"]}
    assert list(rows) == ["Desk", "Desk sub", "Paper"]
    desk = rows["Desk"]
    assert {k: desk[k] for k in ("id", "kind", "environment", "in_team")} == {
        "id": team["master"].pk,
        "kind": "master",
        "environment": "live",
        "in_team": True,
    }
    assert (desk["start_equity_usd"], desk["end_equity_usd"]) == ("10000", "12500")
    assert (desk["net_inflow_usd"], desk["pnl_usd"]) == ("2000", "500")  # the pending 7 USDT is not in
    # From the reading before the period's start (an hour before it: no note) to the latest one.
    assert (desk["started_at"], desk["ended_at"]) == (iso(BEFORE), iso(LATEST))
    assert desk["unknown_reason"] is None and desk["notes"] == []
    # Modified Dietz over the day since midnight (the hours before it had no change): the flows
    # weigh (12:00 - their time) / 12 h in the average capital; the day before returned 0.
    capital = Decimal(10000) + Decimal(-1000) * 3 / 12 + Decimal(3000) * 2 / 12
    assert rounded(desk["return_pct"]) == rounded(str(Decimal(500) / capital * 100))
    assert desk["max_drawdown_pct"] == "0"

    sub = rows["Desk sub"]
    assert (sub["net_inflow_usd"], sub["pnl_usd"]) == ("1000", "-400")
    assert rounded(sub["return_pct"]) == rounded(str(Decimal(-400) / Decimal(5250) * 100))
    assert sub["notes"] == [SUB_ACCOUNT_NOTE]

    paper = rows["Paper"]
    assert (paper["pnl_usd"], paper["in_team"], paper["environment"]) == ("-100", False, "demo")

    team_row = body["team"]
    assert (team_row["start_equity_usd"], team_row["end_equity_usd"]) == ("15000", "18100")
    assert (team_row["net_inflow_usd"], team_row["pnl_usd"]) == ("3000", "100")
    assert team_row["unknown_reason"] is None


def test_an_unpriced_flow_makes_the_pnl_unknown_with_the_reason_never_zero(viewer, team):
    stored_flow(
        team["sub"], FlowKind.DEPOSIT, "2", NOW - timedelta(hours=1), "d9", usd=None, usd_basis="no price"
    )
    rows = {row["name"]: row for row in viewer.get(reverse("api:pnl")).json()["accounts"]}
    sub = rows["Desk sub"]
    assert sub["pnl_usd"] is None and sub["return_pct"] is None
    assert "no USD value" in sub["unknown_reason"] and "no price" in sub["unknown_reason"]
    assert rows["Desk"]["pnl_usd"] == "500"


def test_a_custom_period_covers_whole_days_in_the_display_zone(viewer, team):
    body = viewer.get(
        reverse("api:pnl"), {"period": "custom", "start": "2026-11-19", "end": "2026-11-20"}
    ).json()
    assert body["period"]["key"] == "custom"
    assert body["period"]["start"] == "2026-11-19T00:00:00Z"
    assert body["period"]["end"] == iso(NOW)  # the last day is today: up to now
    desk = next(row for row in body["accounts"] if row["name"] == "Desk")
    assert desk["pnl_usd"] == "500" and desk["started_at"] == iso(BEFORE)  # its first reading
    assert any("first reading" in note for note in desk["notes"])  # no reading before 19 Nov 00:00


def test_a_custom_period_of_decades_is_a_400_before_any_work(viewer, team):
    """1990 to 2026 would be 13,000 daily sub-periods: refused as fast as an unknown period."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for params in ({"period": "2y"}, {"period": "custom", "start": "1990-01-01", "end": "2026-01-01"}):
        with CaptureQueriesContext(connection) as captured:
            response = viewer.get(reverse("api:pnl"), params)
        assert response.status_code == 400
        counts.append(len(captured))
    assert counts[0] == counts[1]  # no reading of any figure
    assert response.json()["period"] == [
        "A custom period is at most 732 days (two years); 1990-01-01 to 2026-01-01 is longer."
    ]


def test_two_years_cost_only_the_days_that_have_readings(viewer, team, django_assert_max_num_queries):
    """The team was first read yesterday: two years back cost what a day does."""
    with django_assert_max_num_queries(12):
        response = viewer.get(
            reverse("api:pnl"), {"period": "custom", "start": "2024-11-20", "end": "2026-11-20"}
        )
    assert response.status_code == 200
    desk = next(row for row in response.json()["accounts"] if row["name"] == "Desk")
    assert desk["pnl_usd"] == "500" and desk["started_at"] == iso(BEFORE)


@pytest.mark.parametrize(
    "params",
    [
        {"period": "2y"},
        {"period": "custom"},
        {"period": "custom", "start": "2026-11-19"},
        {"period": "custom", "start": "2026-11-20", "end": "2026-11-19"},
        {"period": "custom", "start": "2026-12-01", "end": "2026-12-02"},
        {"period": "24h", "start": "2026-11-19"},
        {"period": "custom", "start": "0001-01-01", "end": "9999-12-31"},
        {"period": ""},
    ],
)
def test_a_bad_period_is_a_400_that_says_why(viewer, team, params):
    response = viewer.get(reverse("api:pnl"), params)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json()["period"][0]


def test_dates_that_are_not_dates_are_refused_by_name(viewer, team):
    response = viewer.get(reverse("api:pnl"), {"period": "custom", "start": "yesterday", "end": "2026-11-19"})
    assert response.status_code == 400 and "start" in response.json()


# -- /api/v1/flows and flows.csv -----------------------------------------------------------------
def test_the_flows_are_the_ledger_newest_first_with_amounts_and_currencies(viewer, team):
    body = viewer.get(reverse("api:flows")).json()
    assert body["count"] == 4
    assert [(f["account_name"], f["kind"], f["amount"]) for f in body["results"]] == [
        ("Desk", "deposit", "7"),
        ("Desk", "deposit", "3000"),
        ("Desk sub", "transfer_in", "1000"),
        ("Desk", "transfer_out", "-1000"),
    ]
    out = body["results"][3]
    assert out == {
        "id": out["id"],
        "account": team["master"].pk,
        "account_name": "Desk",
        "kind": "transfer_out",
        "source": "subaccount_bills",
        "okx_id": "b1",
        "occurred_at": iso(NOW - timedelta(hours=3)),
        "ccy": "USDT",
        "amount": "-1000",
        "fee": None,
        "state": "",
        "counts": True,
        "usd_price": "1",
        "usd_value": "-1000",
        "usd_basis": "stablecoin at 1 USD",
        "counterparty": team["sub"].pk,
        "counterparty_name": "Desk sub",
    }
    assert body["results"][0]["counts"] is False  # the pending deposit is listed, not counted


def test_the_flows_filter_by_account_kind_and_days(viewer, team):
    url = reverse("api:flows")
    assert viewer.get(url, {"account": team["sub"].pk}).json()["count"] == 1
    assert viewer.get(url, {"kind": "deposit"}).json()["count"] == 2
    assert viewer.get(url, {"start": "2026-11-21"}).json()["count"] == 0
    assert viewer.get(url, {"start": "2026-11-20", "end": "2026-11-20"}).json()["count"] == 4
    assert viewer.get(url, {"end": "2026-11-19"}).json()["count"] == 0
    page = viewer.get(url, {"limit": 1, "offset": 1}).json()
    assert page["count"] == 4 and [f["okx_id"] for f in page["results"]] == ["d1"]


def test_the_flows_csv_has_the_same_rows_and_an_unpriced_flow_says_why(viewer, team):
    stored_flow(
        team["sub"],
        FlowKind.WITHDRAWAL,
        "-2",
        NOW - timedelta(minutes=30),
        "w1",
        usd=None,
        usd_basis="no price",
    )
    response = viewer.get(reverse("api:flows_csv"), {"account": team["sub"].pk})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="flows-20261120-1200.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["kind"], r["amount"], r["usd_value"], r["usd_value_unknown_reason"]) for r in rows] == [
        ("withdrawal", "-2", "", "no price"),
        ("transfer_in", "1000", "1000", ""),
    ]
    assert rows[1]["counterparty"] == "Desk" and rows[1]["occurred_at"] == "2026-11-20T09:00:00Z"


def test_a_name_that_looks_like_a_formula_is_defused_in_the_flows_csv(viewer, team):
    stored_flow(
        team["master"], FlowKind.TRANSFER_OUT, "-5", LATEST, "b9", counterparty_name="=cmd|' /C calc'!A0"
    )
    rows = list(csv.DictReader(io.StringIO(viewer.get(reverse("api:flows_csv")).content.decode())))
    assert rows[0]["counterparty"] == "'=cmd|' /C calc'!A0" and rows[0]["amount"] == "-5"


@pytest.mark.parametrize(
    ("route", "params", "field"),
    [
        ("flows", {"kind": "gift"}, "kind"),
        ("flows", {"account": "abc"}, "account"),
        ("flows", {"start": "2026-02-30"}, "start"),
        ("flows", {"start": "2026-11-20", "end": "2026-11-19"}, "end"),
        ("flows", {"limit": "ten"}, "limit"),
        ("flows", {"kind": ""}, "kind"),
        ("flows_csv", {"start": "2026-11-20", "end": "2026-11-19"}, "end"),
        ("flows_csv", {"kind": "gift"}, "kind"),
    ],
)
def test_a_bad_flows_parameter_is_a_json_400_naming_it(viewer, team, route, params, field):
    response = viewer.get(reverse(f"api:{route}"), params)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json()[field][0]


# -- access and cost -------------------------------------------------------------------------------
EXPECTED = {"anonymous": 401, "stranger": 403, "viewer": 200, "operator": 200, "key_admin": 200}
CALLERS = [(who, False) for who in WHO] + [(who, True) for who in WHO if who != "anonymous"]


@pytest.mark.parametrize(
    ("who", "token"), CALLERS, ids=[f"{w}-{'token' if t else 'session'}" for w, t in CALLERS]
)
def test_the_dashboard_roles_may_read_pnl_and_flows(client, team, who, token):
    client = client_as(client, who, token=token)
    for name in ("pnl", "flows", "flows_csv"):
        response = client.get(reverse(f"api:{name}"))
        assert response.status_code == EXPECTED[who], name
        if response.status_code != 200:
            assert response["Content-Type"] == "application/json" and "detail" in response.json()


def _desks(start: int, count: int) -> None:
    for n in range(start, start + count):
        account = Account.objects.create(name=f"Fake Desk {n:03d}")
        snapshot(account, BEFORE, "100")
        snapshot(account, LATEST, f"{100 + n}.5")
        stored_flow(account, FlowKind.DEPOSIT, "10", NOW - timedelta(hours=1), f"d-{n}", state="2")


def _queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("route", ["pnl", "flows", "flows_csv"])
def test_the_query_count_is_the_same_for_10_and_60_accounts(client, route):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_for(make_user('viewer'))}"
    _desks(0, 10)
    with_10 = _queries(client, reverse(f"api:{route}"))
    _desks(10, 50)
    with_60 = _queries(client, reverse(f"api:{route}"))
    assert with_10 == with_60
    body = client.get(reverse("api:pnl")).json()
    assert len(body["accounts"]) == 60
    assert Decimal(body["team"]["pnl_usd"]) == sum(Decimal(n) + Decimal("0.5") - 10 for n in range(60))
