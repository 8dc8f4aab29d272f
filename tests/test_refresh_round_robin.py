"""Refresh at OKX's pace whatever the number of sub-accounts (issue 22): keyless sub-accounts are
read round-robin through their master at its budget, beat after beat, and are not called stale
while they wait for their turn. The beats are simulated by calling the plan with a moving clock."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, AccountKind
from accounts.okx import shared_connection
from alerts.engine import evaluate
from alerts.models import Alert
from okxapi import ENDPOINT_LIMITS
from snapshots import pacing, queries, refresh
from snapshots.models import Snapshot
from snapshots.pacing import refresh_plan, through_master_interval
from tests.accounts_support import make_user
from tests.workers_support import add_account, frozen

pytestmark = pytest.mark.django_db

INTERVAL = 60
SUBS = 1_000
# OKX: 6 reads per 2 s per master UID on each sub-account endpoint; before our limiter learned
# anything it pads the window to 2 s x 1.1 + 0.1 s = 2.3 s, so one sub-account every 2.3 / 6 s.
PACE = 2.3 / 6
T0 = 1_800_000_000.0  # the first beat (epoch seconds)
MS = 0.001  # countdowns are planned to the millisecond


@pytest.fixture
def team(make_simulator, settings):
    """A master with its key, one sub-account with its own key and 1,000 without."""
    settings.REFRESH_INTERVAL_SECONDS = INTERVAL
    sim = make_simulator(frozen())
    master = add_account(sim, "main")
    own = add_account(sim, "alpha-desk", master=master)
    keyless = add_keyless(master, SUBS)
    return master, own, keyless


def add_keyless(master: Account, count: int, start: int = 0) -> list[int]:
    subs = Account.objects.bulk_create(
        Account(name=f"sub-{i:04}", kind=AccountKind.SUB, master=master, sub_acct_name=f"sub{i:04}")
        for i in range(start, start + count)
    )
    return [sub.pk for sub in subs]


def beats(first: int, count: int) -> dict[int, list[pacing.Planned]]:
    """{beat time: its plan} for `count` beats from beat number `first`."""
    return {T0 + b * INTERVAL: refresh_plan(now=T0 + b * INTERVAL) for b in range(first, first + count)}


def through_master_reads(plans: dict[float, list[pacing.Planned]], own: set[int]) -> list[tuple[float, int]]:
    """(due time, account id) of every read through the master, in plan order."""
    return [
        (now + p.countdown, p.account_id)
        for now, plan in plans.items()
        for p in plan
        if p.account_id not in own
    ]


def test_each_keyless_subaccount_is_read_once_per_computed_interval_in_ring_order(team):
    master, own, keyless = team
    interval = through_master_interval(master.pk).total_seconds()
    assert interval == pytest.approx(SUBS * PACE)  # 383.3 s; OKX's own bound is 1,000 / 3 = 333 s

    plans = beats(0, 20)  # 1,200 s: three rounds and more
    reads = through_master_reads(plans, {master.pk, own.pk})

    # Own keys: every beat, at once.
    for plan in plans.values():
        assert [(p.account_id, p.countdown) for p in plan[:2]] == [(master.pk, 0), (own.pk, 0)]
    # The ring, in order, continued from beat to beat without a gap or a repeat.
    assert [pk for _, pk in reads] == (keyless * 4)[: len(reads)]
    # Each account again after exactly the computed interval.
    due = defaultdict(list)
    for at, pk in reads:
        due[pk].append(at)
    gaps = [b - a for times in due.values() for a, b in itertools.pairwise(times)]
    assert len(gaps) > 2 * SUBS
    assert all(gap == pytest.approx(interval, abs=2 * MS) for gap in gaps)
    # Never faster than the master's budget, across beats too.
    times = [at for at, _ in reads]
    assert min(b - a for a, b in itertools.pairwise(times)) >= PACE - MS
    assert len(reads) == pytest.approx(20 * INTERVAL / PACE, abs=1)


def test_the_pace_follows_the_padding_the_shared_limiter_learned(team):
    master, own, _ = team
    limiter = shared_connection().limiter
    path = refresh.VIA_MASTER_PATHS[0]
    for delay in (0.080, 0.140) * 8:  # OKX's answers came 60 ms apart at most
        limiter.learn(path, ENDPOINT_LIMITS[path], delay)
    padding = 0.060 * 17 / 15  # the range of 16 delays, scaled by (n + 1) / (n - 1)
    pace = (2 + padding) / 6

    plan = [p for p in refresh_plan(now=T0) if p.account_id not in {master.pk, own.pk}]

    assert [p.countdown for p in plan[:3]] == pytest.approx([0, pace, 2 * pace], abs=MS)
    # 1,000 x 0.345 s = 345 s; OKX's own bound is 333 s.
    assert through_master_interval(master.pk).total_seconds() == pytest.approx(SUBS * pace)
    limiter.learn(path, ENDPOINT_LIMITS[path], 0.090, rejected=True)  # a 50011: slower at once
    assert pacing.master_pace() == pytest.approx((2 + 2 * padding) / 6, rel=1e-3)


def test_nothing_is_planned_that_cannot_run_before_it_expires(team):
    master, own, _ = team
    for _now, plan in beats(0, 8).items():
        keyless = [p for p in plan if p.account_id not in {master.pk, own.pk}]
        assert len(keyless) in (156, 157)  # 60 s / 0.383 s: what the budget allows until the next beat
        for task in plan:
            assert 0 <= task.countdown < INTERVAL  # due before the next beat plans the next ones
            assert task.expires == pytest.approx(task.countdown + INTERVAL - 1)


def test_a_subaccount_added_mid_round_is_read_within_one_round(team):
    master, own, keyless = team
    beats(0, 3)
    added_at = T0 + 3 * INTERVAL
    [added] = add_keyless(master, 1, start=SUBS)
    interval = through_master_interval(master.pk).total_seconds()
    assert interval == pytest.approx((SUBS + 1) * PACE)

    reads = through_master_reads(beats(3, 8), {master.pk, own.pk})

    first = next(at for at, pk in reads if pk == added)
    assert first - added_at <= interval
    # It joined the ring after the last id; the others still come in order, once each.
    order = [pk for _, pk in reads]
    assert order[order.index(keyless[-1]) + 1] == added


def test_a_removed_subaccount_leaves_the_round_and_the_next_one_follows(team):
    _master, _own, keyless = team
    last = refresh_plan(now=T0)[-1].account_id
    Account.objects.filter(pk=last).update(active=False)  # the one the cursor points at

    plan = refresh_plan(now=T0 + INTERVAL)

    following = keyless[keyless.index(last) + 1]
    assert plan[2].account_id == following
    assert last not in {p.account_id for p in plan}


def test_the_round_resumes_after_the_subaccount_read_last_when_the_cursor_is_lost(team, redis_client):
    master, _own, keyless = team
    plan = refresh_plan(now=T0)
    last = plan[-1].account_id
    Snapshot.objects.create(account_id=last, cycle=1, taken_at=timezone.now())  # its refresh ran
    redis_client.delete(f"{pacing.CURSOR_PREFIX}{master.pk}")  # Redis restarted without it

    resumed = refresh_plan(now=T0 + INTERVAL)

    assert resumed[2].account_id == keyless[keyless.index(last) + 1]


def test_a_few_keyless_subaccounts_are_read_every_beat(make_simulator, settings):
    settings.REFRESH_INTERVAL_SECONDS = INTERVAL
    sim = make_simulator(frozen())
    master = add_account(sim, "main")
    keyless = add_keyless(master, 3)
    assert through_master_interval(master.pk) == timedelta(seconds=INTERVAL)

    for now, plan in beats(0, 3).items():
        assert [(p.account_id, p.countdown) for p in plan] == [
            (master.pk, 0),
            *zip(keyless, [0, 0.383, 0.767], strict=True),
        ], now


def test_a_round_robin_subaccount_is_stale_only_past_twice_its_read_interval(team):
    master, own, keyless = team
    now = timezone.now()
    waiting, late = keyless[0], keyless[1]
    for pk, age in ((master.pk, 30), (own.pk, 3 * 60), (waiting, 12 * 60), (late, 13 * 60)):
        Snapshot.objects.create(account_id=pk, cycle=1, taken_at=now - timedelta(seconds=age))

    stale = {row.account.pk: row.stale for row in queries.account_rows()}

    # Own keys: two intervals (2 min). Through the master: twice 383 s (12 min 47 s).
    assert (stale[master.pk], stale[own.pk]) == (False, True)
    assert (stale[waiting], stale[late]) == (False, True)
    assert queries.stale_after(pacing.read_intervals()[waiting]) == timedelta(seconds=2 * SUBS * PACE)


def test_the_stale_alert_waits_for_a_round_robin_subaccounts_turn(team):
    master, own, keyless = team
    Account.objects.exclude(pk__in=[master.pk, own.pk, keyless[0], keyless[1]]).update(active=False)
    now = timezone.now()
    for pk in (master.pk, own.pk):
        Snapshot.objects.create(account_id=pk, cycle=1, taken_at=now)
    # With two keyless sub-accounts left, each is read every interval again: 2 min makes it stale.
    Snapshot.objects.create(account_id=keyless[0], cycle=1, taken_at=now - timedelta(minutes=3))
    Snapshot.objects.create(account_id=keyless[1], cycle=1, taken_at=now)
    evaluate()
    assert list(Alert.objects.firing().values_list("subject", flat=True)) == [f"account:{keyless[0]}"]

    Account.objects.filter(master=master).update(active=True)  # 1,000 again: read every 6 min 23 s
    evaluate()
    assert not Alert.objects.firing().exists()


def test_the_account_pages_say_how_often_each_is_read_and_wait_for_the_turn(team, client):
    master, _, keyless = team
    client.force_login(make_user("viewer"))
    now = timezone.now()
    Snapshot.objects.create(account_id=keyless[0], cycle=1, taken_at=now - timedelta(minutes=12))

    sub_page = client.get(f"/accounts/{keyless[0]}/").content.decode()
    master_page = client.get(f"/accounts/{master.pk}/").content.decode()

    # 1,000 sub-accounts at 6 reads per 2.3 s: each read every 383 s; 12 min is within twice that.
    assert "Through the master's key it is read every 6 min 23 s" in sub_page
    assert "<strong>Stale</strong>" not in sub_page
    through = "Through this key each sub-account without a key of its own is read every 6 min 23 s"
    assert through in master_page
