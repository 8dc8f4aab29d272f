"""Margin and liquidation risk in the API (issue 20): the risk fields of /api/v1/accounts and
/api/v1/accounts/<id>, and /api/v1/accounts/<id>/closed-positions (OKX's positions history as
stored), with unknown figures null beside their reason, never 0 or an empty list, nor "none
closed" while the positions history is not known."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.pages.account import NO_CLOSED_POSITIONS
from snapshots.history import PATH as HISTORY_PATH
from snapshots.models import CloseType, PositionLine, Snapshot
from snapshots.refresh import refresh_account
from snapshots.risk import FUTURES_NO_FIGURE
from tests.api_support import client_as
from tests.test_pages_queries import snap
from tests.test_pages_risk import FUTURES_NOTE, RiskTeam, element, page, risk_team
from tests.workers_support import add_account, direct_client, frozen

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team() -> RiskTeam:
    return risk_team()


@pytest.fixture
def viewer(client):
    return client_as(client, "viewer", token=True)


RISK_FIELDS = (
    "margin_ratio_pct",
    "margin_ratio_unknown_reason",
    "adj_equity_usd",
    "imr_usd",
    "mmr_usd",
    "risk_note",
    "adj_equity_unknown_reason",
    "imr_unknown_reason",
    "mmr_unknown_reason",
    "nearest_liq_distance_pct",
    "nearest_liq_inst_id",
    "nearest_liq_unknown_reason",
    "risk_level",
)


def risk_of(row: dict) -> dict:
    return {name: row[name] for name in RISK_FIELDS}


def test_each_account_carries_okx_risk_figures_as_exact_decimals(viewer, team):
    rows = {row["name"]: row for row in viewer.get(reverse("api:accounts")).json()["accounts"]}
    assert risk_of(rows["edge-desk"]) == {
        "margin_ratio_pct": "120",  # OKX's mgnRatio 1.2
        "margin_ratio_unknown_reason": None,
        "adj_equity_usd": "48210.5",
        "imr_usd": "9100",
        "mmr_usd": "3640.25",
        "risk_note": None,
        "adj_equity_unknown_reason": None,
        "imr_unknown_reason": None,
        "mmr_unknown_reason": None,
        "nearest_liq_distance_pct": "5",  # the short at 3,000 with its liquidation at 3,150
        "nearest_liq_inst_id": "ETH-USDT-SWAP",
        "nearest_liq_unknown_reason": None,
        "risk_level": "danger",
    }
    assert rows["warm-desk"]["risk_level"] == "warn"
    assert (rows["calm-desk"]["margin_ratio_pct"], rows["calm-desk"]["risk_level"]) == ("1250", "ok")
    assert Decimal(rows["calm-desk"]["nearest_liq_distance_pct"]) == 50


def test_unknown_risk_figures_are_null_with_their_reason(viewer, team):
    rows = {row["name"]: row for row in viewer.get(reverse("api:accounts")).json()["accounts"]}
    keyless = risk_of(rows["keyless-sub"])
    assert keyless["margin_ratio_pct"] == "800"  # the master reads a sub-account's mgnRatio
    assert keyless["nearest_liq_distance_pct"] is None and keyless["nearest_liq_inst_id"] is None
    assert keyless["nearest_liq_unknown_reason"] == "positions are not readable through the master key"
    fresh = risk_of(rows["fresh-desk"])
    assert fresh["margin_ratio_pct"] is None and fresh["adj_equity_usd"] is None
    assert fresh["margin_ratio_unknown_reason"] == "never read"
    assert fresh["nearest_liq_unknown_reason"] == "never read"
    assert fresh["risk_level"] == "unknown"
    futures = risk_of(rows["futures-desk"])
    assert (futures["margin_ratio_pct"], futures["risk_note"]) == ("480", FUTURES_NOTE)
    assert futures["adj_equity_usd"] is None and futures["imr_usd"] is None  # OKX gives none
    for figure in ("adj_equity", "imr", "mmr"):
        assert (
            futures[f"{figure}_unknown_reason"] == FUTURES_NO_FIGURE
        )  # "OKX reports none in Futures mode..."
        assert fresh[f"{figure}_unknown_reason"] == "never read"


def test_an_account_with_nothing_to_liquidate_has_the_level_none_not_unknown(viewer, team):
    rows = {row["name"]: row for row in viewer.get(reverse("api:accounts")).json()["accounts"]}
    assert [rows[name]["risk_level"] for name in ("idle-desk", "futures-idle", "fresh-desk")] == [
        "none",
        "none",
        "unknown",
    ]
    assert rows["idle-desk"]["nearest_liq_unknown_reason"] == "no open positions"
    assert rows["futures-iso"]["risk_level"] == "ok"  # no ratio, but a position 40 % away


def test_the_accounts_csv_carries_the_risk_columns_of_the_json(viewer, team):
    """The overview's "Accounts table as CSV": the same risk figures and reasons as the JSON;
    an instrument from OKX that starts like a formula is written with a leading apostrophe."""
    PositionLine.objects.filter(snapshot__account=team.edge, inst_id="ETH-USDT-SWAP").update(inst_id="=ETH")
    listed = {row["id"]: row for row in viewer.get(reverse("api:accounts")).json()["accounts"]}
    response = viewer.get(reverse("api:accounts_csv"))
    rows = {int(row["id"]): row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    for account in (team.edge, team.futures, team.keyless, team.fresh, team.idle):
        row, json = rows[account.pk], listed[account.pk]
        for name in RISK_FIELDS:
            if name == "nearest_liq_inst_id" and account == team.edge:
                assert row[name] == "'=ETH"  # the CSV guard of every text column
            else:
                assert row[name] == ("" if json[name] is None else json[name]), (account.name, name)
    assert rows[team.idle.pk]["risk_level"] == "none"


def test_the_team_change_in_the_api_is_the_overviews_with_its_since(viewer, client, team):
    """Every account has less than 24 h of history: the overview shows the change "since first
    data"; the API gives the same figure and time, not null."""
    snap(team.calm, "89000", at=team.now - timedelta(hours=2))  # calm gained 1,000 USD since then
    totals = viewer.get(reverse("api:accounts")).json()["totals"]
    assert Decimal(totals["change_24h_usd"]) == Decimal(1000) == Decimal(totals["change_7d_usd"])
    first = (team.now - timedelta(hours=2)).replace(microsecond=0)
    assert totals["change_24h_since"].startswith(first.strftime("%Y-%m-%dT%H:%M:%S"))
    assert totals["change_24h_unknown_reason"] is None
    overview = page(client, "/")
    assert element(overview, "change-24h").startswith("+1,000.00 USD")
    assert "since first data" in element(overview, "change-24h-basis")


