"""The client's endpoints, clock offset and retry policy against a real local HTTP server."""

from __future__ import annotations

import json
import threading
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from okxapi import CallRecord, Client, Connection, LocalLimiter, OkxError
from tests.okxapi_server import FakeOkx, ok, okx_error, raw, reply

BALANCE = "/api/v5/account/balance"
SECRET = "FAKE-SECRET-SENTINEL-c0ffee"
PASSPHRASE = "FAKE-PASSPHRASE-SENTINEL-beef"


class RecordingSleep:
    """Stands in for time.sleep in the retry policy: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _client(fake: FakeOkx, on_call=None, **options) -> Client:
    """A client of a connection of its own; `options` are the Connection's (sleep, attempts...)."""
    options.setdefault("timeout", (1.0, 0.3))
    connection = Connection(LocalLimiter(), **options)
    return Client(
        "fake-api-key-client-0001",
        SECRET,
        PASSPHRASE,
        base_url=fake.url,
        connection=connection,
        on_call=on_call,
    )


BALANCE_ROW = {
    "totalEq": "11172992.1657531589092577",
    "uTime": "1623392334718",
    "adjEq": "",
    "details": [
        {
            "ccy": "USDT",
            "eq": "9930359.9998",
            "eqUsd": "9933041.196999946",
            "cashBal": "9930359.9998",
            "availBal": "",
            "availEq": "9930359.9998",
            "frozenBal": "0",
            "upl": "",
        }
    ],
}


def test_balance_amounts_are_exact_decimals_and_empty_strings_are_none():
    with FakeOkx() as fake:
        fake.script(BALANCE, ok([BALANCE_ROW]))
        balance = _client(fake).get_balance()
    assert balance.total_eq == Decimal("11172992.1657531589092577")
    assert balance.updated == datetime(
        2021, 6, 11, 6, 18, 54, 718000, tzinfo=UTC
    )  # date -u -d @1623392334.718
    (usdt,) = balance.details
    assert usdt.eq == Decimal("9930359.9998") and usdt.eq_usd == Decimal("9933041.196999946")
    assert usdt.avail_bal is None and usdt.upl is None
    assert usdt.frozen_bal == Decimal(0)


def test_a_sub_account_balance_is_read_through_the_master():
    with FakeOkx() as fake:
        fake.script("/api/v5/account/subaccount/balances", ok([BALANCE_ROW]))
        balance = _client(fake).get_subaccount_balance("desk-1")
    assert balance.total_eq == Decimal("11172992.1657531589092577")
    (call,) = fake.calls("/api/v5/account/subaccount/balances")
    assert call.raw_path.endswith("?subAcct=desk-1")


def test_positions_parse_amounts_and_times():
    row = {
        "instId": "ETH-USD-210430", "instType": "FUTURES", "mgnMode": "isolated", "posSide": "long",
        "pos": "1", "avgPx": "2566.31", "markPx": "2353.849", "upl": "-0.0000009932766034",
        "uplRatio": "-0.0025490556801078", "lever": "10", "liqPx": "", "margin": "0.0003896645377994",
        "notionalUsd": "2276.2546609009605", "ccy": "ETH", "posId": "307173036051017730",
        "cTime": "1619507758793", "uTime": "1619507761462",
    }  # fmt: skip
    with FakeOkx() as fake:
        fake.script("/api/v5/account/positions", ok([row]))
        (position,) = _client(fake).get_positions()
    assert position.inst_id == "ETH-USD-210430" and position.pos_side == "long"
    assert position.upl == Decimal("-0.0000009932766034") and position.liq_px is None
    assert position.created == datetime.fromtimestamp(1619507758.793, tz=UTC)


def test_funding_balances_and_asset_valuation():
    with FakeOkx() as fake:
        fake.script(
            "/api/v5/asset/balances",
            ok([{"availBal": "37.11827078", "bal": "37.11827078", "ccy": "ETH", "frozenBal": "0"}]),
        )
        fake.script(
            "/api/v5/asset/asset-valuation",
            ok(
                [
                    {
                        "details": {"classic": "124.6", "earn": "1122.73", "funding": "0.09", "trading": ""},
                        "totalBal": "3790.09",
                        "ts": "1637566660769",
                    }
                ]
            ),
        )
        client = _client(fake)
        (eth,) = client.get_funding_balances()
        valuation = client.get_asset_valuation()
    assert eth.bal == Decimal("37.11827078") and eth.frozen_bal == Decimal(0)
    assert valuation.total_bal == Decimal("3790.09") and valuation.trading is None
    assert valuation.ts is not None and valuation.ts.tzinfo is not None
    assert fake.calls("/api/v5/asset/asset-valuation")[0].raw_path.endswith("?ccy=USD")


