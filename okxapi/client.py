"""The signed OKX v5 REST client for reading accounts: signing of exactly the bytes sent, the
server-time offset, rate-limit budget before every call, retries for reads. What clients of one
process share (limiter, sessions, clocks, timeouts) is their Connection (okxapi/connection.py).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import requests

from okxapi import signing, transport
from okxapi.connection import Connection
from okxapi.errors import RETRIED_CATEGORIES, MalformedResponse, OkxError, OkxRateLimited, RateLimitTimeout
from okxapi.results import (
    CANDLE_COLUMNS,
    INSTRUMENT_TYPES,
    AccountBill,
    AccountConfig,
    AssetValuation,
    Balance,
    ClosedPositionRecord,
    Deposit,
    FundingBalance,
    IndexCandle,
    IndexTicker,
    Instrument,
    Position,
    SubAccount,
    SubAccountApiKey,
    SubAccountTransfer,
    Ticker,
    Withdrawal,
)
from okxapi.transport import InvalidCredential, Reply, clean_credential
from okxapi.validation import (
    EARLIEST_MS,
    LATEST_MS,
    Fields,
    MalformedData,
    arrays_in,
    objects_in,
    one_object,
)

logger = logging.getLogger(__name__)

HOSTS: dict[str, str] = {
    "global": "https://www.okx.com",
    "eea": "https://eea.okx.com",
    "us": "https://app.okx.com",
}
CLOCK_RETRY_AFTER_FAILURE_SECONDS = 30.0
RESYNC_CODES = frozenset({"50102", "50112"})
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 30.0  # a longer Retry-After is not waited for inside one call
SUBACCOUNT_PAGE = 100
MAX_PAGE = 100  # every ledger endpoint: "The maximum is 100. The default is 100."
# Bar sizes of OKX's "Get index candlesticks history" (`bar`; "6H" and longer open at UTC+8).
INDEX_CANDLE_BARS = frozenset(
    {"1m", "3m", "5m", "15m", "30m", "1H", "2H", "4H", "6H", "12H", "1D", "1W", "1M"}
    | {"6Hutc", "12Hutc", "1Dutc", "1Wutc", "1Mutc"}
)
# `instType` of "Get positions" and "Get positions history".
POSITION_INST_TYPES = frozenset({"MARGIN", "SWAP", "FUTURES", "OPTION"})
PUBLIC_SCOPE = "ip"  # public endpoints are limited per IP; one shared window is conservative

TIME_PATH = "/api/v5/public/time"
# positions-history rows carry no id: OKX keeps one row per position, a posId and its creation
# time (a posId is reused 30 days after its last full close): the ClosedPosition unique constraint.
CLOSED_POSITION_IDENTITY = ("posId", "cTime")
_BILL_ID = re.compile(r"[0-9]{1,32}", re.ASCII)

T = TypeVar("T")


@dataclass(frozen=True)
class CallRecord:
    """What the on_call observer sees for each attempt. Carries no credentials."""

    endpoint: str
    method: str
    http_status: int | None
    code: str | None
    duration: float
    limiter_wait: float
    error: OkxError | None
    attempt: int


class Client:
    """A read-only OKX v5 client for one credential set (see design.md, "How data flows").

    Takes the credentials (refused with InvalidCredential, naming the field only, when oddly
    shaped), the environment (`demo`: demo-trading keys, sent with x-simulated-trading: 1), the
    base URL (a region of HOSTS or an http(s) URL; ValueError otherwise) and the process's
    `connection` (required: there is no silent default limiter and no fallback). `uid`, when
    known, keys the limiter by the account's User ID; `on_call` observes every attempt.
    """

    __slots__ = (
        "__passphrase",
        "__secret",
        "_api_key",
        "_base_url",
        "_clock",
        "_connection",
        "_demo",
        "_on_call",
        "_uid",
    )

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        passphrase: str,
        *,
        demo: bool = False,
        base_url: str = HOSTS["global"],
        connection: Connection,
        uid: str | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        self._api_key = clean_credential("API key", api_key)
        self.__secret = clean_credential("secret key", secret_key)
        self.__passphrase = clean_credential("passphrase", passphrase)
        self._demo = bool(demo)
        self._base_url = _check_base_url(HOSTS.get(base_url, base_url))
        if connection is None:
            raise TypeError(
                "choose a connection: Connection(RedisLimiter(redis)) or Connection(LocalLimiter())"
            )
        self._connection = connection
        self._uid = str(uid) if uid else None
        self._on_call = on_call
        self._clock = connection.clock(self._base_url)

    @classmethod
    def public(
        cls,
        *,
        demo: bool = False,
        base_url: str = HOSTS["global"],
        connection: Connection,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> Client:
        """A client without credentials, for OKX's public market data only (tickers, index
        tickers, instruments, server time): those calls are unsigned and limited per IP, so they need no
        account's key and spend no account's budget. A signed call on it raises
        InvalidCredential before anything is sent."""
        if connection is None:
            raise TypeError("choose a connection")
        client = cls.__new__(cls)
        client._api_key = ""
        client.__secret = ""
        client.__passphrase = ""
        client._demo = bool(demo)
        client._base_url = _check_base_url(HOSTS.get(base_url, base_url))
        client._connection = connection
        client._uid = None
        client._on_call = on_call
        client._clock = connection.clock(client._base_url)
        return client

    def __repr__(self) -> str:
        tail = self._api_key[-4:] if len(self._api_key) >= 12 else ""
        return f"Client(key='…{tail}', base_url={self._base_url!r}, demo={self._demo}, uid={self._uid!r})"

    def __reduce__(self) -> NoReturn:
        # Credentials must never travel inside task arguments or caches.
        raise TypeError("okxapi.Client cannot be pickled: pass an account id and rebuild it")

    def close(self) -> None:
        """Nothing to release: the HTTP sessions belong to the connection (Connection.close)."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def clock_offset_ms(self) -> int | None:
        """Server time minus local time, in ms, as last measured; None before the first sync."""
        return self._clock.offset_ms

    @property
    def uid(self) -> str | None:
        return self._uid

    @property
    def demo(self) -> bool:
        return self._demo

    @property
    def base_url(self) -> str:
        return self._base_url

    # --- endpoints ------------------------------------------------------------------------

    def get_server_time(self) -> datetime:
        """GET /api/v5/public/time: OKX's clock; also refreshes the measured clock offset."""
        reply, server_ms = self._get(TIME_PATH, _timed, signed=False)
        self._learn_offset(reply, server_ms)
        return datetime.fromtimestamp(server_ms / 1000, tz=UTC)

    def get_account_config(self) -> AccountConfig:
        """GET /api/v5/account/config: uid, mainUid, label, perm and IPs of the calling key.
        Exactly one object (OKX documents the configuration of "the current request account");
        MalformedResponse otherwise."""
        config = self._get("/api/v5/account/config", lambda r: AccountConfig.from_okx(one_object(r.data)))
        if config.uid and config.uid != self._uid:
            if self._uid:
                logger.warning("account/config reports uid %s, not the configured %s", config.uid, self._uid)
            self._uid = config.uid  # from now on, the limiter keys this account by its real UID
        return config

    def get_balance(self, ccy: str | None = None) -> Balance:
        """GET /api/v5/account/balance: trading-account equity (USD) and per-currency balances.
        Exactly one object: OKX's response example and field table describe one account-level
        object (totalEq, uTime, details[]) for every account mode, even with no assets (then
        `details` is empty). `data: []` is therefore MalformedResponse, not an empty account."""
        return self._get("/api/v5/account/balance", _balance, _only(ccy=ccy))

    def get_positions(self, inst_type: str | None = None) -> list[Position]:
        """GET /api/v5/account/positions: open positions; [] when there are none (documented)."""
        return self._get(
            "/api/v5/account/positions",
            _rows(Position.from_okx),
            _only(instType=inst_type),
        )

    def get_funding_balances(self, ccy: str | None = None) -> list[FundingBalance]:
        """GET /api/v5/asset/balances: funding-account balances (non-zero currencies; [] when the
        funding account is empty: "Only asset information of a currency with a balance greater
        than 0 will be returned")."""
        return self._get("/api/v5/asset/balances", _funding, _only(ccy=ccy))

    def get_asset_valuation(self, ccy: str = "USD") -> AssetValuation:
        """GET /api/v5/asset/asset-valuation: total valuation split by account, in `ccy`.
        Exactly one object (totalBal, ts, details); MalformedResponse otherwise."""
        return self._get(
            "/api/v5/asset/asset-valuation",
            lambda r: AssetValuation.from_okx(one_object(r.data)),
            _only(ccy=ccy),
        )

    def get_tickers(self, inst_type: str = "SPOT") -> list[Ticker]:
        """GET /api/v5/market/tickers?instType=SPOT (public; "Rate Limit: 20 requests per 2
        seconds", "Rate limit rule: IP"): the latest ticker of every instrument of the type, e.g.
        SOL-USDT `last` 150.1 (USDT per SOL). A list of objects; MalformedResponse otherwise."""
        return self._get(
            "/api/v5/market/tickers",
            _rows(Ticker.from_okx),
            {"instType": inst_type},
            signed=False,
        )

    def get_index_tickers(self, quote_ccy: str = "USD") -> list[IndexTicker]:
        """GET /api/v5/market/index-tickers?quoteCcy=USD (public; "Rate Limit: 20 requests per 2
        seconds", "Rate limit rule: IP"): every index quoted in `quote_ccy` ("Currently there is
        only an index with USD/USDT/BTC/USDC as the quote currency"), e.g. BTC-USD `idxPx` 65000,
        USDC-USD 0.9994. A list of objects; MalformedResponse otherwise."""
        return self._get(
            "/api/v5/market/index-tickers",
            _rows(IndexTicker.from_okx),
            {"quoteCcy": quote_ccy},
            signed=False,
        )

    def get_instruments(self, inst_type: str = "SPOT") -> list[Instrument]:
        """GET /api/v5/public/instruments?instType=SPOT (public; "Rate Limit: 20 requests per 2
        seconds", "Rate limit rule: IP + Instrument Type"): every instrument of the type with its
        lot size, e.g. BTC-USDT `lotSz` 0.00000001 (results.Instrument). `inst_type`: one of
        INSTRUMENT_TYPES, else ValueError before anything is sent. A list of objects (hundreds for
        SPOT; an answer over the transport's 2 MiB is refused); MalformedResponse otherwise."""
        if inst_type not in INSTRUMENT_TYPES:
            raise ValueError(f"inst_type must be one of {sorted(INSTRUMENT_TYPES)}, not {inst_type!r}")
        return self._get(
            "/api/v5/public/instruments",
            _rows(Instrument.from_okx),
            {"instType": inst_type},
            signed=False,
        )

    def get_subaccounts(self) -> list[SubAccount]:
        """GET /api/v5/users/subaccount/list (master only): every page of 100, via `after`."""
        found: dict[str, SubAccount] = {}
        after: str | None = None
        while True:
            params = _only(limit=str(SUBACCOUNT_PAGE), after=after)
            page = self._get("/api/v5/users/subaccount/list", _subaccount_page, params)
            fresh = [sub for sub in page if sub.name not in found]
            found.update((sub.name, sub) for sub in fresh)
            last = page[-1].created if page else None
            after = str(round(last.timestamp() * 1000)) if last else ""
            # `after` is the creation ts of the last row: older ones come next. Stop on a short
            # page, or if a page brought nothing new (guards against a loop on equal ts).
            if len(page) < SUBACCOUNT_PAGE or not fresh or not after:
                return list(found.values())

    def get_subaccount_balance(self, sub_acct: str) -> Balance:
        """GET /api/v5/account/subaccount/balances (master only): a sub-account's trading balance.
        OKX documents the same single object as /account/balance; MalformedResponse otherwise."""
        return self._get("/api/v5/account/subaccount/balances", _balance, {"subAcct": sub_acct})

    def get_subaccount_funding_balances(self, sub_acct: str) -> list[FundingBalance]:
        """GET /api/v5/asset/subaccount/balances (master only): a sub-account's funding balances."""
        return self._get("/api/v5/asset/subaccount/balances", _funding, {"subAcct": sub_acct})

    def get_subaccount_api_keys(self, sub_acct: str) -> list[SubAccountApiKey]:
        """GET /api/v5/users/subaccount/apikey (master only): a sub-account's API keys."""
        return self._get(
            "/api/v5/users/subaccount/apikey",
            _rows(SubAccountApiKey.from_okx),
            {"subAcct": sub_acct},
        )

    # --- the ledger (okx-reference.md 8.7); paging: `after` = older than, `before` = newer than ---

    def get_subaccount_transfers(
        self, *, after_ms: int | None = None, before_ms: int | None = None, limit: int = MAX_PAGE
    ) -> list[SubAccountTransfer]:
        """GET /api/v5/asset/subaccount/bills (master only; "6 requests per second", User ID):
        transfers between the master and its sub-accounts, one page. `after_ms` / `before_ms`
        (epoch ms, exclusive) page on the transfer's creation `ts`; `limit` 1..100. Fields:
        results.SubAccountTransfer. ValueError for bad paging before anything is sent."""
        params = _page(limit, after=_ms("after_ms", after_ms), before=_ms("before_ms", before_ms))
        records = _records(SubAccountTransfer.from_okx, "billId", limit)
        return self._get("/api/v5/asset/subaccount/bills", records, params)

    def get_deposit_history(
        self, *, after_ms: int | None = None, before_ms: int | None = None, limit: int = MAX_PAGE
    ) -> list[Deposit]:
        """GET /api/v5/asset/deposit-history (own account; "6 requests per second", User ID): the
        calling account's deposits, newest first ("The 100 most recent records are returned by
        default"). `after_ms` / `before_ms` (epoch ms) page on `ts`; `limit` 1..100. Fields and
        states: results.Deposit. ValueError for bad paging before anything is sent."""
        params = _page(limit, after=_ms("after_ms", after_ms), before=_ms("before_ms", before_ms))
        return self._get("/api/v5/asset/deposit-history", _records(Deposit.from_okx, "depId", limit), params)

    def get_withdrawal_history(
        self, *, after_ms: int | None = None, before_ms: int | None = None, limit: int = MAX_PAGE
    ) -> list[Withdrawal]:
        """GET /api/v5/asset/withdrawal-history (own account; "6 requests per second", User ID):
        the calling account's withdrawals, newest first. `after_ms` / `before_ms` (epoch ms) page
        on `ts`; `limit` 1..100. Fields and states: results.Withdrawal. ValueError for bad paging
        before anything is sent."""
        params = _page(limit, after=_ms("after_ms", after_ms), before=_ms("before_ms", before_ms))
        records = _records(Withdrawal.from_okx, "wdId", limit)
        return self._get("/api/v5/asset/withdrawal-history", records, params)

    def get_history_index_candles(
        self, inst_id: str, *, after_ms: int | None = None, bar: str = "1H", limit: int = MAX_PAGE
    ) -> list[IndexCandle]:
        """GET /api/v5/market/history-index-candles (public, works on Client.public; "10 requests
        per 2 seconds", IP): candles of the index `inst_id` (e.g. "BTC-USD", "Same as uly") "from
        recent years", newest first. `after_ms` returns candles opened before it (epoch ms);
        `bar` one of INDEX_CANDLE_BARS; `limit` 1..100. Fields: results.IndexCandle. ValueError
        for a bad argument before anything is sent."""
        if not inst_id.strip():
            raise ValueError("inst_id must name an index, e.g. 'BTC-USD'")
        if bar not in INDEX_CANDLE_BARS:
            raise ValueError(f"bar must be one of OKX's bar sizes, e.g. '1H', not {bar!r}")
        params = {"instId": inst_id, "bar": bar, **_page(limit, after=_ms("after_ms", after_ms))}
        return self._get("/api/v5/market/history-index-candles", _candles, params, signed=False)

    def get_account_bills(
        self,
        *,
        archive: bool = False,
        after_bill_id: str | None = None,
        before_bill_id: str | None = None,
        begin_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = MAX_PAGE,
    ) -> list[AccountBill]:
        """GET /api/v5/account/bills (last 7 days; "5 requests per second") or, with `archive`,
        /api/v5/account/bills-archive (last 3 months; "5 requests per 2 seconds"), both User ID:
        the trading account's bills, newest first. `after_bill_id` / `before_bill_id` page on
        `billId` (older / newer than); `begin_ms` / `end_ms` (epoch ms) filter on `ts`; `limit`
        1..100. Fields: results.AccountBill. ValueError for bad paging before anything is sent."""
        path = "/api/v5/account/bills-archive" if archive else "/api/v5/account/bills"
        params = _page(
            limit,
            after=_bill_id("after_bill_id", after_bill_id),
            before=_bill_id("before_bill_id", before_bill_id),
            begin=_ms("begin_ms", begin_ms),
            end=_ms("end_ms", end_ms),
        )
        return self._get(path, _records(AccountBill.from_okx, "billId", limit), params)

    # --- risk (okx-reference.md 8.8) --------------------------------------------------------

    def get_positions_history(
        self,
        inst_type: str | None = None,
        after: int | None = None,
        before: int | None = None,
        limit: int = MAX_PAGE,
    ) -> list[ClosedPositionRecord]:
        """GET /api/v5/account/positions-history (own account only, there is no `subAcct`; "10
        requests per 2 seconds", User ID): positions closed in the last 3 months, one page,
        newest `uTime` first. `inst_type` one of POSITION_INST_TYPES (None: all); `after` /
        `before` (epoch ms) return rows updated before / after that `uTime`; `limit` 1..100.
        OKX returns every row sharing the page's last `uTime`, so a page may hold more than
        `limit` rows (accepted only then). Fields: results.ClosedPositionRecord. ValueError for
        a bad argument before anything is sent."""
        if inst_type is not None and inst_type not in POSITION_INST_TYPES:
            raise ValueError(f"inst_type must be one of {sorted(POSITION_INST_TYPES)}, not {inst_type!r}")
        params = {
            **_only(instType=inst_type),
            **_page(limit, after=_ms("after", after), before=_ms("before", before)),
        }
        records = _records(ClosedPositionRecord.from_okx, CLOSED_POSITION_IDENTITY, limit, ties_on="uTime")
        return self._get("/api/v5/account/positions-history", records, params)

    # --- one call: retries, clock re-sync -------------------------------------------------

    def _get(
        self,
        path: str,
        parse: Callable[[Reply], T],
        params: Mapping[str, str] | None = None,
        *,
        signed: bool = True,
        attempts: int = 0,
    ) -> T:
        """GET with retries, and OKX's answer parsed by `parse` inside the attempt, so that an
        answer that fails validation is a failed call the observer records (MalformedResponse).
        Reads are idempotent, so failures on the wire are retried with full-jitter backoff;
        50102/50112 re-learn the clock offset and retry once."""
        max_attempts = attempts or self._connection.max_attempts
        resynced = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(path, params or {}, signed, attempt, parse)
            except RateLimitTimeout:
                raise  # the limiter already waited as long as the caller allowed
            except OkxError as error:
                if signed and error.code in RESYNC_CODES and not resynced:
                    resynced = True
                    self._sync_clock(force=True)
                    continue
                delay = self._retry_delay(path, error, attempt - resynced, max_attempts)
                if delay is None:
                    raise
                logger.info("retrying %s in %.2fs after %s", path, delay, error.category)
                self._connection.sleep(delay)

    def _retry_delay(self, path: str, error: OkxError, tries: int, max_attempts: int) -> float | None:
        """Seconds before the next attempt, or None for no retry: OKX's Retry-After when it sends
        one; after a 50011 without it, one of the endpoint's windows plus up to half of one (OKX
        counts requests in a rolling window: a retry sooner meets the same requests in it; the
        jitter spreads the waiters); otherwise full-jitter exponential backoff."""
        if error.permanent or error.category not in RETRIED_CATEGORIES or tries >= max_attempts:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= MAX_RETRY_AFTER_SECONDS else None
        limit = self._connection.limits.get(path)
        if isinstance(error, OkxRateLimited) and limit is not None:
            return limit.seconds + random.uniform(0, limit.seconds / 2)
        return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (tries - 1)))

    def _attempt(
        self, path: str, params: Mapping[str, str], signed: bool, attempt: int, parse: Callable[[Reply], T]
    ) -> T:
        if signed:
            self._ensure_clock()
        waited = 0.0
        started = time.monotonic()
        status: int | None = None
        code: str | None = None
        error: OkxError | None = None
        answered = False
        try:
            # Looked up per attempt (a session is this thread's, and a Client may change threads),
            # and before the budget: a thread's first call builds its session, which must not
            # stretch the time between the limiter's grant and the request reaching OKX.
            session = self._connection.session(self._base_url)
            waited = self._take_budget(path, signed)
            started = time.monotonic()
            reply = self._exchange(session, path, params, signed)
            result = _parsed(path, reply, parse)
            status, code, answered = reply.http_status, "0", True
            return result
        except OkxError as exc:
            error, status, code = exc, exc.http_status, exc.code
            raise
        finally:
            # An exception that is no OkxError (a bug) is not observed: recorded as a success, it
            # would clear a failing key's status.
            if answered or error is not None:
                duration = time.monotonic() - started
                self._observe(CallRecord(path, "GET", status, code, duration, waited, error, attempt))

    def _take_budget(self, path: str, signed: bool) -> float:
        scope = self._scope() if signed else PUBLIC_SCOPE
        connection = self._connection
        return connection.limiter.acquire(path, scope, connection.limits[path], connection.rate_limit_timeout)

    def _scope(self) -> str:
        if self._uid:
            return f"uid:{self._uid}"
        # Until the UID is known: a non-reversible stand-in for the key (same key, same window).
        return "key:" + hashlib.sha256(self._api_key.encode()).hexdigest()[:16]

    def _exchange(
        self, session: requests.Session, path: str, params: Mapping[str, str], signed: bool
    ) -> Reply:
        prepared = self._prepare(session, path, params, signed)
        response, sent_at, round_trip = transport.send(session, prepared, self._connection.timeout, path)
        logger.debug("GET %s -> HTTP %s in %.3fs", path, response.status_code, round_trip)
        return transport.interpret(path, response, sent_at, round_trip)

    def _prepare(
        self, session: requests.Session, path: str, params: Mapping[str, str], signed: bool
    ) -> requests.PreparedRequest:
        query = urlencode(params, quote_via=quote, safe="")
        url = f"{self._base_url}{path}" + (f"?{query}" if query else "")
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self._demo:
            headers["x-simulated-trading"] = "1"
        prepared = session.prepare_request(requests.Request("GET", url, headers=headers))
        if signed:
            if not self._api_key:
                raise InvalidCredential("a public client (Client.public) cannot sign a private call")
            # Sign the path and query exactly as they will go on the wire (after requests'
            # own URL normalisation), so what OKX hashes is what we hashed.
            self._sign(prepared, prepared.path_url, "")
        return prepared

    def _sign(self, prepared: requests.PreparedRequest, request_path: str, body: str) -> None:
        timestamp = signing.format_timestamp(int(time.time() * 1000) + (self._clock.offset_ms or 0))
        signature = signing.sign(self.__secret, timestamp, prepared.method or "GET", request_path, body)
        prepared.headers["OK-ACCESS-KEY"] = self._api_key
        prepared.headers["OK-ACCESS-SIGN"] = signature
        prepared.headers["OK-ACCESS-TIMESTAMP"] = timestamp
        prepared.headers["OK-ACCESS-PASSPHRASE"] = self.__passphrase

    def _observe(self, record: CallRecord) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(record)
        except Exception:
            logger.exception("the on_call observer failed for %s", record.endpoint)

    # --- clock ----------------------------------------------------------------------------

    def _ensure_clock(self) -> None:
        """Learn the offset before the first signed call, then every clock_resync_seconds."""
        now = time.monotonic()
        clock = self._clock
        if clock.synced_at is not None and now - clock.synced_at < self._connection.clock_resync_seconds:
            return
        if clock.failed_at is not None and now - clock.failed_at < CLOCK_RETRY_AFTER_FAILURE_SECONDS:
            return
        self._sync_clock()

    def _sync_clock(self, *, force: bool = False) -> None:
        """Measure the offset once (one attempt). A failure keeps the previous offset: the
        signed call still goes out and reports its own error if the clock really is off."""
        started = time.monotonic()
        period = 0 if force else self._connection.clock_resync_seconds
        with self._clock.lock:
            synced_at = self._clock.synced_at
            if synced_at is not None and synced_at >= started - period:
                return  # another thread measured it while we waited for the lock
            try:
                reply, server_ms = self._get(TIME_PATH, _timed, signed=False, attempts=1)
                self._learn_offset(reply, server_ms)
            except OkxError as error:
                self._clock.failed_at = time.monotonic()
                logger.warning(
                    "could not learn OKX server time (%s); signing with the last offset", error.category
                )

    def _learn_offset(self, reply: Reply, server_ms: int) -> None:
        """Offset = server ts minus the local time at the midpoint of the round trip."""
        midpoint_ms = (reply.sent_at + reply.round_trip / 2) * 1000
        clock = self._clock
        clock.offset_ms = round(server_ms - midpoint_ms)
        clock.synced_at = time.monotonic()
        clock.failed_at = None
        logger.debug("OKX clock offset %d ms (round trip %.3fs)", clock.offset_ms, reply.round_trip)


