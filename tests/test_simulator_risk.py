"""The simulator moves prices toward a position's liquidation price: the position's and the
account's risk figures follow (read through the HTTP API, as OKX serves them by account mode);
a cross position's liqPx is where the ratio it shares with its account (Multi-currency: the
account's mgnRatio; Futures mode: its currency's) reaches 100 %, so it moves with the account's
equity, an isolated one's where its own margin runs out; reaching liqPx liquidates the position
once, as OKX records it (positions history, a trading bill, the margin lost); a trader's close,
partial liquidation and ADL write their rows; GET /api/v5/account/positions-history is served
strictly (params, paging, 3 months, rate limit)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from okxsim.probe import signed_headers
from okxsim.views import MMR_SHARE, TAKER_FEE

HISTORY = "/api/v5/account/positions-history"
# A linear swap: 10 contracts of 0.01 BTC = 0.1 BTC, bought at 60000 with 5x leverage.
LONG = {
    "instId": "BTC-USDT-SWAP",
    "pos": "10",
    "avgPx": "60000",
    "lever": "5",
    "mgnMode": "cross",
    "created": "-1m",
}
SHORT = {
    "instId": "BTC-USDT-SWAP",
    "pos": "-10",
    "avgPx": "60000",
    "lever": "10",
    "mgnMode": "cross",
    "created": "-1m",
}
SIZE, AVG = Decimal("0.1"), Decimal(60000)
# Each account's cash is its position's initial margin at avgPx (notional / lever), so the cross
# position is liquidated where an isolated one posting that margin would be.
MULTI_CASH, FUTURES_CASH = SIZE * AVG / 5, SIZE * AVG / 10


def scenario(**extra: object) -> dict:
    """Two accounts with their own keys and still prices: `multi` (Multi-currency margin,
    acctLv 3: account-level risk figures) holding LONG, `futures` (Futures mode, acctLv 2:
    per-currency figures only) holding SHORT, each with its position's initial margin in cash."""
    accounts = [
        {"uid": "800000000000000001", "name": "multi", "role": "master", "acct_lv": "3",
         "trading": {"USDT": str(MULTI_CASH)}, "positions": [LONG]},
        {"uid": "800000000000000002", "name": "futures", "trading": {"USDT": str(FUTURES_CASH)},
         "positions": [SHORT]},
    ]  # fmt: skip
    keys = [
        {
            "account": name,
            "api_key": f"key-{name}",
            "secret_key": f"secret-{name}",
            "passphrase": f"pass-{name}",
        }
        for name in ("multi", "futures")
    ]
    prices = {"USDT": {"usd": "1"}, "BTC": {"usd": "60000"}}
    return {"name": "risk", "prices": prices, "accounts": accounts, "keys": keys} | extra


@pytest.fixture
def sim(make_simulator):
    return make_simulator(scenario())


def answer(sim, target: str, name: str = "multi") -> dict:
    key = sim.scenario.key(f"key-{name}")
    return requests.get(sim.url + target, headers=signed_headers(key, "GET", target), timeout=5).json()


def data(sim, target: str, name: str = "multi") -> list:
    body = answer(sim, target, name)
    assert body["code"] == "0", body
    return body["data"]


def position(sim, name: str = "multi") -> dict:
    (row,) = data(sim, "/api/v5/account/positions", name)
    return row


def balance(sim, name: str = "multi") -> dict:
    (row,) = data(sim, "/api/v5/account/balance", name)
    return row


def close(actual: str, expected: Decimal) -> bool:
    return abs(Decimal(actual) - expected) < Decimal("1e-9")


def long_liq_px(cash: Decimal = MULTI_CASH) -> Decimal:
    """The cross long's liqPx: where the account's equity, cash + upl = cash + 0.1 (mark - 60000),
    equals its maintenance margin, 0.1 x mark / 5 x 0.1. With the initial margin as cash, that
    is an isolated long's: 60000 x (1 - 1/5) / (1 - 0.1/5)."""
    return (SIZE * AVG - cash) / (SIZE - SIZE / 5 * MMR_SHARE)


