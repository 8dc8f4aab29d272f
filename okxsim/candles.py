"""Index candlesticks (GET /api/v5/market/history-index-candles) from the price walk.

OKX's page ("Get index candlesticks history",
https://www.okx.com/docs-v5/en/#public-data-rest-api-get-index-candlesticks-history): rows
`[ts,o,h,l,c,confirm]`, `ts` the candle's opening time, `confirm` "0" while the candle is still
open and "1" once complete; `bar` 1m/3m/5m/15m/30m/1H/2H/4H, "UTC+8 opening price k-line"
6H/12H/1D/1W/1M and "UTC+0 opening price k-line" 6Hutc/12Hutc/1Dutc/1Wutc/1Mutc, default 1m.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .market import PriceWalk
from .views import num

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
UTC8_MS = 8 * HOUR_MS
# bar -> (length in ms, or 0 for a calendar month; offset of the bar's clock from UTC)
BARS: dict[str, tuple[int, int]] = {
    **{f"{m}m": (m * MINUTE_MS, 0) for m in (1, 3, 5, 15, 30)},
    **{f"{h}H": (h * HOUR_MS, 0) for h in (1, 2, 4)},  # 8 h is a multiple: UTC and UTC+8 agree
    **{name: (length, UTC8_MS) for name, length in (("6H", 6 * HOUR_MS), ("12H", 12 * HOUR_MS))},
    "1D": (DAY_MS, UTC8_MS),
    "1W": (7 * DAY_MS, UTC8_MS),
    "1M": (0, UTC8_MS),
    "6Hutc": (6 * HOUR_MS, 0),
    "12Hutc": (12 * HOUR_MS, 0),
    "1Dutc": (DAY_MS, 0),
    "1Wutc": (7 * DAY_MS, 0),
    "1Mutc": (0, 0),
}
MONDAY_OFFSET_DAYS = 4  # 1970-01-01 was a Thursday; weeks open on Monday


def bar_open(ts: int, bar: str) -> int:
    """Epoch ms at which the `bar` candle containing `ts` opens."""
    length, offset = BARS[bar]
    local = ts + offset
    if length == 0:
        day = datetime.fromtimestamp(local / 1000, UTC)
        return int(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp() * 1000) - offset
    if length == 7 * DAY_MS:
        shift = MONDAY_OFFSET_DAYS * DAY_MS
        return (local - shift) // length * length + shift - offset
    return local // length * length - offset


def bar_close(opened: int, bar: str) -> int:
    """Epoch ms at which the candle opened at `opened` closes (the next one opens)."""
    length, offset = BARS[bar]
    if length:
        return opened + length
    day = datetime.fromtimestamp((opened + offset) / 1000, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000) - offset


def candle(prices: PriceWalk, base: str, quote: str, opened: int, closed: int, now: int) -> list[str]:
    """One row: open at the candle's opening, close at its end (or now, while it is open), high
    and low over every step of the walk in between."""
    last = min(closed - 1, now)
    moments = [opened, *prices.step_starts(opened, last + 1)]
    if moments[-1] != last:
        moments.append(last)
    path = [prices.index(base, quote, t) for t in moments]
    confirm = "1" if closed <= now else "0"
    return [str(opened), num(path[0]), num(max(path)), num(min(path)), num(path[-1]), confirm]


def history(
    prices: PriceWalk,
    base: str,
    quote: str,
    bar: str,
    *,
    now: int,
    listed: int,
    after: int | None,
    before: int | None,
    limit: int,
) -> list[list[str]]:
    """Newest first: candles opened before `after` and after `before` (both exclusive), back to
    the index's listing at `listed`; at most `limit` (with `before` alone, the latest ones, as
    the page says)."""
    opened = bar_open(min(now, after - 1) if after is not None else now, bar)
    rows: list[list[str]] = []
    while len(rows) < limit and opened >= listed and (before is None or opened > before):
        rows.append(candle(prices, base, quote, opened, bar_close(opened, bar), now))
        opened = bar_open(opened - 1, bar)
    return rows
