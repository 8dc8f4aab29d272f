"""The refresh benchmark's lower bound (bench/bounds.py) on known inputs: the arithmetic that
every measured/bound ratio in docs/benchmarks.md rests on."""

from __future__ import annotations

import pytest

from bench.bounds import latency_bound, own_keys_bound, via_master_bound, window_bound
from okxapi import Limit, Rule


def test_own_keys_bound_is_latency_times_five_calls_times_rounds_of_the_concurrency():
    bound = own_keys_bound(100, latency_s=0.08, concurrency=4)  # 101 accounts: 26 rounds of 4

    # Balance, funding, positions, Earn and the positions history's newest page per account; the
    # price table's 2 calls once per cycle.
    assert bound.latency_s == pytest.approx(0.08 * (5 * 26 + 2))
    assert bound.limits_s == pytest.approx(0.08)  # one call per endpoint per UID: never limited
    assert bound.seconds == pytest.approx(10.56)


def test_via_master_bound_is_the_masters_sub_account_windows():
    # 100 calls on each 6-per-2-s endpoint: the 100th starts 16 windows after the first.
    bound = via_master_bound(100, latency_s=0.08, concurrency=16)

    assert bound.limits_s == pytest.approx(16 * 2 + 0.08)
    assert bound.latency_s == pytest.approx(0.08 * 13)  # 207 calls over 16 slots
    assert bound.seconds == bound.limits_s


def test_window_bound_counts_whole_windows_before_the_last_call():
    limit = Limit(6, 2, Rule.UID)

    assert window_bound(6, limit, 0.1) == pytest.approx(0.1)  # all in the first window
    assert window_bound(7, limit, 0.1) == pytest.approx(2.1)
    assert window_bound(0, limit, 0.1) == 0.0


def test_latency_bound_rounds_up_partial_rounds():
    assert latency_bound(11, 3, 0.08, 4) == pytest.approx(0.72)
    assert latency_bound(0, 3, 0.08, 4) == 0.0
