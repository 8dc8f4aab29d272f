"""Validation at the edge (issue 16, item 8): every malformed OKX answer the issue lists becomes a
MalformedResponse naming the endpoint, the field and the value, seen by the call observer as a
failed call, never a typed result with a made-up zero and never a bare ValueError.

Faked at the client's one HTTP seam (tests/okxapi_server.FakeOkx, a real local server)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from okxapi import CallRecord, Client, Connection, LocalLimiter, MalformedResponse, OkxError
from okxapi.validation import MalformedData, decimal_of, shown
from tests.okxapi_server import FakeOkx, ok, raw, reply

BALANCE = "/api/v5/account/balance"
GOOD_BALANCE = {
    "totalEq": "11172992.1657531589092577",
    "uTime": "1623392334718",
    "details": [{"ccy": "USDT", "eq": "9930359.9998", "eqUsd": "9933041.196999946", "availBal": ""}],
}


def _client(fake: FakeOkx, calls: list[CallRecord] | None = None) -> Client:
    connection = Connection(LocalLimiter(), timeout=(1.0, 1.0), sleep=lambda s: None)
    return Client(
        "fake-api-key-valid-0001",
        "FAKE-SECRET-SENTINEL-valid",
        "FAKE-PASSPHRASE-SENTINEL-valid",
        base_url=fake.url,
        connection=connection,
        on_call=None if calls is None else calls.append,
    )


def _balance_with(**fields: object) -> dict:
    return {**GOOD_BALANCE, **fields}


def _refused(action, path: str = BALANCE, call=lambda c: c.get_balance()) -> tuple[MalformedResponse, list]:
    """The MalformedResponse a balance call raises for this answer, and what the observer saw."""
    calls: list[CallRecord] = []
    with FakeOkx() as fake:
        fake.script(path, action)
        with pytest.raises(MalformedResponse) as caught:
            call(_client(fake, calls))
        sent = fake.calls(path)
    # One call only: a malformed answer is not re-asked inside the call (errors.RETRIED_CATEGORIES).
    assert len(sent) == 1
    (record,) = [c for c in calls if c.endpoint == path]
    assert record.error is caught.value and record.http_status == 200
    return caught.value, calls


# -- the examples, one test each ---------------------------------------------------------


def test_total_equity_1e400_is_refused_with_the_field_and_the_value():
    error, _ = _refused(ok([_balance_with(totalEq="1e400")]))
    assert error.category == "malformed" and not error.permanent
    assert error.endpoint == BALANCE and error.field == "data[0].totalEq" and error.value == "'1e400'"
    assert "data[0].totalEq = '1e400'" in str(error) and "10^20" in error.message


def test_an_empty_data_list_is_not_an_empty_account_for_balance():
    error, _ = _refused(ok([]))
    assert error.field == "data" and "exactly one object, got 0" in error.message


def test_an_empty_object_lacks_the_required_total_equity():
    error, _ = _refused(ok([{}]))
    assert error.field == "data[0].totalEq" and "required field missing" in error.message


def test_a_success_without_data_is_malformed():
    error, _ = _refused(reply(200, {"code": "0", "msg": ""}))
    assert error.field == "data" and error.value == "(absent)"


def test_total_equity_nan_is_refused():
    error, _ = _refused(ok([_balance_with(totalEq="NaN")]))
    assert error.field == "data[0].totalEq" and error.value == "'NaN'"


def test_a_null_row_is_refused():
    error, _ = _refused(ok([None]))
    assert error.field == "data[0]" and error.value == "None" and "not an object" in error.message


def test_details_that_are_not_an_array_are_refused():
    error, _ = _refused(ok([_balance_with(details="abc")]))
    assert error.field == "data[0].details" and error.value == "'abc'"


@pytest.mark.parametrize("stamp", ["99999999999999", "1", "-1", "1.5e12", "abc"])
def test_an_out_of_range_or_non_numeric_timestamp_is_refused(stamp):
    error, _ = _refused(ok([_balance_with(uTime=stamp)]))
    assert error.field == "data[0].uTime"


# -- numbers: what is accepted and what is not ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["Infinity", "-Infinity", "inf", "sNaN", "1e20", "-100000000000000000000", "1_000", " 1", "0x10",
     "1.0000000000000000001", "1" * 65],
)  # fmt: skip
def test_numbers_that_cannot_be_stored_exactly_are_refused(value):
    with pytest.raises(MalformedData):
        decimal_of(value, "x")


@pytest.mark.parametrize("value", [1, 1.5, None, True, [], {}])
def test_amounts_must_be_strings_as_okx_sends_them(value):
    with pytest.raises(MalformedData, match="not a number string"):
        decimal_of(value, "x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),  # OKX's "not applicable" stays unknown, never 0
        ("0", Decimal(0)),
        ("-0.000000000000000001", Decimal("-0.000000000000000001")),  # 18 places: exact
        ("99999999999999999999.999999999999999999", Decimal("99999999999999999999.999999999999999999")),
        ("1.50000000000000000000000", Decimal("1.5")),  # trailing zeros beyond 18 places are exact
        ("2E+3", Decimal(2000)),
    ],
)
def test_storable_numbers_are_exact_decimals(value, expected):
    assert decimal_of(value, "x") == expected


def test_the_offending_value_is_trimmed_and_escaped():
    text = shown("\u202e" + "9" * 500 + "<script>")
    assert len(text) <= 80 and text.isascii() and "\\u202e" in text
    error, _ = _refused(ok([_balance_with(totalEq="7" * 10_000)]))
    assert len(error.value) <= 80 and len(error.message) < 200


def test_empty_strings_stay_none_and_good_answers_parse():
    with FakeOkx() as fake:
        fake.script(BALANCE, ok([GOOD_BALANCE]))
        balance = _client(fake).get_balance()
    assert balance.total_eq == Decimal("11172992.1657531589092577")
    assert balance.updated == datetime(2021, 6, 11, 6, 18, 54, 718000, tzinfo=UTC)
    assert balance.details[0].avail_bal is None and balance.details[0].upl is None


# -- per endpoint: which answers are lists and which are one object ------------------------------


def test_empty_lists_are_valid_where_okx_documents_a_list():
    with FakeOkx() as fake:
        for path in (
            "/api/v5/account/positions",
            "/api/v5/asset/balances",
            "/api/v5/users/subaccount/apikey",
        ):
            fake.script(path, ok([]))
        client = _client(fake)
        assert client.get_positions() == []
        assert client.get_funding_balances() == []
        assert client.get_subaccount_api_keys("desk-1") == []


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/api/v5/account/config", lambda c: c.get_account_config()),
        ("/api/v5/account/subaccount/balances", lambda c: c.get_subaccount_balance("desk-1")),
        ("/api/v5/asset/asset-valuation", lambda c: c.get_asset_valuation()),
    ],
)
def test_single_object_endpoints_refuse_an_empty_list(path, call):
    error, _ = _refused(ok([]), path, call)
    assert error.endpoint == path and error.field == "data"


def test_a_position_with_nan_pnl_or_no_instrument_is_refused():
    row = {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "pos": "2", "upl": "NaN"}
    error, _ = _refused(ok([row]), "/api/v5/account/positions", lambda c: c.get_positions())
    assert error.field == "data[0].upl"
    error, _ = _refused(
        ok([{"instType": "SWAP", "pos": "2"}]), "/api/v5/account/positions", lambda c: c.get_positions()
    )
    assert error.field == "data[0].instId"


def test_a_funding_row_with_a_huge_currency_name_is_refused():
    row = {"ccy": "X" * 5000, "bal": "1"}
    error, _ = _refused(ok([row]), "/api/v5/asset/balances", lambda c: c.get_funding_balances())
    assert error.field == "data[0].ccy" and "longer than 32" in error.message


def test_the_sub_account_list_refuses_a_row_without_a_uid():
    rows = [{"subAcct": "alpha", "uid": "", "enable": True, "ts": "1700000000000"}]
    error, _ = _refused(ok(rows), "/api/v5/users/subaccount/list", lambda c: c.get_subaccounts())
    assert error.field == "data[0].uid"


def test_a_server_time_out_of_range_is_malformed_and_the_signed_call_still_goes_out():
    with FakeOkx() as fake:
        fake.script("/api/v5/public/time", ok([{"ts": "-5"}]))
        client = _client(fake)
        with pytest.raises(MalformedResponse) as caught:
            client.get_server_time()
        assert caught.value.field == "data[0].ts"
        fake.script("/api/v5/public/time", ok([{"ts": "1e400"}]))
        client.get_balance()  # the failed sync keeps the previous offset; the call is made
    assert client.clock_offset_ms is None


def test_a_non_json_body_keeps_its_own_diagnosis():
    with FakeOkx() as fake:
        fake.script(BALANCE, raw(200, b"not json"), raw(200, b"not json"), raw(200, b"not json"))
        with pytest.raises(OkxError) as caught:
            _client(fake).get_balance()
    assert not isinstance(caught.value, MalformedResponse)


def test_the_error_survives_pickling_with_its_category():
    import pickle

    error, _ = _refused(ok([_balance_with(totalEq="NaN")]))
    again = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own bytes)
    assert isinstance(again, MalformedResponse) and again.category == "malformed"
    assert "data[0].totalEq = 'NaN'" in again.message


@pytest.mark.parametrize(
    "digits", ["\u0661\u0662\u0663", "\uff11\uff12\uff13"], ids=["arabic-indic", "fullwidth"]
)
def test_numbers_in_other_scripts_digits_are_refused_not_read_as_123(digits):
    # Decimal("١٢٣") == 123: a regex \d without re.ASCII let such a totalEq be stored as equity 123.
    from okxapi.validation import MalformedData, datetime_of, decimal_of

    with pytest.raises(MalformedData):
        decimal_of(digits, "totalEq")
    with pytest.raises(MalformedData):
        datetime_of(digits * 4, "uTime")
