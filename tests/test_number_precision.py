"""Issue 18 item 11: per currency, a consistent number of decimals from OKX's own precision.

A coin shows the decimals of its spot pair's lot size on OKX (GET /api/v5/public/instruments
`lotSz`: BTC-USDT 0.00000001 -> 8 places, ETH-USDT 0.000001 -> 6), always that many, so a column
lines up; USD and the stablecoins show cents; a coin OKX gives no precision for keeps the old rule
(up to 8 places, trimmed). The table is read at most once a day per host, validated where it
enters, and read once per page request."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
import redis

from accounts.okx import shared_connection
from okxapi import Client, MalformedResponse
from okxapi.results import Instrument
from okxapi.validation import Fields, MalformedData
from snapshots import numbers, precision
from snapshots.refresh import refresh_account
from tests.accounts_support import make_user
from tests.workers_support import add_account, frozen

INSTRUMENTS = precision.PATH


def spot(inst_id: str, lot: str, **fields: str) -> dict[str, str]:
    """A SPOT row as OKX sends it (the fields the product reads, and a few it does not)."""
    base, quote = inst_id.split("-")
    row = {"instType": "SPOT", "instId": inst_id, "baseCcy": base, "quoteCcy": quote, "lotSz": lot}
    return {**row, "tickSz": "0.01", "minSz": "0.001", "state": "live", **fields}


def instruments(*rows: dict[str, str]) -> list[Instrument]:
    return [Instrument.from_okx(Fields(row, f"data[{i}]")) for i, row in enumerate(rows)]


@pytest.fixture
def okx_places():
    """Store a display table as a read of OKX would (and nothing is left for the next test: the
    Django cache is emptied before each test)."""

    def store(**places: int) -> None:
        precision.store("live:test", places)

    return store


# -- the table from OKX's instruments ---------------------------------------------------------------
def test_a_coins_places_are_the_decimals_of_its_usdt_pairs_lot_size():
    table = precision.table_from(
        instruments(
            spot("BTC-USDT", "0.00000001"),
            spot("BTC-EUR", "0.0001"),  # the USDT pair wins
            spot("ETH-USDT", "0.000001"),
            spot("SHIB-USDT", "1"),
            spot("XAUT-USDT", "0.0010"),  # trailing zeros are no decimals
            spot("ABC-BTC", "0.01"),
            spot("ABC-EUR", "0.001"),  # no USDT pair: the finest of its pairs
            spot("NEW-USDT", ""),  # announced, fields not set yet: "" for now
        )
    )
    assert table == {"BTC": 8, "ETH": 6, "SHIB": 0, "XAUT": 3, "ABC": 3}


@pytest.mark.parametrize("lot", ["0", "-0.01", "abc", "NaN", "Infinity", "1e-30", 0.01, None])
def test_a_lot_size_that_is_not_a_positive_number_is_refused_where_it_enters(lot):
    with pytest.raises(MalformedData) as refused:
        instruments(spot("BTC-USDT", "0.01"), {**spot("ETH-USDT", "0.01"), "lotSz": lot})
    assert refused.value.field == "data[1].lotSz"


def test_the_client_reads_the_simulators_spot_instruments_as_okx_documents_them(simulator):
    public = Client.public(base_url=simulator.url, connection=shared_connection())
    rows = {inst.inst_id: inst for inst in public.get_instruments("SPOT")}
    assert rows["BTC-USDT"].lot_sz == Decimal("0.00000001") and rows["BTC-USDT"].lot_places == 8
    assert (rows["ETH-USDT"].base_ccy, rows["ETH-USDT"].quote_ccy, rows["ETH-USDT"].lot_places) == (
        "ETH",
        "USDT",
        6,
    )
    assert {inst.inst_type for inst in rows.values()} == {"SPOT"}
    with pytest.raises(ValueError, match="inst_type"):
        public.get_instruments("OPTION")  # needs an instFamily: refused before anything is sent


def test_a_malformed_instruments_answer_is_a_malformed_response_naming_the_field(simulator):
    simulator.inject_fault(INSTRUMENTS, fields={"lotSz": "NaN"})
    public = Client.public(base_url=simulator.url, connection=shared_connection())
    with pytest.raises(MalformedResponse) as refused:
        public.get_instruments("SPOT")
    assert "lotSz" in str(refused.value)


# -- reading it at most once a day ---------------------------------------------------------------------
class Fetch:
    """A stand-in for a public client's get_instruments: counts its calls, answers or fails."""

    def __init__(self, *answers: list[Instrument] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> list[Instrument]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.mark.django_db
def test_the_table_is_read_once_a_day_per_host_and_a_failure_stores_nothing(settings):
    from django.core.cache import cache

    malformed = MalformedResponse.of(
        INSTRUMENTS, 200, "data[0].lotSz", "'NaN'", "not a finite decimal number"
    )
    fetch = Fetch(malformed, [], instruments(spot("BTC-USDT", "0.00000001")))

    precision.read_daily("live:a", fetch)  # fails: nothing stored, amounts keep the old rule
    precision.read_daily("live:a", fetch)  # not again within the hour
    assert fetch.calls == 1 and precision.display_table() == {}
    assert numbers.format_amount(Decimal("0.05"), "BTC") == "0.05"

    cache.delete("precision:live:a:lock")  # an hour later
    precision.read_daily("live:a", fetch)  # an empty answer: nothing learned, nothing stored
    assert fetch.calls == 2 and precision.display_table() == {}

    cache.delete("precision:live:a:lock")
    precision.read_daily("live:a", fetch)
    precision.read_daily("live:a", fetch)  # read today already
    assert fetch.calls == 3 and precision.display_table() == {"BTC": 8}
    assert numbers.format_amount(Decimal("0.05"), "BTC") == "0.05000000"


@pytest.mark.django_db
def test_two_hosts_tables_make_one_display_table_with_the_finer_places():
    precision.read_daily("live:a", Fetch(instruments(spot("BTC-USDT", "0.0001"), spot("ETH-USDT", "0.001"))))
    precision.read_daily("demo:b", Fetch(instruments(spot("BTC-USDT", "0.00000001"))))
    assert precision.display_table() == {"BTC": 8, "ETH": 3}


# -- formatting with it ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "ccy", "sign", "expected"),
    [
        ("0.05", "BTC", False, "0.05000000"),
        ("0.42715666", "BTC", False, "0.42715666"),
        ("0.123456789012", "BTC", False, "0.12345679"),  # not 12 places: OKX's 8
        ("1.25", "ETH", False, "1.250000"),
        ("6.5", "eth", False, "6.500000"),  # however the code is spelled
        ("12000", "SHIB", False, "12,000"),
        ("-0.5", "BTC", True, "-0.50000000"),
        ("0.00000001", "BTC", True, "+0.00000001"),
        ("-0.000000001", "BTC", True, "0.00000000"),  # rounds to zero: no sign
        ("1234.5", "USDT", False, "1,234.50"),  # cents
        ("800", "USDC", False, "800.00"),  # cents, though the table gives USDC 4 places
        ("0.000123000", "XYZ", False, "0.000123"),  # no precision from OKX: the old rule
        (
            "99999999999999999999.999999999999999999",
            "ATOM",
            False,
            "99,999,999,999,999,999,999.999999999999999999",
        ),
        (None, "BTC", False, "—"),
    ],
)
def test_amounts_show_okxs_places_always_and_stablecoins_cents(okx_places, value, ccy, sign, expected):
    okx_places(BTC=8, ETH=6, SHIB=0, USDC=4, ATOM=18)
    amount = None if value is None else Decimal(value)
    assert numbers.format_amount(amount, ccy, sign=sign) == expected


