"""The USD value of a flow (or a fee) at its time: the one place a ledger amount becomes USD.

Decision 4 of issue 19, with snapshots/prices.py's rules (USD is the unit; stablecoins are priced
by their own USD index, never assumed to be 1):
1. USD itself is 1.
2. An amount read within RECENT of its time: the current cycle's price table (the price the
   product gives the funding balances this cycle).
3. Otherwise, or when the table cannot price it: the close `c` of the 1-hour USD index candle
   containing its time, GET /api/v5/market/history-index-candles?instId=<CCY>-USD&bar=1H
   ("Get index candlesticks history", public, "10 requests per 2 seconds", IP;
   okx-reference.md 8.2: rows [ts,o,h,l,c,confirm], `ts` the candle's opening time).
4. Else no price: the value is None and the basis says why (never 0).
Values are computed at the money column's 38 digits (snapshots/money.py CONTEXT), not Python's
default 28: an amount of 20,000,000,000 passes validation and its value to 18 places has 29
digits. A value that does not fit NUMERIC(38, 18) at all (more than 20 digits before the point)
raises decimal.InvalidOperation, which the sync records as an unstorable answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from okxapi import Client, OkxError
from snapshots.money import CONTEXT, STEP
from snapshots.prices import UNIT, PriceTable

RECENT = timedelta(minutes=15)
HOUR = timedelta(hours=1)
BAR = "1H"
BASIS_CHARS = 200  # CashFlow.usd_basis
# A currency OKX refused candles for (no such index: a bad_request answer such as 51001) is not
# asked again for this long by any run, so an unpriceable coin costs one call and one error
# history row an hour, not one a cycle; other failures (rate limit, network) are retried next run.
NO_INDEX_TTL_SECONDS = 3600
NO_INDEX_KEY = "ledger:no-index:{ccy}"


class IndexCandles:
    """1-hour USD index closes read through a public client (no key: market data is limited per
    IP), cached per (ccy, hour) for one sync run. One call returns up to 100 hours, all kept, so
    a backfill of a few days costs one call per currency. A currency whose read failed is not
    asked again in the same run (the failure is in the error history through the client's
    observer)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._closes: dict[tuple[str, datetime], Decimal | None] = {}
        self._failed: dict[str, str] = {}

    def close(self, ccy: str, ts: datetime) -> tuple[Decimal | None, str]:
        """(close in USD, basis) of the candle of `ccy`-USD opened at the hour containing `ts`;
        (None, why) when OKX has none or the read failed."""
        hour = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        key = (ccy, hour)
        if ccy not in self._failed and (known := cache.get(NO_INDEX_KEY.format(ccy=ccy))):
            self._failed[ccy] = known
        if ccy in self._failed:
            return None, self._failed[ccy]
        if key not in self._closes:
            self._read(ccy, hour)
            if ccy in self._failed:
                return None, self._failed[ccy]
        close = self._closes.setdefault(key, None)
        if close is None:
            return (
                None,
                f"no USD price of {ccy}: OKX has no {ccy}-{UNIT} index candle for {hour:%Y-%m-%d %H:00} UTC",
            )
        return close, f"{ccy}-{UNIT} index, 1H candle of {hour:%Y-%m-%d %H:00} UTC (close)"

    def _read(self, ccy: str, hour: datetime) -> None:
        after_ms = int((hour + HOUR).timestamp() * 1000)  # candles opened before the next hour
        try:
            candles = self._client.get_history_index_candles(f"{ccy}-{UNIT}", after_ms=after_ms, bar=BAR)
        except OkxError as error:
            self._failed[ccy] = (
                f"no USD price of {ccy}: its index candles could not be read ({error.category})"
            )
            if error.category == "bad_request":
                cache.set(NO_INDEX_KEY.format(ccy=ccy), self._failed[ccy], NO_INDEX_TTL_SECONDS)
            return
        for candle in candles:
            if candle.close > 0:  # a zero price is not a price (snapshots/prices.py)
                self._closes[(ccy, candle.ts.astimezone(UTC))] = candle.close


def flow_usd(
    ccy: str,
    amount: Decimal,
    ts: datetime,
    *,
    now: datetime,
    price_table: PriceTable,
    candles: IndexCandles,
) -> tuple[Decimal | None, Decimal | None, str]:
    """(USD price of `ccy`, USD value of `amount` (signed like it, 18 places), basis) for an
    amount in `ccy` at `ts` (aware). Rules 1-4 of this module; basis names the source of the
    price, or says why there is none (then price and value are None). At most BASIS_CHARS."""
    if ccy == UNIT:
        return Decimal(1), usd_value(amount, Decimal(1)), f"{UNIT} (the unit)"
    table_reason = ""
    if now - ts <= RECENT:
        price = price_table.usd(ccy)
        if price is not None:
            return price, usd_value(amount, price), _table_basis(price_table)
        table_reason = price_table.missing_reason(ccy)
    price, basis = candles.close(ccy, ts)
    if price is None:
        reason = f"{table_reason}; {basis}" if table_reason else basis
        return None, None, reason[:BASIS_CHARS]
    return price, usd_value(amount, price), basis[:BASIS_CHARS]


def usd_value(amount: Decimal, price: Decimal) -> Decimal:
    """`amount` (in a currency) times its USD `price`, to the money columns' 18 places, computed
    at their 38 digits. decimal.InvalidOperation when the value has more than 20 digits before
    the point (NUMERIC(38, 18) cannot hold it)."""
    return CONTEXT.multiply(amount, price).quantize(STEP, context=CONTEXT)


def _table_basis(table: PriceTable) -> str:
    """ "OKX USD index (or USDT spot) price read at 16:32 UTC (this refresh cycle's price table)":
    the time is the start of the cycle the table was read in (a PriceTable keeps its cycle, not
    the moment of the read, which falls within that cycle); a table carried from an earlier cycle
    says so and why (snapshots/prices.py, PriceTable.problem)."""
    if table.cycle is None:
        read = "read at an unknown time"
    else:
        began = datetime.fromtimestamp(table.cycle * settings.REFRESH_INTERVAL_SECONDS, tz=UTC)
        read = f"read at {began:%H:%M} UTC"
    source = "this refresh cycle's price table"
    if table.problem:
        source = f"an earlier cycle's price table: {table.problem}"
    return f"OKX USD index (or USDT spot) price {read} ({source})"[:BASIS_CHARS]
