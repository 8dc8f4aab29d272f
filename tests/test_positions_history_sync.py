"""Closed positions from OKX's positions history (issue 20): each refresh of an account with its own
key stores the rows OKX added or updated since the last one (one request when nothing is new), the
first refreshes backfill the 3 months a few pages at a time, a position is one row however many
steps it closes in (as OKX keeps it), nothing is stored twice, each snapshot says whether the
stored history is complete, and a history read that fails or cannot be stored never costs the
cycle its snapshot, nor costs repeat requests once OKX answers again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db.models import F

from accounts.history import ApiError
from accounts.models import Account
from okxsim import Scenario
from okxsim.scenario import PastClose
from snapshots.history import PAGE, PAGES_PER_RUN, PATH, sync_closed_positions
from snapshots.models import ClosedPosition, CloseType, Snapshot
from snapshots.refresh import refresh_account
from tests.workers_support import add_account, direct_client, frozen

pytestmark = pytest.mark.django_db


def with_closes(count: int, account: str = "main") -> Scenario:
    """The demo (prices held still) with `count` full closes of a BTC-USDT-SWAP long on
    `account`, one a minute, the newest a minute before the start."""
    scenario = frozen()
    closes = [
        PastClose(
            instId="BTC-USDT-SWAP",
            type="2",
            pos="1",
            avgPx="60000",
            closeAvgPx="64000",
            posId=f"9{i:06d}",
            opened=f"-{i + 60}m",
            closed=f"-{i}m",
        )
        for i in range(1, count + 1)
    ]
    accounts = [replace(a, closed_positions=closes) if a.name == account else a for a in scenario.accounts]
    return replace(scenario, accounts=accounts)


def history_requests(sim) -> int:
    return sum(row["calls"] for (path, _), row in sim.stats().items() if path == PATH)


def note(account, cycle: int) -> str:
    """The history_note of the account's snapshot of `cycle`."""
    return Snapshot.objects.get(account=account, cycle=cycle).history_note


def refresh(sim, account, cycle: int) -> int:
    """One refresh of `cycle`; the positions-history requests it sent."""
    sim.reset_stats()
    outcome = refresh_account(account.pk, cycle=cycle)
    assert outcome.status == "ok", outcome
    return history_requests(sim)


def stored(account) -> list[tuple]:
    return sorted(
        ClosedPosition.objects.filter(account=account).values_list("pos_id", "closed_at", "close_type")
    )


def okx_rows(sim, name: str = "main") -> list[tuple]:
    """Every row OKX serves for the account, read page by page outside the product."""
    client, rows, after = direct_client(sim, name), [], None
    while True:
        page = client.get_positions_history(after=after)
        rows += [(r.pos_id, r.u_time, r.type) for r in page]
        if len(page) < PAGE:
            return sorted(rows)
        after = round(min(r.u_time for r in page).timestamp() * 1000)


def test_the_first_refresh_stores_the_demo_history_as_okx_sent_it(make_simulator):
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    accounts = {name: add_account(sim, name, master=main) for name in ("alpha-desk", "epsilon-futures")}

    for account in accounts.values():
        refresh(sim, account, cycle=1)

    rows = list(ClosedPosition.objects.filter(account__in=accounts.values()))
    okx = {
        (r.pos_id, r.u_time, r.type): r
        for name in accounts
        for r in direct_client(sim, name).get_positions_history()
    }
    assert len(rows) == len(okx) == 2  # a trader's close and a liquidation
    for row in rows:
        record = okx[(row.pos_id, row.closed_at, row.close_type)]
        assert (row.inst_id, row.direction, row.ccy, row.leverage, row.opened_at) == (
            record.inst_id,
            record.direction,
            record.ccy,
            record.lever,
            record.c_time,
        )
        assert (row.close_avg_price, row.trigger_price, row.realized_pnl, row.fee, row.liq_penalty) == (
            record.close_avg_px,
            record.trigger_px,
            record.realized_pnl,
            record.fee,
            record.liq_penalty,
        )
    (liquidation,) = [row for row in rows if row.forced]
    assert liquidation.account == accounts["epsilon-futures"]
    assert liquidation.close_type == CloseType.LIQUIDATION and liquidation.liq_penalty < 0