def test_a_team_change_that_is_unknown_says_why(viewer):
    totals = viewer.get(reverse("api:accounts")).json()["totals"]
    assert (totals["change_24h_usd"], totals["change_24h_since"]) == (None, None)
    assert totals["change_24h_unknown_reason"] == "no live account yet"


def test_one_account_has_the_same_risk_as_in_the_list(viewer, team):
    listed = {row["id"]: row for row in viewer.get(reverse("api:accounts")).json()["accounts"]}
    for account in (team.edge, team.keyless, team.fresh):
        one = viewer.get(reverse("api:account", args=[account.pk])).json()
        assert risk_of(one) == risk_of(listed[account.pk])


# -- closed positions -------------------------------------------------------------------------------
def closed_url(account) -> str:
    return reverse("api:closed_positions", args=[account.pk])


def test_closed_positions_are_newest_first_with_forced_closes_marked(viewer, team):
    body = viewer.get(closed_url(team.edge)).json()
    assert (body["account"], body["unknown_reason"], body["count"]) == (team.edge.pk, None, 3)
    rows = body["results"]
    assert [(r["inst_id"], r["close_type"], r["close_type_label"], r["forced"]) for r in rows] == [
        ("BTC-USDT-SWAP", CloseType.LIQUIDATION, "liquidated", True),
        ("ETH-USDT-SWAP", CloseType.ADL, "auto-deleveraged", True),
        ("BTC-USD-SWAP", CloseType.CLOSE, "closed", False),
    ]
    liquidation = rows[0]
    assert {
        k: liquidation[k] for k in ("ccy", "realized_pnl", "pnl", "fee", "funding_fee", "liq_penalty")
    } == {
        "ccy": "USDT",
        "realized_pnl": "-262.5",
        "pnl": "-236.02",
        "fee": "-11.22",
        "funding_fee": "-3.26",
        "liq_penalty": "-12",
    }
    assert liquidation["trigger_price"] == "56150.1" and liquidation["closed_size"] == "4"
    assert liquidation["closed_at"].endswith("Z") and rows[2]["ccy"] == "BTC"


