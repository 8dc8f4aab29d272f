"""Positions as a trader reads them (issue 16, items 1-3): coin-margined PnL in USD, pos "0" rows
that are no position, MARGIN shorts, side in words and size with its unit; through OKX's answer
(the simulator serving the issue's exact rows), the refresh, the overview rows, the account page,
the API, the CSV and the report; and the demo scenario showing each case."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from okxapi import Position
from okxapi.validation import Fields
from reports import build, render
from snapshots import queries
from snapshots.models import PositionLine, Snapshot
from snapshots.positions import upl_usd
from snapshots.refresh import refresh_account
from tests.api_support import client_as
from tests.workers_support import add_account, frozen

BTC_USDT_SWAP = {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "posSide": "net", "pos": "2", "ccy": "USDT",
                 "upl": "200.2", "mgnMode": "cross"}  # fmt: skip
BTC_USD_SWAP = {"instId": "BTC-USD-SWAP", "instType": "SWAP", "posSide": "net", "pos": "5", "ccy": "BTC",
                "upl": "0.0128205128", "usdPx": "65000", "mgnMode": "cross"}  # fmt: skip
ETH_USD_SWAP_EMPTY = {"instId": "ETH-USD-SWAP", "instType": "SWAP", "posSide": "net", "pos": "0",
                      "ccy": "ETH", "upl": "0", "usdPx": "3200", "mgnMode": "isolated"}  # fmt: skip
MARGIN_SHORT = {"instId": "BTC-USDT", "instType": "MARGIN", "posSide": "net", "pos": "1500", "posCcy": "USDT",
                "liabCcy": "BTC", "ccy": "USDT", "upl": "12.5", "mgnMode": "cross"}  # fmt: skip
# What OKX's trading balance says of USDT for these accounts: eqUsd equal to eq.
USDT_AT_PAR = {"USDT": Decimal(1)}


def position(**row: str) -> Position:
    return Position.from_okx(Fields(row, "data[0]"))


# -- the rules, on OKX's rows ---------------------------------------------------------------
def test_coin_margined_pnl_is_priced_at_okxs_usdpx_and_usdt_pnl_at_usdts_price():
    linear = upl_usd(position(**BTC_USDT_SWAP), USDT_AT_PAR)
    inverse = upl_usd(position(**BTC_USD_SWAP), USDT_AT_PAR)
    assert inverse.usd == Decimal("833.333332") and inverse.price == Decimal("65000")
    assert linear.usd == Decimal("200.2")
    assert (linear.usd + inverse.usd).quantize(Decimal("0.01")) == Decimal("1033.53")


def test_a_pnl_without_any_usd_price_is_unknown_with_the_reason_never_the_coin_amount():
    row = {**BTC_USD_SWAP, "usdPx": ""}
    priced = upl_usd(position(**row), USDT_AT_PAR)
    assert priced.usd is None
    assert "no USD price of BTC" in priced.basis


@pytest.mark.parametrize(
    ("row", "side", "unit"),
    [
        (MARGIN_SHORT, "short", "USDT"),
        ({**MARGIN_SHORT, "pos": "0.5", "posCcy": "BTC", "liabCcy": "USDT"}, "long", "BTC"),
        ({**BTC_USDT_SWAP, "pos": "-3"}, "short", "contracts"),
        (BTC_USDT_SWAP, "long", "contracts"),
        ({**BTC_USDT_SWAP, "posSide": "short", "pos": "3"}, "short", "contracts"),
        ({**BTC_USDT_SWAP, "instId": "BTC-USD-270326-60000-C", "instType": "OPTION"}, "long", "contracts"),
    ],
)
def test_the_side_is_said_in_words_and_the_size_carries_its_unit(row, side, unit):
    p = position(**row)
    assert (p.side, p.size_unit) == (side, unit)


def test_a_pos_zero_row_is_not_open_and_an_unreadable_size_is_not_zero():
    assert not position(**ETH_USD_SWAP_EMPTY).is_open
    assert replace(position(**BTC_USDT_SWAP), pos=None).is_open


# -- through the simulator, the refresh and every surface -----------------------------------


def serve_positions(sim, rows: list[dict]) -> None:
    """OKX's answer for positions, byte for byte (the simulator's fault hook serves a raw body)."""
    body = json.dumps({"code": "0", "msg": "", "data": rows})
    sim.inject_fault("/api/v5/account/positions", body=body, times=None)


@pytest.fixture
def sim(make_simulator):
    return make_simulator(frozen())


@pytest.fixture
def refreshed(sim):
    """The demo's master, whose trading account holds USDT at 1 USD, with OKX answering the
    issue's rows: the two swaps of item 1, the empty ETH-USD-SWAP of item 2, the MARGIN short of
    item 3."""
    account = add_account(sim, "main")
    serve_positions(sim, [BTC_USDT_SWAP, BTC_USD_SWAP, ETH_USD_SWAP_EMPTY, MARGIN_SHORT])
    assert refresh_account(account.pk, cycle=1).status == "ok"
    return account


def lines_of(account: Account) -> dict[str, PositionLine]:
    return {line.inst_id: line for line in Snapshot.objects.get(account=account).positions.all()}


@pytest.mark.django_db
def test_the_refresh_stores_side_unit_pnl_currency_and_usd_and_drops_the_empty_row(refreshed):
    lines = lines_of(refreshed)
    assert set(lines) == {"BTC-USDT-SWAP", "BTC-USD-SWAP", "BTC-USDT"}  # no ETH-USD-SWAP pos "0"
    inverse = lines["BTC-USD-SWAP"]
    assert (inverse.upl, inverse.upl_ccy, inverse.upl_usd) == (
        Decimal("0.0128205128"),
        "BTC",
        Decimal("833.333332"),
    )
    assert lines["BTC-USDT-SWAP"].upl_usd == Decimal("200.2")
    short = lines["BTC-USDT"]
    assert (short.side, short.pos_side, short.size, short.size_unit) == (
        "short",
        "net",
        Decimal(1500),
        "USDT",
    )


@pytest.mark.django_db
def test_the_overview_row_sums_usd_values_and_counts_real_positions(refreshed):
    (row,) = [r for r in queries.account_rows() if r.account == refreshed]
    assert row.upl_usd == Decimal("1046.033332")  # 200.2 + 833.333332 + 12.5 (the MARGIN short)
    assert row.open_positions == 3
    assert row.upl_unpriced == 0


@pytest.mark.django_db
def test_item_one_two_and_three_on_the_account_page(sim, client):
    account = add_account(sim, "main")
    serve_positions(sim, [BTC_USDT_SWAP, BTC_USD_SWAP])
    refresh_account(account.pk, cycle=1)
    html = client_as(client, "viewer").get(f"/accounts/{account.pk}/").content.decode()
    assert "1,033.53 USD" in html  # item 1: 200.2 + 0.0128205128 x 65000
    assert "+0.01282051 BTC" in html and "833.33" in html  # the coin amount (8 places) beside its USD value
    assert "2 open positions" in html

    sim.clear_faults()
    serve_positions(sim, [{**BTC_USDT_SWAP, "pos": "2"}, ETH_USD_SWAP_EMPTY])
    refresh_account(account.pk, cycle=2)
    html = client_as(client, "viewer").get(f"/accounts/{account.pk}/").content.decode()
    assert "1 open position<" in html  # item 2
    assert "ETH-USD-SWAP" not in html

    sim.clear_faults()
    serve_positions(sim, [MARGIN_SHORT])
    refresh_account(account.pk, cycle=3)
    html = client_as(client, "viewer").get(f"/accounts/{account.pk}/").content.decode()
    assert '<td class="side" data-label="side">short' in html  # item 3
    assert "1,500 USDT" in html


@pytest.mark.django_db
def test_an_unpriced_pnl_is_left_out_of_the_sum_and_every_surface_says_so(sim, client):
    account = add_account(sim, "main")
    serve_positions(sim, [BTC_USDT_SWAP, {**BTC_USD_SWAP, "ccy": "XYZ", "usdPx": ""}])
    refresh_account(account.pk, cycle=1)
    (row,) = [r for r in queries.account_rows() if r.account == account]
    assert (row.upl_usd, row.upl_unpriced) == (Decimal("200.2"), 1)
    viewer = client_as(client, "viewer")
    html = viewer.get(f"/accounts/{account.pk}/").content.decode()
    assert "excludes 1 without a USD price" in html and "no USD price of XYZ" in html
    assert "excl. 1 unpriced" in viewer.get("/").content.decode()
    (api_row,) = viewer.get("/api/v1/accounts").json()["accounts"]
    assert (api_row["upl_usd"], api_row["upl_unpriced_positions"]) == ("200.2", 1)
    positions = viewer.get(f"/api/v1/accounts/{account.pk}/positions").json()["positions"]
    unknown = next(p for p in positions if p["upl_ccy"] == "XYZ")
    assert unknown["upl_usd"] is None and "no USD price of XYZ" in unknown["upl_usd_basis"]


@pytest.mark.django_db
def test_the_api_csv_and_report_carry_the_usd_pnl_of_item_one(sim, client):
    account = add_account(sim, "main")
    serve_positions(sim, [BTC_USDT_SWAP, BTC_USD_SWAP, ETH_USD_SWAP_EMPTY])
    refresh_account(account.pk, cycle=1)
    viewer = client_as(client, "viewer")

    (api_row,) = viewer.get("/api/v1/accounts").json()["accounts"]
    assert Decimal(api_row["upl_usd"]).quantize(Decimal("0.01")) == Decimal("1033.53")
    assert api_row["open_positions"] == 2
    positions = viewer.get(f"/api/v1/accounts/{account.pk}/positions").json()["positions"]
    inverse = next(p for p in positions if p["inst_id"] == "BTC-USD-SWAP")
    assert (inverse["upl"], inverse["upl_ccy"], inverse["upl_usd"], inverse["upl_usd_price"]) == (
        "0.0128205128",
        "BTC",
        "833.333332",
        "65000",
    )
    assert (inverse["side"], inverse["size_unit"]) == ("long", "contracts")

    response = viewer.get("/api/v1/accounts.csv")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    (csv_row,) = csv.DictReader(io.StringIO(body.decode()))
    assert Decimal(csv_row["upl_usd"]).quantize(Decimal("0.01")) == Decimal("1033.53")
    assert csv_row["open_positions"] == "2"

    data = build.build(Account.objects.filter(pk=account.pk), timezone.now() + timedelta(seconds=1))
    assert data.upl_usd.quantize(Decimal("0.01")) == Decimal("1033.53") and len(data.positions) == 2
    rendered = render.render(data, "Morning", "UTC")
    assert "unrealised PnL +1,033.53 USD" in rendered.text
    assert "+0.01282051 BTC = +833.33 USD" in rendered.text
    report_rows = [r for r in csv.DictReader(io.StringIO(rendered.csv)) if r["section"] == "position"]
    assert {r["item"]: r["upl_usd"] for r in report_rows} == {
        "BTC-USD-SWAP long": "833.333332",
        "BTC-USDT-SWAP long": "200.2",
    }


# -- the demo scenario shows each case --------------------------------------------------------
@pytest.mark.django_db
def test_the_demo_scenario_shows_inverse_option_margin_and_empty_rows_right(sim):
    main, alpha = add_account(sim, "main"), add_account(sim, "alpha-desk")
    epsilon = add_account(sim, "epsilon-futures")
    for account in (main, alpha, epsilon):
        assert refresh_account(account.pk, cycle=1).status == "ok"
    lines = {**lines_of(main), **lines_of(alpha), **lines_of(epsilon)}
    assert "ETH-USD-SWAP" not in lines  # alpha-desk's pos "0" row
    short, long = lines["BTC-USDT"], lines["ETH-USDT"]
    assert (short.inst_type, short.side, short.size_unit) == ("MARGIN", "short", "USDT")
    assert (long.side, long.size_unit) == ("long", "ETH")
    # The inverse swap, option and future (the "0.02 BTC listed as 0.02 USD" case).
    for inst_id in ("BTC-USD-SWAP", "BTC-USD-270326-60000-C", "BTC-USD-270326"):
        line = lines[inst_id]
        assert (line.upl_ccy, line.size_unit) == ("BTC", "contracts")
        assert line.upl_usd == (line.upl * line.upl_usd_price).quantize(Decimal(1).scaleb(-18))
        assert line.upl_usd_price == Decimal("65000")  # OKX's usdPx of BTC (prices frozen)
    assert lines["ETH-USDT-SWAP"].side == "short"  # net mode, pos -120
    (alpha_row,) = [r for r in queries.account_rows() if r.account == alpha]
    assert alpha_row.open_positions == 2