def test_a_long_history_is_backfilled_a_few_pages_per_refresh_then_costs_one_request(make_simulator):
    sim = make_simulator(with_closes(450))
    main = add_account(sim, "main")
    everything = okx_rows(sim)
    assert len(everything) >= 450

    assert refresh(sim, main, cycle=1) == PAGES_PER_RUN
    assert len(stored(main)) == PAGES_PER_RUN * PAGE  # the newest 300; the rest next cycle
    requests = [refresh(sim, main, cycle=n) for n in range(2, 5)]

    assert stored(main) == everything
    assert requests[-1] == 1  # caught up: one page, nothing new on it
    assert sum(requests) <= 3 * PAGES_PER_RUN


def test_each_snapshot_says_whether_its_closed_positions_are_complete(make_simulator):
    sim = make_simulator(with_closes(450))
    main = add_account(sim, "main")

    refresh(sim, main, cycle=1)  # the newest 300 of 450: the backfill goes on next cycle
    oldest = ClosedPosition.objects.filter(account=main).earliest("closed_at").closed_at
    assert note(main, 1) == f"still being read back: {oldest:%Y-%m-%d %H:%M} UTC reached"

    refresh(sim, main, cycle=2)
    assert stored(main) == okx_rows(sim)
    assert note(main, 2) == ""  # read to now and back to OKX's 3 months


def test_a_second_run_stores_nothing_twice_even_after_its_cursor_is_lost(make_simulator):
    sim = make_simulator(with_closes(150))
    main = add_account(sim, "main")
    refresh(sim, main, cycle=1)
    first = stored(main)

    assert refresh(sim, main, cycle=2) == 1
    cache.clear()  # Redis lost the cursor: the 3 months are read again, and nothing is doubled
    assert sync_closed_positions(main, direct_client(sim, "main")).stored == 0

    assert stored(main) == first == okx_rows(sim)


def test_a_cursor_left_in_redis_by_another_databases_account_of_the_same_id_is_not_read_on_from(
    make_simulator,
):
    """A Redis that outlives its database (a database reset, or two databases on one Redis, as
    `make bench` runs them) holds the cursor of an earlier account with the same id: reading on
    from it would skip every position that account had read. The new account reads its whole
    history."""
    sim = make_simulator(with_closes(150))
    main = add_account(sim, "main")
    refresh(sim, main, cycle=1)
    assert len(stored(main)) == 150
    # The same id in a fresh database: none of its positions stored, created at another time.
    ClosedPosition.objects.filter(account=main).delete()
    Account.objects.filter(pk=main.pk).update(created_at=F("created_at") + timedelta(minutes=5))

    assert refresh(sim, main, cycle=2) == 2  # both pages read again, not one for "nothing new"
    assert stored(main) == okx_rows(sim)
    assert len(stored(main)) == 150


def test_a_database_restored_from_an_older_backup_reads_again_what_it_lost(make_simulator):
    """The same account (same id, same creation time) restored from a backup taken before its
    newest closes were stored, with Redis kept: its cursor says they were read. The positions the
    database lost are read and stored again."""
    sim = make_simulator(with_closes(150))
    main = add_account(sim, "main")
    refresh(sim, main, cycle=1)
    newest = ClosedPosition.objects.filter(account=main).order_by("-closed_at")[:40]
    ClosedPosition.objects.filter(pk__in=[row.pk for row in newest]).delete()  # the backup's state
    assert len(stored(main)) == 110

    refresh(sim, main, cycle=2)
    assert stored(main) == okx_rows(sim)
    assert len(stored(main)) == 150


def test_only_closes_since_the_last_refresh_are_new(make_simulator):
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    refresh(sim, main, cycle=1)
    before = set(stored(main))

    pos_id = sim.close_position("main", "BTC-USDT-SWAP")
    assert refresh(sim, main, cycle=2) == 1

    (new,) = set(stored(main)) - before
    assert (new[0], new[2]) == (pos_id, CloseType.CLOSE)


def test_a_position_closed_in_two_steps_is_one_row_updated_in_place_and_stays_forced(make_simulator):
    """OKX keeps one positions-history row per position, updated in place ("the latest type",
    the cumulative closeTotalPos and realizedPnl, a new uTime): a position partly liquidated and
    then closed by the trader is one closed position, with OKX's latest figures, still marked as
    forced from when the dashboard first learned of the liquidation (the alert rules count on it)."""
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    refresh(sim, main, cycle=1)
    pos_id = sim.close_position("main", "BTC-USDT-SWAP", how="partial_liquidation")
    refresh(sim, main, cycle=2)
    first = ClosedPosition.objects.get(account=main, pos_id=pos_id)
    assert first.close_type == CloseType.PARTIAL_LIQUIDATION and first.forced_at is not None

    sim.close_position("main", "BTC-USDT-SWAP", how="close")
    assert refresh(sim, main, cycle=3) == 1
    assert refresh(sim, main, cycle=4) == 1  # nothing new since: one request

    (okx,) = [r for r in direct_client(sim, "main").get_positions_history() if r.pos_id == pos_id]
    (row,) = ClosedPosition.objects.filter(account=main, pos_id=pos_id)
    assert (row.pk, row.opened_at, row.closed_at, row.close_type) == (first.pk, okx.c_time, okx.u_time, "2")
    assert (row.closed_size, row.realized_pnl, row.liq_penalty) == (
        okx.close_total_pos,
        okx.realized_pnl,
        okx.liq_penalty,
    )
    assert row.closed_size > first.closed_size
    assert row.forced_at == first.forced_at  # kept though OKX's latest type is the trader's close
    assert stored(main) == okx_rows(sim)