def test_moving_the_price_toward_a_longs_liquidation_price_moves_its_risk_figures(sim):
    ratios = []
    for price in ("60000", "56000", "52000", "50000"):
        assert sim.set_price("BTC", price) == []
        mark = Decimal(price)
        row, account = position(sim), balance(sim)
        upl, mmr, margin = (mark - AVG) * SIZE, SIZE * mark / 5 * MMR_SHARE, SIZE * AVG / 5
        assert (row["markPx"], row["idxPx"], row["last"]) == (price, price, price)
        assert close(row["upl"], upl) and close(row["mmr"], mmr) and close(row["imr"], SIZE * mark / 5)
        assert close(row["mgnRatio"], (margin + upl) / mmr)
        assert close(row["liqPx"], long_liq_px())
        # Multi-currency margin: the account's figures, in USD (USDT at 1).
        assert close(account["adjEq"], MULTI_CASH + upl) and close(account["totalEq"], MULTI_CASH + upl)
        assert close(account["imr"], SIZE * mark / 5) and close(account["mmr"], mmr)
        assert close(account["mgnRatio"], (MULTI_CASH + upl) / mmr)
        (usdt,) = account["details"]
        assert (usdt["imr"], usdt["mmr"], usdt["mgnRatio"]) == ("", "", "")  # Futures mode only
        ratios.append(Decimal(row["mgnRatio"]))
    assert ratios == sorted(ratios, reverse=True)
    assert data(sim, HISTORY) == []


def test_futures_mode_reports_the_risk_per_currency_and_leaves_the_account_level_empty(sim):
    for price in ("60000", "63000"):
        sim.set_price("BTC", price)
        mark = Decimal(price)
        account = balance(sim, "futures")
        assert {account[f] for f in ("adjEq", "imr", "mmr", "mgnRatio", "notionalUsd")} == {""}
        (usdt,) = account["details"]
        upl, mmr = (AVG - mark) * SIZE, SIZE * mark / 10 * MMR_SHARE
        assert close(usdt["upl"], upl) and close(usdt["imr"], SIZE * mark / 10) and close(usdt["mmr"], mmr)
        assert close(usdt["mgnRatio"], (FUTURES_CASH + upl) / mmr)


def test_reaching_liq_px_liquidates_the_long_once_and_the_margin_is_lost(sim):
    pos_id = position(sim)["posId"]
    cash_before = Decimal(balance(sim)["details"][0]["cashBal"])
    liq = long_liq_px()

    assert sim.set_price("BTC", "49000") == []  # just above liqPx (48979.59...)
    assert sim.set_price("BTC", "48000") == [pos_id]
    assert sim.set_price("BTC", "47000") == []  # already gone: liquidated exactly once

    assert data(sim, "/api/v5/account/positions") == []
    (row,) = data(sim, HISTORY)
    assert (row["posId"], row["type"], row["direction"], row["instId"], row["mgnMode"]) == (
        pos_id, "3", "long", "BTC-USDT-SWAP", "cross",
    )  # fmt: skip
    assert (row["triggerPx"], row["openAvgPx"], row["openMaxPos"], row["closeTotalPos"]) == (
        "48000", "60000", "10", "10",
    )  # fmt: skip
    assert close(row["closeAvgPx"], liq)
    pnl = (liq - AVG) * SIZE
    assert close(row["pnl"], pnl)
    assert close(row["liqPenalty"], -(SIZE * AVG / 5 + pnl)) and Decimal(row["liqPenalty"]) < 0
    parts = ("pnl", "fee", "fundingFee", "liqPenalty")
    assert Decimal(row["realizedPnl"]) == sum(Decimal(row[p]) for p in parts)
    assert (row["lever"], row["ccy"], row["uly"], row["posSide"], row["settledPnl"]) == (
        "5",
        "USDT",
        "BTC-USDT",
        "net",
        "",
    )
    assert int(row["uTime"]) > int(row["cTime"])

    # The margin is lost (pnl + penalty = -margin) and the closing fee is paid; nothing else.
    close_fee = -(SIZE * liq * TAKER_FEE)
    account = balance(sim)
    assert close(account["details"][0]["cashBal"], cash_before - SIZE * AVG / 5 + close_fee)
    assert account["totalEq"] == account["details"][0]["eqUsd"] and account["mmr"] == "0"
    (bill,) = [b for b in data(sim, "/api/v5/account/bills") if b["type"] == "5"]
    assert (bill["subType"], bill["instId"], bill["sz"]) == ("104", "BTC-USDT-SWAP", "10")
    assert close(bill["px"], liq) and close(bill["balChg"], -(SIZE * AVG / 5) + close_fee)