def test_account_config_gives_permissions_ips_and_master_flag():
    row = {
        "uid": "44705892343619584", "mainUid": "44705892343619584", "label": "V5 Test",
        "perm": "read_only,withdraw,trade", "ip": "120.255.24.182,49.245.196.13",
        "acctLv": "3", "posMode": "net_mode", "type": "0",
    }  # fmt: skip
    with FakeOkx() as fake:
        fake.script("/api/v5/account/config", ok([row]))
        client = _client(fake)
        config = client.get_account_config()
    assert config.perm == frozenset({"read_only", "withdraw", "trade"})
    assert config.ip == ("120.255.24.182", "49.245.196.13")
    assert config.is_master and config.account_type == "0"
    assert client.uid == "44705892343619584"


def test_sub_accounts_are_read_page_by_page_with_after():
    first = [
        {
            "subAcct": f"sub{i}",
            "uid": str(i),
            "label": "",
            "enable": True,
            "type": "1",
            "ts": str(1_700_000_000_000 - i),
        }
        for i in range(100)
    ]
    second = [
        {"subAcct": f"old{i}", "uid": f"9{i}", "label": "x", "enable": False, "type": "1", "ts": ""}
        for i in range(3)
    ]
    with FakeOkx() as fake:
        fake.script("/api/v5/users/subaccount/list", ok(first), ok(second))
        subs = _client(fake).get_subaccounts()
    assert len(subs) == 103
    assert subs[0].enabled and not subs[-1].enabled and subs[-1].created is None
    page1, page2 = fake.calls("/api/v5/users/subaccount/list")
    assert "limit=100" in page1.raw_path and "after=" not in page1.raw_path
    assert "after=1699999999901" in page2.raw_path


def test_sub_account_api_keys_keep_the_public_key_out_of_repr():
    row = {
        "apiKey": "0123-public-key-4567",
        "label": "bot",
        "perm": "read_only,trade",
        "ip": "",
        "ts": "1700000000000",
    }
    with FakeOkx() as fake:
        fake.script("/api/v5/users/subaccount/apikey", ok([row]))
        (key,) = _client(fake).get_subaccount_api_keys("desk-1")
    assert key.api_key == "0123-public-key-4567" and "0123-public-key-4567" not in repr(key)
    assert key.perm == frozenset({"read_only", "trade"}) and key.ip == ()
    assert key.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_the_clock_offset_is_learned_before_the_first_signed_call():
    with FakeOkx() as fake:
        fake.clock_offset_ms = 90_000
        fake.max_skew_ms = 5_000
        client = _client(fake)
        assert client.clock_offset_ms is None
        client.get_balance()
    assert [call.path for call in fake.received] == ["/api/v5/public/time", BALANCE]
    assert abs(client.clock_offset_ms - 90_000) < 2_000


def test_after_50102_the_client_relearns_the_offset_and_retries_once():
    with FakeOkx() as fake:
        fake.max_skew_ms = 5_000
        client = _client(fake)
        client.get_balance()
        fake.clock_offset_ms = -120_000  # OKX's clock "moves": the next signed call expires
        client.get_balance()
    assert [call.path for call in fake.received] == [
        "/api/v5/public/time", BALANCE, BALANCE, "/api/v5/public/time", BALANCE
    ]  # fmt: skip
    assert abs(client.clock_offset_ms + 120_000) < 2_000


def test_the_offset_is_learned_once_and_then_again_after_the_resync_period():
    with FakeOkx() as fake:
        steady = _client(fake)
        steady.get_balance()
        steady.get_balance()
        assert len(fake.calls("/api/v5/public/time")) == 1
        eager = _client(fake, clock_resync_seconds=0.0)  # every signed call is "after the period"
        eager.get_balance()
        eager.get_balance()
    assert len(fake.calls("/api/v5/public/time")) == 3


def test_a_failed_time_sync_does_not_block_the_signed_call():
    with FakeOkx() as fake:
        fake.script("/api/v5/public/time", raw(503, b"<html>down</html>"))
        client = _client(fake)
        client.get_balance()
    assert client.clock_offset_ms is None
    assert [call.path for call in fake.received] == ["/api/v5/public/time", BALANCE]