def test_a_liquidation_in_the_exchange_is_stored_as_a_forced_close(make_simulator):
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    refresh(sim, main, cycle=1)
    # An isolated long (ETH-USDT MARGIN in the demo): its liqPx is its own, whatever the account.
    long = next(
        p
        for p in direct_client(sim, "main").get_positions()
        if p.side == "long" and p.mgn_mode == "isolated" and p.liq_px is not None
    )
    assert long.liq_px is not None
    liquidated = sim.set_price(long.inst_id.split("-")[0], long.liq_px * Decimal("0.9"))
    refresh(sim, main, cycle=2)

    row = ClosedPosition.objects.get(account=main, pos_id=long.pos_id, close_type=CloseType.LIQUIDATION)
    assert row.pos_id in liquidated and row.forced and row.forced_at is not None
    assert row.liq_penalty is not None and row.liq_penalty < 0


def test_a_failed_history_read_keeps_the_snapshot_records_the_error_and_is_read_next_cycle(make_simulator):
    sim = make_simulator(with_closes(5))
    main = add_account(sim, "main")
    sim.inject_fault(PATH, code="50013", times=None)  # OKX: "Systems are busy", retries included

    outcome = refresh_account(main.pk, cycle=1)

    assert outcome.status == "ok" and "positions history not read" in outcome.detail
    assert note(main, 1).startswith("could not be read: ") and note(main, 1).endswith(f" on {PATH}")
    error = ApiError.objects.get(account=main, endpoint=PATH)
    assert error.code == "50013"
    assert stored(main) == []

    sim.clear_faults()
    refresh(sim, main, cycle=2)
    assert stored(main) == okx_rows(sim)
    assert note(main, 2) == ""


def test_failed_history_reads_do_not_pile_up_repeat_reads_of_the_newest_page(make_simulator):
    """Each failed cycle keeps the cursor with "what came since" unread in front; the next cycle
    must read it once, not once more per failed cycle, when OKX answers again."""
    sim = make_simulator(with_closes(5))
    main = add_account(sim, "main")
    refresh(sim, main, cycle=1)
    assert stored(main) == okx_rows(sim)

    sim.inject_fault(PATH, code="50013", times=None)  # OKX busy on this endpoint for 6 cycles
    for cycle in range(2, 8):
        assert refresh_account(main.pk, cycle=cycle).status == "ok"
    sim.clear_faults()

    assert [refresh(sim, main, cycle) for cycle in range(8, 11)] == [1, 1, 1]
    assert stored(main) == okx_rows(sim)


def test_a_row_the_database_cannot_store_is_recorded_as_malformed_and_the_snapshot_stands(make_simulator):
    sim = make_simulator(with_closes(5))
    main = add_account(sim, "main")
    # A lone UTF-16 surrogate: valid JSON, within okxapi's length limit, but no database's UTF-8.
    sim.inject_fault(PATH, fields={"posId": "\ud800"})

    outcome = refresh_account(main.pk, cycle=1)

    assert outcome.status == "ok" and "malformed" in outcome.detail
    assert Snapshot.objects.filter(account=main, cycle=1).exists()
    error = ApiError.objects.get(account=main, endpoint=PATH)
    assert error.category == "malformed" and "cannot be stored" in error.message
    assert stored(main) == []  # nothing of that page

    refresh(sim, main, cycle=2)  # OKX's next answer is stored
    assert stored(main) == okx_rows(sim)


def test_a_sub_account_without_its_own_key_sends_no_history_request(make_simulator):
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    alpha = add_account(sim, "alpha-desk", master=main, keyless=True)

    assert refresh(sim, alpha, cycle=1) == 0
    assert not ClosedPosition.objects.filter(account=alpha).exists()
    assert note(alpha, 1) == "not readable through the master key"