def test_a_short_is_liquidated_when_the_mark_rises_to_its_liq_px(sim):
    row = position(sim, "futures")
    liq = AVG * (1 + Decimal(1) / 10) / (1 + MMR_SHARE / 10)
    assert close(row["liqPx"], liq)
    assert sim.set_price("BTC", "65000") == []
    assert sim.set_price("BTC", "66000") == [row["posId"]]

    assert data(sim, "/api/v5/account/positions", "futures") == []
    (closed,) = data(sim, HISTORY, "futures")
    assert (closed["type"], closed["direction"], closed["triggerPx"]) == ("3", "short", "66000")
    assert close(closed["closeAvgPx"], liq) and close(closed["pnl"], (AVG - liq) * SIZE)
    assert [b["subType"] for b in data(sim, "/api/v5/account/bills?type=5", "futures")] == ["105"]
    assert position(sim)["pos"] == "10"  # the other account's long is untouched
    assert data(sim, HISTORY) == []


def with_eth(eth: str) -> dict:
    """scenario() with `eth` ETH (at 3000 USD) in both accounts' trading cash besides the USDT."""
    raw = scenario()
    raw["prices"]["ETH"] = {"usd": "3000"}
    for account in raw["accounts"]:
        account["trading"]["ETH"] = eth
    return raw


def test_a_cross_positions_liq_px_moves_with_the_equity_of_the_account_that_backs_it(make_simulator):
    sim = make_simulator(with_eth("1"))
    short_liq = position(sim, "futures")["liqPx"]
    for eth_usd in ("3000", "4000", "1000"):
        assert sim.set_price("ETH", eth_usd) == []
        # Multi-currency margin: the ETH is part of the account's equity (adjEq); more of it
        # pushes the long's liqPx down, less pulls it up. BTC stays at 60000.
        equity = MULTI_CASH + Decimal(eth_usd)
        assert close(position(sim)["liqPx"], long_liq_px(equity))
        # Futures mode: the USDT short is backed by the USDT balance alone (details[].mgnRatio).
        assert position(sim, "futures")["liqPx"] == short_liq

    # Enough equity and the long has no liquidation price: the account cannot fall to its
    # maintenance margin before BTC reaches 0 (OKX sends ""), and a crash liquidates nothing.
    sim.set_price("ETH", "6000")
    assert position(sim)["liqPx"] == ""
    assert sim.set_price("BTC", "1") == []
    assert position(sim)["pos"] == "10" and data(sim, HISTORY) == []


def test_an_isolated_position_is_liquidated_on_its_own_margin_whatever_the_account_holds(make_simulator):
    raw = with_eth("100")
    raw["accounts"][0]["positions"] = [LONG | {"mgnMode": "isolated"}]
    sim = make_simulator(raw)
    row = position(sim)
    own = AVG * (1 - Decimal(1) / 5) / (1 - MMR_SHARE / 5)  # margin + upl = mmr
    assert close(row["liqPx"], own) and close(row["margin"], SIZE * AVG / 5)
    assert balance(sim)["mmr"] == "0" and balance(sim)["mgnRatio"] == ""  # cross positions only
    assert sim.set_price("BTC", "49000") == []
    assert sim.set_price("BTC", "48900") == [row["posId"]]


