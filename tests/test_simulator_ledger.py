"""The simulator moves money as OKX records it: transfers, deposits and withdrawals write the
rows OKX's history endpoints serve (each field as the docs name and format it), paged newest
first, within the published limits; positions write trading bills; index candles come from the
price walk."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
import requests

from okxsim import Scenario
from okxsim.probe import signed_headers
from okxsim.ratelimit import LIMITS

MASTER, ALPHA = "demo-key-main-read", "demo-key-alpha-desk"
TRANSFERS = "/api/v5/asset/subaccount/bills"
DEPOSITS = "/api/v5/asset/deposit-history"
WITHDRAWALS = "/api/v5/asset/withdrawal-history"
FUNDING_BILLS = "/api/v5/asset/bills"
CANDLES = "/api/v5/market/history-index-candles"
HOUR_MS = 3_600_000


@pytest.fixture
def sim(make_simulator):
    """The demo's accounts with prices held still and none of its scheduled flows."""
    return make_simulator(replace(Scenario.load("demo"), flows=[], price_step_s=1e9))


def call(sim, target: str, key_name: str | None = MASTER) -> requests.Response:
    if key_name is None:
        return requests.get(sim.url + target, timeout=5)
    key = sim.scenario.key(key_name)
    return requests.get(sim.url + target, headers=signed_headers(key, "GET", target), timeout=5)


def data(sim, target: str, key_name: str | None = MASTER) -> list:
    body = call(sim, target, key_name).json()
    assert body["code"] == "0", body
    return body["data"]


def funding(sim, key_name: str, ccy: str) -> str:
    rows = [r["bal"] for r in data(sim, f"/api/v5/asset/balances?ccy={ccy}", key_name)]
    return rows[0] if rows else "0"


def test_a_transfer_to_a_sub_moves_both_balances_and_writes_both_sides_records(sim):
    bill_id = sim.transfer("USDT", "1250.5", "main", "alpha-desk")

    assert (funding(sim, MASTER, "USDT"), funding(sim, ALPHA, "USDT")) == ("23749.5", "4350.5")
    (row,) = data(sim, TRANSFERS)
    assert set(row) == {"billId", "ccy", "amt", "type", "subAcct", "ts"}
    assert (row["billId"], row["ccy"], row["amt"], row["type"], row["subAcct"]) == (
        bill_id,
        "USDT",
        "1250.5",
        "0",
        "alpha-desk",
    )
    (master_bill,) = data(sim, FUNDING_BILLS)
    (sub_bill,) = data(sim, FUNDING_BILLS, ALPHA)
    assert set(master_bill) == {"billId", "ccy", "clientId", "balChg", "bal", "type", "ts", "notes"}
    assert (master_bill["type"], master_bill["balChg"], master_bill["bal"]) == ("20", "-1250.5", "23749.5")
    assert (sub_bill["type"], sub_bill["balChg"], sub_bill["bal"]) == ("23", "1250.5", "4350.5")
    assert master_bill["ts"] == sub_bill["ts"] == row["ts"]


def test_a_transfer_back_to_the_master_is_type_1_with_bills_21_and_22(sim):
    sim.transfer("USDT", "100", "alpha-desk", "main")
    assert [(r["type"], r["amt"]) for r in data(sim, f"{TRANSFERS}?subAcct=alpha-desk")] == [("1", "100")]
    assert [(b["type"], b["balChg"]) for b in data(sim, FUNDING_BILLS)] == [("21", "100")]
    assert [(b["type"], b["balChg"]) for b in data(sim, FUNDING_BILLS, ALPHA)] == [("22", "-100")]


def test_a_transfer_between_two_subs_moves_the_balances_and_leaves_no_record_the_master_sees(sim):
    assert sim.transfer("USDT", "600", "alpha-desk", "delta-nokey") == ""
    assert funding(sim, ALPHA, "USDT") == "2500"
    assert {
        r["ccy"]: r["bal"] for r in data(sim, "/api/v5/asset/subaccount/balances?subAcct=delta-nokey")
    } == {
        "USDC": "800",
        "USDT": "600",
    }
    assert data(sim, TRANSFERS) == [] and data(sim, FUNDING_BILLS, ALPHA) == []


def test_a_transfer_larger_than_the_funding_balance_is_refused(sim):
    with pytest.raises(ValueError, match="holds less"):
        sim.transfer("USDT", "3100.01", "alpha-desk", "main")


