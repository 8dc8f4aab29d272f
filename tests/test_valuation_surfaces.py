"""Issue 16: the valuation's gaps said on every surface, and one failed read never moves a total.

- Earn and unpriced holdings in the API and the CSVs (the pages say them already: test_valuation).
- An Earn read that fails uses the last value read within 15 minutes, labelled; older is unknown.
- Market data that cannot be read uses the last price table read within 15 minutes, labelled.
- Without a USDT-USD index, a coin priced only in USDT is unpriced and the reason says why.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from okxapi import IndexTicker, Ticker
from snapshots.models import Snapshot, Wallet
from snapshots.prices import PriceTable, build_table
from snapshots.refresh import EARN_PATH, refresh_account
from tests.api_support import client_as
from tests.workers_support import add_account, frozen

pytestmark = pytest.mark.django_db

INDEX = "/api/v5/market/index-tickers"


@pytest.fixture
def sim(make_simulator):
    scenario = frozen()
    main = scenario.account("main")
    main.funding = {**main.funding, "XYZ": "10"}  # a coin OKX's market data cannot price
    return make_simulator(scenario)


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_api_and_csvs_say_earn_and_the_unpriced_holdings(client, sim):
    master = add_account(sim, "main")
    sub = add_account(sim, "delta-nokey", master=master, keyless=True)
    refresh_account(master.pk, cycle=1)
    refresh_account(sub.pk, cycle=1)
    snapshot = Snapshot.objects.get(account=master)
    viewer = client_as(client, "viewer")

    balances = viewer.get(f"/api/v1/accounts/{master.pk}/balances").json()
    via_master = viewer.get(f"/api/v1/accounts/{sub.pk}/balances").json()
    accounts = viewer.get("/api/v1/accounts").json()
    rows = {row["name"]: row for row in csv_rows(viewer.get("/api/v1/accounts.csv"))}
    lines = csv_rows(viewer.get(f"/api/v1/accounts/{master.pk}/balances.csv"))
    sub_lines = csv_rows(viewer.get(f"/api/v1/accounts/{sub.pk}/balances.csv"))

    assert Decimal(balances["earn_usd"]) == snapshot.earn_usd > 0
    assert balances["earn_unknown_reason"] is None and balances["prices_note"] == ""
    assert via_master["earn_usd"] is None
    assert via_master["earn_unknown_reason"] == "not readable through the master key"
    main_row = next(row for row in accounts["accounts"] if row["name"] == "main")
    assert main_row["unpriced_holdings"] == ["XYZ"]
    assert accounts["totals"]["unpriced_holdings"] == 1
    assert rows["main"]["unpriced_holdings"] == "XYZ" and rows["delta-nokey"]["unpriced_holdings"] == ""
    earn = next(line for line in lines if line["wallet"] == "earn")
    assert (earn["ccy"], Decimal(earn["usd_value"])) == ("USD", snapshot.earn_usd)
    sub_earn = next(line for line in sub_lines if line["wallet"] == "earn")
    assert (
        sub_earn["usd_value"] == ""
        and sub_earn["usd_value_unknown_reason"] == "not readable through the master key"
    )
    xyz = next(line for line in lines if line["ccy"] == "XYZ")
    assert xyz["usd_value"] == "" and "unpriced" in xyz["usd_value_unknown_reason"]


def test_a_failed_earn_read_uses_the_value_read_minutes_earlier_and_says_so(client, sim):
    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=1)
    first = Snapshot.objects.get(account=account, cycle=1)
    Snapshot.objects.filter(pk=first.pk).update(taken_at=first.taken_at - timedelta(minutes=2))
    sim.inject_fault(EARN_PATH, code=50011, times=None)

    assert refresh_account(account.pk, cycle=2).status == "ok"

    second = Snapshot.objects.get(account=account, cycle=2)
    assert second.earn_usd == first.earn_usd > 0
    assert second.total_equity_usd == first.total_equity_usd  # no false drop by the Earn balance
    assert second.earn_unread == "not read this cycle (rate limit); the value read 2 min earlier is used"
    balances = client_as(client, "viewer").get(f"/api/v1/accounts/{account.pk}/balances").json()
    assert balances["earn_unknown_reason"] == second.earn_unread

    # A carried value is never carried again, and one older than 15 minutes is not used.
    Snapshot.objects.filter(account=account).update(taken_at=first.taken_at - timedelta(minutes=20))
    refresh_account(account.pk, cycle=3)
    third = Snapshot.objects.get(account=account, cycle=3)
    assert third.earn_usd is None and third.earn_unread == "not read this cycle (rate limit)"
    assert third.total_equity_usd == third.trading_equity_usd + third.funding_usd


def test_market_data_that_fails_uses_the_last_table_read_within_15_minutes_and_says_so(settings, sim):
    settings.REFRESH_INTERVAL_SECONDS = 60
    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=100)
    sim.inject_fault(INDEX, envelope={"code": "0", "msg": "", "data": [None]}, times=None)

    refresh_account(account.pk, cycle=103)
    refresh_account(account.pk, cycle=116)

    fresh, carried, too_old = (Snapshot.objects.get(account=account, cycle=c) for c in (100, 103, 116))
    assert carried.prices == fresh.prices and carried.unpriced_funding == ["XYZ"]
    assert carried.funding_usd == fresh.funding_usd
    assert carried.prices_note.endswith("; the prices read 3 min earlier are used")
    assert "OKX's market data could not be read: malformed" in carried.prices_note
    assert too_old.prices == {} and too_old.unpriced_funding == sorted(
        b.ccy for b in too_old.balances.filter(wallet=Wallet.FUNDING)
    )
    assert too_old.prices_note.startswith("the price table could not be read")


def test_without_a_usdt_index_a_coin_priced_only_in_usdt_is_unpriced_and_the_reason_says_why():
    table = build_table(
        [IndexTicker("BTC-USD", Decimal("65000"), None)],
        [Ticker("SOL-USDT", Decimal("150"), None)],
    )

    assert "SOL" not in table and table["BTC"] == Decimal("65000")
    reason = PriceTable(table, 1).missing_reason("SOL")
    assert reason == (
        "no USD price of SOL: OKX sent no SOL-USD index, and no USDT-USD index to convert a USDT price"
    )


def test_balances_at_a_date_list_earn_so_the_lines_add_up_to_the_total(client, sim):
    from django.urls import reverse
    from django.utils import timezone

    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=1)
    snapshot = Snapshot.objects.get(account=account)
    now = timezone.now() + timedelta(seconds=1)
    query = {"date": now.date().isoformat(), "time": now.time().isoformat("seconds"), "zone": "UTC"}
    viewer = client_as(client, "viewer")

    rows = csv_rows(viewer.get(reverse("reports:balances_at_csv"), query))
    page = viewer.get(reverse("reports:balances_at"), query).content.decode()

    mine = [row for row in rows if row["account"] == "main"]
    earn = next(row for row in mine if row["wallet"] == "earn")
    assert Decimal(earn["usd_value"]) == snapshot.earn_usd > 0
    lines = sum(Decimal(row["usd_value"]) for row in mine if row["row"] == "balance" and row["usd_value"])
    (total,) = [row for row in mine if row["row"] == "account total"]
    assert lines == Decimal(total["account_total_usd"]) == snapshot.total_equity_usd
    assert '<tr class="earn"><td>Earn</td><td>USD</td>' in page


def test_a_reports_balance_rows_add_up_to_its_total_with_earn_as_its_own_row(sim):
    from django.utils import timezone

    from accounts.models import Account
    from reports.build import build
    from reports.render import render, to_csv

    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=1)
    snapshot = Snapshot.objects.get(account=account)

    data = build(Account.objects.filter(active=True), timezone.now() + timedelta(seconds=1))
    rows = list(csv.DictReader(io.StringIO(to_csv(data))))
    html = render(data, "Daily", "UTC").html

    balance_rows = [row for row in rows if row["section"] == "balance" and row["usd_value"]]
    earn = next(row for row in balance_rows if row["item"] == "earn")
    assert Decimal(earn["usd_value"]) == snapshot.earn_usd > 0
    lines = sum(Decimal(row["usd_value"]) for row in balance_rows)
    assert lines == data.total_usd == snapshot.total_equity_usd
    assert f"{snapshot.earn_usd:,.2f}" in html and "Earn" in html


def test_the_account_page_says_when_earn_and_prices_come_from_an_earlier_read(client, sim):
    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=1)
    sim.inject_fault(EARN_PATH, code=50011, times=None)
    sim.inject_fault(INDEX, envelope={"code": "0", "msg": "", "data": [None]}, times=None)
    refresh_account(account.pk, cycle=2)

    page = client_as(client, "viewer").get(f"/accounts/{account.pk}/").content.decode()

    assert "in the total (not read this cycle (rate limit); the value read 1 min earlier is used)" in page
    assert "Funding prices: OKX&#x27;s market data could not be read: malformed" in page
    assert "the prices read 1 min earlier are used." in page


def test_an_earn_balance_left_unread_is_not_a_loss():
    from django.utils import timezone

    from accounts.models import Account
    from alerts.engine import evaluate
    from alerts.models import Alert, AlertSettings

    AlertSettings.objects.update_or_create(pk=1, defaults={"equity_drop": True, "equity_drop_percent": 10})
    desk = Account.objects.create(name="saver")
    now = timezone.now()

    def snap(minutes_ago: int, total: str, earn: str | None) -> None:
        taken = now - timedelta(minutes=minutes_ago)
        Snapshot.objects.create(
            account=desk,
            cycle=int(taken.timestamp()),
            taken_at=taken,
            total_equity_usd=Decimal(total),
            earn_usd=None if earn is None else Decimal(earn),
            earn_unread="" if earn is not None else "not read this cycle (rate limit)",
        )

    snap(30, "6200", "5000")  # trading 1000 + funding 200 + Earn 5000
    snap(0, "1200", None)  # Earn unread for longer than it may be carried: 1200 without it
    evaluate()
    assert not Alert.objects.exists()

    snap(-1, "1000", None)  # a real loss among the totals without Earn: 1200 -> 1000 is 16.7 %
    evaluate(now=now + timedelta(minutes=1))
    message = Alert.objects.get().message
    assert (
        "lost 200.00 USD over the last 24 hours, net of transfers: 16.7 % of its equity of 1,200.00 USD"
        in (message)
    )
    assert "Note: without Earn." in message


def test_the_overview_total_says_whose_earn_it_cannot_include(client, sim):
    master = add_account(sim, "main")
    sub = add_account(sim, "delta-nokey", master=master, keyless=True)
    refresh_account(master.pk, cycle=1)
    refresh_account(sub.pk, cycle=1)

    page = client_as(client, "viewer").get("/").content.decode()

    assert "without the Earn of delta-nokey (not readable through the master key)" in page


def test_a_report_whose_accounts_have_no_earn_read_says_unknown_not_zero(sim):
    from django.utils import timezone

    from accounts.models import Account
    from reports.build import build
    from reports.render import render

    master = add_account(sim, "main")
    sub = add_account(sim, "delta-nokey", master=master, keyless=True)
    refresh_account(sub.pk, cycle=1)

    data = build(Account.objects.filter(pk=sub.pk), timezone.now() + timedelta(seconds=1))
    text = render(data, "Daily", "UTC").text

    assert "Earn: USD valuation = — (no account's Earn was read)" in text
    assert "Earn: USD valuation = 0.00" not in text
