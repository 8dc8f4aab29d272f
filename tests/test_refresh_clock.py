"""One learned server-time offset per process and host: refreshing many accounts must not spend
OKX's per-IP /public/time budget (10 per 2 s) once per account (found by bench/refresh.py)."""

from __future__ import annotations

import pytest

from okxapi import Client, Connection, LocalLimiter
from okxsim import Scenario
from snapshots.models import Snapshot
from snapshots.refresh import refresh_account
from tests.accounts_support import calls_to
from tests.workers_support import add_account, frozen, key_fields

TIME = "/api/v5/public/time"


def _client(sim, name: str, connection: Connection | None = None) -> Client:
    connection = connection or Connection(LocalLimiter())
    return Client(**key_fields(sim, name), base_url=sim.url, connection=connection)


def test_clients_sharing_the_clock_learn_the_offset_once_and_sign_with_it(make_simulator):
    sim = make_simulator(frozen(), clock_offset_ms=90_000)  # beyond OKX's 30 s window
    shared = Connection(LocalLimiter())
    first, second = (_client(sim, name, shared) for name in ("main", "alpha-desk"))

    first.get_balance()
    second.get_balance()  # would be refused (50102) if it signed without the learned offset

    assert calls_to(sim, TIME) == 1
    assert second.clock_offset_ms == pytest.approx(90_000, abs=2_000)


def test_a_client_of_another_connection_still_learns_its_own_clock(make_simulator):
    sim = make_simulator(frozen())
    _client(sim, "main").get_balance()

    _client(sim, "main").get_balance()

    assert calls_to(sim, TIME) == 2


@pytest.mark.django_db
def test_refreshing_twelve_accounts_in_one_process_asks_okx_the_time_once(make_simulator):
    sim = make_simulator(frozen(Scenario.generate(n_subaccounts=11, own_keys=True)))
    master = add_account(sim, "master")
    accounts = [master, *(add_account(sim, sub.name, master=master) for sub in sim.scenario.subaccounts)]

    outcomes = [refresh_account(account.pk, cycle=1) for account in accounts]

    assert [o.status for o in outcomes] == ["ok"] * 12
    assert Snapshot.objects.filter(cycle=1).count() == 12
    assert calls_to(sim, TIME) == 1


@pytest.mark.django_db
def test_a_key_check_after_a_refresh_signs_with_the_offset_the_refresh_learned(make_simulator):
    """Every client the product builds shares the process's connection, not only refreshes."""
    sim = make_simulator(frozen(), clock_offset_ms=90_000)
    account = add_account(sim, "main")
    assert refresh_account(account.pk, cycle=1).status == "ok"

    config = account.active_credential().build_client().get_account_config()

    assert config.uid == account.uid
    assert calls_to(sim, TIME) == 1
