"""Two third-party OKX clients, unchanged but for their base URL, work against the simulator
and see the right failures. If OKX would accept them, so must we, and refuse them alike."""

from __future__ import annotations

from dataclasses import replace

import ccxt
import okx.Account
import okx.Funding
import okx.SubAccount
import pytest


def ccxt_client(sim, key, *, sandbox: bool = False, rate_limit: bool = True) -> ccxt.okx:
    exchange = ccxt.okx(
        {
            "apiKey": key.api_key,
            "secret": key.secret_key,
            "password": key.passphrase,
            "enableRateLimit": rate_limit,
        }
    )
    if sandbox:
        exchange.set_sandbox_mode(True)
    exchange.urls["api"] = {"rest": sim.url}  # ccxt builds 'https://{hostname}' from here
    return exchange


def okx_account(sim, key, flag: str = "0") -> okx.Account.AccountAPI:
    return okx.Account.AccountAPI(key.api_key, key.secret_key, key.passphrase, flag=flag, domain=sim.url)


@pytest.fixture
def master(simulator):
    return simulator.scenario.key("demo-key-main-read")


# -- ccxt ------------------------------------------------------------------------------------
def test_ccxt_fetches_the_trading_balance(simulator, master):
    balance = ccxt_client(simulator, master).fetch_balance()
    assert balance["total"]["BTC"] == pytest.approx(2.75)
    assert balance["free"]["USDT"] < balance["total"]["USDT"]  # margin and orders are frozen


def test_ccxt_fetches_the_funding_balance(simulator, master):
    balance = ccxt_client(simulator, master).fetch_balance({"type": "funding"})
    assert balance["total"] == {"USDT": 25000.0, "BTC": 0.5, "SOL": 120.0}


def test_ccxt_fetches_positions_with_sides_and_pnl(simulator, master):
    positions = ccxt_client(simulator, master).fetch_positions()
    by_symbol = {p["symbol"]: p for p in positions}
    assert by_symbol["BTC/USDT:USDT"]["side"] == "long"
    assert by_symbol["ETH/USDT:USDT"]["side"] == "short"
    assert by_symbol["BTC/USDT:USDT"]["contracts"] == 40.0
    assert by_symbol["BTC/USDT:USDT"]["unrealizedPnl"] is not None


def test_ccxt_reads_futures_positions_of_a_subaccount(simulator):
    key = simulator.scenario.key("demo-key-epsilon")
    symbols = {p["symbol"] for p in ccxt_client(simulator, key).fetch_positions()}
    assert symbols == {"BTC/USD:BTC-270326", "ETH/USDT:USDT-270326"}


def test_ccxt_raw_subaccount_endpoints(simulator, master):
    exchange = ccxt_client(simulator, master)
    subs = exchange.privateGetUsersSubaccountList({"limit": "2"})
    assert subs["code"] == "0" and len(subs["data"]) == 2
    trading = exchange.privateGetAccountSubaccountBalances({"subAcct": "alpha-desk"})
    assert float(trading["data"][0]["totalEq"]) > 0
    keys = exchange.privateGetUsersSubaccountApikey({"subAcct": "gamma-mm"})
    assert keys["data"][0]["apiKey"] == "demo-key-gamma-trade"


def test_ccxt_in_sandbox_mode_works_with_a_demo_key(simulator):
    key = simulator.scenario.key("demo-key-eta-demo")
    assert ccxt_client(simulator, key, sandbox=True).fetch_balance()["total"]["USDT"] == 100000.0


def test_ccxt_sees_a_wrong_passphrase_as_an_authentication_error(simulator, master):
    with pytest.raises(ccxt.AuthenticationError, match="50105"):
        ccxt_client(simulator, replace(master, passphrase="wrong")).fetch_balance()


def test_ccxt_sees_a_wrong_secret_as_an_authentication_error(simulator, master):
    with pytest.raises(ccxt.AuthenticationError, match="50113"):
        ccxt_client(simulator, replace(master, secret_key="demo-secret-wrong")).fetch_balance()


def test_ccxt_sees_a_demo_key_used_live_as_an_authentication_error(simulator):
    key = simulator.scenario.key("demo-key-eta-demo")
    with pytest.raises(ccxt.AuthenticationError, match="50101"):
        ccxt_client(simulator, key).fetch_balance()


def test_ccxt_sees_a_rate_limit_breach_as_rate_limit_exceeded(simulator, master):
    simulator.limiter.clock = lambda: 1000.0  # a frozen window: the breach cannot depend on speed
    exchange = ccxt_client(simulator, master, rate_limit=False)
    with pytest.raises(ccxt.RateLimitExceeded):
        for _ in range(3):  # asset valuation allows 1 request per second
            exchange.privateGetAssetAssetValuation()
    assert simulator.total_rejected() == 1


# -- python-okx --------------------------------------------------------------------------------
def test_python_okx_reads_balance_positions_and_config(simulator, master):
    account = okx_account(simulator, master)
    balance = account.get_account_balance(ccy="BTC,USDT")
    assert balance["code"] == "0"
    assert {d["ccy"] for d in balance["data"][0]["details"]} == {"BTC", "USDT"}
    assert len(account.get_positions(instType="SWAP")["data"]) == 2
    assert account.get_account_config()["data"][0]["perm"] == "read_only"


def test_python_okx_reads_funding_and_subaccounts(simulator, master):
    funding = okx.Funding.FundingAPI(
        master.api_key, master.secret_key, master.passphrase, flag="0", domain=simulator.url
    )
    assert {r["ccy"] for r in funding.get_balances(ccy="USDT,BTC")["data"]} == {"USDT", "BTC"}
    sub = okx.SubAccount.SubAccountAPI(
        master.api_key, master.secret_key, master.passphrase, flag="0", domain=simulator.url
    )
    assert len(sub.get_subaccount_list(limit="3")["data"]) == 3
    assert sub.get_account_balance("epsilon-futures")["data"][0]["totalEq"]
    assert sub.get_funding_balance(subAcct="delta-nokey")["data"][0]["ccy"] == "USDC"


def test_python_okx_demo_flag_works_with_a_demo_key(simulator):
    key = simulator.scenario.key("demo-key-eta-demo")
    assert okx_account(simulator, key, flag="1").get_account_balance()["code"] == "0"


def test_python_okx_gets_the_okx_codes_for_the_usual_mistakes(simulator, master):
    assert okx_account(simulator, replace(master, passphrase="x")).get_account_config()["code"] == "50105"
    assert okx_account(simulator, replace(master, secret_key="y")).get_account_config()["code"] == "50113"
    # python-okx defaults to demo (flag "1"): a live key then gets the environment mismatch.
    assert okx_account(simulator, master, flag="1").get_account_config()["code"] == "50101"
    demo_key = simulator.scenario.key("demo-key-eta-demo")
    assert okx_account(simulator, demo_key, flag="0").get_account_config()["code"] == "50101"


def test_python_okx_gets_50011_on_a_rate_limit_breach(simulator, master):
    simulator.limiter.clock = lambda: 1000.0
    account = okx_account(simulator, master)
    codes = [account.get_account_config()["code"] for _ in range(6)]
    assert codes == ["0"] * 5 + ["50011"]
