"""The simulator authenticates exactly like OKX: headers, timestamp, environment, key,
passphrase, signature, freeze, IP whitelist, role and permission (okx-reference.md 1, 3.1)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import requests

from okxsim.probe import signed_headers

BALANCE = "/api/v5/account/balance"


def get(sim, target: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(sim.url + target, headers=headers, timeout=5)


def signed_get(sim, key, target: str = BALANCE, **options) -> requests.Response:
    return get(sim, target, signed_headers(key, "GET", target, **options))


def assert_error(response: requests.Response, code: str, status: int, msg: str) -> None:
    assert response.status_code == status
    assert response.json() == {"code": code, "msg": msg, "data": []}


@pytest.fixture
def master_key(simulator):
    return simulator.scenario.key("demo-key-main-read")


def test_a_correctly_signed_request_is_served(simulator, master_key):
    response = signed_get(simulator, master_key)
    assert response.status_code == 200
    assert response.json()["code"] == "0"


@pytest.mark.parametrize(
    ("header", "code", "msg"),
    [
        ("OK-ACCESS-KEY", "50103", 'Request header "OK-ACCESS-KEY" cannot be empty.'),
        ("OK-ACCESS-PASSPHRASE", "50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'),
        ("OK-ACCESS-SIGN", "50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.'),
        ("OK-ACCESS-TIMESTAMP", "50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'),
    ],
)
def test_each_empty_auth_header_has_its_own_code(simulator, master_key, header, code, msg):
    headers = signed_headers(master_key, "GET", BALANCE)
    headers[header] = ""
    assert_error(get(simulator, BALANCE, headers), code, 401, msg)


def test_a_request_without_any_auth_header_is_refused_for_the_key_first(simulator):
    assert get(simulator, BALANCE, {}).json()["code"] == "50103"


@pytest.mark.parametrize("stamp", ["2026-11-21 10:00:00.000Z", "1700000000000", "2026-11-21T10:00:00Z"])
def test_a_malformed_timestamp_is_50112(simulator, master_key, stamp):
    headers = signed_headers(master_key, "GET", BALANCE)
    headers["OK-ACCESS-TIMESTAMP"] = stamp
    assert_error(get(simulator, BALANCE, headers), "50112", 401, "Invalid OK-ACCESS-TIMESTAMP.")


def test_a_timestamp_older_than_the_window_is_expired(simulator, master_key):
    stale = simulator.server_time_ms() - 31_000
    response = signed_get(simulator, master_key, timestamp_ms=stale)
    assert_error(response, "50102", 401, "Timestamp request expired.")


def test_a_timestamp_inside_the_window_is_accepted(simulator, master_key):
    assert signed_get(simulator, master_key, timestamp_ms=simulator.server_time_ms() - 25_000).ok


def test_the_window_is_configurable(make_simulator):
    sim = make_simulator("demo", timestamp_window_s=5)
    key = sim.scenario.key("demo-key-main-read")
    response = signed_get(sim, key, timestamp_ms=sim.server_time_ms() - 10_000)
    assert response.json()["code"] == "50102"


def test_a_server_clock_offset_makes_a_client_on_local_time_look_expired(simulator, master_key):
    simulator.set_clock_offset(45_000)
    assert signed_get(simulator, master_key).json()["code"] == "50102"
    server_now = int(requests.get(simulator.url + "/api/v5/public/time", timeout=5).json()["data"][0]["ts"])
    assert signed_get(simulator, master_key, timestamp_ms=server_now).json()["code"] == "0"


def test_the_demo_scenario_runs_its_clock_a_few_seconds_ahead(simulator):
    ts = int(requests.get(simulator.url + "/api/v5/public/time", timeout=5).json()["data"][0]["ts"])
    assert 2_000 < ts - int(time.time() * 1000) < 4_000


def test_an_unknown_key_is_50119_with_http_401(simulator, master_key):
    stranger = replace(master_key, api_key="no-such-key")
    assert_error(signed_get(simulator, stranger), "50119", 401, "API key doesn't exist")


def test_a_demo_key_used_live_is_an_environment_mismatch(simulator):
    demo_key = simulator.scenario.key("demo-key-eta-demo")
    response = signed_get(simulator, demo_key, demo=False)
    assert_error(response, "50101", 401, "APIKey does not match current environment.")


def test_a_live_key_used_on_demo_is_an_environment_mismatch(simulator, master_key):
    assert signed_get(simulator, master_key, demo=True).json()["code"] == "50101"


def test_a_demo_key_with_the_demo_header_is_served(simulator):
    assert signed_get(simulator, simulator.scenario.key("demo-key-eta-demo")).json()["code"] == "0"


def test_a_wrong_passphrase_is_50105(simulator, master_key):
    response = signed_get(simulator, replace(master_key, passphrase="not-it"))
    assert_error(response, "50105", 401, 'Request header "OK-ACCESS-PASSPHRASE" incorrect.')


def test_a_signature_with_the_wrong_secret_is_50113(simulator, master_key):
    response = signed_get(simulator, replace(master_key, secret_key="demo-secret-wrong"))
    assert_error(response, "50113", 401, "Invalid signature.")


def test_the_signature_covers_the_query_string(simulator, master_key):
    headers = signed_headers(master_key, "GET", BALANCE + "?ccy=BTC")
    assert get(simulator, BALANCE + "?ccy=ETH", headers).json()["code"] == "50113"


def test_the_signature_covers_the_query_bytes_as_sent(simulator, master_key):
    encoded = BALANCE + "?ccy=BTC%2CUSDT"
    assert signed_get(simulator, master_key, encoded).json()["code"] == "0"
    headers = signed_headers(master_key, "GET", BALANCE + "?ccy=BTC,USDT")
    assert get(simulator, encoded, headers).json()["code"] == "50113"


def test_a_frozen_key_is_50100_with_http_400(simulator):
    frozen = simulator.scenario.key("demo-key-zeta-frozen")
    assert_error(signed_get(simulator, frozen), "50100", 400, "API frozen, please contact customer service.")


def test_freezing_a_key_takes_effect_at_once(simulator, master_key):
    simulator.freeze_key(master_key.api_key)
    assert signed_get(simulator, master_key).json()["code"] == "50100"
    simulator.freeze_key(master_key.api_key, frozen=False)
    assert signed_get(simulator, master_key).json()["code"] == "0"


def test_a_key_bound_to_our_ip_is_served(simulator):
    assert signed_get(simulator, simulator.scenario.key("demo-key-beta-ip")).json()["code"] == "0"


def test_a_key_bound_to_another_ip_names_the_callers_ip(simulator):
    key = simulator.add_key(
        api_key="ip-elsewhere",
        secret_key="demo-secret-x",
        passphrase="demo-pass-x",
        uid=simulator.scenario.master.uid,
        ip="10.1.2.3,10.1.2.4",
    )
    msg = "Your IP 127.0.0.1 is not included in your API key's IP whitelist."
    assert_error(signed_get(simulator, key), "50110", 401, msg)


def test_a_sub_account_key_on_a_master_only_endpoint_is_59500(simulator):
    sub_key = simulator.scenario.key("demo-key-alpha-desk")
    response = signed_get(simulator, sub_key, "/api/v5/users/subaccount/list")
    assert_error(response, "59500", 200, "Only the API key of the main account has permission.")


def test_a_key_without_the_needed_permission_is_50120(simulator):
    key = simulator.add_key(
        api_key="trade-only",
        secret_key="demo-secret-t",
        passphrase="demo-pass-t",
        uid=simulator.scenario.master.uid,
        perm="trade",
        ip="127.0.0.1",
    )
    msg = "This API key doesn't have permission to use this function"
    assert_error(signed_get(simulator, key), "50120", 200, msg)


def test_public_endpoints_need_no_key(simulator):
    response = requests.get(simulator.url + "/api/v5/public/time", timeout=5)
    assert response.json()["code"] == "0"
