"""API keys live and die like OKX's: live keys with trade or withdraw permission and no IP
binding are deleted after 14 idle days; only authenticated calls count as use."""

from __future__ import annotations

import pytest
import requests

from okxsim.probe import signed_headers

CONFIG = "/api/v5/account/config"


def code(sim, key_name: str, target: str = CONFIG) -> str:
    key = sim.scenario.key(key_name)
    return requests.get(sim.url + target, headers=signed_headers(key, "GET", target), timeout=5).json()[
        "code"
    ]


def add(sim, name: str, **fields):
    defaults = {
        "secret_key": f"demo-secret-{name}",
        "passphrase": f"demo-pass-{name}",
        "uid": sim.scenario.master.uid,
        "created": "-1d",
    }
    return sim.add_key(api_key=name, label=name, **{**defaults, **fields})


def test_an_idle_trade_key_without_ip_is_deleted_after_14_days(simulator):
    # demo-key-gamma-trade was last used 10 days before start.
    simulator.advance(days=3.9)
    assert code(simulator, "demo-key-gamma-trade") == "0"  # this use restarts its idle clock
    simulator.advance(days=13.9)
    assert simulator.key_exists("demo-key-gamma-trade")
    deleted = simulator.advance(days=0.2)
    assert deleted == ["demo-key-gamma-trade"]
    assert code(simulator, "demo-key-gamma-trade") == "50119"


def test_the_idle_key_of_the_demo_dies_four_days_after_start_when_unused(simulator):
    simulator.advance(days=4.01)
    assert code(simulator, "demo-key-gamma-trade") == "50119"


@pytest.mark.parametrize(
    ("fields", "survives"),
    [
        ({"perm": "read_only,trade"}, False),
        ({"perm": "read_only,withdraw"}, False),
        ({"perm": "read_only"}, True),
        ({"perm": "read_only,trade", "ip": "127.0.0.1"}, True),
        ({"perm": "read_only,trade", "env": "demo"}, True),
    ],
)
def test_only_live_trade_or_withdraw_keys_without_ip_expire(simulator, fields, survives):
    add(simulator, "subject", last_used="-1d", **fields)
    simulator.advance(days=14)
    assert simulator.key_exists("subject") is survives


def test_a_never_used_key_idles_from_its_creation(simulator):
    add(simulator, "fresh", perm="read_only,trade", created="-13d")
    assert simulator.advance(days=1) == ["fresh"]


def test_public_calls_with_the_key_headers_do_not_count_as_use(simulator):
    key = add(simulator, "quiet", perm="read_only,trade", last_used="-13d")
    target = "/api/v5/public/time"
    requests.get(simulator.url + target, headers=signed_headers(key, "GET", target), timeout=5)
    assert simulator.advance(days=1.01) == ["quiet"]


def test_failed_authentication_does_not_count_as_use(simulator):
    key = add(simulator, "quiet", perm="read_only,trade", last_used="-13d")
    headers = signed_headers(key, "GET", CONFIG)
    headers["OK-ACCESS-SIGN"] = "bm90IGEgc2lnbmF0dXJl"
    assert requests.get(simulator.url + CONFIG, headers=headers, timeout=5).json()["code"] == "50113"
    assert simulator.advance(days=1.01) == ["quiet"]


def test_a_deleted_key_no_longer_shows_in_the_masters_listing(simulator):
    simulator.delete_key("demo-key-alpha-desk")
    assert code(simulator, "demo-key-alpha-desk") == "50119"
    target = "/api/v5/users/subaccount/apikey?subAcct=alpha-desk"
    key = simulator.scenario.key("demo-key-main-read")
    body = requests.get(simulator.url + target, headers=signed_headers(key, "GET", target), timeout=5).json()
    assert body["data"] == []


def test_advancing_time_does_not_move_the_signature_clock(simulator):
    simulator.advance(days=30)
    assert code(simulator, "demo-key-main-read") == "0"


def test_an_added_key_is_usable_at_once(simulator):
    add(simulator, "newcomer")
    assert code(simulator, "newcomer") == "0"
