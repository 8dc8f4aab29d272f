"""Decimals per currency from OKX's own precision: how many places every surface shows an amount
of a coin with (snapshots.numbers.format_amount asks places_of()).

Source: GET /api/v5/public/instruments?instType=SPOT (OKX "Get instruments",
https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments; public, "Rate Limit: 20
requests per 2 seconds", "Rate limit rule: IP + Instrument Type"), field `lotSz`: "Lot size ...
If it is SPOT/MARGIN, the value is the quantity in base currency", the step in which OKX trades
the coin. Its decimals are the coin's size precision: BTC-USDT 0.00000001 -> BTC shows 8 places,
ETH-USDT 0.000001 -> ETH 6. Not GET /api/v5/asset/currencies `wdTickSz` ("The withdrawal
precision, indicating the number of digits after the decimal point"): that needs an account's key
(and its User ID budget), is given per chain (one coin, several chains and precisions), and is a
withdrawal's precision, not a balance's.

The table ({ccy: places}):
- a coin's places are the decimals of its `<CCY>-USDT` pair's lot size; a coin without a USDT pair
  takes the most decimals among its other spot pairs (the finest step OKX trades it in);
- USD and the USD stablecoins are not looked up: numbers.TWO_PLACES shows them with 2 (cents);
- a coin not in the table keeps numbers' fallback (up to 8 places, trailing zeros trimmed).

Reading it: at most once a day per OKX host and environment (prices.scope_of), by the worker
that reads that cycle's price table (prices.read_table), after the prices. A failed or empty read
stores nothing and is tried again after RETRY_SECONDS; the display table keeps what the last
good read said for KEEP_SECONDS. One display table for all hosts: per currency the most places
any host's table gives (a team on live and demo sees one column width).

Using it: places_of() reads the display table from the Django cache once per web request (reset
by request_started / request_finished) and once per Celery task; elsewhere on each call. A table
that cannot be read (Redis down) or holds anything but {ccy: 0..18} counts as empty, so amounts
fall back to numbers' rule: never a crash, never a stored fact from bad data.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable

import redis
from celery.signals import task_postrun, task_prerun
from django.core.cache import cache
from django.core.signals import request_finished, request_started

from okxapi.errors import OkxError
from okxapi.results import Instrument
from okxapi.validation import PLACES as MAX_PLACES

logger = logging.getLogger(__name__)

PATH = "/api/v5/public/instruments"
DISPLAY_KEY = "precision:display"  # {ccy: places}, what the pages read
SCOPES_KEY = "precision:scopes"  # {scope: {ccy: places}}, each host's last good table
READ_DAY_SECONDS = 24 * 3600  # at most one read per host and environment a day
RETRY_SECONDS = 3600  # after a failed or empty read
KEEP_SECONDS = 30 * 24 * 3600  # a table no read has confirmed for this long is dropped
MEMO_SECONDS = 60  # a scope (request, task) re-reads the cache at least this often
PREFERRED_QUOTE = "USDT"

_local = threading.local()


def table_from(instruments: Iterable[Instrument]) -> dict[str, int]:
    """{base ccy: places} from OKX's spot instruments (the rules above). Rows without a base
    currency or a lot size, and non-spot rows, are left out."""
    usdt: dict[str, int] = {}
    other: dict[str, int] = {}
    for inst in instruments:
        places = inst.lot_places
        if inst.inst_type != "SPOT" or not inst.base_ccy or places is None:
            continue
        if inst.quote_ccy == PREFERRED_QUOTE:
            usdt[inst.base_ccy] = places
        else:
            other[inst.base_ccy] = max(places, other.get(inst.base_ccy, 0))
    return {**other, **usdt}


def read_daily(scope: str, fetch: Callable[[], list[Instrument]]) -> None:
    """Read the table for `scope` (a host and environment) through `fetch` (a public client's
    get_instruments) when no read of it succeeded within a day, and store it. At most one worker
    reads (a cache lock that also spaces failed reads RETRY_SECONDS apart). An OkxError (already
    in the account's error history through the client's observer) or an empty answer stores
    nothing and is logged; RedisError propagates like the price table's."""
    if cache.get(_fresh_key(scope)) is not None:
        return
    if not cache.add(_lock_key(scope), "1", timeout=RETRY_SECONDS):
        return  # another worker is reading it, or a read failed within the hour
    try:
        found = table_from(fetch())
    except OkxError as error:
        logger.warning("precision table of %s not read: %s on %s", scope, error.category, error.endpoint)
        return
    if not found:
        logger.warning("precision table of %s not read: OKX listed no spot lot sizes", scope)
        return
    store(scope, found)
    cache.set(_fresh_key(scope), "1", timeout=READ_DAY_SECONDS)
    cache.delete(_lock_key(scope))