def test_at_a_cross_liq_px_the_margin_ratio_is_100_percent_and_a_move_past_it_liquidates(make_simulator):
    sim = make_simulator(with_eth("1"))
    long, short = position(sim), position(sim, "futures")
    liq, short_liq = Decimal(long["liqPx"]), Decimal(short["liqPx"])
    assert close(long["liqPx"], long_liq_px(MULTI_CASH + 3000))

    # A hair before liqPx: the account's mgnRatio (adjEq / mmr) is 100 %, nothing is liquidated.
    assert sim.set_price("BTC", liq + Decimal("0.000001")) == []
    assert abs(Decimal(balance(sim)["mgnRatio"]) - 1) < Decimal("1e-8")
    assert position(sim)["pos"] == "10"
    # One step past: the ratio falls below 100 % and the long is liquidated at its liqPx.
    assert sim.set_price("BTC", liq - Decimal("0.01")) == [long["posId"]]
    (row,) = data(sim, HISTORY)
    assert (row["type"], row["mgnMode"]) == ("3", "cross") and close(row["closeAvgPx"], liq)
    # The account's equity there is the position's maintenance margin: the penalty takes it.
    assert close(row["pnl"], (liq - AVG) * SIZE) and close(row["liqPenalty"], -SIZE * liq / 5 * MMR_SHARE)

    # Futures mode: the USDT short at its liqPx brings the USDT mgnRatio to 100 %.
    assert sim.set_price("BTC", short_liq - Decimal("0.000001")) == []
    usdt = next(d for d in balance(sim, "futures")["details"] if d["ccy"] == "USDT")
    assert abs(Decimal(usdt["mgnRatio"]) - 1) < Decimal("1e-8")
    assert sim.set_price("BTC", short_liq + Decimal("0.01")) == [short["posId"]]
    assert data(sim, "/api/v5/account/positions", "futures") == []


def test_a_price_path_in_the_scenario_walks_the_price_and_liquidates_on_the_calendar(make_simulator):
    path = [{"ccy": "BTC", "usd": "55000", "at": 60}, {"ccy": "BTC", "usd": "48000", "at": "2m"}]
    sim = make_simulator(scenario(price_path=path))
    start = sim.exchange.start_ms
    assert position(sim)["markPx"] == "60000"
    sim.advance(seconds=90)
    assert position(sim)["markPx"] == "55000"
    sim.advance(seconds=60)
    assert data(sim, "/api/v5/account/positions") == []
    (row,) = data(sim, HISTORY)
    assert (row["type"], row["triggerPx"]) == ("3", "48000")
    assert start + 120_000 <= int(row["uTime"]) < start + 121_000


def test_a_traders_close_partial_liquidation_and_adl_write_their_types(sim):
    sim.set_price("BTC", "62000")
    pos_id = sim.close_position("multi", "BTC-USDT-SWAP")
    (row,) = data(sim, HISTORY)
    assert (row["posId"], row["type"], row["triggerPx"], row["closeAvgPx"], row["liqPenalty"]) == (
        pos_id, "2", "", "62000", "0",
    )  # fmt: skip
    assert close(row["pnl"], 2000 * SIZE)
    assert data(sim, "/api/v5/account/positions") == []
    trades = data(sim, "/api/v5/account/bills?type=2&instId=BTC-USDT-SWAP")
    assert [b["subType"] for b in trades] == ["5", "1"]  # the close (close long), then the opening buy

    short_id = sim.close_position("futures", "BTC-USDT-SWAP", how="partial_liquidation")
    assert position(sim, "futures")["pos"] == "-5"  # half closed, the rest stays open
    (partly,) = data(sim, HISTORY, "futures")
    assert (partly["posId"], partly["type"], partly["closeTotalPos"], partly["openMaxPos"]) == (
        short_id,
        "4",
        "5",
        "10",
    )
    assert partly["triggerPx"] == "62000" and Decimal(partly["liqPenalty"]) < 0

    assert sim.close_position("futures", "BTC-USDT-SWAP", how="adl") == short_id
    (adl,) = data(sim, HISTORY, "futures")  # one row per position: the latest close type
    assert (adl["type"], adl["closeTotalPos"], adl["closeAvgPx"]) == ("6", "10", "62000")
    assert data(sim, "/api/v5/account/positions", "futures") == []
    assert [b["subType"] for b in data(sim, "/api/v5/account/bills?type=9", "futures")] == ["126"]

    with pytest.raises(KeyError):
        sim.close_position("futures", "BTC-USDT-SWAP")
    with pytest.raises(ValueError):
        sim.close_position("multi", "BTC-USDT-SWAP", how="liquidate")