def test_get_server_time_returns_okx_time_as_aware_utc():
    with FakeOkx() as fake:
        fake.script("/api/v5/public/time", ok([{"ts": "1597026383085"}]))
        moment = _client(fake).get_server_time()
    assert moment == datetime(2020, 8, 10, 2, 26, 23, 85000, tzinfo=UTC)


def test_transient_errors_are_retried_with_full_jitter_backoff():
    sleep = RecordingSleep()
    with FakeOkx() as fake:
        fake.script(
            BALANCE,
            raw(503, b"<html>busy</html>"),
            okx_error("50013", "Systems are busy.", 429),
            ok([BALANCE_ROW]),
        )
        balance = _client(fake, sleep=sleep).get_balance()
    assert balance.total_eq is not None
    assert len(fake.calls(BALANCE)) == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.5 and 0 <= sleep.delays[1] <= 1.0  # full jitter: uniform(0, base * 2^n)


def test_retries_stop_after_max_attempts():
    sleep = RecordingSleep()
    with FakeOkx() as fake:
        fake.script(BALANCE, *[raw(502, b"<html>bad gateway</html>")] * 5)
        with pytest.raises(OkxError) as caught:
            _client(fake, sleep=sleep, max_attempts=3).get_balance()
    assert caught.value.diagnosis.category == "exchange_busy"
    assert len(fake.calls(BALANCE)) == 3 and len(sleep.delays) == 2