def store(scope: str, found: dict[str, int]) -> None:
    """Keep `found` as the table of `scope` and rebuild the display table from every scope's."""
    scopes = _scopes(cache.get(SCOPES_KEY))
    scopes[scope] = found
    display: dict[str, int] = {}
    for places in scopes.values():
        for ccy, count in places.items():
            display[ccy] = max(count, display.get(ccy, 0))
    cache.set(SCOPES_KEY, json.dumps(scopes), timeout=KEEP_SECONDS)
    cache.set(DISPLAY_KEY, json.dumps(display), timeout=KEEP_SECONDS)
    _local.loaded = None  # this thread sees it at once


def places_of(ccy: str) -> int | None:
    """OKX's places for `ccy` (upper case, as OKX spells it), or None when it has none."""
    return display_table().get(ccy)


def display_table() -> dict[str, int]:
    """The display table: the scope's memo (a request's, a task's) when there is one and it is
    under MEMO_SECONDS old, else one cache read."""
    if not getattr(_local, "scoped", False):
        return _load()
    loaded = getattr(_local, "loaded", None)
    now = time.monotonic()
    if loaded is None or now - loaded[0] > MEMO_SECONDS:
        loaded = (now, _load())
        _local.loaded = loaded
    return loaded[1]


def _load() -> dict[str, int]:
    try:
        raw = cache.get(DISPLAY_KEY)
    except (redis.exceptions.RedisError, OSError):
        return {}  # amounts fall back to numbers' rule; the page reports Redis elsewhere
    return _places(_json(raw))


def _begin_scope(**_: object) -> None:
    _local.scoped = True
    _local.loaded = None


def _end_scope(**_: object) -> None:
    _local.scoped = False
    _local.loaded = None


# One read per request or task (weak=False: these module functions live as long as the process).
request_started.connect(_begin_scope, dispatch_uid="snapshots.precision.begin", weak=False)
request_finished.connect(_end_scope, dispatch_uid="snapshots.precision.end", weak=False)
task_prerun.connect(_begin_scope, dispatch_uid="snapshots.precision.task_begin", weak=False)
task_postrun.connect(_end_scope, dispatch_uid="snapshots.precision.task_end", weak=False)


def _json(raw: object) -> object:
    if not isinstance(raw, str):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _places(value: object) -> dict[str, int]:
    """{ccy: places} with only the entries that are a currency code and a whole number of places
    from 0 to MAX_PLACES (the money columns' 18); anything else is dropped."""
    if not isinstance(value, dict):
        return {}
    return {
        ccy: count
        for ccy, count in value.items()
        if isinstance(ccy, str)
        and 0 < len(ccy) <= 32
        and isinstance(count, int)
        and not isinstance(count, bool)
        and 0 <= count <= MAX_PLACES
    }


def _scopes(raw: object) -> dict[str, dict[str, int]]:
    value = _json(raw)
    if not isinstance(value, dict):
        return {}
    return {scope: _places(table) for scope, table in value.items() if isinstance(scope, str)}


def _fresh_key(scope: str) -> str:
    return f"precision:{scope}:read"


def _lock_key(scope: str) -> str:
    return f"precision:{scope}:lock"
