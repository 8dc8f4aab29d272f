"""The fastest one refresh cycle could possibly be, given request latency and OKX's limits.

Pure arithmetic (no I/O), so tests/test_bench_smoke.py can pin it. The bound counts only the
data calls a refresh needs (okx-reference.md): an account with its own key reads its trading
balance, funding balances, positions, asset valuation (Earn) and the newest page of its positions
history (5 calls in a row; the history's 3-month backfill reads a few more pages on an account's
first cycles, snapshots/history.py, which the bound leaves out); a sub-account
without a key is read through its master's key with the two sub-account balance endpoints (2
calls in a row), both limited per master UID. Once per cycle for the whole team, the first
refresh also reads the price table (2 public market-data calls, snapshots/prices.py), which the
other refreshes of the cycle wait for. Anything else the product sends (clock syncs) is overhead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from okxapi import ENDPOINT_LIMITS, Limit

OWN_KEY_CALLS = (
    "/api/v5/account/balance",
    "/api/v5/asset/balances",
    "/api/v5/account/positions",
    "/api/v5/asset/asset-valuation",
    "/api/v5/account/positions-history",
)
# Once per cycle (and host), not per account: the price table's two public calls.
PRICE_CALLS = ("/api/v5/market/index-tickers", "/api/v5/market/tickers")
VIA_MASTER_CALLS = ("/api/v5/account/subaccount/balances", "/api/v5/asset/subaccount/balances")


@dataclass(frozen=True)
class Bound:
    latency_s: float  # what latency and the number of concurrent refreshes allow
    limits_s: float  # what OKX's per-UID windows allow
    why: str  # which of the two binds, in words

    @property
    def seconds(self) -> float:
        return max(self.latency_s, self.limits_s)


def latency_bound(tasks: int, calls_per_task: int, latency_s: float, concurrency: int) -> float:
    """`tasks` equal refreshes of `calls_per_task` sequential calls on `concurrency` slots:
    the busiest slot runs ceil(tasks / concurrency) of them back to back."""
    if tasks <= 0:
        return 0.0
    return latency_s * calls_per_task * math.ceil(tasks / concurrency)


def window_bound(calls: int, limit: Limit, latency_s: float) -> float:
    """`calls` requests in one (UID, endpoint) window: OKX admits `count` per `seconds`, so the
    last one starts no earlier than floor((calls - 1) / count) windows after the first, and it
    still takes one latency to answer."""
    if calls <= 0:
        return 0.0
    return (calls - 1) // limit.count * limit.seconds + latency_s


def own_keys_bound(n_subaccounts: int, latency_s: float, concurrency: int) -> Bound:
    """A master and n sub-accounts, each with its own key: every account has its own UID budget
    and makes one call per endpoint, so only latency and concurrency bind, plus the cycle's price
    table once."""
    accounts = n_subaccounts + 1
    by_latency = latency_bound(accounts, len(OWN_KEY_CALLS), latency_s, concurrency)
    by_latency += latency_s * len(PRICE_CALLS)
    by_limits = max(window_bound(1, ENDPOINT_LIMITS[path], latency_s) for path in OWN_KEY_CALLS)
    rounds = f"ceil({accounts}/{concurrency})"
    why = f"latency x ({len(OWN_KEY_CALLS)} calls x {rounds} + {len(PRICE_CALLS)} price calls)"
    return Bound(by_latency, by_limits, why)


def via_master_bound(n_subaccounts: int, latency_s: float, concurrency: int) -> Bound:
    """A master with its own key and n keyless sub-accounts read through it: each sub-account
    endpoint gets n calls on the master's UID; the master's own calls and the cycle's price table
    run beside them."""
    total_calls = len(OWN_KEY_CALLS) + len(PRICE_CALLS) + len(VIA_MASTER_CALLS) * n_subaccounts
    by_latency = latency_s * max(len(OWN_KEY_CALLS) + len(PRICE_CALLS), math.ceil(total_calls / concurrency))
    by_limits = max(
        window_bound(n_subaccounts, ENDPOINT_LIMITS[path], latency_s) for path in VIA_MASTER_CALLS
    )
    limit = ENDPOINT_LIMITS[VIA_MASTER_CALLS[0]]
    why = f"master UID: {n_subaccounts} calls per sub-account endpoint at {limit.count}/{limit.seconds:g} s"
    return Bound(by_latency, by_limits, why)
