"""The ledger sync against the simulator (issue 19, decisions 1, 2, 4 and 8): what a user checks on
the Transfers page is what OKX recorded, once, with its USD value at its time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.history import ApiError
from ledger.models import CashFlow, FlowKind, FlowSource, LedgerSync
from ledger.performance import account_pnl, pnl_series
from ledger.pnl import period
from ledger.sync import sync_account
from ledger.tasks import ledger_accounts
from okxapi import Client, Connection, LocalLimiter
from okxsim.scenario import Flow
from snapshots.refresh import refresh_account
from tests.workers_support import add_account, direct_client, frozen

pytestmark = pytest.mark.django_db

DEPOSITS = "/api/v5/asset/deposit-history"
WITHDRAWALS = "/api/v5/asset/withdrawal-history"
HOUR_MS = 3600 * 1000


@pytest.fixture
def sim(make_simulator):
    """The demo's accounts and prices, held still, with no scheduled flows: the test's own only."""
    return make_simulator(replace(frozen(), flows=[]))


def flows(account, source: str | None = None) -> list[CashFlow]:
    rows = CashFlow.objects.filter(account=account).order_by("occurred_at", "okx_id")
    return list(rows.filter(source=source) if source else rows)


def deposits(sim, count: int) -> list[str]:
    """`count` credited deposits of 1 USDT into "main", a minute apart; their depIds."""
    ids = []
    for _ in range(count):
        ids.append(sim.deposit("main", "USDT", "1", state="2"))
        sim.advance(seconds=60)
    return ids


def deposit_progress(account) -> dict:
    return LedgerSync.objects.get(account=account).progress[FlowSource.DEPOSIT_HISTORY]


def stored_ids(account) -> list[str]:
    return sorted(f.okx_id for f in flows(account, FlowSource.DEPOSIT_HISTORY))


def test_a_master_to_sub_transfer_is_minus_on_the_master_and_plus_on_the_sub(sim):
    master = add_account(sim, "main")
    sub = add_account(sim, "alpha-desk", master=master)
    bill_id = sim.transfer("USDT", "10000", "main", "alpha-desk")

    outcome = sync_account(master.pk)

    assert outcome.status == "ok", outcome
    (out,) = flows(master, FlowSource.SUBACCOUNT_BILLS)
    (into,) = flows(sub)
    assert (out.okx_id, out.kind, out.ccy, out.amount, out.counts) == (
        bill_id,
        FlowKind.TRANSFER_OUT,
        "USDT",
        Decimal("-10000"),
        True,
    )
    assert (out.counterparty, out.counterparty_name) == (sub, "alpha-desk")
    assert (into.okx_id, into.kind, into.amount, into.counterparty) == (
        bill_id,
        FlowKind.TRANSFER_IN,
        Decimal("10000"),
        master,
    )
    assert out.usd_value == Decimal("-10000") and into.usd_value == Decimal("10000")


def test_a_transfer_back_to_the_master_and_one_with_an_untracked_sub(sim):
    master = add_account(sim, "main")
    sub = add_account(sim, "alpha-desk", master=master)
    back = sim.transfer("USDT", "250", "alpha-desk", "main")
    away = sim.transfer("USDT", "40", "main", "gamma-mm")  # not added to the dashboard

    sync_account(master.pk)

    rows = {flow.okx_id: flow for flow in flows(master)}
    assert (rows[back].kind, rows[back].amount) == (FlowKind.TRANSFER_IN, Decimal("250"))
    assert (rows[away].counterparty, rows[away].counterparty_name) == (None, "gamma-mm")
    assert [(f.okx_id, f.kind, f.amount) for f in flows(sub)] == [
        (back, FlowKind.TRANSFER_OUT, Decimal("-250"))
    ]


def test_a_sub_account_added_after_its_transfers_were_read_gets_its_side_of_them(sim):
    master = add_account(sim, "main")
    earlier = sim.transfer("USDT", "700", "main", "alpha-desk")
    sync_account(master.pk)  # alpha-desk is not in the dashboard yet: the master's row only
    sub = add_account(sim, "alpha-desk", master=master)

    sync_account(master.pk)
    sync_account(master.pk)  # a second run adds nothing

    assert [(f.okx_id, f.kind, f.amount, f.usd_value, f.counterparty) for f in flows(sub)] == [
        (earlier, FlowKind.TRANSFER_IN, Decimal("700"), Decimal("700"), master)
    ]
    (out,) = flows(master, FlowSource.SUBACCOUNT_BILLS)
    assert (out.counterparty, out.amount) == (sub, Decimal("-700"))


def test_a_credited_deposit_is_stored_and_counted(sim):
    master = add_account(sim, "main")
    dep_id = sim.deposit("main", "USDT", "5000", state="2")

    sync_account(master.pk)

    (row,) = flows(master, FlowSource.DEPOSIT_HISTORY)
    assert (row.okx_id, row.kind, row.amount, row.state, row.counts, row.usd_value) == (
        dep_id,
        FlowKind.DEPOSIT,
        Decimal("5000"),
        "2",
        True,
        Decimal("5000"),
    )


def test_a_pending_deposit_is_stored_uncounted_then_counted_once_credited(sim):
    master = add_account(sim, "main")
    dep_id = sim.deposit("main", "USDC", "1000", state="0")

    sync_account(master.pk)
    (pending,) = flows(master, FlowSource.DEPOSIT_HISTORY)
    assert (pending.state, pending.counts) == ("0", False)
    # Read within 15 minutes of its time: the cycle's price table, USDC at its own index.
    assert (pending.usd_price, pending.usd_value) == (Decimal("0.9994"), Decimal("999.4"))

    sim.set_deposit_state(dep_id, "2")
    sync_account(master.pk)

    (credited,) = flows(master, FlowSource.DEPOSIT_HISTORY)
    assert (credited.pk, credited.state, credited.counts) == (pending.pk, "2", True)


def test_a_withdrawal_takes_its_fee_with_it(sim):
    master = add_account(sim, "main")
    wd_id = sim.withdraw("main", "USDT", "1000", fee="1.5", state="2")

    sync_account(master.pk)

    (row,) = flows(master, FlowSource.WITHDRAWAL_HISTORY)
    assert (row.okx_id, row.kind, row.amount, row.fee, row.counts, row.usd_value) == (
        wd_id,
        FlowKind.WITHDRAWAL,
        Decimal("-1001.5"),
        Decimal("1.5"),
        True,
        Decimal("-1001.5"),
    )


def test_an_older_flow_is_valued_at_the_hourly_index_candle_of_its_time(make_simulator):
    # A deposit booked five hours before the simulator's start, as history (okxsim Flow).
    history = Flow(
        kind="deposit", ccy="BTC", amount="0.5", every="24h", at="-5h", since="-6h", account="main"
    )
    sim = make_simulator(replace(frozen(), flows=[history]))
    master = add_account(sim, "main")

    sync_account(master.pk)

    (row,) = flows(master, FlowSource.DEPOSIT_HISTORY)
    hour = row.occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    public = Client.public(base_url=sim.url, connection=Connection(LocalLimiter()))
    after = int(hour.timestamp() * 1000) + HOUR_MS
    (candle, *_) = public.get_history_index_candles("BTC-USD", after_ms=after)
    assert candle.ts == hour and candle.close > 0
    assert (row.usd_price, row.usd_value) == (candle.close, Decimal("0.5") * candle.close)
    assert row.usd_basis == f"BTC-USD index, 1H candle of {hour:%Y-%m-%d %H:00} UTC (close)"


def test_the_backfill_reads_every_page_once_and_a_second_run_stores_the_same_rows(sim):
    master = add_account(sim, "main")
    ids = []
    for _ in range(230):  # three pages of 100 at most
        ids.append(sim.deposit("main", "USDT", "1", state="2"))
        sim.advance(seconds=60)

    first = sync_account(master.pk, backfill_pages=1)  # newest page, then one older page
    progress = LedgerSync.objects.get(account=master).progress[FlowSource.DEPOSIT_HISTORY]
    read = len(flows(master, FlowSource.DEPOSIT_HISTORY))
    assert first.status == "ok" and not progress["done"] and progress["rows"] == read and 100 < read < 230
    sync_account(master.pk, backfill_pages=1)
    stored = [(f.okx_id, f.amount, f.occurred_at) for f in flows(master, FlowSource.DEPOSIT_HISTORY)]
    sync_account(master.pk, backfill_pages=3)

    assert sorted(okx_id for okx_id, _, _ in stored) == sorted(ids)
    assert [(f.okx_id, f.amount, f.occurred_at) for f in flows(master, FlowSource.DEPOSIT_HISTORY)] == stored
    sync = LedgerSync.objects.get(account=master)
    progress = sync.progress[FlowSource.DEPOSIT_HISTORY]
    assert progress["done"] and progress["rows"] == 230
    oldest = datetime.fromtimestamp(progress["oldest_ms"] / 1000, tz=UTC)
    assert oldest == stored[0][2]
    assert sync.backfill_done_at is not None and sync.last_problem == ""


def test_a_keyless_subs_flows_come_from_the_masters_history_only(sim):
    master = add_account(sim, "main")
    delta = add_account(sim, "delta-nokey", master=master, keyless=True)
    bill_id = sim.transfer("USDT", "700", "main", "delta-nokey")
    sim.reset_stats()

    skipped = sync_account(delta.pk)
    assert skipped.status == "skipped" and sim.stats() == {}  # nothing is sent for it

    sync_account(master.pk)

    (row,) = flows(delta)
    assert (row.okx_id, row.kind, row.amount, row.counterparty) == (
        bill_id,
        FlowKind.TRANSFER_IN,
        Decimal("700"),
        master,
    )
    master_uid, delta_uid = master.uid, delta.uid
    subjects = {subject for _, subject in sim.stats()}
    assert delta_uid not in subjects and master_uid in subjects


def test_a_malformed_answer_stores_nothing_and_is_in_the_error_history(sim):
    master = add_account(sim, "main")
    sim.deposit("main", "USDT", "5000", state="2")
    sim.inject_fault(DEPOSITS, fields={"amt": "NaN"})

    outcome = sync_account(master.pk)

    assert (outcome.status, outcome.transient) == ("failed", True)
    assert flows(master, FlowSource.DEPOSIT_HISTORY) == []
    error = ApiError.objects.get(account=master, endpoint=DEPOSITS)
    assert error.category == "malformed" and "amt" in error.message
    assert DEPOSITS in LedgerSync.objects.get(account=master).last_problem

    assert sync_account(master.pk).status == "ok"  # the next run resumes
    assert [f.amount for f in flows(master, FlowSource.DEPOSIT_HISTORY)] == [Decimal("5000")]
    assert LedgerSync.objects.get(account=master).last_problem == ""


def test_each_cycle_syncs_the_accounts_with_a_key_of_their_own_only(sim, settings):
    master = add_account(sim, "main")
    alpha = add_account(sim, "alpha-desk", master=master)
    add_account(sim, "delta-nokey", master=master, keyless=True)

    assert ledger_accounts() == [master.pk, alpha.pk]
    entry = settings.CELERY_BEAT_SCHEDULE["sync-ledger"]
    assert entry["task"] == "ledger.tasks.sync_all"
    assert entry["options"]["expires"] < entry["schedule"] == settings.REFRESH_INTERVAL_SECONDS


def test_a_coin_without_a_usd_index_is_asked_for_once_an_hour_not_every_cycle(sim):
    master = add_account(sim, "main")
    sim.deposit("main", "ZZZ", "10", state="2")

    sync_account(master.pk)
    sync_account(master.pk)  # the next cycle: the unpriced row is in the newest page again

    (row,) = flows(master, FlowSource.DEPOSIT_HISTORY)
    assert row.usd_value is None and row.counts
    assert "no USD price of ZZZ" in row.usd_basis
    candle_errors = ApiError.objects.filter(endpoint="/api/v5/market/history-index-candles")
    (error,) = candle_errors
    assert (error.code, error.count) == ("51001", 1)  # one call, not one per run


def test_hundreds_of_new_deposits_between_two_runs_are_all_stored(sim):
    master = add_account(sim, "main")
    ids = deposits(sim, 1)
    sync_account(master.pk)
    assert deposit_progress(master)["done"]

    ids += deposits(sim, 250)  # more than two pages arrive before the next run
    for _ in range(3):
        assert sync_account(master.pk).status == "ok"

    assert stored_ids(master) == sorted(ids)
    progress = deposit_progress(master)
    assert progress["done"] and progress["rows"] == 251 and progress["gap"] is None
    (newest,) = direct_client(sim, "main").get_deposit_history(limit=1)
    assert progress["newest_ms"] == int(newest.ts.timestamp() * 1000)


def test_a_run_that_cannot_read_all_new_deposits_leaves_a_cursor_and_the_next_runs_go_on(sim):
    master = add_account(sim, "main")
    ids = deposits(sim, 150)
    sync_account(master.pk, backfill_pages=1)  # the newest page and one older page: all 150
    assert stored_ids(master) == sorted(ids) and deposit_progress(master)["done"]
    caught_up = deposit_progress(master)["newest_ms"]

    ids += deposits(sim, 250)
    sync_account(master.pk, backfill_pages=1)  # one page a run: the 100 newest
    assert len(stored_ids(master)) == 250
    progress = deposit_progress(master)
    assert progress["gap"] is not None and progress["newest_ms"] == caught_up  # not moved yet
    later = deposits(sim, 30)  # newer ones come while the gap is open
    sync_account(master.pk, backfill_pages=1)  # the gap, not the newest page
    assert len(stored_ids(master)) == 349
    sync_account(master.pk, backfill_pages=1)  # the gap's last 51 and 48 stored before: closed
    assert len(stored_ids(master)) == 400 and deposit_progress(master)["gap"] is None
    sync_account(master.pk, backfill_pages=1)  # then the newest page again

    assert stored_ids(master) == sorted(ids + later)
    assert deposit_progress(master)["rows"] == 430


def test_a_pending_withdrawal_counts_and_its_cancellation_is_booked_as_a_refund_when_seen(sim):
    master = add_account(sim, "main")
    wd_id = sim.withdraw("main", "USDT", "1000", fee="1.5", state="0")  # OKX took 1,001.5 already
    sync_account(master.pk)
    (pending,) = flows(master, FlowSource.WITHDRAWAL_HISTORY)
    assert (pending.state, pending.counts, pending.amount) == ("0", True, Decimal("-1001.5"))

    sim.advance(seconds=600)
    sim.set_withdrawal_state(wd_id, "-2")  # cancelled: the money is back (funding bill type 13)
    before = timezone.now()
    sync_account(master.pk)
    after = timezone.now()
    sync_account(master.pk)  # read again: nothing new

    withdrawal, refund = flows(master, FlowSource.WITHDRAWAL_HISTORY)
    assert (withdrawal.okx_id, withdrawal.state, withdrawal.counts, withdrawal.amount) == (
        wd_id,
        "-2",
        True,  # a period that held it keeps its figure
        Decimal("-1001.5"),
    )
    assert withdrawal.occurred_at == pending.occurred_at and withdrawal.usd_value == pending.usd_value
    assert (refund.okx_id, refund.kind, refund.state, refund.counts, refund.amount, refund.usd_value) == (
        f"{wd_id}:returned",
        FlowKind.WITHDRAWAL,
        "-2",
        True,
        Decimal("1001.5"),
        Decimal("1001.5"),
    )
    assert before <= refund.occurred_at <= after  # when the sync saw it
    assert withdrawal.usd_value + refund.usd_value == 0  # the refund is not a gain


def test_a_withdrawal_first_seen_failed_is_stored_uncounted(sim):
    master = add_account(sim, "main")
    wd_id = sim.withdraw("main", "USDT", "500", fee="1", state="-1")

    sync_account(master.pk)
    sync_account(master.pk)

    (row,) = flows(master, FlowSource.WITHDRAWAL_HISTORY)
    assert (row.okx_id, row.state, row.counts) == (wd_id, "-1", False)


def test_a_deposit_credited_after_a_reading_is_no_loss(sim, settings):
    settings.DISPLAY_TIME_ZONE = "UTC"
    master = add_account(sim, "main")
    at_once = sim.deposit("main", "USDT", "5", state="2")  # credited when created: OKX's ts
    assert refresh_account(master.pk, 1, on_demand=True).status == "ok"
    dep_id = sim.deposit("main", "USDT", "30000", state="0")
    assert refresh_account(master.pk, 2, on_demand=True).status == "ok"  # without the 30,000
    sync_account(master.pk)  # the cycle's sync: the deposit is pending
    sim.set_deposit_state(dep_id, "2")
    seen = timezone.now()
    sync_account(master.pk)

    day = period("24h", timezone.now())
    figure = account_pnl([master.pk], day)[master.pk]
    assert (figure.pnl, figure.net_inflow) == (0, 0)  # no reading holds the 30,000 yet
    assert {value for _, value in pnl_series(master.pk, day)} == {0}
    rows = {f.okx_id: f for f in flows(master, FlowSource.DEPOSIT_HISTORY)}
    okx = {d.dep_id: d.ts for d in direct_client(sim, "main").get_deposit_history()}
    assert rows[at_once].occurred_at == okx[at_once]
    assert rows[dep_id].counts and rows[dep_id].occurred_at >= max(seen, okx[dep_id])

    assert refresh_account(master.pk, 3, on_demand=True).status == "ok"  # with the 30,000
    figure = account_pnl([master.pk], period("24h", timezone.now()))[master.pk]
    assert figure.net_inflow == rows[dep_id].usd_value > Decimal(29000)
    assert abs(figure.pnl) < Decimal("0.01")


def test_a_deposit_of_twenty_billion_is_stored_with_its_usd_value(sim):
    master = add_account(sim, "main")
    sim.deposit("main", "USDT", "5000", state="2")
    sim.inject_fault(DEPOSITS, fields={"amt": "20000000000"})  # valid: below 10^20

    outcome = sync_account(master.pk)

    assert outcome.status == "ok", outcome
    (row,) = flows(master, FlowSource.DEPOSIT_HISTORY)
    assert row.amount == Decimal("20000000000") and row.usd_value == row.amount * row.usd_price


def test_a_deposit_whose_usd_value_cannot_be_stored_is_a_malformed_answer_and_the_rest_goes_on(sim):
    master = add_account(sim, "main")
    sim.deposit("main", "BTC", "0.5", state="2")
    wd_id = sim.withdraw("main", "USDT", "100", fee="1", state="2")
    # 10^19 BTC passes validation (below 10^20); its USD value has 24 digits before the point.
    sim.inject_fault(DEPOSITS, fields={"amt": "10000000000000000000"})

    outcome = sync_account(master.pk)

    assert (outcome.status, outcome.transient) == ("failed", True)
    assert flows(master, FlowSource.DEPOSIT_HISTORY) == []
    error = ApiError.objects.get(account=master, endpoint=DEPOSITS)
    assert error.category == "malformed" and "out of range" in error.message
    sync = LedgerSync.objects.get(account=master)
    assert sync.last_problem == f"deposit_history: malformed on {DEPOSITS}"
    assert [f.okx_id for f in flows(master, FlowSource.WITHDRAWAL_HISTORY)] == [wd_id]  # read anyway
    master.active_credential().refresh_from_db()
    assert master.active_credential().last_success_at is not None  # the recorder was flushed

    assert sync_account(master.pk).status == "ok"  # OKX's next answer is stored
    assert [f.amount for f in flows(master, FlowSource.DEPOSIT_HISTORY)] == [Decimal("0.5")]
