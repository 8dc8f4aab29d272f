"""The risk figures of the client (issue 20): margin ratio, adjusted equity and margin requirements
of the account (balance), of each currency (Futures mode) and of each position (with its ADL
level), and the positions history (closes, liquidations, ADL). OKX's own examples in, typed
Decimal results out; "" is None, never 0; a malformed value refuses the answer, naming the field;
paging goes out under OKX's names and is checked before anything is sent.

Faked at the client's one HTTP seam (tests/okxapi_server.FakeOkx, a real local server)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from okxapi import ENDPOINT_LIMITS, ClosedPositionRecord, Limit, MalformedResponse, Rule
from tests.okxapi_server import FakeOkx, ok
from tests.test_okxapi_ledger import _client, _query

BALANCE = "/api/v5/account/balance"
SUB_BALANCE = "/api/v5/account/subaccount/balances"
POSITIONS = "/api/v5/account/positions"
HISTORY = "/api/v5/account/positions-history"

# OKX's response example of "Get sub-account trading balance" (okx-reference.md 2.8): the
# account-level risk figures of a Multi-currency margin account, with a quiet margin ratio.
SUB_BALANCE_ROW = {
    "adjEq": "10679688.0460531643092577", "borrowFroz": "",
    "details": [{
        "availBal": "", "availEq": "9930359.9998", "cashBal": "9930359.9998", "ccy": "USDT",
        "eq": "9930359.9998", "eqUsd": "9933041.196999946", "frozenBal": "0", "upl": "0",
        "imr": "", "mmr": "", "mgnRatio": "",
    }],
    "imr": "3372.2942371050594217", "isoEq": "0", "mgnRatio": "70375.35408747017", "mmr": "134.8917694842024",
    "notionalUsd": "33722.9423710505978888", "ordFroz": "0", "totalEq": "11172992.1657531589092577",
    "uTime": "1623392334718", "upl": "-7.571730042000012",
}  # fmt: skip
# A Futures-mode account (acctLv 2): no account-level figures ("" for inapplicable fields,
# okx-reference.md 8.4), the cross figures per currency instead.
FUTURES_BALANCE_ROW = {
    "adjEq": "", "imr": "", "mmr": "", "mgnRatio": "", "notionalUsd": "", "totalEq": "41624.32",
    "uTime": "1623392334718",
    "details": [{
        "ccy": "BTC", "eq": "0.95", "eqUsd": "41624.32", "mgnRatio": "2.3561", "imr": "0.12", "mmr": "0.0095",
    }],
}  # fmt: skip
# OKX's response example of "Get positions" (okx-reference.md 2.3), an isolated inverse future:
# its `adl` level, and `imr` "" ("only applicable to cross").
POSITION_ROW = {
    "instId": "ETH-USD-210430", "instType": "FUTURES", "mgnMode": "isolated", "posSide": "long", "pos": "1",
    "availPos": "1", "avgPx": "2566.31", "markPx": "2353.849", "upl": "-0.0000009932766034",
    "uplRatio": "-0.0025490556801078", "lever": "10", "liqPx": "2352.8496681818233",
    "margin": "0.0003896645377994", "mgnRatio": "11.731726509588816", "mmr": "0.0000311811092368", "imr": "",
    "adl": "1", "notionalUsd": "2276.2546609009605", "ccy": "ETH", "posId": "307173036051017730",
    "cTime": "1619507758793", "uTime": "1619507761462",
}  # fmt: skip
# OKX's response example of "Get positions history": a partial close of an inverse swap.
HISTORY_ROW = {
    "cTime": "1654177169995", "ccy": "BTC", "closeAvgPx": "29786.5999999789081085", "closeTotalPos": "1",
    "instId": "BTC-USD-SWAP", "instType": "SWAP", "lever": "10.0", "mgnMode": "cross",
    "openAvgPx": "29783.8999999995535393", "openMaxPos": "1", "realizedPnl": "0.001", "fee": "-0.0001",
    "fundingFee": "0", "liqPenalty": "0", "pnl": "0.0011", "pnlRatio": "0.000906447858888",
    "posId": "452587086133239818", "posSide": "long", "direction": "long", "triggerPx": "", "type": "1",
    "uTime": "1654177174419", "uly": "BTC-USD", "nonSettleAvgPx": "", "settledPnl": "",
}  # fmt: skip
# A liquidation: triggerPx is the mark that triggered it, the penalty negative.
LIQUIDATION_ROW = {
    **HISTORY_ROW, "type": "3", "uTime": "1654180000000", "closeAvgPx": "27100.5", "triggerPx": "27105.2",
    "closeTotalPos": "1", "pnl": "-0.0033", "fee": "-0.00005", "liqPenalty": "-0.00011",
    "realizedPnl": "-0.00346",
}  # fmt: skip


# -- account and currency figures ---------------------------------------------------------------


def test_the_account_risk_figures_are_read_from_okx_example():
    with FakeOkx() as fake:
        fake.script(SUB_BALANCE, ok([SUB_BALANCE_ROW]))
        balance = _client(fake).get_subaccount_balance("trader-1")
    assert balance.adj_eq == Decimal("10679688.0460531643092577")
    assert balance.imr == Decimal("3372.2942371050594217")
    assert balance.mmr == Decimal("134.8917694842024")
    assert balance.mgn_ratio == Decimal("70375.35408747017")  # a ratio: 7 037 535 %
    assert balance.notional_usd == Decimal("33722.9423710505978888")
    (usdt,) = balance.details
    assert (usdt.mgn_ratio, usdt.imr, usdt.mmr) == (None, None, None)  # "" is not applicable


def test_a_futures_mode_account_has_its_risk_per_currency_and_none_at_account_level():
    with FakeOkx() as fake:
        fake.script(BALANCE, ok([FUTURES_BALANCE_ROW]))
        balance = _client(fake).get_balance()
    assert (balance.adj_eq, balance.imr, balance.mmr, balance.mgn_ratio, balance.notional_usd) == (None,) * 5
    assert balance.total_eq == Decimal("41624.32")
    (btc,) = balance.details
    assert (btc.ccy, btc.mgn_ratio, btc.imr, btc.mmr) == (
        "BTC",
        Decimal("2.3561"),
        Decimal("0.12"),
        Decimal("0.0095"),
    )


def test_an_older_answer_without_the_risk_fields_reads_them_as_unknown():
    row = {key: SUB_BALANCE_ROW[key] for key in ("totalEq", "uTime", "details")}
    with FakeOkx() as fake:
        fake.script(BALANCE, ok([row]))
        balance = _client(fake).get_balance()
    assert (balance.adj_eq, balance.imr, balance.mmr, balance.mgn_ratio, balance.notional_usd) == (None,) * 5


def test_a_negative_margin_ratio_is_read_not_refused():
    # OKX's ratio is equity over requirement: equity below 0 (past liquidation) gives a ratio
    # below 0, the most urgent state there is, which must reach the page and the alerts.
    row = {**SUB_BALANCE_ROW, "adjEq": "-1520.4", "mgnRatio": "-0.0112"}
    with FakeOkx() as fake:
        fake.script(BALANCE, ok([row]))
        balance = _client(fake).get_balance()
    assert (balance.adj_eq, balance.mgn_ratio) == (Decimal("-1520.4"), Decimal("-0.0112"))


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"mgnRatio": "NaN"}, "data[0].mgnRatio", "not a finite decimal number"),
        ({"mgnRatio": "1e400"}, "data[0].mgnRatio", "out of range (|x| must be below 10^20)"),
        ({"imr": "-3372.29"}, "data[0].imr", "negative"),
        ({"mmr": "Infinity"}, "data[0].mmr", "not a finite decimal number"),
        ({"adjEq": 10679688.05}, "data[0].adjEq", "not a number string (OKX sends amounts as strings)"),
        ({"notionalUsd": "-1"}, "data[0].notionalUsd", "negative"),
        (
            {"details": [{**FUTURES_BALANCE_ROW["details"][0], "mmr": "-0.0095"}]},
            "data[0].details[0].mmr",
            "negative",
        ),
        (
            {"details": [{**FUTURES_BALANCE_ROW["details"][0], "mgnRatio": "abc"}]},
            "data[0].details[0].mgnRatio",
            "not a finite decimal number",
        ),
    ],
)
def test_a_malformed_account_figure_refuses_the_balance(change, field, problem):
    error = _refused(BALANCE, [{**SUB_BALANCE_ROW, **change}], lambda c: c.get_balance())
    assert (error.endpoint, error.field) == (BALANCE, field) and error.message.endswith(f": {problem}")


# -- position figures ---------------------------------------------------------------------------


def test_the_position_risk_figures_are_read_from_okx_example():
    with FakeOkx() as fake:
        fake.script(POSITIONS, ok([POSITION_ROW]))
        (position,) = _client(fake).get_positions()
    assert position.adl == 1
    assert position.mgn_ratio == Decimal("11.731726509588816")
    assert position.mmr == Decimal("0.0000311811092368")
    assert position.imr is None  # isolated: "only applicable to cross"
    assert (position.mark_px, position.liq_px) == (Decimal("2353.849"), Decimal("2352.8496681818233"))


@pytest.mark.parametrize(("adl", "level"), [("0", 0), ("5", 5), ("", None)])
def test_the_adl_level_is_0_to_5_or_unknown(adl, level):
    with FakeOkx() as fake:
        fake.script(POSITIONS, ok([{**POSITION_ROW, "adl": adl}]))
        (position,) = _client(fake).get_positions()
    assert position.adl == level


def test_a_margin_position_without_adl_reads_it_as_unknown():
    row = {key: value for key, value in POSITION_ROW.items() if key not in ("adl", "mgnRatio", "mmr")}
    with FakeOkx() as fake:
        fake.script(POSITIONS, ok([{**row, "instType": "MARGIN", "instId": "BTC-USDT", "posCcy": "BTC"}]))
        (position,) = _client(fake).get_positions()
    assert (position.adl, position.mgn_ratio, position.mmr) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"adl": "7"}, "data[0].adl", "not an ADL level from 0 to 5"),
        ({"adl": "-1"}, "data[0].adl", "not an ADL level from 0 to 5"),
        ({"adl": "1.0"}, "data[0].adl", "not an ADL level from 0 to 5"),
        ({"adl": 1}, "data[0].adl", "not a string"),
        ({"mgnRatio": "NaN"}, "data[0].mgnRatio", "not a finite decimal number"),
        ({"mmr": "-0.00003"}, "data[0].mmr", "negative"),
        ({"imr": "-2"}, "data[0].imr", "negative"),
    ],
)
def test_a_malformed_position_figure_refuses_the_positions(change, field, problem):
    error = _refused(POSITIONS, [{**POSITION_ROW, **change}], lambda c: c.get_positions())
    assert (error.endpoint, error.field) == (POSITIONS, field) and error.message.endswith(f": {problem}")


# -- positions history --------------------------------------------------------------------------


def test_a_closed_position_is_read_from_okx_example():
    with FakeOkx() as fake:
        fake.script(HISTORY, ok([HISTORY_ROW]))
        (closed,) = _client(fake).get_positions_history()
    assert closed == ClosedPositionRecord(
        inst_type="SWAP",
        inst_id="BTC-USD-SWAP",
        mgn_mode="cross",
        pos_id="452587086133239818",
        pos_side="long",
        direction="long",
        type="1",
        ccy="BTC",
        uly="BTC-USD",
        lever=Decimal("10.0"),
        open_avg_px=Decimal("29783.8999999995535393"),
        close_avg_px=Decimal("29786.5999999789081085"),
        trigger_px=None,  # "" for a close by the trader (types 1 and 2)
        open_max_pos=Decimal(1),
        close_total_pos=Decimal(1),
        pnl=Decimal("0.0011"),
        pnl_ratio=Decimal("0.000906447858888"),
        realized_pnl=Decimal("0.001"),
        fee=Decimal("-0.0001"),
        funding_fee=Decimal(0),
        liq_penalty=Decimal(0),
        settled_pnl=None,
        c_time=datetime(2022, 6, 2, 13, 39, 29, 995000, tzinfo=UTC),  # date -u -d @1654177169.995
        u_time=datetime(2022, 6, 2, 13, 39, 34, 419000, tzinfo=UTC),
    )
    assert _query(fake, HISTORY) == {"limit": "100"}


def test_a_liquidation_keeps_its_trigger_price_and_negative_penalty():
    with FakeOkx() as fake:
        fake.script(HISTORY, ok([LIQUIDATION_ROW, {**HISTORY_ROW, "posId": "452587086133239819"}]))
        liquidated, partly_closed = _client(fake).get_positions_history()
    assert (liquidated.type, liquidated.trigger_px, liquidated.close_avg_px) == (
        "3", Decimal("27105.2"), Decimal("27100.5"),
    )  # fmt: skip
    assert (liquidated.liq_penalty, liquidated.realized_pnl) == (Decimal("-0.00011"), Decimal("-0.00346"))
    assert (partly_closed.type, partly_closed.liq_penalty) == ("1", Decimal(0))


def test_paging_parameters_go_out_under_okx_names():
    with FakeOkx() as fake:
        _client(fake).get_positions_history(
            inst_type="SWAP", after=1654180000000, before=1654177174419, limit=20
        )
    assert _query(fake, HISTORY) == {
        "instType": "SWAP", "after": "1654180000000", "before": "1654177174419", "limit": "20",
    }  # fmt: skip


def test_a_page_longer_than_the_limit_is_read_when_the_extra_rows_share_the_last_update_time():
    # "all rows sharing the last uTime are returned, so a page can exceed limit"
    newest = {**HISTORY_ROW, "posId": "1", "uTime": "1654177180000"}
    tied = [{**HISTORY_ROW, "posId": str(n)} for n in (2, 3, 4)]
    with FakeOkx() as fake:
        fake.script(HISTORY, ok([newest, *tied]))
        rows = _client(fake).get_positions_history(limit=2)
    assert [r.pos_id for r in rows] == ["1", "2", "3", "4"]


def test_a_page_longer_than_the_limit_with_other_update_times_is_refused():
    rows = [{**HISTORY_ROW, "posId": str(n), "uTime": str(1654177174419 - n)} for n in range(3)]
    error = _refused(HISTORY, rows, lambda c: c.get_positions_history(limit=2))
    assert error.field == "data" and error.message.endswith(": more rows than the limit of 2 asked for")


def test_a_page_with_one_position_twice_is_refused():
    # OKX keeps one row per position (posId and cTime), updated in place: two versions of it in
    # one page (another uTime, another close type) cannot both be what OKX holds.
    later = {**HISTORY_ROW, "uTime": str(int(HISTORY_ROW["uTime"]) + 1), "type": "2"}
    error = _refused(HISTORY, [HISTORY_ROW, later], lambda c: c.get_positions_history())
    assert error.field == "data[1].posId/cTime"
    assert error.value == f"'452587086133239818/{HISTORY_ROW['cTime']}'"
    assert error.message.endswith(": a record id twice in one page")


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"type": "7"}, "data[1].type", "not a close type from 1 to 6"),
        ({"type": ""}, "data[1].type", "required field is empty"),
        ({"uTime": ""}, "data[1].uTime", "required field is empty"),
        ({"uTime": "1654177174"}, "data[1].uTime", "timestamp outside 2010..2100"),  # seconds
        ({"posId": ""}, "data[1].posId", "required field is empty"),
        ({"pnl": "NaN"}, "data[1].pnl", "not a finite decimal number"),
        ({"triggerPx": "1e400"}, "data[1].triggerPx", "out of range (|x| must be below 10^20)"),
        ({"direction": "sideways-and-more"}, "data[1].direction", "longer than 8 characters"),
    ],
)
def test_a_malformed_closed_position_refuses_the_page(change, field, problem):
    error = _refused(
        HISTORY, [LIQUIDATION_ROW, {**HISTORY_ROW, **change}], lambda c: c.get_positions_history()
    )
    assert (error.endpoint, error.field) == (HISTORY, field) and error.message.endswith(f": {problem}")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lever": "-10"}, "lever"),  # "Leverage"
        ({"openAvgPx": "-29783.9"}, "openAvgPx"),  # "Average price of opening position"
        ({"closeAvgPx": "-27100.5"}, "closeAvgPx"),  # "Average price of closing position"
        ({"triggerPx": "-27105.2"}, "triggerPx"),  # "trigger mark price"
        ({"openMaxPos": "-1"}, "openMaxPos"),  # "Max quantity of position"
        ({"closeTotalPos": "-1"}, "closeTotalPos"),  # "Position's cumulative closed volume"
    ],
)
def test_a_closed_position_with_an_impossible_negative_figure_is_refused(change, field):
    """A price, a leverage or a size is never negative (the side is `direction`): stored, it would
    be shown as OKX's figure."""
    error = _refused(
        HISTORY, [{**LIQUIDATION_ROW, **change}, HISTORY_ROW], lambda c: c.get_positions_history()
    )
    assert error.field == f"data[0].{field}" and error.message.endswith(": negative")