def history_scenario() -> dict:
    """Past closes at -1d .. -5d (types 1..5 in turn) and one 91 days ago."""
    closes = [
        {"instId": "ETH-USDT-SWAP", "type": str(i), "pos": "10", "avgPx": "3000", "closeAvgPx": "3100",
         "closed": f"-{i}d", "opened": "-100d"}
        for i in range(1, 6)
    ] + [{"instId": "BTC-USD-SWAP", "type": "2", "pos": "-3", "avgPx": "60000", "closeAvgPx": "59000",
          "mgnMode": "isolated", "closed": "-91d", "opened": "-100d"}]  # fmt: skip
    raw = scenario()
    raw["prices"]["ETH"] = {"usd": "3000"}
    raw["accounts"][0]["closed_positions"] = closes
    return raw


def test_positions_history_is_newest_first_pages_on_utime_and_filters(make_simulator):
    sim = make_simulator(history_scenario())
    rows = data(sim, HISTORY)
    assert [r["type"] for r in rows] == ["1", "2", "3", "4", "5"]  # -91d is out of the 3 months
    times = [int(r["uTime"]) for r in rows]
    assert times == sorted(times, reverse=True)

    first = data(sim, f"{HISTORY}?limit=2")
    second = data(sim, f"{HISTORY}?limit=2&after={first[-1]['uTime']}")
    assert [r["type"] for r in first + second] == ["1", "2", "3", "4"]
    assert [r["type"] for r in data(sim, f"{HISTORY}?before={rows[2]['uTime']}")] == ["1", "2"]
    assert [r["type"] for r in data(sim, f"{HISTORY}?type=3")] == ["3"]
    assert [r["type"] for r in data(sim, f"{HISTORY}?posId={rows[3]['posId']}")] == ["4"]
    assert data(sim, f"{HISTORY}?instType=FUTURES") == [] and len(data(sim, f"{HISTORY}?instType=SWAP")) == 5
    assert (
        data(sim, f"{HISTORY}?instId=BTC-USD-SWAP") == [] and data(sim, f"{HISTORY}?mgnMode=isolated") == []
    )
    assert data(sim, HISTORY, "futures") == []  # the caller's own positions only


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("instType=SPOT", "51000"),
        ("mgnMode=cash", "51000"),
        ("type=7", "51000"),
        ("limit=0", "51000"),
        ("limit=101", "51000"),
        ("limit=ten", "51000"),
        ("after=yesterday", "51000"),
        ("before=1.5", "51000"),
    ],
)
def test_positions_history_refuses_bad_parameters(sim, query, code):
    body = answer(sim, f"{HISTORY}?{query}")
    assert (body["code"], body["data"]) == (code, [])


def test_positions_history_needs_a_signed_call_and_is_limited_to_10_per_2_seconds_per_uid(sim):
    assert requests.get(sim.url + HISTORY, timeout=5).json()["code"] == "50103"
    sim.limiter.clock = lambda: 1000.0  # one frozen moment: every call lands in one window
    assert [answer(sim, HISTORY)["code"] for _ in range(11)] == ["0"] * 10 + ["50011"]
    assert answer(sim, HISTORY, "futures")["code"] == "0"  # another UID, its own budget


def test_the_demo_has_a_close_and_a_past_liquidation_on_accounts_with_their_own_key(simulator):
    def rows(key_name: str) -> list:
        key = simulator.scenario.key(key_name)
        reply = requests.get(simulator.url + HISTORY, headers=signed_headers(key, "GET", HISTORY), timeout=5)
        return reply.json()["data"]

    (trade,) = rows("demo-key-alpha-desk")
    (liquidation,) = rows("demo-key-epsilon")
    assert (trade["type"], trade["instId"], trade["triggerPx"]) == ("2", "ETH-USD-SWAP", "")
    assert (liquidation["type"], liquidation["direction"], liquidation["triggerPx"]) == (
        "3",
        "long",
        "64987.2",
    )
    assert Decimal(liquidation["liqPenalty"]) < 0 and Decimal(liquidation["realizedPnl"]) < 0
    now = simulator.now_ms()
    assert now - 4 * 86_400_000 < int(trade["uTime"]) < now - 2 * 86_400_000
    assert int(liquidation["uTime"]) < now - 14 * 86_400_000
    assert rows("demo-key-main-read") == []