def test_a_sub_key_gets_the_master_only_error_on_the_transfer_history(sim):
    body = call(sim, TRANSFERS, ALPHA).json()
    assert body == {
        "code": "59500",
        "msg": "Only the API key of the main account has permission.",
        "data": [],
    }


def test_a_deposit_is_credited_when_its_state_says_so(sim):
    dep_id = sim.deposit("main", "USDC", "1000", state="0")
    (pending,) = data(sim, DEPOSITS)
    assert (pending["depId"], pending["state"], pending["amt"], pending["ccy"]) == (
        dep_id,
        "0",
        "1000",
        "USDC",
    )
    assert pending["txId"] and pending["chain"] == "USDC-USDC" and pending["fromWdId"] == ""
    assert funding(sim, MASTER, "USDC") == "0" and data(sim, FUNDING_BILLS) == []

    sim.set_deposit_state(dep_id, "2")

    assert data(sim, DEPOSITS)[0]["state"] == "2"
    assert funding(sim, MASTER, "USDC") == "1000"
    assert [(b["type"], b["balChg"], b["bal"]) for b in data(sim, FUNDING_BILLS)] == [("1", "1000", "1000")]


def test_a_withdrawal_takes_amount_and_fee_and_a_cancelled_one_gives_them_back(sim):
    wd_id = sim.withdraw("main", "USDT", "1000", fee="1.5", state="0")
    (row,) = data(sim, WITHDRAWALS)
    assert (row["wdId"], row["amt"], row["fee"], row["feeCcy"], row["state"], row["txId"]) == (
        wd_id,
        "1000",
        "1.5",
        "USDT",
        "0",
        "",
    )
    assert row["nonTradableAsset"] is False
    assert funding(sim, MASTER, "USDT") == "23998.5"

    sim.set_withdrawal_state(wd_id, "-2")

    assert funding(sim, MASTER, "USDT") == "25000"
    assert [(b["type"], b["balChg"]) for b in data(sim, FUNDING_BILLS)] == [
        ("13", "1001.5"),
        ("2", "-1001.5"),
    ]
    with pytest.raises(ValueError, match="final"):
        sim.set_withdrawal_state(wd_id, "2")


def test_a_sub_account_cannot_withdraw(sim):
    with pytest.raises(ValueError, match="Sub-accounts don't support withdrawals"):
        sim.withdraw("alpha-desk", "USDT", "10")


@pytest.mark.parametrize("path", [DEPOSITS, TRANSFERS, FUNDING_BILLS])
def test_paging_returns_every_record_once_newest_first(sim, path):
    sim.rate_limits_enabled = False  # the limits have their own test below
    made = [sim.deposit("main", "USDT", str(n), state="2") for n in range(1, 8)]
    made += [sim.transfer("USDT", str(n), "main", "alpha-desk") for n in range(1, 8)]
    everything = data(sim, path)
    assert len(everything) == 7 if path != FUNDING_BILLS else len(everything) == 14
    stamps = [int(r["ts"]) for r in everything]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == len(stamps)

    pages, after = [], ""
    while page := data(sim, f"{path}?limit=3{after}"):
        pages.append(page)
        after = f"&after={page[-1]['ts']}"
    assert [len(p) for p in pages][:2] == [3, 3]
    assert [r for p in pages for r in p] == everything
    newest_two = data(sim, f"{path}?before={everything[2]['ts']}")
    assert newest_two == everything[:2]
    if path == DEPOSITS:
        assert {r["depId"] for r in everything} == set(made[:7])


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "after=yesterday", "type=2"])
def test_bad_parameters_are_refused_with_51000(sim, query):
    body = call(sim, f"{TRANSFERS}?{query}").json()
    assert body["code"] == "51000" and body["msg"].startswith("Parameter ")


