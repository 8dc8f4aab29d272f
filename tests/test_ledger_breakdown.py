"""The PnL breakdown (issue 19): trading fees, funding fees and interest of a period from the
account's own trading bills, summed once per bill into BillDay and valued in USD (ledger/valuation.py,
which values the flows too)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ledger.breakdown import NOT_READ, breakdown
from ledger.models import BillDay, CashFlow, FlowSource, LedgerSync
from ledger.sync import BILLS, sync_account
from snapshots.refresh import current_cycle
from tests.workers_support import add_account, direct_client, frozen

pytestmark = pytest.mark.django_db

# The demo's frozen prices (okxsim/scenarios/demo.json), which the cycle's price table serves.
USD = {"USDT": Decimal(1), "BTC": Decimal(65000), "ETH": Decimal(3200)}


@pytest.fixture
def sim(make_simulator):
    return make_simulator(replace(frozen(), flows=[]))


def all_bills(sim, name: str) -> list:
    """Every bill OKX keeps (3 months), read outside the product (whose limiter does not count
    these calls, so the simulator's limits are off while they are made)."""
    bills, after = [], None
    sim.rate_limits_enabled = False
    try:
        with direct_client(sim, name) as client:
            while True:
                page = client.get_account_bills(archive=True, after_bill_id=after)
                bills += page
                if len(page) < 100:
                    return bills
                after = page[-1].bill_id
    finally:
        sim.rate_limits_enabled = True


def expected_days(bills) -> dict[tuple[date, str], tuple[Decimal, Decimal, Decimal]]:
    """BillDay's rule: `fee` of every bill but funding (8) and interest (7); balChg of those."""
    days: dict[tuple[date, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for bill in bills:
        sums = days[(bill.ts.astimezone(UTC).date(), bill.ccy)]
        if bill.type == "8":
            sums[1] += bill.bal_chg
        elif bill.type == "7":
            sums[2] += bill.bal_chg
        elif bill.fee:
            sums[0] += bill.fee
    return {key: tuple(sums) for key, sums in days.items()}


def stored_days(account) -> dict[tuple[date, str], tuple[Decimal, Decimal, Decimal]]:
    return {
        (row.day, row.ccy): (row.trading_fees, row.funding_fees, row.interest)
        for row in BillDay.objects.filter(account=account)
    }


def test_each_bill_is_summed_once_into_its_day_and_a_second_run_changes_nothing(sim):
    master = add_account(sim, "main")
    sim.advance(days=2)  # two days of funding fees (every 8 h) and hourly margin interest
    bills = all_bills(sim, "main")
    assert len(bills) > 100  # more than one page: the backfill pages back through them
    assert {bill.type for bill in bills} >= {"2", "7", "8"}

    for _ in range(3):
        assert sync_account(master.pk, backfill_pages=1).status == "ok"

    assert stored_days(master) == expected_days(bills)
    progress = LedgerSync.objects.get(account=master).progress[BILLS]
    assert progress["done"] and progress["rows"] == len(bills) and progress["gaps"] == []
    assert sum(row.bills for row in BillDay.objects.filter(account=master)) == len(bills)

    sim.advance(seconds=8 * 3600)  # new bills: one funding round, eight hours of interest
    sync_account(master.pk)
    sync_account(master.pk)
    assert stored_days(master) == expected_days(all_bills(sim, "main"))


def test_the_breakdown_of_a_period_is_the_usd_sum_of_its_days(sim):
    master = add_account(sim, "main")
    sim.advance(days=2)
    sync_account(master.pk, backfill_pages=5)
    days = expected_days(all_bills(sim, "main"))
    start = datetime.combine(min(day for day, _ in days), datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(max(day for day, _ in days), datetime.min.time(), tzinfo=UTC) + timedelta(days=1)

    result = breakdown(master.pk, start, end)

    usd = [sum((amounts[i] * USD[ccy] for (_, ccy), amounts in days.items()), Decimal(0)) for i in range(3)]
    assert (result.trading_fees_usd, result.funding_fees_usd, result.interest_usd) == tuple(usd)
    assert result.unknown_reason == ""
    assert result.trading_fees_usd < 0 and result.funding_fees_usd != 0 and result.interest_usd < 0


def test_a_day_with_an_unpriced_bill_makes_the_breakdown_unknown_with_its_reason(sim):
    master = add_account(sim, "main")
    sync_account(master.pk)
    day = datetime.now(tz=UTC).date()
    BillDay.objects.create(
        account=master,
        day=day,
        ccy="XYZ",
        trading_fees=Decimal("-1"),
        trading_fees_usd=None,
        funding_fees_usd=None,
        interest_usd=None,
        usd_basis="no USD price of XYZ: OKX has no XYZ-USD index candle",
    )
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)

    result = breakdown(master.pk, start, start + timedelta(days=1))

    assert (result.trading_fees_usd, result.funding_fees_usd, result.interest_usd) == (None, None, None)
    assert "XYZ" in result.unknown_reason and "no XYZ-USD index candle" in result.unknown_reason


def test_an_account_whose_bills_were_never_read_has_no_breakdown(sim):
    delta = add_account(sim, "delta-nokey", master=add_account(sim, "main"), keyless=True)
    now = datetime.now(tz=UTC)

    assert sync_account(delta.pk).status == "skipped"
    result = breakdown(delta.pk, now - timedelta(days=1), now)

    assert (result.trading_fees_usd, result.unknown_reason) == (None, NOT_READ)


def test_a_flow_priced_by_the_cycles_table_says_when_that_table_was_read(sim, settings):
    """Not "price table of cycle 29932832": the time (UTC) the refresh cycle whose table priced
    the flow began, which a person can hold against OKX's price history."""
    master = add_account(sim, "main")
    sim.deposit("main", "BTC", "0.5", state="2")
    cycles = [current_cycle()]
    sync_account(master.pk)
    cycles.append(current_cycle())

    (row,) = CashFlow.objects.filter(account=master, source=FlowSource.DEPOSIT_HISTORY)
    assert (row.usd_price, row.usd_value) == (USD["BTC"], USD["BTC"] / 2)
    began = [datetime.fromtimestamp(c * settings.REFRESH_INTERVAL_SECONDS, tz=UTC) for c in cycles]
    assert row.usd_basis in {
        f"OKX USD index (or USDT spot) price read at {at:%H:%M} UTC (this refresh cycle's price table)"
        for at in began
    }