# --- parsers: OKX's data rows -> typed results (okxapi.validation checks each field) ---------


def _rows(result: Callable[[Fields], T]) -> Callable[[Reply], list[T]]:
    """A parser of OKX's `data` array of objects, one `result` per object."""
    return lambda reply: [result(row) for row in objects_in(reply.data)]


def _records(
    result: Callable[[Fields], T],
    identity: str | tuple[str, ...],
    limit: int,
    *,
    ties_on: str | None = None,
) -> Callable[[Reply], list[T]]:
    """A parser of one page of OKX records (the ledger's and the positions history's): `_rows`,
    and the page is refused (MalformedData) when it holds one record twice, or more rows than
    the `limit` asked for: a ledger stores one row per record, so either would be stored wrong.
    `identity` is the record's id field, or the fields that together identify it where OKX
    sends no id. `ties_on` names the paging field of an endpoint that returns every row sharing
    the last value of the page ("Get positions history": uTime), so rows past `limit` are
    accepted when, and only when, they share that value with the `limit`-th row."""
    fields = (identity,) if isinstance(identity, str) else identity

    def parse(reply: Reply) -> list[T]:
        rows = objects_in(reply.data)
        if len(rows) > limit and not _tied(rows[limit - 1 :], ties_on):
            raise MalformedData("data", f"{len(rows)} rows", f"more rows than the limit of {limit} asked for")
        records = [result(row) for row in rows]  # each row's fields first
        seen: set[tuple[str, ...]] = set()
        for i, row in enumerate(rows):
            record_id = tuple(str(row.row.get(name)) for name in fields)
            if record_id in seen:
                where = f"data[{i}].{'/'.join(fields)}"  # "data[3].billId", "data[3].posId/cTime"
                raise MalformedData(where, "/".join(record_id), "a record id twice in one page")
            seen.add(record_id)
        return records

    return parse


