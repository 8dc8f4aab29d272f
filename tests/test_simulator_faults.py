"""Injected faults: an OKX code, an HTTP status, a non-JSON body, a stall, a dropped
connection, for the next N calls or with a probability."""

from __future__ import annotations

import pytest
import requests

from okxsim import Scenario

TIME = "/api/v5/public/time"


def get(sim, target: str = TIME, timeout: float = 5) -> requests.Response:
    return requests.get(sim.url + target, timeout=timeout)


def test_an_injected_code_uses_the_official_message_and_status(simulator):
    simulator.inject_fault(TIME, code="50013")
    response = get(simulator)
    assert response.status_code == 429
    assert response.json() == {
        "code": "50013",
        "msg": "Systems are busy. Please try again later.",
        "data": [],
    }
    assert get(simulator).json()["code"] == "0"  # times=1: the next call is healthy


def test_an_injected_code_can_carry_its_own_status_and_message(simulator):
    simulator.inject_fault(TIME, code=50026, http_status=502, msg="upstream hiccup")
    response = get(simulator)
    assert response.status_code == 502 and response.json()["msg"] == "upstream hiccup"


def test_a_fault_hits_the_next_n_calls_only(simulator):
    simulator.inject_fault(TIME, code="50001", times=3)
    assert [get(simulator).status_code for _ in range(4)] == [503, 503, 503, 200]


def test_a_non_json_body_is_sent_as_is(simulator):
    simulator.inject_fault(TIME, http_status=502, body="<html>Bad Gateway</html>")
    response = get(simulator)
    assert response.status_code == 502 and response.text == "<html>Bad Gateway</html>"
    with pytest.raises(ValueError):
        response.json()


def test_a_bare_status_comes_without_an_okx_body(simulator):
    simulator.inject_fault(TIME, http_status=504)
    response = get(simulator)
    assert response.status_code == 504 and "code" not in response.text


def test_a_delay_stalls_the_answer_past_a_client_timeout(simulator):
    simulator.inject_fault(TIME, delay=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(simulator, timeout=0.3)


def test_a_dropped_connection_gives_the_client_a_connection_error(simulator):
    simulator.inject_fault(TIME, drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        get(simulator)
    assert get(simulator).json()["code"] == "0"


def test_a_probability_fault_hits_some_calls_and_not_others(simulator):
    simulator.rate_limits_enabled = False
    simulator.inject_fault(TIME, code="50013", probability=0.5, times=None)
    statuses = [get(simulator).status_code for _ in range(60)]
    assert 10 < statuses.count(429) < 50 and statuses.count(200) > 10


def test_a_star_fault_hits_every_path_and_clear_faults_heals(simulator):
    simulator.inject_fault("*", code="50001", times=None)
    assert get(simulator).status_code == 503
    assert get(simulator, "/api/v5/account/balance").status_code == 503
    simulator.clear_faults()
    assert get(simulator).status_code == 200


def test_faults_can_come_from_the_scenario(make_simulator):
    raw = Scenario.load("demo").to_dict()
    raw["faults"] = [{"path": TIME, "code": "50004", "times": 1}]
    sim = make_simulator(raw)
    assert get(sim).json()["code"] == "50004"


def test_latency_is_fixed_plus_a_jitter_within_its_bound(simulator):
    simulator.set_latency(fixed_ms=40, jitter_ms=20)
    samples = [simulator.latency_s() for _ in range(200)]
    assert all(0.040 <= s <= 0.060 for s in samples) and len(set(samples)) > 100


def test_latency_applies_to_every_request(make_simulator):
    sim = make_simulator("demo", latency_ms=(5_000, 0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(sim, timeout=0.3)
