"""The simulator serves the read paths with OKX's envelope, field sets and filters."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from okxsim import Scenario, Simulator
from okxsim.probe import signed_headers
from okxsim.views import DETAIL_FIELDS, POSITION_FIELDS


def call(sim, target: str, key_name: str = "demo-key-main-read") -> dict:
    key = sim.scenario.key(key_name)
    response = requests.get(sim.url + target, headers=signed_headers(key, "GET", target), timeout=5)
    return response.json()


def data(sim, target: str, key_name: str = "demo-key-main-read") -> list:
    body = call(sim, target, key_name)
    assert body["code"] == "0", body
    return body["data"]


def test_the_envelope_has_a_string_code_an_empty_msg_and_a_data_list(simulator):
    body = call(simulator, "/api/v5/account/config")
    assert body["code"] == "0" and body["msg"] == "" and isinstance(body["data"], list)


def test_balance_has_the_full_field_set_with_numbers_as_strings(simulator):
    (account,) = data(simulator, "/api/v5/account/balance")
    assert {"totalEq", "adjEq", "imr", "mmr", "notionalUsd", "upl", "details", "uTime"} <= set(account)
    for detail in account["details"]:
        assert set(DETAIL_FIELDS) <= set(detail)
        assert isinstance(detail["eq"], str) and Decimal(detail["eqUsd"]) >= 0
    total = sum(Decimal(d["eqUsd"]) for d in account["details"])
    assert Decimal(account["totalEq"]) == total


def test_balance_filters_by_ccy(simulator):
    (account,) = data(simulator, "/api/v5/account/balance?ccy=BTC,ETH")
    assert [d["ccy"] for d in account["details"]] == ["BTC", "ETH"]


def test_positions_carry_the_full_field_set_and_filter_by_type_and_id(make_simulator):
    sim = make_simulator()
    every = data(sim, "/api/v5/account/positions", "demo-key-epsilon")
    assert {p["instType"] for p in every} == {"FUTURES"}
    assert all(set(POSITION_FIELDS) <= set(p) for p in every)
    master = data(sim, "/api/v5/account/positions?instType=SWAP")
    assert {p["instId"] for p in master} == {"BTC-USDT-SWAP", "ETH-USDT-SWAP"}
    assert data(sim, "/api/v5/account/positions?instType=FUTURES") == []
    (only,) = data(sim, "/api/v5/account/positions?instId=ETH-USDT-SWAP")
    assert only["pos"] == "-120" and only["mgnMode"] == "isolated" and only["margin"] != ""


def test_config_reports_the_calling_keys_uid_permissions_and_ip(simulator):
    (config,) = data(simulator, "/api/v5/account/config", "demo-key-beta-ip")
    assert config["uid"] == "700000000000000102"
    assert config["mainUid"] == "700000000000000001"
    assert (config["perm"], config["ip"], config["label"]) == (
        "read_only",
        "127.0.0.1",
        "beta read, IP bound",
    )


def test_funding_balances_list_only_positive_balances_and_filter_by_ccy(simulator):
    assert {r["ccy"] for r in data(simulator, "/api/v5/asset/balances")} == {"USDT", "BTC", "SOL"}
    assert [r["ccy"] for r in data(simulator, "/api/v5/asset/balances?ccy=SOL")] == ["SOL"]


def test_asset_valuation_adds_trading_funding_and_earn_in_the_asked_unit(simulator):
    (valuation,) = data(simulator, "/api/v5/asset/asset-valuation?ccy=USDT")
    details = valuation["details"]
    assert Decimal(valuation["totalBal"]) == sum(Decimal(details[k]) for k in ("trading", "funding", "earn"))
    assert Decimal(details["earn"]) == Decimal(5000)  # the demo master's 5000 USDT in Earn


def test_market_data_serves_spot_tickers_and_usd_indexes_with_a_stablecoin_off_its_peg(simulator):
    indexes = {
        row["instId"]: row["idxPx"] for row in data(simulator, "/api/v5/market/index-tickers?quoteCcy=USD")
    }
    spots = {row["instId"]: row for row in data(simulator, "/api/v5/market/tickers?instType=SPOT")}
    assert indexes["USDC-USD"] == "0.9994" and indexes["USDT-USD"] == "1"
    assert {"BTC-USD", "ETH-USD", "SOL-USD"} <= set(indexes)
    assert {"SOL-USDT", "USDC-USDT"} <= set(spots)
    assert spots["USDC-USDT"]["last"] == "0.9994"
    missing = requests.get(simulator.url + "/api/v5/market/index-tickers", timeout=5).json()
    assert missing["code"] == "50014"  # "Either quoteCcy or instId is required"


def test_subaccount_list_is_newest_first_and_pages_by_creation_time(simulator):
    everyone = data(simulator, "/api/v5/users/subaccount/list")
    assert len(everyone) == 7
    stamps = [int(s["ts"]) for s in everyone]
    assert stamps == sorted(stamps, reverse=True)
    first_page = data(simulator, "/api/v5/users/subaccount/list?limit=3")
    assert first_page == everyone[:3]
    next_page = data(simulator, f"/api/v5/users/subaccount/list?limit=3&after={first_page[-1]['ts']}")
    assert next_page == everyone[3:6]
    newer = data(simulator, f"/api/v5/users/subaccount/list?before={everyone[2]['ts']}")
    assert newer == everyone[:2]


def test_the_master_reads_a_subaccounts_trading_and_funding_balances(simulator):
    (trading,) = data(simulator, "/api/v5/account/subaccount/balances?subAcct=alpha-desk")
    assert {d["ccy"] for d in trading["details"]} == {"USDT", "BTC"}
    funding = data(simulator, "/api/v5/asset/subaccount/balances?subAcct=delta-nokey")
    assert funding == [{"availBal": "800", "bal": "800", "ccy": "USDC", "frozenBal": "0"}]


def test_a_missing_subacct_parameter_is_50014(simulator):
    body = call(simulator, "/api/v5/account/subaccount/balances")
    assert body == {"code": "50014", "msg": "Parameter subAcct can not be empty.", "data": []}


def test_an_unknown_subaccount_is_refused(simulator):
    assert call(simulator, "/api/v5/account/subaccount/balances?subAcct=nobody")["code"] == "59510"


def test_the_master_reads_a_subaccounts_api_keys_with_creation_time(simulator):
    (key,) = data(simulator, "/api/v5/users/subaccount/apikey?subAcct=gamma-mm")
    assert key["apiKey"] == "demo-key-gamma-trade" and key["perm"] == "read_only,trade" and key["ip"] == ""
    assert int(key["ts"]) < simulator.now_ms()
    assert data(simulator, "/api/v5/users/subaccount/apikey?subAcct=delta-nokey") == []


def test_an_unknown_path_is_a_404_without_an_okx_code(simulator):
    response = requests.get(simulator.url + "/api/v5/account/nothing-here", timeout=5)
    assert response.status_code == 404
    assert response.json()["code"] == ""


def test_a_post_to_a_read_path_is_an_invalid_method(simulator):
    response = requests.post(simulator.url + "/api/v5/account/balance", data="{}", timeout=5)
    assert response.status_code == 405 and response.json()["code"] == "50115"


def test_prices_drift_with_simulated_time_and_equity_follows(simulator):
    before = data(simulator, "/api/v5/account/balance?ccy=BTC")[0]["details"][0]["eqUsd"]
    simulator.advance(seconds=6 * 3600)
    after = data(simulator, "/api/v5/account/balance?ccy=BTC")[0]["details"][0]["eqUsd"]
    assert before != after


def test_the_price_walk_is_the_same_for_the_same_seed():
    first, second = Simulator(Scenario.load("demo")), Simulator(Scenario.load("demo"))
    later = 3 * 86_400_000  # the walk is anchored at each simulator's start
    first_price = first.exchange.prices.usd("BTC", first.exchange.start_ms + later)
    assert first_price == second.exchange.prices.usd("BTC", second.exchange.start_ms + later)
    assert first_price != first.exchange.prices.usd("BTC", first.exchange.start_ms)


def test_a_generated_scenario_has_the_asked_number_of_subaccounts_with_keys(make_simulator):
    scenario = Scenario.generate(n_subaccounts=250, own_keys=True)
    sim = make_simulator(scenario)
    assert len(scenario.subaccounts) == 250 and len(scenario.keys) == 251
    page = data(sim, "/api/v5/users/subaccount/list", "gen-key-master")
    assert len(page) == 100
    assert data(sim, "/api/v5/account/balance", "gen-key-sub0042")[0]["totalEq"]


def test_a_scenario_survives_a_round_trip_through_a_dict():
    scenario = Scenario.load("demo")
    again = Scenario.from_dict(scenario.to_dict())
    assert again.keys == scenario.keys and again.accounts == scenario.accounts


@pytest.mark.parametrize("inst_type", ["SPOT", "SWAP", "FUTURES"])
def test_public_instruments_lists_each_type(simulator, inst_type):
    response = requests.get(f"{simulator.url}/api/v5/public/instruments?instType={inst_type}", timeout=5)
    rows = response.json()["data"]
    assert rows and {r["instType"] for r in rows} == {inst_type}