def _tied(rows: list[Fields], field: str | None) -> bool:
    """True when `field` is named and every row has the same value of it."""
    return field is not None and len({str(row.row.get(field)) for row in rows}) == 1


def _timed(reply: Reply) -> tuple[Reply, int]:
    """/public/time: one object, `ts` "System time, Unix timestamp format in milliseconds"."""
    moment = one_object(reply.data).time("ts", required=True)
    assert moment is not None  # required=True
    return reply, round(moment.timestamp() * 1000)


def _balance(reply: Reply) -> Balance:
    return Balance.from_okx(one_object(reply.data))


_funding = _rows(FundingBalance.from_okx)
_subaccount_page = _rows(SubAccount.from_okx)


def _candles(reply: Reply) -> list[IndexCandle]:
    return [IndexCandle.from_okx(row) for row in arrays_in(reply.data, CANDLE_COLUMNS)]


def _page(limit: object, **params: str | None) -> dict[str, str]:
    """Paging parameters as OKX names them (`limit`, `after`, `before`, `begin`, `end`), unset
    ones left out. ValueError unless 1 <= limit <= 100 ("The maximum is 100")."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE}, not {limit!r}")
    return _only(limit=limit, **params)


def _ms(name: str, value: object) -> str | None:
    """An epoch-millisecond paging bound, checked: an int within 2010..2100 (a seconds value or a
    float would silently ask OKX for the wrong window)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not EARLIEST_MS <= value < LATEST_MS:
        raise ValueError(f"{name} must be epoch milliseconds (an int within 2010..2100), not {value!r}")
    return str(value)