@pytest.mark.parametrize("missing", ["instId", "instType", "posId", "cTime", "type", "uTime"])
def test_a_closed_position_without_a_required_field_is_refused(missing):
    row = {key: value for key, value in HISTORY_ROW.items() if key != missing}
    error = _refused(HISTORY, [row], lambda c: c.get_positions_history())
    assert error.field == f"data[0].{missing}" and error.message.endswith(": required field missing")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.get_positions_history(inst_type="SPOT"), "inst_type must be one of"),
        (lambda c: c.get_positions_history(limit=101), "limit must be a whole number from 1 to 100"),
        (lambda c: c.get_positions_history(after=1654177174), "after must be epoch milliseconds"),
        (lambda c: c.get_positions_history(before="1654177174419"), "before must be epoch milliseconds"),
    ],
)
def test_bad_paging_is_a_value_error_and_nothing_is_sent(call, message):
    with FakeOkx() as fake, pytest.raises(ValueError, match=message):
        call(_client(fake))
    assert fake.received == []


def test_positions_history_carries_okx_published_limit():
    assert ENDPOINT_LIMITS[HISTORY] == Limit(10, 2, Rule.UID)


def _refused(path: str, rows: list, call) -> MalformedResponse:
    with FakeOkx() as fake:
        fake.script(path, ok(rows))
        with pytest.raises(MalformedResponse) as caught:
            call(_client(fake))
    return caught.value