def test_a_column_of_btc_lines_up(okx_places):
    okx_places(BTC=8)
    column = [numbers.format_amount(Decimal(v), "BTC") for v in ("0.42715666", "0.05", "2.75", "1")]
    assert column == ["0.42715666", "0.05000000", "2.75000000", "1.00000000"]
    assert len({len(text.split(".")[1]) for text in column}) == 1


def test_prices_and_plain_numbers_are_not_amounts_of_a_coin(okx_places):
    okx_places(BTC=8, ETH=6)
    # An option priced in BTC keeps the price rule: a coin's size precision says nothing of prices.
    assert numbers.format_price(Decimal("0.05123"), "BTC") == "0.05123 BTC"
    assert numbers.format_price(Decimal("3150"), "USDT") == "3,150.00 USDT"
    assert numbers.format_amount(Decimal("2.50"), None) == "2.5"  # a size without a currency
    assert numbers.format_leverage(Decimal("5")) == "5\u00d7"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        json.dumps(["BTC", 8]),
        json.dumps({"BTC": "8"}),
        json.dumps({"BTC": -1}),
        json.dumps({"BTC": 99}),
        json.dumps({"BTC": True}),
        json.dumps({"BTC": 8.5}),
    ],
)
def test_a_table_that_is_not_ccy_to_places_counts_as_empty(stored):
    from django.core.cache import cache

    cache.set(precision.DISPLAY_KEY, stored)
    assert numbers.format_amount(Decimal("0.050"), "BTC") == "0.05"


def test_without_redis_amounts_keep_the_old_rule(monkeypatch):
    class Down:
        def get(self, *args, **kwargs):
            raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(precision, "cache", Down())
    assert numbers.format_amount(Decimal("0.050"), "BTC") == "0.05"
    assert numbers.format_amount(Decimal("0.050"), "USDT") == "0.05"


# -- end to end: the refresh reads it, the page shows it, one cache read per request ----------------------
@pytest.mark.django_db
def test_after_a_refresh_the_account_page_shows_each_coin_with_okxs_places(
    client, make_simulator, monkeypatch
):
    sim = make_simulator(frozen())
    account = add_account(sim, "main")
    assert refresh_account(account.pk, cycle=1).status == "ok"
    assert refresh_account(account.pk, cycle=2).status == "ok"
    calls = sum(row["calls"] for (path, _), row in sim.stats().items() if path == INSTRUMENTS)
    assert calls == 1  # once a day, not once a cycle
    assert precision.display_table() == {"BTC": 8, "ETH": 6, "SOL": 6, "USDC": 6}

    loads = []
    real_load = precision._load
    monkeypatch.setattr(precision, "_load", lambda: loads.append(1) or real_load())
    client.force_login(make_user("viewer"))
    html = client.get(f"/accounts/{account.pk}/").content.decode()

    assert len(loads) == 1  # one cache read for every amount on the page
    balances = html[html.index('id="balances"') : html.index("</table>", html.index('id="balances"'))]
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td><td class=\"num\">([^<]*)</td>", balances)
    shown = {(wallet, ccy): amount for wallet, ccy, amount in rows}
    assert shown[("funding", "BTC")] == "0.50000000"
    assert shown[("funding", "SOL")] == "120.000000"
    assert shown[("funding", "USDT")] == "25,000.00"
    assert re.fullmatch(r"\d+\.\d{6}", shown[("trading", "ETH")]), shown
    assert re.fullmatch(r"\d+\.\d{8}", shown[("trading", "BTC")]), shown
