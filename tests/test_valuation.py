"""Issue 16 items 4 and 5 with the issue's inputs: funding coins priced from one price table per
cycle (OKX's index and spot tickers), stablecoins at their own index, unpriced coins named and
counted, Earn in the total, the table read once per cycle for all accounts and stored with the
snapshot so a figure can be explained."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.history import ApiError
from okxapi import IndexTicker, Ticker
from snapshots.models import Snapshot, Wallet
from snapshots.prices import build_table
from snapshots.refresh import refresh_account
from tests.workers_support import add_account, direct_client, frozen

pytestmark = pytest.mark.django_db

INDEX = "/api/v5/market/index-tickers"
TICKERS = "/api/v5/market/tickers"


def funding(snapshot: Snapshot) -> dict[str, tuple[Decimal, Decimal | None]]:
    return {b.ccy: (b.equity, b.usd_value) for b in snapshot.balances.filter(wallet=Wallet.FUNDING)}


def public_calls(sim, path: str) -> int:
    return sum(row["calls"] for (p, _), row in sim.stats().items() if p == path)


@pytest.fixture
def sim(make_simulator):
    return make_simulator(frozen())


def test_sol_in_the_masters_funding_and_usdc_in_a_subs_funding_are_priced(sim):
    master = add_account(sim, "main")
    delta = add_account(sim, "delta-nokey", master=master, keyless=True)

    refresh_account(master.pk, cycle=1)
    refresh_account(delta.pk, cycle=1)

    main, sub = Snapshot.objects.get(account=master), Snapshot.objects.get(account=delta)
    # 120 SOL at the SOL-USD index 150; 800 USDC at USDC's own index 0.9994, not 1.
    assert funding(main)["SOL"] == (Decimal(120), Decimal("18000"))
    assert funding(sub)["USDC"] == (Decimal(800), Decimal("799.52"))
    assert main.unpriced_funding == [] and sub.unpriced_funding == []
    assert sub.total_equity_usd == sub.trading_equity_usd + Decimal("799.52")


def test_a_stablecoin_off_its_peg_is_priced_at_its_index_as_okx_serves_it(sim):
    delta_master = add_account(sim, "main")
    delta = add_account(sim, "delta-nokey", master=delta_master, keyless=True)
    with direct_client(sim, "main") as client:
        served = {i.inst_id: i.idx_px for i in client.get_index_tickers("USD")}

    refresh_account(delta.pk, cycle=1)

    snapshot = Snapshot.objects.get(account=delta)
    assert served["USDC-USD"] == Decimal("0.9994")
    assert snapshot.prices["USDC"] == "0.9994"


def test_a_coin_the_table_cannot_price_is_named_counted_and_left_out_of_the_total(make_simulator):
    scenario = frozen()
    main = scenario.account("main")
    main.funding = {**main.funding, "XYZ": "10", "ABC": "3"}
    sim = make_simulator(scenario)
    account = add_account(sim, "main")

    refresh_account(account.pk, cycle=1)

    snapshot = Snapshot.objects.get(account=account)
    assert snapshot.unpriced_funding == ["ABC", "XYZ"]
    assert funding(snapshot)["XYZ"] == (Decimal(10), None)
    priced = sum(usd for _, usd in funding(snapshot).values() if usd is not None)
    assert snapshot.total_equity_usd == snapshot.trading_equity_usd + priced + snapshot.earn_usd


def test_earn_counts_in_the_total_1000_trading_200_funding_5000_earn_is_6200(make_simulator):
    sim = make_simulator(
        {
            "prices": {"USDT": {"usd": "1", "vol": 0}},
            "accounts": [
                {
                    "uid": "800000000000000001",
                    "name": "saver",
                    "role": "master",
                    "trading": {"USDT": "1000"},
                    "funding": {"USDT": "200"},
                    "earn": {"USDT": "5000"},
                }
            ],
            "keys": [
                {"account": "saver", "api_key": "k-saver", "secret_key": "s-saver", "passphrase": "p-saver"}
            ],
        }
    )
    account = add_account(sim, "saver")

    assert refresh_account(account.pk, cycle=1).status == "ok"

    snapshot = Snapshot.objects.get(account=account)
    assert (snapshot.trading_equity_usd, snapshot.funding_usd, snapshot.earn_usd) == (1000, 200, 5000)
    assert snapshot.total_equity_usd == Decimal(6200)
    assert snapshot.earn_unread == ""


def test_the_price_table_is_read_once_per_cycle_for_all_accounts(make_simulator):
    sim = make_simulator(frozen())
    accounts = [add_account(sim, name) for name in ("main", "alpha-desk", "beta-readonly", "epsilon-futures")]

    for account in accounts:
        assert refresh_account(account.pk, cycle=1).status == "ok"
    assert (public_calls(sim, INDEX), public_calls(sim, TICKERS)) == (1, 1)

    for account in accounts:
        refresh_account(account.pk, cycle=2)
    assert (public_calls(sim, INDEX), public_calls(sim, TICKERS)) == (2, 2)


def test_a_snapshots_stored_prices_explain_its_figures(sim):
    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=1)
    snapshot = Snapshot.objects.get(account=account)

    # Each priced funding line is its amount x the price the snapshot stored, and only the
    # prices it used are stored.
    for ccy, (amount, usd) in funding(snapshot).items():
        assert usd == (amount * Decimal(snapshot.prices[ccy])).quantize(usd)
    assert set(snapshot.prices) >= set(funding(snapshot))
    assert snapshot.prices["SOL"] == "150"


def test_market_data_that_cannot_be_read_leaves_funding_unpriced_with_a_recorded_error(sim):
    account = add_account(sim, "main")
    sim.inject_fault(INDEX, envelope={"code": "0", "msg": "", "data": [None]}, times=None)

    assert refresh_account(account.pk, cycle=1).status == "ok"

    snapshot = Snapshot.objects.get(account=account)
    assert snapshot.unpriced_funding == ["BTC", "SOL", "USDT"]
    assert snapshot.prices == {}
    error = ApiError.objects.get(account=account, endpoint=INDEX)
    assert error.category == "malformed"
    credential = account.credentials.get()
    assert credential.health_status not in ("grace", "failing")  # not the key's fault


def test_the_table_prices_a_coin_without_a_usd_index_by_its_usdt_pair_times_usdt():
    indexes = [
        IndexTicker("USDT-USD", Decimal("0.9998"), None),
        IndexTicker("USDC-USD", Decimal("0.9994"), None),
        IndexTicker("BTC-USD", Decimal("65000"), None),
        IndexTicker("DEAD-USD", Decimal("0"), None),
    ]
    spots = [
        Ticker("SOL-USDT", Decimal("150"), None),
        Ticker("BTC-USDT", Decimal("65010"), None),  # the USD index wins
        Ticker("XYZ-BTC", Decimal("0.1"), None),  # not a USDT pair: not priced
    ]

    table = build_table(indexes, spots)

    assert table["USDC"] == Decimal("0.9994") and table["USDT"] == Decimal("0.9998")
    assert table["SOL"] == Decimal("149.97")
    assert table["BTC"] == Decimal("65000")
    assert "XYZ" not in table and "DEAD" not in table


def test_every_total_that_leaves_a_holding_out_says_so(client, make_simulator):
    from tests.api_support import client_as

    scenario = frozen()
    main = scenario.account("main")
    main.funding = {**main.funding, "XYZ": "10", "ABC": "3"}
    sim = make_simulator(scenario)
    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=1)
    viewer = client_as(client, "viewer")

    overview = viewer.get("/").content.decode()
    page = viewer.get(f"/accounts/{account.pk}/").content.decode()

    assert "excludes 2 unpriced holdings" in overview
    assert "excludes 2 unpriced holdings" in page and "ABC, XYZ" in page
    assert "Earn (simple earn / savings): 5,000.00 USD, in the total" in page


def test_the_reports_currency_table_never_shows_a_partial_value_as_the_whole(make_simulator):
    from django.utils import timezone

    from accounts.models import Account
    from reports.build import build
    from reports.render import render
    from snapshots.models import BalanceLine

    sim = make_simulator(frozen())
    account = add_account(sim, "gamma-mm")  # 340 SOL in trading
    refresh_account(account.pk, cycle=1)
    snapshot = Snapshot.objects.get(account=account)
    # 120 SOL in funding that the table could not price (as before the table existed).
    BalanceLine.objects.create(snapshot=snapshot, wallet=Wallet.FUNDING, ccy="SOL", equity=Decimal(120))

    data = build(Account.objects.filter(active=True), timezone.now())
    sol = next(row for row in data.balances_by_ccy() if row[0] == "SOL")

    assert sol[1] == Decimal(460) and sol[3] == Decimal(120)
    assert "(excludes 120.000000 SOL unpriced)" in render(data, "Daily", "UTC").html  # OKX's 6 places
