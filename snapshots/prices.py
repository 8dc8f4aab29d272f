"""One price table per refresh cycle: the USD price of every currency OKX's public market data
prices, read once per cycle for all workers and shared through Redis (the Django cache).

Sources (public, unsigned, limited per IP: "Rate Limit: 20 requests per 2 seconds", "Rate limit
rule: IP" on both pages; okxapi.ratelimit.ENDPOINT_LIMITS):
- GET /api/v5/market/index-tickers?quoteCcy=USD ("Get index tickers",
  https://www.okx.com/docs-v5/en/#public-data-rest-api-get-index-tickers): `idxPx`, "Latest index
  price", of every USD index: BTC-USD, USDT-USD, USDC-USD, ...
- GET /api/v5/market/tickers?instType=SPOT ("Get tickers",
  https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-tickers): `last`, "Last
  traded price", of every spot pair: SOL-USDT, USDC-USDT, ...

The table ({ccy: USD price}):
1. USD is 1 (the unit itself).
2. A currency with a USD index is priced by it. Stablecoins too: USDC by USDC-USD (0.9994 when
   it trades below its peg), never assumed to be 1.
3. Else its USDT spot price times the USDT-USD index: SOL-USDT 150.1 x USDT-USD 0.9998.
4. Else it is not in the table: whatever holds it is "unpriced", with that reason.

Once the table is shared, the same worker reads OKX's precision per currency, at most once a day
per host (snapshots/precision.py).

Two public calls per cycle for the whole team (not per account): the first worker of a cycle
takes a short lock and reads them; the others wait briefly for its table; when that read failed
or took too long, they use the last table read within PRICE_CARRY and say so
(`PriceTable.problem`, stored with the snapshot as `Snapshot.prices_note`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.cache import cache

from okxapi import Client, IndexTicker, OkxError, Ticker
from snapshots import precision

logger = logging.getLogger(__name__)

PRICE_PATHS = ("/api/v5/market/index-tickers", "/api/v5/market/tickers")
CACHE_PREFIX = "prices"
# The reader's lock: longer than two public calls with their retries take, shorter than a cycle.
FETCH_LOCK_SECONDS = 15
# How long another worker waits for the reader's table before it uses the previous cycle's.
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05
PLACES = Decimal(1).scaleb(-18)  # the money columns' 18 decimals
# How old a price table may be when this cycle's cannot be read: older, funding is unpriced.
PRICE_CARRY_SECONDS = 15 * 60
# Rule 1: the unit every table prices in (also ledger.valuation's, for flows priced by candles).
UNIT = "USD"


@dataclass(frozen=True)
class PriceTable:
    """{ccy: USD price} as read for `cycle` (None: no table at all). `problem` says why the
    table is not this cycle's, or why it is empty ("" when it is this cycle's own)."""

    prices: dict[str, Decimal] = field(default_factory=dict)
    cycle: int | None = None
    problem: str = ""

    def usd(self, ccy: str) -> Decimal | None:
        """The USD price of `ccy`, or None when the table cannot price it."""
        return self.prices.get(ccy)

    def missing_reason(self, ccy: str) -> str:
        """Why `ccy` has no USD price, as the pages, API, CSV and reports say it."""
        if self.problem and not self.prices:
            return f"no USD price of {ccy}: {self.problem}"
        if "USDT" not in self.prices:
            no_usdt = "and no USDT-USD index to convert a USDT price"
            return f"no USD price of {ccy}: OKX sent no {ccy}-USD index, {no_usdt}"
        return f"no USD price of {ccy}: OKX has no {ccy}-USD index and no {ccy}-USDT spot pair"


def build_table(indexes: list[IndexTicker], spots: list[Ticker]) -> dict[str, Decimal]:
    """The table from OKX's answers (rules 1-4 above). Zero, negative or empty prices are not
    prices: that currency stays out of the table (unpriced), never priced at 0."""
    table: dict[str, Decimal] = {UNIT: Decimal(1)}
    for index in indexes:
        base, _, quote = index.inst_id.partition("-")
        if quote == UNIT and base and index.idx_px is not None and index.idx_px > 0:
            table[base] = index.idx_px
    usdt = table.get("USDT")
    if usdt is not None:
        for ticker in spots:
            base, _, quote = ticker.inst_id.partition("-")
            if quote == "USDT" and base and base not in table and ticker.last is not None and ticker.last > 0:
                table[base] = (ticker.last * usdt).quantize(PLACES)
    return table


@dataclass(frozen=True)
class MarketRead:
    """What read_table read: the price table, and `then`, what to do once that table is shared
    in the cache (OKX's precision per currency, snapshots/precision.py), so the workers waiting
    for the prices never wait for more."""

    prices: dict[str, Decimal]
    then: Callable[[], None] | None = None


def read_table(client: Client) -> MarketRead:
    """The two public calls (okxapi.Client.get_index_tickers, get_tickers) and the table, with
    `then` reading OKX's precision per currency at most once a day per host (one more public
    call; its failure leaves the prices alone). Raises OkxError (including MalformedResponse) as
    the client does."""
    indexes = client.get_index_tickers("USD")
    spots = client.get_tickers("SPOT")
    scope = scope_of(client.base_url, client.demo)
    return MarketRead(
        build_table(indexes, spots), lambda: precision.read_daily(scope, client.get_instruments)
    )


def cycle_table(cycle: int, scope: str, fetch: Callable[[], MarketRead]) -> PriceTable:
    """The price table of `cycle`, read at most once per cycle and `scope` (the OKX host and
    environment: demo trading has its own market data) for all workers.

    Cached: this cycle's table. Else, under a short lock, `fetch()` (OkxError: the failure is
    remembered for the cycle, so no other worker repeats it). Without the lock: wait up to
    WAIT_SECONDS for the holder's table. When this cycle has no table: the last one read within
    PRICE_CARRY_SECONDS, with `problem` saying so; else an empty table with the reason.
    RedisError propagates (the refresh reports Redis as down)."""
    key = _key(scope, cycle)
    table = _load(cache.get(key))
    if table is not None:
        return PriceTable(table, cycle)
    failed = cache.get(key + ":failed")
    if failed is None and cache.add(key + ":lock", "1", timeout=FETCH_LOCK_SECONDS):
        try:
            failed = _fetch_into(scope, cycle, fetch)
            if failed is None:
                return PriceTable(_load(cache.get(key)) or {}, cycle)
        finally:
            cache.delete(key + ":lock")
    elif failed is None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            table = _load(cache.get(key))
            if table is not None:
                return PriceTable(table, cycle)
            failed = cache.get(key + ":failed")
            if failed is not None:
                break
            time.sleep(POLL_SECONDS)
        else:
            failed = "the read of this cycle's price table did not finish in time"
    last = _last(scope, cycle)
    if last is not None:
        read_at, previous = last
        minutes = max(1, round((cycle - read_at) * settings.REFRESH_INTERVAL_SECONDS / 60))
        return PriceTable(previous, read_at, f"{failed}; the prices read {minutes} min earlier are used")
    return PriceTable({}, None, f"the price table could not be read ({failed})")


def scope_of(base_url: str, demo: bool) -> str:
    """The cache scope of a host and environment (demo trading's market data is its own)."""
    host = hashlib.sha256(base_url.encode()).hexdigest()[:12]
    return f"{'demo' if demo else 'live'}:{host}"


def as_json(prices: dict[str, Decimal]) -> dict[str, str]:
    """{ccy: "price"} as a snapshot stores the prices it used (exact decimal text)."""
    return {ccy: format(price.normalize(), "f") for ccy, price in sorted(prices.items())}


def _fetch_into(scope: str, cycle: int, fetch: Callable[[], MarketRead]) -> str | None:
    """Read and cache the table (as this cycle's and as the scope's last), then run the read's
    `then`; the failure's reason (also cached for the cycle) or None."""
    key = _key(scope, cycle)
    ttl = 3 * settings.REFRESH_INTERVAL_SECONDS  # a worker late in the cycle still finds it
    try:
        read = fetch()
    except OkxError as error:
        reason = f"OKX's market data could not be read: {error.category} on {error.endpoint}"
        logger.warning("price table: %s", reason)
        cache.set(key + ":failed", reason, timeout=settings.REFRESH_INTERVAL_SECONDS)
        return reason
    cache.set(key, json.dumps(as_json(read.prices)), timeout=ttl)
    last = json.dumps({"cycle": cycle, "prices": as_json(read.prices)})
    cache.set(f"{CACHE_PREFIX}:{scope}:last", last, timeout=PRICE_CARRY_SECONDS)
    if read.then is not None:
        read.then()
    return None


def _last(scope: str, cycle: int) -> tuple[int, dict[str, Decimal]] | None:
    """(cycle, table) of the last table read for `scope` before `cycle`, if it is at most
    PRICE_CARRY_SECONDS old; else None."""
    raw = cache.get(f"{CACHE_PREFIX}:{scope}:last")
    try:
        stored = json.loads(raw) if isinstance(raw, str) else {}
        read_at = int(stored["cycle"])
        table = _load(json.dumps(stored["prices"]))
    except (ValueError, TypeError, KeyError):
        return None
    if table is None or not 0 < cycle - read_at <= PRICE_CARRY_SECONDS // settings.REFRESH_INTERVAL_SECONDS:
        return None
    return read_at, table


def _key(scope: str, cycle: int) -> str:
    return f"{CACHE_PREFIX}:{scope}:{cycle}"


def _load(raw: object) -> dict[str, Decimal] | None:
    if not isinstance(raw, str):
        return None
    try:
        return {ccy: Decimal(text) for ccy, text in json.loads(raw).items()}
    except (ValueError, TypeError, AttributeError, InvalidOperation):
        return None
