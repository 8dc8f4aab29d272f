"""The product's client against the simulator: two parts written apart must agree on every
endpoint, every authentication failure, the clock and the shared budget."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import redis

from okxapi import ENDPOINT_LIMITS, Client, Connection, OkxError, RedisLimiter

BALANCE = "/api/v5/account/balance"


@pytest.fixture
def limiter(redis_url):
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("okxtest:*"):
        client.delete(key)
    return RedisLimiter(client, prefix="okxtest:ratelimit")


def client_for(sim, key, limiter, **options) -> Client:
    """A client of a connection of its own (its own clock), sharing the Redis limiter."""
    return Client(
        key.api_key, key.secret_key, key.passphrase,
        demo=key.env == "demo", base_url=sim.url, connection=Connection(limiter), **options,
    )  # fmt: skip


def refusal(call) -> OkxError:
    with pytest.raises(OkxError) as raised:
        call()
    return raised.value


def test_every_endpoint_parses_what_the_simulator_serves(simulator, limiter):
    master = client_for(simulator, simulator.scenario.key("demo-key-main-read"), limiter)
    config = master.get_account_config()
    assert config.uid == simulator.scenario.master.uid and config.is_master
    assert config.perm == frozenset({"read_only"})
    balance = master.get_balance()
    assert balance.total_eq > 0
    assert sum(d.eq_usd for d in balance.details) == pytest.approx(balance.total_eq, rel=Decimal("1e-9"))
    assert all(isinstance(d.eq, Decimal) for d in balance.details)
    assert {f.ccy for f in master.get_funding_balances()} >= {"USDT"}
    assert master.get_asset_valuation("USD").total_bal > 0
    names = {sub.name for sub in master.get_subaccounts()}
    assert names == {account.name for account in simulator.scenario.subaccounts}
    sub_balance = master.get_subaccount_balance("delta-nokey")
    assert sub_balance.total_eq > 0
    (gamma_key,) = master.get_subaccount_api_keys("gamma-mm")
    assert gamma_key.perm == frozenset({"read_only", "trade"}) and gamma_key.ip == ()
    assert gamma_key.created is not None


def test_positions_of_a_futures_book_have_decimal_prices_and_sides(simulator, limiter):
    epsilon = client_for(simulator, simulator.scenario.key("demo-key-epsilon"), limiter)
    positions = epsilon.get_positions()
    assert {p.inst_type for p in positions} >= {"FUTURES"}
    for position in positions:
        assert position.mark_px > 0 and position.pos != 0
        assert position.pos_side in {"net", "long", "short"}


@pytest.mark.parametrize(
    ("change", "category", "code"),
    [
        ({"passphrase": "not-the-passphrase"}, "passphrase", "50105"),
        ({"secret_key": "not-the-secret-key"}, "signature", "50113"),
        ({"api_key": "unknown-key-000000"}, "key", "50119"),
    ],
)
def test_a_wrong_credential_is_diagnosed_and_not_retried(simulator, limiter, change, category, code):
    key = simulator.scenario.key("demo-key-alpha-desk")
    fields = {"api_key": key.api_key, "secret_key": key.secret_key, "passphrase": key.passphrase, **change}
    calls = []
    client = Client(**fields, base_url=simulator.url, connection=Connection(limiter), on_call=calls.append)
    error = refusal(client.get_balance)
    assert (error.code, error.diagnosis.category, error.permanent) == (code, category, True)
    assert [c.endpoint for c in calls].count(BALANCE) == 1


def test_a_demo_key_used_live_is_an_environment_error(simulator, limiter):
    key = simulator.scenario.key("demo-key-eta-demo")
    client = Client(
        key.api_key, key.secret_key, key.passphrase, base_url=simulator.url, connection=Connection(limiter)
    )
    error = refusal(client.get_balance)
    assert (error.code, error.diagnosis.category) == ("50101", "environment")


def test_an_ip_bound_key_from_another_address_names_the_callers_ip(simulator, limiter):
    key = simulator.add_key(
        uid=simulator.scenario.account("alpha-desk").uid,
        api_key="fake-key-ip-elsewhere",
        secret_key="fake-secret-ip-elsewhere",
        passphrase="fake-pass-ip",
        perm="read_only",
        ip="192.0.2.10",
    )
    error = refusal(client_for(simulator, key, limiter).get_balance)
    assert (error.code, error.diagnosis.category) == ("50110", "ip_whitelist")
    assert any("127.0.0.1" in step for step in error.diagnosis.steps)


def test_a_sub_account_key_on_a_master_endpoint_is_a_permission_error(simulator, limiter):
    sub = client_for(simulator, simulator.scenario.key("demo-key-alpha-desk"), limiter)
    error = refusal(sub.get_subaccounts)
    assert (error.code, error.diagnosis.category) == ("59500", "permission")


def test_the_client_corrects_for_a_skewed_server_clock_and_resyncs_after_it_jumps(simulator, limiter):
    simulator.set_clock_offset(90_000)
    client = client_for(simulator, simulator.scenario.key("demo-key-main-read"), limiter)
    assert client.get_balance().total_eq > 0
    assert client.clock_offset_ms == pytest.approx(90_000, abs=2_000)
    simulator.set_clock_offset(-90_000)  # beyond the 30 s window: the next call is refused once
    calls = []
    client = client_for(
        simulator, simulator.scenario.key("demo-key-main-read"), limiter, on_call=calls.append
    )
    client.get_balance()
    simulator.set_clock_offset(+60_000)
    assert client.get_balance().total_eq > 0
    assert client.clock_offset_ms == pytest.approx(60_000, abs=2_000)
    assert "50102" in [c.code for c in calls]


def test_threads_sharing_the_redis_limiter_never_exceed_the_published_limit(simulator, limiter):
    key = simulator.scenario.key("demo-key-main-read")

    def work() -> None:
        client = client_for(simulator, key, limiter, uid=simulator.scenario.master.uid)
        for _ in range(4):
            client.get_balance()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = simulator.stats()[(BALANCE, simulator.scenario.master.uid)]
    assert stats["calls"] == 16 and stats["rejected"] == 0
    assert stats["max_window"] <= ENDPOINT_LIMITS[BALANCE].count