def test_closed_positions_page_with_limit_and_offset(viewer, team):
    body = viewer.get(closed_url(team.edge), {"limit": 1, "offset": 1}).json()
    assert body["count"] == 3 and [r["close_type"] for r in body["results"]] == [CloseType.ADL]
    assert "offset=2" in body["next"] and body["previous"] is not None
    assert viewer.get(closed_url(team.edge), {"limit": 0}).status_code == 400


def test_unreadable_closed_positions_are_null_with_the_reason_not_an_empty_list(viewer, team):
    keyless = viewer.get(closed_url(team.keyless)).json()
    assert (
        keyless["results"] is None
        and keyless["unknown_reason"] == "not readable without the account's own key"
    )
    fresh = viewer.get(closed_url(team.fresh)).json()
    assert fresh["results"] is None and fresh["unknown_reason"] == "never read"
    calm = viewer.get(closed_url(team.calm)).json()  # read, none closed in 3 months: a known empty list
    assert (calm["results"], calm["unknown_reason"], calm["count"]) == ([], None, 0)


@pytest.mark.parametrize(("who", "status"), [("anonymous", 401), ("stranger", 403), ("viewer", 200)])
def test_closed_positions_are_for_those_who_may_view_the_dashboard(client, team, who, status):
    assert client_as(client, who, token=True).get(closed_url(team.edge)).status_code == status


def test_a_bad_or_unknown_account_id_is_a_json_400_or_404(viewer, team):
    bad = viewer.get("/api/v1/accounts/abc/closed-positions")
    assert bad.status_code == 400 and "id" in bad.json()
    assert viewer.get("/api/v1/accounts/999999/closed-positions").status_code == 404


def test_the_schema_documents_the_risk_fields_and_the_closed_positions(viewer, team):
    schema = viewer.get(reverse("api:schema"), {"format": "json"}).json()
    row = schema["components"]["schemas"]["AccountRow"]["properties"]
    assert "mgnRatio" in row["margin_ratio_pct"]["description"]
    assert set(RISK_FIELDS) <= set(row)
    operation = schema["paths"]["/api/v1/accounts/{id}/closed-positions"]["get"]
    assert operation["operationId"] == "list_closed_positions"
    closed = schema["components"]["schemas"]["ClosedPosition"]["properties"]
    assert "liqPenalty" in closed["liq_penalty"]["description"]


def test_closed_positions_whose_history_may_be_incomplete_say_why_never_none_closed(viewer, team):
    """The latest snapshot says its positions history is incomplete (still being read back, or
    the last read failed): an empty list is unknown, a list of rows comes with the reason."""
    note = "still being read back: 2026-10-02 14:05 UTC reached"
    Snapshot.objects.filter(account__in=[team.calm, team.edge]).update(history_note=note)

    calm = viewer.get(closed_url(team.calm)).json()
    edge = viewer.get(closed_url(team.edge)).json()

    assert (calm["results"], calm["unknown_reason"]) == (None, note)
    assert (edge["count"], edge["unknown_reason"]) == (3, note)


def test_a_positions_history_never_read_is_not_shown_as_none_closed(make_simulator, client):
    """epsilon-futures was liquidated 19 days ago (OKX's positions history has the row). Its own
    key works, but every positions-history read has failed (OKX busy on that endpoint): the
    snapshot is stored, the history never read. Neither the API nor the page may say that no
    position was closed."""
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    epsilon = add_account(sim, "epsilon-futures", master=main)
    assert direct_client(sim, "epsilon-futures").get_positions_history()  # OKX has its liquidation
    sim.inject_fault(HISTORY_PATH, code="50013", times=None)
    outcome = refresh_account(epsilon.pk, cycle=1)
    assert outcome.status == "ok" and "positions history not read" in outcome.detail
    sim.clear_faults()

    body = client_as(client, "viewer", token=True).get(closed_url(epsilon)).json()
    page = client_as(Client(), "viewer").get(f"/accounts/{epsilon.pk}/").content.decode()

    assert body["results"] is None
    assert body["unknown_reason"] == f"could not be read: exchange busy on {HISTORY_PATH}"
    assert NO_CLOSED_POSITIONS not in page
    assert (
        f"Unknown: OKX&#x27;s positions history could not be read: exchange busy on {HISTORY_PATH}." in page
    )
