"""The simulator enforces the published limits per endpoint and UID (private) or IP (public),
over rolling windows, and keeps counters a benchmark can check a client against."""

from __future__ import annotations

import pytest
import requests

from okxsim.probe import signed_headers
from okxsim.ratelimit import LIMITS

BALANCE = "/api/v5/account/balance"
TOO_MANY = {"msg": "Too Many Requests", "code": "50011", "data": []}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(simulator) -> FakeClock:
    fake = FakeClock()
    simulator.limiter.clock = fake
    return fake


def call(sim, target: str, key_name: str = "demo-key-main-read") -> requests.Response:
    key = sim.scenario.key(key_name)
    return requests.get(sim.url + target, headers=signed_headers(key, "GET", target), timeout=5)


def burst(sim, target: str, n: int, key_name: str = "demo-key-main-read") -> list[str]:
    return [call(sim, target, key_name).json()["code"] for _ in range(n)]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v5/account/balance",
        "/api/v5/account/config",
        "/api/v5/asset/balances",
        "/api/v5/asset/asset-valuation",
        "/api/v5/trade/account-rate-limit",
    ],
)
def test_the_published_number_is_allowed_and_one_more_is_refused(simulator, clock, path):
    allowed = LIMITS[path].requests
    assert burst(simulator, path, allowed) == ["0"] * allowed
    refused = call(simulator, path)
    assert refused.status_code == 429 and refused.json() == TOO_MANY


def test_the_window_rolls_after_its_period(simulator, clock):
    assert burst(simulator, BALANCE, 11) == ["0"] * 10 + ["50011"]
    clock.now += 1.9
    assert call(simulator, BALANCE).json()["code"] == "50011"
    clock.now += 0.11
    assert burst(simulator, BALANCE, 10) == ["0"] * 10


def test_the_window_is_rolling_not_fixed(simulator, clock):
    burst(simulator, BALANCE, 5)
    clock.now += 1.0
    burst(simulator, BALANCE, 5)
    clock.now += 1.01  # the first five have left the window, the last five have not
    assert burst(simulator, BALANCE, 6) == ["0"] * 5 + ["50011"]


def test_refused_requests_do_not_consume_budget(simulator, clock):
    burst(simulator, BALANCE, 30)
    clock.now += 2.01
    assert burst(simulator, BALANCE, 10) == ["0"] * 10


def test_each_endpoint_has_its_own_budget(simulator, clock):
    burst(simulator, BALANCE, 10)
    assert call(simulator, "/api/v5/account/positions").json()["code"] == "0"


def test_each_uid_has_its_own_budget_and_subaccount_reads_count_against_the_master(simulator, clock):
    burst(simulator, BALANCE, 10)
    assert call(simulator, BALANCE, "demo-key-alpha-desk").json()["code"] == "0"
    target = "/api/v5/account/subaccount/balances?subAcct=alpha-desk"
    assert burst(simulator, target, 7) == ["0"] * 6 + ["50011"]
    assert ("/api/v5/account/subaccount/balances", "700000000000000001") in simulator.stats()


def test_two_keys_of_one_uid_share_the_budget(simulator, clock):
    simulator.add_key(
        api_key="second-master",
        secret_key="demo-secret-2",
        passphrase="demo-pass-2",
        uid=simulator.scenario.master.uid,
    )
    burst(simulator, BALANCE, 10)
    assert call(simulator, BALANCE, "second-master").json()["code"] == "50011"


def test_public_endpoints_are_limited_per_ip(simulator, clock):
    codes = [requests.get(simulator.url + "/api/v5/public/time", timeout=5).json()["code"] for _ in range(11)]
    assert codes == ["0"] * 10 + ["50011"]
    assert simulator.stats()[("/api/v5/public/time", "127.0.0.1")]["rejected"] == 1


def test_counters_show_calls_rejections_and_the_peak_window(simulator, clock):
    burst(simulator, BALANCE, 12)
    clock.now += 5
    burst(simulator, BALANCE, 3)
    counters = simulator.stats()[(BALANCE, "700000000000000001")]
    assert counters == {"calls": 15, "rejected": 2, "max_window": 10}
    assert simulator.total_rejected() == 2


def test_limits_can_be_switched_off(simulator, clock):
    simulator.rate_limits_enabled = False
    assert burst(simulator, "/api/v5/asset/asset-valuation", 5) == ["0"] * 5
    assert simulator.stats()[("/api/v5/asset/asset-valuation", "700000000000000001")]["max_window"] == 5


def test_failed_authentication_is_not_counted(simulator, clock):
    key = simulator.scenario.key("demo-key-main-read")
    headers = signed_headers(key, "GET", BALANCE)
    headers["OK-ACCESS-PASSPHRASE"] = "wrong"
    for _ in range(12):
        requests.get(simulator.url + BALANCE, headers=headers, timeout=5)
    assert call(simulator, BALANCE).json()["code"] == "0"