def test_positions_write_fee_funding_and_interest_bills(sim):
    sim.rate_limits_enabled = False
    bills = data(sim, "/api/v5/account/bills")  # the newest 100: hourly interest, funding fees
    trades = data(sim, "/api/v5/account/bills?type=2")  # two days ago
    bills += [b for b in trades if b not in bills]
    kinds = {(b["type"], b["subType"], b["instId"]) for b in bills}
    assert ("2", "1", "BTC-USDT-SWAP") in kinds  # the long's opening buy
    assert ("2", "2", "ETH-USDT-SWAP") in kinds  # the short's opening sell
    assert ("8", "173", "BTC-USDT-SWAP") in kinds  # a long pays funding
    assert ("8", "174", "ETH-USDT-SWAP") in kinds  # a short receives it
    assert ("7", "9", "ETH-USDT") in kinds  # interest on the MARGIN long's USDT liability
    for bill in bills:
        if bill["type"] == "2":
            assert Decimal(bill["fee"]) < 0 and bill["balChg"] == bill["fee"]
        if bill["type"] == "8":
            assert bill["balChg"] == bill["pnl"] and bill["fee"] == "0"
        if bill["type"] == "7":
            assert Decimal(bill["balChg"]) == -Decimal(bill["interest"])
    # The history leads up to today's balances: the newest USDT bill's balance is the cash.
    newest_usdt = next(b for b in bills if b["ccy"] == "USDT")
    assert newest_usdt["bal"] == "182500.5"
    newest = data(sim, "/api/v5/account/bills")
    ids = [int(b["billId"]) for b in newest]
    assert ids == sorted(ids, reverse=True)
    assert data(sim, f"/api/v5/account/bills?limit=5&after={ids[4]}") == newest[5:10]
    assert data(sim, "/api/v5/account/bills?type=8&ctType=inverse", ALPHA)[0]["instId"] == "BTC-USD-SWAP"


def test_scheduled_flows_are_booked_when_the_calendar_reaches_them(make_simulator):
    sim = make_simulator(replace(Scenario.load("demo"), price_step_s=1e9))
    history = data(sim, TRANSFERS)
    assert len(history) == 4 * 24  # a day of the demo's hourly transfers, booked as history
    assert funding(sim, MASTER, "USDT") == "25000"  # today's balance is the scenario's
    sim.advance(seconds=3600)
    assert len(data(sim, TRANSFERS)) == 4 * 25
    assert len(data(sim, DEPOSITS)) == 25


def test_index_candles_page_back_hour_by_hour(make_simulator):
    sim = make_simulator()  # the demo's walking prices
    sim.advance(seconds=5 * 3600)
    newest = data(sim, f"{CANDLES}?instId=BTC-USD&bar=1H&limit=3", None)
    assert [len(row) for row in newest] == [6, 6, 6]
    opens = [int(row[0]) for row in newest]
    assert opens == [opens[0] - k * HOUR_MS for k in range(3)] and opens[0] % HOUR_MS == 0
    assert [row[5] for row in newest] == ["0", "1", "1"]  # the current hour is still open
    for _ts, o, h, low, c, _ in newest:
        assert Decimal(low) <= min(Decimal(o), Decimal(c)) <= max(Decimal(o), Decimal(c)) <= Decimal(h)
    older = data(sim, f"{CANDLES}?instId=BTC-USD&bar=1H&limit=3&after={opens[-1]}", None)
    assert [int(row[0]) for row in older] == [opens[-1] - k * HOUR_MS for k in range(1, 4)]
    assert newest[1][4] == newest[0][1]  # one hour closes where the next opens
    default = data(sim, f"{CANDLES}?instId=ETH-USD", None)
    assert len(default) == 100 and int(default[0][0]) - int(default[1][0]) == 60_000  # 1m, 100


def test_index_candles_refuse_an_unknown_index_and_bar(sim):
    assert call(sim, f"{CANDLES}?instId=XYZ-USD", None).json()["code"] == "51001"
    assert call(sim, f"{CANDLES}?instId=BTC-USD&bar=7H", None).json()["code"] == "51000"
    assert call(sim, CANDLES, None).json()["code"] == "50014"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("path", "key_name"),
    [
        (TRANSFERS, MASTER),
        (DEPOSITS, MASTER),
        (WITHDRAWALS, ALPHA),
        (FUNDING_BILLS, MASTER),
        ("/api/v5/account/bills", MASTER),
        ("/api/v5/account/bills-archive", ALPHA),
        (f"{CANDLES}?instId=BTC-USD", None),
    ],
)
def test_the_published_limit_is_served_and_one_more_is_50011(sim, path, key_name):
    sim.limiter.clock = FakeClock()
    allowed = LIMITS[path.partition("?")[0]].requests
    assert [call(sim, path, key_name).json()["code"] for _ in range(allowed)] == ["0"] * allowed
    refused = call(sim, path, key_name)
    assert refused.status_code == 429 and refused.json() == {
        "code": "50011",
        "msg": "Too Many Requests",
        "data": [],
    }