def _bill_id(name: str, value: object) -> str | None:
    """A bill id to page from: OKX's `billId` as it sent it (ASCII digits)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _BILL_ID.fullmatch(value):
        raise ValueError(f"{name} must be a billId as OKX sends it (digits), not {value!r}")
    return value


# What a parser may raise on an answer no check foresaw (a bug in a parser, or a shape beyond the
# checks): still OKX's answer that could not be read, so still a MalformedResponse, never a crash.
_PARSE_FAILURES = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)


def _parsed(path: str, reply: Reply, parse: Callable[[Reply], T]) -> T:
    """parse(reply), or the MalformedResponse naming the field and value that failed."""
    try:
        return parse(reply)
    except MalformedData as bad:
        failure = MalformedResponse.of(path, reply.http_status, bad.field, bad.value, bad.problem)
    except _PARSE_FAILURES as exc:
        logger.exception("could not parse the answer of %s", path)
        failure = MalformedResponse.of(
            path, reply.http_status, "data", "(not shown)", f"unreadable ({type(exc).__name__})"
        )
    raise failure


def _only(**params: Any) -> dict[str, str]:
    """Query parameters without the unset ones."""
    return {name: str(value) for name, value in params.items() if value not in (None, "")}


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL or one of {sorted(HOSTS)}")
    return url.rstrip("/")


__all__ = ["HOSTS", "CallRecord", "Client", "InvalidCredential"]
