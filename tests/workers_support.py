"""Helpers for the workers tests: demo accounts against the simulator, and direct reads."""

from __future__ import annotations

from dataclasses import replace

from accounts.models import Account, AccountKind, Environment
from accounts.okx import shared_connection
from okxapi import Client
from okxsim import Scenario
from tests.accounts_support import install

# One price-walk step per ~30 years: prices hold still, so a direct read after a refresh
# serves exactly what the refresh read.
FROZEN_STEP_S = 1e9


def frozen(scenario: Scenario | str = "demo") -> Scenario:
    scenario = Scenario.load(scenario) if isinstance(scenario, str) else scenario
    return replace(scenario, price_step_s=FROZEN_STEP_S)


def key_fields(sim, name: str) -> dict[str, str]:
    key = sim.scenario.keys_of(name)[0]
    return {"api_key": key.api_key, "secret_key": key.secret_key, "passphrase": key.passphrase}


def add_account(sim, name: str, *, master: Account | None = None, keyless: bool = False) -> Account:
    """The simulator's account `name` as a dashboard account with its own key (unless keyless)."""
    account = Account.objects.create(
        name=name,
        kind=AccountKind.SUB if master else AccountKind.MASTER,
        master=master,
        sub_acct_name=name if master else "",
        uid=sim.scenario.account(name).uid,
        base_url=sim.url,
        environment=Environment.LIVE,
    )
    if not keyless:
        install(account, key_fields(sim, name))
    return account


def direct_client(sim, name: str) -> Client:
    """A client of our own, outside the product, to read what the simulator serves. It spends the
    product's rate budget (the shared Redis limiter), so a test's own read right after the
    product's never exceeds OKX's limit: a LocalLimiter knew nothing of the product's calls, and
    a check right after a sync that used up deposit-history's window got a 50011."""
    return Client(**key_fields(sim, name), base_url=sim.url, connection=shared_connection())
