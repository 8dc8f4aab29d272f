"""OKX's published REST rate limits, enforced over rolling windows, with readable counters.

The table is okxsim's own, copied from OKX's documentation row by row (each row cites the section
it comes from), not imported from the client (okxapi.ratelimit.ENDPOINT_LIMITS): a mistake shared
by both would be mirrored and no test could see it. tests/test_simulator_limits_table.py compares
the two tables and fails on any difference, so a disagreement is looked at instead of hidden.

A request that is refused with 50011 does not consume budget: only accepted requests enter the
window. OKX does not document either way; this choice means a client that backs off and retries
is judged by what it was actually served, and the max_window counter shows the true peak.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Rule(StrEnum):
    """Whose window a request counts in: the docs' "Rate limit rule" line, verbatim.

    "Public unauthenticated REST rate limits are based on IP address. Private REST rate limits
    are based on User ID (sub-accounts have individual User IDs)."
    (https://www.okx.com/docs-v5/en/#overview-rate-limits)
    """

    USER_ID = "User ID"
    IP = "IP"
    IP_AND_INSTRUMENT_TYPE = "IP + Instrument Type"


@dataclass(frozen=True)
class Limit:
    """The docs' "Rate Limit: <requests> requests per <seconds> seconds", counted per `rule`."""

    requests: int
    seconds: float
    rule: Rule


# Source of every row: OKX API v5 docs, the endpoint's own section (URL in the comment), read in
# the stored copy rosssaunders/coincise docs/okx/*.md at a00ae58b (2025-11-30); the quoted text is
# the section's "Rate Limit" line. okx-reference.md 2.1 lists the same rows.
LIMITS: dict[str, Limit] = {
    # https://www.okx.com/docs-v5/en/#public-data-rest-api-get-system-time
    # "10 requests per 2 seconds", rule "IP"
    "/api/v5/public/time": Limit(10, 2, Rule.IP),
    # https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments
    # "20 requests per 2 seconds", rule "IP + Instrument Type" (ccxt's load_markets reads it)
    "/api/v5/public/instruments": Limit(20, 2, Rule.IP_AND_INSTRUMENT_TYPE),
    # https://www.okx.com/docs-v5/en/#funding-account-rest-api-get-currencies
    # "6 requests per second", rule "User ID" (ccxt reads it when it has credentials)
    "/api/v5/asset/currencies": Limit(6, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-balance
    # "10 requests per 2 seconds", rule "User ID"
    "/api/v5/account/balance": Limit(10, 2, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions
    # "10 requests per 2 seconds", rule "User ID"
    "/api/v5/account/positions": Limit(10, 2, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration
    # "5 requests per 2 seconds", rule "User ID"
    "/api/v5/account/config": Limit(5, 2, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#funding-account-rest-api-get-balance
    # "6 requests per second", rule "User ID"
    "/api/v5/asset/balances": Limit(6, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#funding-account-rest-api-get-account-asset-valuation
    # "1 request per second", rule "User ID"
    "/api/v5/asset/asset-valuation": Limit(1, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#order-book-trading-trade-get-account-rate-limit
    # "1 request per second", rule "User ID"
    "/api/v5/trade/account-rate-limit": Limit(1, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-tickers
    # "20 requests per 2 seconds", rule "IP" (stored copy: docs/okx/endpoints/private/get_tickers.md)
    "/api/v5/market/tickers": Limit(20, 2, Rule.IP),
    # https://www.okx.com/docs-v5/en/#public-data-rest-api-get-index-tickers
    # "20 requests per 2 seconds", rule "IP" (stored copy: .../private/get_index_tickers.md)
    "/api/v5/market/index-tickers": Limit(20, 2, Rule.IP),
    # https://www.okx.com/docs-v5/en/#sub-account-rest-api-get-sub-account-list
    # "20 requests per 2 seconds", rule "User ID". Changed in 2025: the stored docs read
    # "2 requests per 2 seconds" up to coincise e7f4151c (2025-09-21) and 20 from 98d98d03
    # (2025-11-08); ccxt 4.5.90 and OKX.Net still encode the old figure.
    "/api/v5/users/subaccount/list": Limit(20, 2, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#sub-account-rest-api-get-sub-account-trading-balance
    # "6 requests per 2 seconds", rule "User ID"
    "/api/v5/account/subaccount/balances": Limit(6, 2, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#sub-account-rest-api-get-sub-account-funding-balance
    # "6 requests per 2 seconds", rule "User ID"
    "/api/v5/asset/subaccount/balances": Limit(6, 2, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#sub-account-rest-api-query-the-api-key-of-a-sub-account
    # "20 request per 2 seconds" (sic), rule "User ID"
    "/api/v5/users/subaccount/apikey": Limit(20, 2, Rule.USER_ID),
    # The ledger (okx-reference 8.1, read in coincise docs/okx/endpoints/private/*.md):
    # https://www.okx.com/docs-v5/en/#sub-account-rest-api-get-history-of-sub-account-transfer
    # "6 requests per second", rule "User ID" (get_history_of_sub_account_transfer.md)
    "/api/v5/asset/subaccount/bills": Limit(6, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#funding-account-rest-api-get-deposit-history
    # "6 requests per second", rule "User ID" (get_api_v5_asset_deposit_history.md)
    "/api/v5/asset/deposit-history": Limit(6, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#funding-account-rest-api-get-withdrawal-history
    # "6 requests per second", rule "User ID" (get_api_v5_asset_withdrawal_history.md)
    "/api/v5/asset/withdrawal-history": Limit(6, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#funding-account-rest-api-asset-bills-details
    # "6 Requests per second", rule "User ID" (funding_account.md "Asset bills details")
    "/api/v5/asset/bills": Limit(6, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-bills-details-last-7-days
    # "5 requests per second", rule "User ID" (get_api_v5_account_bills.md)
    "/api/v5/account/bills": Limit(5, 1, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-bills-details-last-3-months
    # "5 requests per 2 seconds", rule "User ID" (get_api_v5_account_bills_archive.md)
    "/api/v5/account/bills-archive": Limit(5, 2, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions-history
    # "10 requests per 2 seconds", rule "User ID" (get_positions_history.md; okx-reference 8.8.4)
    "/api/v5/account/positions-history": Limit(10, 2, Rule.USER_ID),
    # https://www.okx.com/docs-v5/en/#public-data-rest-api-get-index-candlesticks-history
    # "10 requests per 2 seconds", rule "IP" (get_api_v5_market_history_index_candles.md)
    "/api/v5/market/history-index-candles": Limit(10, 2, Rule.IP),
}


@dataclass
class Counter:
    calls: int = 0  # requests that reached the limiter, accepted or not
    rejected: int = 0  # refused with 50011
    max_window: int = 0  # the most accepted requests ever seen inside one rolling window
    window: deque[float] = field(default_factory=deque, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "rejected": self.rejected, "max_window": self.max_window}


class RateLimiter:
    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.monotonic):
        self.enabled = enabled
        self.clock = clock  # replaceable, so tests can roll a window without sleeping
        self._counters: dict[tuple[str, str], Counter] = {}
        self._lock = threading.Lock()

    def admit(self, path: str, subject: str) -> bool:
        """Count one request against (path, subject); False if it exceeds the published limit.
        Counting goes on when limits are off, so benchmarks can still read the peaks."""
        limit = LIMITS[path]
        now = self.clock()
        with self._lock:
            counter = self._counters.setdefault((path, subject), Counter())
            counter.calls += 1
            window = counter.window
            while window and window[0] <= now - limit.seconds:
                window.popleft()
            if self.enabled and len(window) >= limit.requests:
                counter.rejected += 1
                return False
            window.append(now)
            counter.max_window = max(counter.max_window, len(window))
            return True

    def stats(self) -> dict[tuple[str, str], dict[str, int]]:
        with self._lock:
            return {k: c.as_dict() for k, c in self._counters.items()}

    def total_rejected(self) -> int:
        with self._lock:
            return sum(c.rejected for c in self._counters.values())

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()


def subject_for(path: str, uid: str | None, client_ip: str, inst_type: str = "") -> str:
    """Who a request is counted against, by the endpoint's rule: the UID for private endpoints,
    else the caller's IP (with the instType where the rule names it)."""
    rule = LIMITS[path].rule
    if rule is Rule.USER_ID and uid is not None:
        return uid
    if rule is Rule.IP_AND_INSTRUMENT_TYPE:
        return f"{client_ip}|{inst_type}"
    return client_ip
