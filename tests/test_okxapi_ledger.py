"""The ledger endpoints of the client (issue 19): the master's sub-account transfer history, deposit
and withdrawal history, USD index candles and the trading account's bills. Known answers in, typed
Decimal results out; a malformed row refuses the whole page, naming the field; paging parameters
are checked before anything is sent, and go out under OKX's names.

Faked at the client's one HTTP seam (tests/okxapi_server.FakeOkx, a real local server); the same
calls against the simulator are at the end of the file."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest

from okxapi import (
    ENDPOINT_LIMITS,
    AccountBill,
    CallRecord,
    Client,
    Connection,
    Deposit,
    IndexCandle,
    Limit,
    LocalLimiter,
    MalformedResponse,
    Rule,
    SubAccountTransfer,
    Withdrawal,
)
from tests.okxapi_server import FakeOkx, ok

TRANSFERS = "/api/v5/asset/subaccount/bills"
DEPOSITS = "/api/v5/asset/deposit-history"
WITHDRAWALS = "/api/v5/asset/withdrawal-history"
CANDLES = "/api/v5/market/history-index-candles"
BILLS = "/api/v5/account/bills"
BILLS_ARCHIVE = "/api/v5/account/bills-archive"

# OKX's own response example of "Get history of sub-account transfer".
TRANSFER_ROW = {
    "amt": "1.1", "billId": "89887685", "ccy": "USDT", "subAcct": "hahatest1", "ts": "1712560959000",
    "type": "0",
}  # fmt: skip
DEPOSIT_ROW = {
    "actualDepBlkConfirm": "17", "amt": "0.01044408", "ccy": "BTC", "chain": "BTC-Bitcoin",
    "depId": "88165462", "from": "", "fromWdId": "", "state": "2", "to": "bc1q...", "ts": "1655251200000",
    "txId": "b9b6f5b4c1d0a0f4b1c5a8c6b9f2e1d0a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5",
}  # fmt: skip
WITHDRAWAL_ROW = {
    "chain": "ETH-Ethereum", "fee": "0.007", "feeCcy": "ETH", "ccy": "ETH", "clientId": "", "amt": "0.029809",
    "txId": "0x35c...", "from": "156****0993", "to": "0xa30d1fab17e2a5b1f81f8bd91fe7d0f8e3a3bc0a",
    "state": "2", "ts": "1655251200000", "wdId": "15447421", "nonTradableAsset": False,
}  # fmt: skip
BILL_ROW = {
    "bal": "8694.2179403378290202", "balChg": "-0.00059765", "billId": "623950854533513219", "ccy": "USDT",
    "clOrdId": "", "execType": "T", "fee": "-0.00059765", "fillIdxPx": "27104.1", "fillMarkPx": "",
    "from": "", "instId": "BTC-USDT", "instType": "SPOT", "interest": "0", "mgnMode": "isolated", "notes": "",
    "ordId": "623950854525124608", "pnl": "0", "posBal": "0", "posBalChg": "0", "px": "27105.9",
    "subType": "1", "sz": "0.021955", "tag": "", "to": "", "tradeId": "586760148", "ts": "1597026383085",
    "type": "2",
}  # fmt: skip


def _connection() -> Connection:
    return Connection(LocalLimiter(), timeout=(1.0, 1.0), sleep=lambda s: None)


def _client(fake: FakeOkx, calls: list[CallRecord] | None = None) -> Client:
    return Client(
        "fake-api-key-ledger-0001",
        "FAKE-SECRET-SENTINEL-ledger",
        "FAKE-PASSPHRASE-SENTINEL-ledger",
        base_url=fake.url,
        connection=_connection(),
        on_call=None if calls is None else calls.append,
    )


def _query(fake: FakeOkx, path: str) -> dict[str, str]:
    (call,) = fake.calls(path)
    return dict(parse_qsl(urlsplit(call.raw_path).query, keep_blank_values=True))


# -- known answers ------------------------------------------------------------------------------


def test_a_sub_account_transfer_reads_okx_example_with_its_direction():
    other_way = {**TRANSFER_ROW, "billId": "89887686", "type": "1", "amt": "250"}
    with FakeOkx() as fake:
        fake.script(TRANSFERS, ok([TRANSFER_ROW, other_way]))
        to_sub, to_master = _client(fake).get_subaccount_transfers()
    assert to_sub == SubAccountTransfer(
        bill_id="89887685",
        ccy="USDT",
        amount=Decimal("1.1"),
        type="0",
        sub_acct="hahatest1",
        ts=datetime(2024, 4, 8, 7, 22, 39, tzinfo=UTC),  # date -u -d @1712560959
    )
    assert to_sub.to_sub and not to_master.to_sub and to_master.amount == Decimal(250)
    assert _query(fake, TRANSFERS) == {"limit": "100"}


def test_paging_parameters_go_out_under_okx_names():
    with FakeOkx() as fake:
        client = _client(fake)
        client.get_subaccount_transfers(after_ms=1712560959000, before_ms=1700000000000, limit=50)
        client.get_deposit_history(after_ms=1712560959000, limit=1)
        client.get_withdrawal_history(before_ms=1700000000000)
        client.get_account_bills(
            after_bill_id="623950854533513219", begin_ms=1700000000000, end_ms=1712560959000
        )
        client.get_account_bills(archive=True, before_bill_id="623950854533513219", limit=20)
    assert _query(fake, TRANSFERS) == {"after": "1712560959000", "before": "1700000000000", "limit": "50"}
    assert _query(fake, DEPOSITS) == {"after": "1712560959000", "limit": "1"}
    assert _query(fake, WITHDRAWALS) == {"before": "1700000000000", "limit": "100"}
    assert _query(fake, BILLS) == {
        "after": "623950854533513219", "begin": "1700000000000", "end": "1712560959000", "limit": "100",
    }  # fmt: skip
    assert _query(fake, BILLS_ARCHIVE) == {"before": "623950854533513219", "limit": "20"}


def test_deposit_states_are_kept_as_sent_and_only_1_and_2_are_credited():
    rows = [
        {**DEPOSIT_ROW, "depId": str(n), "state": state}
        for n, state in enumerate(["2", "1", "0", "13", "99"])
    ]
    with FakeOkx() as fake:
        fake.script(DEPOSITS, ok(rows))
        deposits = _client(fake).get_deposit_history()
    assert [(d.state, d.credited) for d in deposits] == [
        ("2", True), ("1", True), ("0", False), ("13", False), ("99", False),
    ]  # fmt: skip
    first = deposits[0]
    assert first == Deposit(
        dep_id="0",
        ccy="BTC",
        amount=Decimal("0.01044408"),
        state="2",
        ts=datetime(2022, 6, 15, tzinfo=UTC),  # date -u -d @1655251200
        tx_id=DEPOSIT_ROW["txId"],
        chain="BTC-Bitcoin",
    )


def test_an_internal_deposit_has_no_chain_and_no_hash():
    with FakeOkx() as fake:
        fake.script(DEPOSITS, ok([{**DEPOSIT_ROW, "chain": "", "txId": "", "to": "", "from": "a***@x.com"}]))
        (deposit,) = _client(fake).get_deposit_history()
    assert deposit.chain == "" and deposit.tx_id == "" and deposit.credited


def test_a_withdrawal_keeps_amount_and_fee_apart_and_completes_only_in_state_2():
    rows = [
        WITHDRAWAL_ROW,
        {**WITHDRAWAL_ROW, "wdId": "2", "state": "-2"},
        {**WITHDRAWAL_ROW, "wdId": "3", "state": "7"},
        {**WITHDRAWAL_ROW, "wdId": "4", "state": "42"},
        # An internal transfer: fee 0, and then no fee currency is needed; no hash.
        {**WITHDRAWAL_ROW, "wdId": "5", "fee": "0", "feeCcy": "", "txId": ""},
    ]
    with FakeOkx() as fake:
        fake.script(WITHDRAWALS, ok(rows))
        done, cancelled, approved, unknown, internal = _client(fake).get_withdrawal_history()
    assert done == Withdrawal(
        wd_id="15447421",
        ccy="ETH",
        amount=Decimal("0.029809"),
        fee=Decimal("0.007"),
        fee_ccy="ETH",
        state="2",
        ts=datetime(2022, 6, 15, tzinfo=UTC),
        tx_id="0x35c...",
    )
    assert done.completed and not cancelled.completed and not approved.completed
    assert unknown.state == "42" and not unknown.completed
    assert internal.fee == 0 and internal.fee_ccy == "" and internal.tx_id == ""


def test_index_candles_are_read_from_arrays_on_a_public_client():
    rows = [
        ["1700003600000", "36500.1", "36600", "36400.5", "36550.25", "0"],
        ["1700000000000", "36400", "36520", "36390", "36500.1", "1"],
    ]
    with FakeOkx() as fake:
        fake.script(CANDLES, ok(rows))
        client = Client.public(base_url=fake.url, connection=_connection())
        newest, older = client.get_history_index_candles("BTC-USD", after_ms=1700007200000, limit=2)
    assert older == IndexCandle(
        ts=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), close=Decimal("36500.1"), confirmed=True
    )
    assert newest.close == Decimal("36550.25") and not newest.confirmed
    assert _query(fake, CANDLES) == {"instId": "BTC-USD", "bar": "1H", "after": "1700007200000", "limit": "2"}
    (call,) = fake.calls(CANDLES)
    assert "OK-ACCESS-SIGN" not in call.headers  # public: unsigned, limited per IP


def test_account_bills_keep_signed_balance_changes_and_empty_fields_as_none():
    funding_fee = {
        **BILL_ROW, "billId": "623950854533513220", "type": "8", "subType": "173", "balChg": "-1.25",
        "fee": "", "pnl": "-1.25", "interest": "", "instId": "BTC-USDT-SWAP", "instType": "SWAP",
    }  # fmt: skip
    with FakeOkx() as fake:
        fake.script(BILLS_ARCHIVE, ok([BILL_ROW, funding_fee]))
        trade, fee = _client(fake).get_account_bills(archive=True)
    assert trade == AccountBill(
        bill_id="623950854533513219",
        type="2",
        sub_type="1",
        ccy="USDT",
        bal_chg=Decimal("-0.00059765"),
        fee=Decimal("-0.00059765"),
        pnl=Decimal(0),
        interest=Decimal(0),
        inst_id="BTC-USDT",
        inst_type="SPOT",
        ts=datetime(2020, 8, 10, 2, 26, 23, 85000, tzinfo=UTC),  # date -u -d @1597026383.085
    )
    assert (fee.type, fee.sub_type, fee.bal_chg, fee.pnl) == ("8", "173", Decimal("-1.25"), Decimal("-1.25"))
    assert fee.fee is None and fee.interest is None
    assert fake.calls(BILLS) == []  # archive=True reads the 3-month page only


def test_an_empty_page_is_no_records():
    with FakeOkx() as fake:
        client = _client(fake)
        assert client.get_subaccount_transfers() == []
        assert client.get_deposit_history() == []
        assert client.get_withdrawal_history() == []
        assert client.get_account_bills() == []


# -- malformed rows: the whole page is refused, naming the field ------------------------------

_GOOD = {
    TRANSFERS: TRANSFER_ROW,
    DEPOSITS: DEPOSIT_ROW,
    WITHDRAWALS: WITHDRAWAL_ROW,
    BILLS: BILL_ROW,
}
_READ = {
    TRANSFERS: lambda c: c.get_subaccount_transfers(),
    DEPOSITS: lambda c: c.get_deposit_history(),
    WITHDRAWALS: lambda c: c.get_withdrawal_history(),
    BILLS: lambda c: c.get_account_bills(),
    CANDLES: lambda c: c.get_history_index_candles("BTC-USD"),
}
_CANDLE = ["1700000000000", "36400", "36520", "36390", "36500.1", "1"]


@pytest.mark.parametrize(
    ("path", "change", "field", "problem"),
    [
        (TRANSFERS, {"amt": "0"}, "data[1].amt", "must be above 0"),
        (TRANSFERS, {"amt": "-5"}, "data[1].amt", "must be above 0"),
        (TRANSFERS, {"type": "2"}, "data[1].type", "not 0 (master to sub) or 1 (sub to master)"),
        (TRANSFERS, {"subAcct": ""}, "data[1].subAcct", "required field is empty"),
        (TRANSFERS, {"billId": None}, "data[1].billId", "not a string"),
        (TRANSFERS, {"ts": "1712560959"}, "data[1].ts", "timestamp outside 2010..2100"),  # seconds
        (DEPOSITS, {"amt": "NaN"}, "data[1].amt", "not a finite decimal number"),
        (DEPOSITS, {"amt": "-0.01"}, "data[1].amt", "negative"),
        (DEPOSITS, {"state": None}, "data[1].state", "not a string"),
        (DEPOSITS, {"ts": "2022-06-15"}, "data[1].ts", "not a timestamp (epoch milliseconds as a string)"),
        (WITHDRAWALS, {"fee": "-0.007"}, "data[1].fee", "negative"),
        (WITHDRAWALS, {"feeCcy": ""}, "data[1].feeCcy", "required field is empty"),
        (WITHDRAWALS, {"amt": 0.029809}, "data[1].amt", "not a number string (OKX sends amounts as strings)"),
        (BILLS, {"balChg": "1e400"}, "data[1].balChg", "out of range (|x| must be below 10^20)"),
        (BILLS, {"balChg": ""}, "data[1].balChg", "required field is empty"),
        (BILLS, {"fee": "Infinity"}, "data[1].fee", "not a finite decimal number"),
    ],
)
def test_a_malformed_row_refuses_the_page_naming_the_field(path, change, field, problem):
    good = _GOOD[path]
    bad = {**good, **change}
    error, calls = _refused(path, [good, bad])
    assert (error.endpoint, error.field) == (path, field) and error.message.endswith(f": {problem}")
    assert [c.error for c in calls if c.endpoint == path] == [error]  # recorded once, not retried


@pytest.mark.parametrize(
    ("path", "missing"),
    [
        (TRANSFERS, "ccy"), (TRANSFERS, "type"), (DEPOSITS, "depId"), (DEPOSITS, "state"),
        (WITHDRAWALS, "wdId"), (WITHDRAWALS, "fee"), (BILLS, "billId"), (BILLS, "type"), (BILLS, "ts"),
    ],
)  # fmt: skip
def test_a_row_without_a_required_field_is_refused(path, missing):
    row = {key: value for key, value in _GOOD[path].items() if key != missing}
    error, _ = _refused(path, [row])
    assert error.field == f"data[0].{missing}" and error.message.endswith(": required field missing")


@pytest.mark.parametrize(
    ("path", "id_field"),
    [(TRANSFERS, "billId"), (DEPOSITS, "depId"), (WITHDRAWALS, "wdId"), (BILLS, "billId")],
)
def test_a_page_with_one_record_id_twice_is_refused(path, id_field):
    row = _GOOD[path]
    error, _ = _refused(path, [row, dict(row)])
    assert error.field == f"data[1].{id_field}"
    assert error.message.endswith(": a record id twice in one page")


def test_a_page_longer_than_the_limit_asked_for_is_refused():
    rows = [{**DEPOSIT_ROW, "depId": str(n)} for n in range(101)]
    error, _ = _refused(DEPOSITS, rows)
    assert error.field == "data" and error.message.endswith(": more rows than the limit of 100 asked for")


@pytest.mark.parametrize(
    ("row", "field", "problem"),
    [
        (_CANDLE[:5], "data[1]", "fewer than 6 columns"),
        ({"ts": "1700000000000", "c": "1"}, "data[1]", "not an array"),
        ([*_CANDLE[:4], "0", "1"], "data[1].c", "must be above 0"),
        ([*_CANDLE[:4], "", "1"], "data[1].c", "required field is empty"),
        ([*_CANDLE[:5], "2"], "data[1].confirm", "not 0 (uncompleted) or 1 (completed)"),
        (["1700000000", *_CANDLE[1:]], "data[1].ts", "timestamp outside 2010..2100"),
    ],
)
def test_a_malformed_candle_refuses_the_page(row, field, problem):
    error, _ = _refused(CANDLES, [_CANDLE, row])
    assert error.field == field and error.message.endswith(f": {problem}")


def test_extra_candle_columns_are_ignored():
    with FakeOkx() as fake:
        fake.script(CANDLES, ok([[*_CANDLE, "future-column"]]))
        (candle,) = Client.public(base_url=fake.url, connection=_connection()).get_history_index_candles(
            "ETH-USD"
        )
    assert candle.close == Decimal("36500.1") and candle.confirmed


def _refused(path: str, rows: list) -> tuple[MalformedResponse, list[CallRecord]]:
    calls: list[CallRecord] = []
    with FakeOkx() as fake:
        fake.script(path, ok(rows))
        with pytest.raises(MalformedResponse) as caught:
            _READ[path](_client(fake, calls))
    return caught.value, calls


# -- paging parameters are checked before anything is sent ------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.get_subaccount_transfers(limit=0), "limit must be a whole number from 1 to 100, not 0"),
        (lambda c: c.get_deposit_history(limit=101), "limit must be a whole number from 1 to 100, not 101"),
        (lambda c: c.get_withdrawal_history(limit=True), "not True"),
        (lambda c: c.get_account_bills(limit="100"), "not '100'"),
        (lambda c: c.get_deposit_history(after_ms=1712560959), "after_ms must be epoch milliseconds"),
        (
            lambda c: c.get_withdrawal_history(before_ms=1712560959000.0),
            "before_ms must be epoch milliseconds",
        ),
        (lambda c: c.get_account_bills(begin_ms=-1), "begin_ms must be epoch milliseconds"),
        (lambda c: c.get_account_bills(end_ms=10**14), "end_ms must be epoch milliseconds"),
        (lambda c: c.get_account_bills(after_bill_id="12&limit=5"), "after_bill_id must be a billId"),
        (lambda c: c.get_account_bills(before_bill_id=623950854533513219), "before_bill_id must be a billId"),
        (lambda c: c.get_history_index_candles("BTC-USD", bar="1h"), "bar must be one of OKX's bar sizes"),
        (lambda c: c.get_history_index_candles(" "), "inst_id must name an index"),
        (lambda c: c.get_history_index_candles("BTC-USD", limit=500), "limit must be a whole number"),
    ],
)
def test_bad_paging_is_a_value_error_and_nothing_is_sent(call, message):
    with FakeOkx() as fake, pytest.raises(ValueError, match=message):
        call(_client(fake))
    assert fake.received == []  # not even the clock sync of a first signed call


# -- published limits ---------------------------------------------------------------------------


def test_the_ledger_endpoints_carry_okx_published_limits():
    assert {
        path: ENDPOINT_LIMITS[path]
        for path in (TRANSFERS, DEPOSITS, WITHDRAWALS, CANDLES, BILLS, BILLS_ARCHIVE)
    } == {
        TRANSFERS: Limit(6, 1, Rule.UID),
        DEPOSITS: Limit(6, 1, Rule.UID),
        WITHDRAWALS: Limit(6, 1, Rule.UID),
        CANDLES: Limit(10, 2, Rule.IP),
        BILLS: Limit(5, 1, Rule.UID),
        BILLS_ARCHIVE: Limit(5, 2, Rule.UID),
    }


# -- against the simulator (okxsim): the same calls, its records of money that moved ------------


def _sim_client(sim, key_name: str) -> Client:
    key = sim.scenario.key(key_name)
    return Client(key.api_key, key.secret_key, key.passphrase, base_url=sim.url, connection=_connection())


def test_the_masters_transfer_history_has_both_directions_from_the_simulator(simulator):
    master_name = simulator.scenario.master.name
    out_id = simulator.transfer("USDT", "1250.5", master_name, "alpha-desk")
    back_id = simulator.transfer("USDT", "200", "alpha-desk", master_name)
    transfers = _sim_client(simulator, "demo-key-main-read").get_subaccount_transfers()
    by_id = {t.bill_id: t for t in transfers}
    out, back = by_id[out_id], by_id[back_id]
    assert (out.ccy, out.amount, out.sub_acct, out.to_sub) == ("USDT", Decimal("1250.5"), "alpha-desk", True)
    assert (back.amount, back.sub_acct, back.to_sub) == (Decimal(200), "alpha-desk", False)
    assert back.ts >= out.ts and back.ts.tzinfo is UTC


def test_deposit_and_withdrawal_states_come_through_from_the_simulator(simulator):
    master_name = simulator.scenario.master.name
    client = _sim_client(simulator, "demo-key-main-read")
    dep_id = simulator.deposit(master_name, "USDT", "5000", state="0")
    (waiting,) = [d for d in client.get_deposit_history() if d.dep_id == dep_id]
    assert (waiting.amount, waiting.state, waiting.credited) == (Decimal(5000), "0", False)
    simulator.set_deposit_state(dep_id, "2")
    (credited,) = [d for d in client.get_deposit_history() if d.dep_id == dep_id]
    assert credited.state == "2" and credited.credited
    wd_id = simulator.withdraw(master_name, "USDT", "100", fee="1")
    (withdrawal,) = [w for w in client.get_withdrawal_history() if w.wd_id == wd_id]
    assert (withdrawal.amount, withdrawal.fee, withdrawal.fee_ccy) == (Decimal(100), Decimal(1), "USDT")
    assert withdrawal.completed


def test_deposit_history_pages_back_with_after(simulator):
    master_name = simulator.scenario.master.name
    client = _sim_client(simulator, "demo-key-main-read")
    for amount in ("1", "2", "3"):
        simulator.deposit(master_name, "USDT", amount)
    newest = client.get_deposit_history(limit=1)
    assert len(newest) == 1
    after_ms = int(newest[0].ts.timestamp() * 1000)
    older = client.get_deposit_history(after_ms=after_ms)
    assert all(d.ts < newest[0].ts for d in older)


def test_hourly_usd_index_candles_from_the_simulator(simulator):
    client = Client.public(base_url=simulator.url, connection=_connection())
    candles = client.get_history_index_candles("BTC-USD", limit=5)
    assert len(candles) == 5 and all(c.close > 0 for c in candles)
    opened = [c.ts for c in candles]
    assert opened == sorted(opened, reverse=True)  # newest first
    assert {a - b for a, b in itertools.pairwise(opened)} == {timedelta(hours=1)}
    assert all(c.confirmed for c in candles[1:])  # only the newest can still be open


def test_trading_bills_of_a_futures_book_from_the_simulator(simulator):
    client = _sim_client(simulator, "demo-key-epsilon")
    recent = client.get_account_bills()
    archive = client.get_account_bills(archive=True)
    assert recent and len(archive) >= len(recent)
    assert all(isinstance(b.bal_chg, Decimal) and b.ccy and b.type for b in archive)
    oldest = recent[-1]
    older = client.get_account_bills(after_bill_id=oldest.bill_id, limit=5)
    assert all(int(b.bill_id) < int(oldest.bill_id) for b in older)