@pytest.mark.parametrize(
    "action",
    [
        okx_error("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401),
        okx_error("50119", "API key doesn't exist", 401),
        okx_error("51000", "Parameter ccy error", 400),
        okx_error("58004", "Account blocked."),
    ],
    ids=["passphrase", "key", "bad-request", "restricted"],
)
def test_permanent_errors_are_never_retried(action):
    sleep = RecordingSleep()
    with FakeOkx() as fake:
        fake.script(BALANCE, action, ok([BALANCE_ROW]))
        with pytest.raises(OkxError):
            _client(fake, sleep=sleep).get_balance()
    assert len(fake.calls(BALANCE)) == 1 and sleep.delays == []


def test_retry_after_is_honoured():
    sleep = RecordingSleep()
    with FakeOkx() as fake:
        fake.script(
            BALANCE,
            okx_error("50011", "Too Many Requests", 429, headers={"Retry-After": "7"}),
            ok([BALANCE_ROW]),
        )
        _client(fake, sleep=sleep).get_balance()
    assert sleep.delays == [7.0]


def test_a_50011_without_retry_after_is_retried_after_one_window_of_its_endpoint():
    # OKX counts in a rolling window (balance: 10 per 2 s): a retry sooner than one window after
    # the refused request would meet the same requests there (a ledger sync under CI load gave
    # up after retries 0.11 s and 0.22 s later).
    sleep = RecordingSleep()
    with FakeOkx() as fake:
        fake.script(
            BALANCE,
            okx_error("50011", "Too Many Requests", 429),
            okx_error("50011", "Too Many Requests", 200),
            ok([BALANCE_ROW]),
        )
        _client(fake, sleep=sleep).get_balance()
    assert len(sleep.delays) == 2 and all(2.0 <= delay <= 3.0 for delay in sleep.delays), sleep.delays


def test_a_retry_after_beyond_the_cap_is_not_waited_for_inside_the_call():
    sleep = RecordingSleep()
    with FakeOkx() as fake:
        fake.script(BALANCE, okx_error("50011", "Too Many Requests", 429, headers={"Retry-After": "3600"}))
        with pytest.raises(OkxError) as caught:
            _client(fake, sleep=sleep).get_balance()
    assert sleep.delays == [] and caught.value.retry_after == 3600.0


def test_the_observer_sees_every_attempt_without_credentials():
    records: list[CallRecord] = []
    with FakeOkx() as fake:
        fake.script(BALANCE, raw(503, b"<html>busy</html>"), ok([BALANCE_ROW]))
        _client(fake, on_call=records.append, sleep=RecordingSleep()).get_balance()
    time_record, failed, succeeded = records
    assert time_record.endpoint == "/api/v5/public/time" and time_record.code == "0"
    assert (failed.endpoint, failed.method, failed.http_status, failed.code, failed.attempt) == (
        BALANCE,
        "GET",
        503,
        None,
        1,
    )
    assert failed.error is not None and failed.error.diagnosis.category == "exchange_busy"
    assert (succeeded.http_status, succeeded.code, succeeded.error, succeeded.attempt) == (200, "0", None, 2)
    assert all(r.duration >= 0 and r.limiter_wait >= 0 for r in records)
    assert all(SECRET not in repr(r) and PASSPHRASE not in repr(r) for r in records)


def test_a_failing_observer_does_not_break_the_call():
    def broken(record: CallRecord) -> None:
        raise RuntimeError("observer bug")

    with FakeOkx() as fake:
        fake.script(BALANCE, ok([BALANCE_ROW]))
        assert _client(fake, on_call=broken).get_balance().total_eq is not None


def test_http_200_with_a_non_zero_code_is_an_error_and_so_is_http_error_with_code_zero():
    with FakeOkx() as fake:
        fake.script(
            BALANCE,
            okx_error("50120", "This API key doesn't have permission to use this function"),
            reply(500),
        )
        client = _client(fake, max_attempts=1)
        with pytest.raises(OkxError) as first:
            client.get_balance()
        with pytest.raises(OkxError) as second:
            client.get_balance()
    assert (first.value.http_status, first.value.code) == (200, "50120")
    assert (second.value.http_status, second.value.code) == (500, "0")


HUGE_BODY_BYTES = 20 * 1024 * 1024


class HugeBody:
    """An action that answers 200 with a 20 MB body, with or without a Content-Length, and counts
    how many bytes it got onto the socket before the client hung up."""

    def __init__(self, *, declare_length: bool) -> None:
        self.declare_length = declare_length
        self.sent = 0
        self.finished = threading.Event()

    def __call__(self, handler) -> None:
        chunk = b'{"code":"0","msg":"","data":[' + b" " * (64 * 1024 - 29)
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            if self.declare_length:
                handler.send_header("Content-Length", str(HUGE_BODY_BYTES))
            else:
                handler.send_header("Connection", "close")  # the body ends when the socket closes
            handler.end_headers()
            while self.sent < HUGE_BODY_BYTES:
                handler.wfile.write(chunk)
                self.sent += len(chunk)
        except OSError:
            pass  # the client closed the connection: what the test wants
        finally:
            handler.close_connection = True
            self.finished.set()


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "until-close"])
def test_a_20_mb_answer_is_refused_with_a_diagnosis_after_reading_at_most_the_cap(declare_length):
    from okxapi.transport import MAX_RESPONSE_BYTES

    huge = HugeBody(declare_length=declare_length)
    calls: list[CallRecord] = []
    with FakeOkx() as fake:
        fake.script(BALANCE, huge)
        client = _client(fake, on_call=calls.append, timeout=(1.0, 5.0))
        tracemalloc.start()
        try:
            with pytest.raises(OkxError) as refused:
                client.get_balance()
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert huge.finished.wait(timeout=10), "the server never saw the client hang up"
    error = refused.value
    assert error.category == "malformed" and not error.permanent
    assert f"larger than {MAX_RESPONSE_BYTES:,} bytes" in str(error)
    assert "far larger than any OKX API answer" in error.diagnosis.meaning
    assert len(fake.calls(BALANCE)) == 1  # not asked again within the call
    assert [call.error for call in calls if call.endpoint == BALANCE] == [error]  # recorded like any error
    # Reading 20 MB would have allocated at least 20 MB; the client held at most the cap (plus
    # its own bookkeeping), and hung up long before the server could send the whole body.
    assert peak < MAX_RESPONSE_BYTES + 1024 * 1024, f"peak {peak:,} bytes"
    assert huge.sent < HUGE_BODY_BYTES


def test_an_answer_just_under_the_cap_is_read_whole():
    from okxapi.transport import MAX_RESPONSE_BYTES

    body = json.dumps({"code": "0", "msg": "", "data": [BALANCE_ROW]}).encode()
    padded = body + b" " * (MAX_RESPONSE_BYTES - len(body))
    with FakeOkx() as fake:
        fake.script(BALANCE, raw(200, padded, "application/json"))
        balance = _client(fake).get_balance()
    assert balance.total_eq == Decimal("11172992.1657531589092577")


def test_a_content_length_of_non_ascii_digits_is_not_a_crash():
    # "²".isdigit() is True but int("²") raises ValueError: a broken or hostile host answered
    # "Content-Length: ²" and the refresh, the key check and "Test this key now" crashed (a 500).
    # Such a header is no length: the body is read until the connection closes, within the cap.
    body = json.dumps({"code": "0", "msg": "", "data": [BALANCE_ROW]}).encode()

    def superscript_length(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "\u00b2")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True

    with FakeOkx() as fake:
        fake.script(BALANCE, superscript_length)
        balance = _client(fake, max_attempts=1).get_balance()
    assert balance.total_eq == Decimal("11172992.1657531589092577")
