"""One account's refresh: a per-account lock in Redis, its reads through the shared client, one
snapshot (with OKX's risk figures), and for an account read with its own key the new rows of its
positions history (snapshots.history). The Celery tasks and the `refresh` command both call
refresh_account()."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Context, Decimal, InvalidOperation

import redis
from django.conf import settings
from django.db import DataError, transaction
from django.utils import timezone

from accounts.calls import CallRecorder
from accounts.callstats import record_refresh
from accounts.crypto import DecryptionError
from accounts.history import ApiError
from accounts.jobs import JobOutcome
from accounts.models import Account, NoCredential
from accounts.okx import shared_connection
from okxapi import (
    TRANSIENT_CATEGORIES,
    Balance,
    Client,
    Connection,
    CurrencyBalance,
    FundingBalance,
    MalformedResponse,
    OkxError,
    Position,
)
from snapshots.history import PATH as HISTORY_PATH
from snapshots.history import sync_closed_positions
from snapshots.models import MONEY, BalanceLine, PositionLine, Snapshot, Wallet, write_snapshot
from snapshots.positions import open_positions, upl_usd
from snapshots.prices import PriceTable, as_json, cycle_table, read_table, scope_of
from snapshots.risk import liq_distance_pct

logger = logging.getLogger(__name__)

LOCK_PREFIX = "okxdash:lock:refresh:"
# Below the interval: after a crash the lock is gone before the next cycle's task arrives.
LOCK_MARGIN_SECONDS = 2
# The lock is a lease the owner renews every third of it while it works: a SIGKILLed owner
# stops renewing, so its account is free again within seconds, not at the end of the cycle.
LOCK_LEASE_SECONDS = 6


def refresh_time_limits(interval: int | None = None) -> tuple[int, int]:
    """(soft, hard) time limits of one refresh: the hard one ends before the next cycle."""
    interval = interval or settings.REFRESH_INTERVAL_SECONDS
    hard = max(8, interval - 2 * LOCK_MARGIN_SECONDS)
    return hard - 3, hard


def lock_timeout() -> int:
    return refresh_time_limits()[1] + LOCK_MARGIN_SECONDS


def current_cycle(now: float | None = None) -> int:
    """The beat slot this moment falls in: epoch seconds // interval."""
    return int((now if now is not None else time.time()) // settings.REFRESH_INTERVAL_SECONDS)


# Why an account's Earn is not in its total (the pages, API and reports say it).
EARN_THROUGH_MASTER = "not readable through the master key"
EARN_FAILED = "not read this cycle ({category})"
EARN_PATH = "/api/v5/asset/asset-valuation"
# An Earn read that failed: the last value actually read within EARN_CARRY is used and labelled,
# so one failed read neither drops the total by the whole Earn balance (a false equity-drop
# alert, a dip in every chart) nor carries an old value for long; older than that, it is unknown.
EARN_CARRY = timedelta(minutes=15)
EARN_CARRIED = "{reason}; the value read {minutes} min earlier is used"


@dataclass
class Reading:
    balance: Balance
    funding: list[FundingBalance]
    positions: list[Position] = field(default_factory=list)
    via_master: bool = False
    # Earn in USD (asset valuation `details.earn`); None with the reason when not read.
    earn_usd: Decimal | None = None
    earn_unread: str = ""
    prices: PriceTable = field(default_factory=PriceTable)
    # Why the positions history was not read this cycle ("" when it was, or has no reading).
    history_unread: str = ""
    # Why the stored positions history may be incomplete at this reading (Snapshot.history_note):
    # "" when it is read up to now and back to OKX's 3 months.
    history_note: str = ""


def _redis() -> redis.Redis:
    return _redis_for(settings.REDIS_URL)


@functools.lru_cache(maxsize=4)
def _redis_for(url: str) -> redis.Redis:
    # One connection pool per process, not one per refresh.
    return redis.Redis.from_url(url)


@contextmanager
def account_lock(account_id: int) -> Iterator[bool]:
    """Yield whether this worker holds the account's lock (never waits for it). redis-py's Lock
    stores a random token, so only the owner releases it; a crashed owner's lease expires."""
    lease = min(LOCK_LEASE_SECONDS, lock_timeout())
    # thread_local=False: the renewing thread must see the token the acquiring thread stored.
    lock = _redis().lock(f"{LOCK_PREFIX}{account_id}", timeout=lease, blocking=False, thread_local=False)
    acquired = lock.acquire(blocking=False)
    done = threading.Event()
    if acquired:
        threading.Thread(target=_renew, args=(lock, done, account_id), daemon=True).start()
    try:
        yield acquired
    finally:
        done.set()
        if acquired:
            try:
                lock.release()
            except redis.exceptions.LockNotOwnedError:
                logger.warning("the refresh lock of account %s expired before the refresh ended", account_id)
            except redis.exceptions.RedisError:
                logger.warning("could not release the refresh lock of account %s (lease ends it)", account_id)


def _renew(lock: redis.lock.Lock, done: threading.Event, account_id: int) -> None:
    """Renew the lease until the refresh ends; the task's hard time limit bounds it."""
    while not done.wait((lock.timeout or LOCK_LEASE_SECONDS) / 3):
        try:
            lock.reacquire()
        except redis.exceptions.RedisError:
            logger.warning("could not renew the refresh lock of account %s", account_id)
            return


def lock_wait(account_id: int) -> float:
    """Seconds until the account's lock lease ends (0 when it is free)."""
    return max(_redis().pttl(f"{LOCK_PREFIX}{account_id}"), 0) / 1000


def read_account(account: Account, cycle: int | None = None) -> Reading:
    """1. Find the credential (own key, or the master's plus the sub-account name), once.
    2. Build the client; a secret that cannot be decrypted marks the key failing (nothing sent).
    3. Own key: trading balance, positions, funding, Earn, then the positions history's new rows
       (stored at once; its failure leaves the reading whole). Through the master: the two
       balances (OKX has no positions history of a sub-account for its master).
    4. The cycle's price table (snapshots/prices.py: read once per cycle for all workers)."""
    soft, _ = refresh_time_limits()
    credential, sub_acct = account.reading_credential()
    # batch: the refresh's successful calls stamp last_success_at and clear grace/failing once.
    recorder = CallRecorder(account, credential, batch=True)
    # The process's connection: one learned server-time offset per host, not a /public/time call
    # (10 per 2 s per IP) for every refresh (with 100 accounts that window alone took 23 s), and
    # this thread's kept-alive session to the host; budget waits end at half the soft limit.
    connection = shared_connection().with_rate_limit_timeout(soft / 2)
    try:
        client = credential.build_client(on_call=recorder, stamp_successes=False, connection=connection)
    except DecryptionError as error:
        credential.fail_closed(error)
        raise
    try:
        with client:
            reading = _read(client, sub_acct)
            if sub_acct is None:
                reading.history_unread, reading.history_note = _sync_history(account, client)
    finally:
        recorder.flush()
    reading.prices = _cycle_prices(account, client, connection, current_cycle() if cycle is None else cycle)
    return reading


def _cycle_prices(account: Account, client: Client, connection: Connection, cycle: int) -> PriceTable:
    """The cycle's price table for this account's host and environment. Read with a public
    client (no key: public market data is limited per IP, not per account) whose failures are
    recorded in this account's error history without moving its key's health (credential None):
    a market-data outage is not the key's fault."""
    recorder = CallRecorder(account, None, batch=True)  # batch: recoveries written once
    public = Client.public(
        demo=client.demo, base_url=client.base_url, connection=connection, on_call=recorder
    )
    try:
        return cycle_table(cycle, scope_of(client.base_url, client.demo), lambda: read_table(public))
    finally:
        recorder.flush()


# What a sub-account without a key costs its master: one call to each (snapshots.tasks paces them).
VIA_MASTER_PATHS = ("/api/v5/account/subaccount/balances", "/api/v5/asset/subaccount/balances")


def _read(client: Client, sub_acct: str | None) -> Reading:
    if sub_acct is not None:
        balance = client.get_subaccount_balance(sub_acct)  # VIA_MASTER_PATHS
        funding = client.get_subaccount_funding_balances(sub_acct)
        # OKX's asset valuation and positions history have no subAcct parameter: a master cannot
        # read a sub's Earn or closed positions.
        return Reading(
            balance,
            funding,
            via_master=True,
            earn_unread=EARN_THROUGH_MASTER,
            history_note=HISTORY_THROUGH_MASTER,
        )
    reading = Reading(client.get_balance(), client.get_funding_balances(), client.get_positions())
    reading.earn_usd, reading.earn_unread = _earn(client)
    return reading


def _earn(client: Client) -> tuple[Decimal | None, str]:
    """Earn in USD: GET /api/v5/asset/asset-valuation?ccy=USD `details.earn` ("Earn account",
    valued in `ccy`). Read every cycle: its limit is "1 request per second" per User ID, and a
    refresh sends one per account (own UID) per cycle of 60 s, 1/60 of that budget; reading it
    less often would carry an old Earn value in every total between reads. A failure (recorded
    by the observer like any call) leaves Earn unknown with the reason and the rest of the
    snapshot stands: the other wallets were read."""
    try:
        valuation = client.get_asset_valuation("USD")
    except OkxError as error:
        return None, EARN_FAILED.format(category=error.category.replace("_", " "))
    if valuation.earn is None:
        return None, "OKX sent no Earn value"
    return valuation.earn, ""


HISTORY_FAILED = "positions history not read this cycle ({why}); read again next cycle"
HISTORY_UNSTORABLE = "a row of this answer cannot be stored in the database"
HISTORY_ROWS = "(a page of rows)"
# Snapshot.history_note: why the stored closed positions may be incomplete at this reading.
HISTORY_NOT_READ = "could not be read: {why}"
HISTORY_THROUGH_MASTER = "not readable through the master key"


def _sync_history(account: Account, client: Client) -> tuple[str, str]:
    """The account's new closed positions (snapshots.history.sync_closed_positions, one request
    when nothing is new): (why not read, for the job's outcome; Snapshot.history_note). ("", "")
    when read to now and back to OKX's 3 months; ("", "still being read back: ...") while the
    backfill goes on; else why not: a failed call (already in the error history through the
    client's observer), rows the database cannot store (recorded here as a malformed answer of
    positions-history), or Redis (its cursor) not answering, named by category and endpoint
    only (never a key or a signature). Never raises for these: the snapshot of this cycle is
    stored all the same, and the next cycle reads again from where this one stopped."""
    try:
        synced = sync_closed_positions(account, client)
    except OkxError as error:
        why = f"{error.category.replace('_', ' ')} on {error.endpoint}"
    except (ArithmeticError, ValueError, DataError) as error:
        failure = record_unstorable(
            account, HISTORY_PATH, error, problem=HISTORY_UNSTORABLE, value=HISTORY_ROWS
        )
        why = f"{failure.category} on {failure.endpoint}"
    except redis.exceptions.RedisError as error:
        why = f"Redis does not answer: {type(error).__name__}"
    else:
        return "", synced.behind
    return HISTORY_FAILED.format(why=why), HISTORY_NOT_READ.format(why=why)


def carry_earn(account: Account, reading: Reading, now: datetime) -> None:
    """When this cycle's Earn read failed (own key), use the latest Earn value that was actually
    read (earn_unread "") at most EARN_CARRY before `now`, and say so in earn_unread
    ("not read this cycle (rate limit); the value read 2 min earlier is used"). A carried value
    is never carried again: past EARN_CARRY, Earn is unknown with the reason. Changes `reading`."""
    if reading.earn_usd is not None or reading.via_master:
        return
    last = (
        Snapshot.objects.filter(account=account, earn_usd__isnull=False, earn_unread="")
        .filter(taken_at__gte=now - EARN_CARRY, taken_at__lte=now)
        .order_by("-taken_at")
        .values_list("earn_usd", "taken_at")
        .first()
    )
    if last is not None:
        minutes = max(1, round((now - last[1]).total_seconds() / 60))
        reading.earn_usd = last[0]
        reading.earn_unread = EARN_CARRIED.format(reason=reading.earn_unread, minutes=minutes)


def build_snapshot(account: Account, cycle: int, reading: Reading, now: datetime) -> tuple:
    """The snapshot row and its lines (unsaved). Trading lines keep OKX's own `eqUsd`. Funding has
    no USD value at OKX: each balance is priced from the cycle's price table
    (snapshots/prices.py), else left null and listed in `unpriced_funding`. Total equity (USD) =
    trading `totalEq` + priced funding + Earn (when read). `prices` keeps every price used.
    Risk as OKX reports it (okx-reference.md 8.8.1; the same fields for a sub-account read
    through its master): adjEq, imr, mmr in USD, "" (None) where the account's mode has none,
    and the margin ratio by margin_ratio()."""
    table = reading.prices.prices
    trading = [_trading_line(d) for d in reading.balance.details]
    funding = [_funding_line(f, table.get(f.ccy)) for f in reading.funding]
    priced = [line.usd_value for line in funding if line.usd_value is not None]
    funding_usd = sum(priced, Decimal(0))
    earn = reading.earn_usd
    snapshot = Snapshot(
        account=account,
        cycle=cycle,
        taken_at=now,
        trading_equity_usd=reading.balance.total_eq,
        funding_usd=funding_usd,
        earn_usd=earn,
        earn_unread=reading.earn_unread[:200],
        total_equity_usd=(reading.balance.total_eq or Decimal(0)) + funding_usd + (earn or Decimal(0)),
        unpriced_funding=sorted(line.ccy for line in funding if line.usd_value is None),
        via_master=reading.via_master,
        history_note=reading.history_note[:200],
        adj_equity_usd=reading.balance.adj_eq,
        imr_usd=reading.balance.imr,
        mmr_usd=reading.balance.mmr,
    )
    snapshot.margin_ratio, snapshot.risk_note = margin_ratio(reading.balance)
    positions = [_position_line(p, table) for p in open_positions(reading.positions)]
    used = {line.ccy for line in funding if line.usd_value is not None}
    used |= {line.upl_ccy for line in positions if line.upl_usd_basis.startswith(TABLE_BASIS)}
    snapshot.prices = as_json({ccy: table[ccy] for ccy in used if ccy in table})
    snapshot.prices_note = reading.prices.problem[:300]
    return snapshot, [*trading, *funding], positions


TABLE_BASIS = "upl x price table"  # snapshots.positions.upl_usd's basis for step 2

# Why an account has no margin ratio, or where it comes from (Snapshot.risk_note).
FUTURES_RATIO = "Futures mode: the lowest per-currency margin ratio ({ccy})"
NO_RATIO_FUTURES = (
    "OKX reports no margin ratio: in Futures mode only per currency, and only for a currency with "
    "a cross-margin position"
)
NO_RATIO_NO_MMR = (
    "OKX reports no margin ratio: the maintenance margin requirement is 0 (no cross-margin "
    "position or pending order)"
)
NO_RATIO = "OKX sent no margin ratio"


def margin_ratio(balance: Balance) -> tuple[Decimal | None, str]:
    """(ratio, note): the account's margin ratio as OKX reports it (a ratio: 1.5 = 150 %) and
    where it comes from, or None and why (okx-reference.md 8.4, 8.8.1).

    1. `mgnRatio` ("Maintenance margin ratio"), account level: Spot, Multi-currency and
       Portfolio margin modes. Note "".
    2. Else `details[].mgnRatio` ("Cross maintenance margin ratio of currency"): Futures mode,
       where the account-level figures are "", reports it per currency, only for a currency with
       a cross position. The lowest is the one nearest liquidation: that one, named in the note.
    3. Else None, with why: `adjEq` "" too is Futures mode with no cross position; a maintenance
       margin requirement (`mmr`, "cross positions plus pending orders") of 0 has no ratio to
       report; anything else is OKX sending none."""
    if balance.mgn_ratio is not None:
        return balance.mgn_ratio, ""
    per_ccy = [d for d in balance.details if d.mgn_ratio is not None]
    if per_ccy:
        lowest = min(per_ccy, key=lambda d: d.mgn_ratio or Decimal(0))
        return lowest.mgn_ratio, FUTURES_RATIO.format(ccy=lowest.ccy)
    if balance.adj_eq is None and balance.mmr is None:
        return None, NO_RATIO_FUTURES
    if balance.mmr is not None and balance.mmr == 0:
        return None, NO_RATIO_NO_MMR
    return None, NO_RATIO


def _trading_line(d: CurrencyBalance) -> BalanceLine:
    return BalanceLine(
        wallet=Wallet.TRADING,
        ccy=d.ccy,
        equity=d.eq,
        usd_value=d.eq_usd,
        available=d.avail_bal,
        frozen=d.frozen_bal,
    )


# Derived amounts are stored in NUMERIC(38, 18) (snapshots.models.MONEY): below 10^20, 18
# places. They are computed and rounded in a context wide enough for any product of two OKX
# numbers (each below 10^20 with at most 18 decimals), never the default 28 digits, in which
# quantizing 10^10 or more to 18 places raises.
WIDE = Context(prec=2 * MONEY["max_digits"] + 2)
STEP = Decimal(1).scaleb(-MONEY["decimal_places"])
LIMIT = Decimal(10) ** (MONEY["max_digits"] - MONEY["decimal_places"])
UPL_BEYOND = "the unrealised PnL in USD is 10^20 or more: beyond what can be stored"


def fitted(value: Decimal | None) -> Decimal | None:
    """`value` rounded to the columns' 18 places (half even), or None when it is None or beyond
    the column (|x| >= 10^20). Never raises."""
    if value is None:
        return None
    rounded = value.quantize(STEP, context=WIDE)
    return rounded if rounded.copy_abs() < LIMIT else None


def _funding_line(f: FundingBalance, usd_price: Decimal | None) -> BalanceLine:
    product = f.bal * usd_price if f.bal is not None and usd_price is not None else None
    value = fitted(product)
    if product is not None and value is None:
        # A funding balance worth 10^20 USD is no reading to store as fact (_unstorable).
        raise InvalidOperation(f"{f.ccy} funding balance in USD beyond the column")
    return BalanceLine(
        wallet=Wallet.FUNDING,
        ccy=f.ccy,
        equity=f.bal,
        usd_value=value,
        available=f.avail_bal,
        frozen=f.frozen_bal,
    )


def _position_line(p: Position, ccy_prices: dict[str, Decimal]) -> PositionLine:
    """One open position as stored. Risk (okx-reference.md 8.8.2): OKX's `adl` (0..5) and
    `mgnRatio` as sent; the distance to liquidation from `markPx` and `liqPx` by
    snapshots.risk.liq_distance_pct (None with why: OPTION has no liqPx; a distance beyond the
    column). Derived figures never refuse the reading: the USD PnL beyond the column is None with
    why (UPL_BEYOND)."""
    priced = upl_usd(p, ccy_prices)
    usd = fitted(priced.usd)
    basis = UPL_BEYOND if priced.usd is not None and usd is None else priced.basis
    distance, why = liq_distance_pct(p.side, p.mark_px, p.liq_px)
    return PositionLine(
        inst_id=p.inst_id,
        inst_type=p.inst_type,
        side=p.side,
        pos_side=p.pos_side,
        size=p.pos,
        size_unit=p.size_unit,
        upl_ccy=p.ccy,
        upl_usd=usd,
        upl_usd_price=fitted(priced.price),
        upl_usd_basis=basis,
        avg_price=p.avg_px,
        mark_price=p.mark_px,
        upl=p.upl,
        upl_ratio=p.upl_ratio,
        leverage=p.lever,
        liq_price=p.liq_px,
        margin_mode=p.mgn_mode,
        notional_usd=p.notional_usd,
        adl=p.adl,
        margin_ratio=p.mgn_ratio,
        liq_distance_pct=distance,  # 4 places, below 10^20 (liq_distance_pct)
        liq_distance_note=why,
    )


def refresh_account(account_id: int, cycle: int | None = None, *, on_demand: bool = False) -> JobOutcome:
    """1. Skip an inactive account, or a cycle already stored (a redelivered task), unless
       on_demand (`manage.py refresh`, the account page's "Refresh now"): that reads now and its
       snapshot replaces the cycle's (one per account and cycle; the cycle's scheduled refresh,
       if still to come, then skips).
    2. Take the account's lock; skip (do not queue) if another refresh holds it.
    3. Read through the shared client; failures are already in the history (CallRecorder).
    4. Write the snapshot and its lines in one transaction.
    Database errors (django.db.Error) propagate: the task and the command record them."""
    cycle = current_cycle() if cycle is None else cycle
    account = Account.objects.filter(pk=account_id, active=True).select_related("master").first()
    if account is None:
        return JobOutcome(str(account_id), "skipped", detail="inactive or deleted")
    if not on_demand and Snapshot.objects.filter(account=account, cycle=cycle).exists():
        return JobOutcome(account.name, "skipped", detail="this cycle is already stored")
    try:
        with account_lock(account.pk) as held:
            return _refresh_held(account, cycle, held, on_demand)
    except redis.exceptions.RedisError as error:
        # Before any call: without Redis there is no lock and no shared rate limit. Not retried:
        # the broker is this same Redis, so a retry could not even be sent (a task blocked on
        # that outlived its time limit and crashed its worker); the next cycle refreshes.
        detail = f"Redis does not answer ({type(error).__name__}); nothing was sent to OKX"
        return JobOutcome(account.name, "failed", "redis", detail)


def _refresh_held(account: Account, cycle: int, held: bool, on_demand: bool) -> JobOutcome:
    if not held:
        wait = lock_wait(account.pk)
        return JobOutcome(account.name, "skipped", detail="another refresh is running", retry_after=wait)
    started = time.monotonic()
    outcome = _read_and_store(account, cycle, on_demand)
    record_refresh(account.pk, outcome.status, time.monotonic() - started)  # for /metrics
    return outcome


def _read_and_store(account: Account, cycle: int, on_demand: bool = False) -> JobOutcome:
    try:
        reading = read_account(account, cycle)
    except OkxError as error:
        transient = error.category in TRANSIENT_CATEGORIES
        return JobOutcome(account.name, "failed", error.category, error.diagnosis.meaning, transient)
    except NoCredential as error:
        return JobOutcome(account.name, "failed", "no_credential", str(error))
    except DecryptionError:
        return JobOutcome(account.name, "failed", "decryption", "a stored secret cannot be decrypted")
    now = timezone.now()
    carry_earn(account, reading, now)
    try:
        snapshot, balances, positions = build_snapshot(account, cycle, reading, now)
        stored = (
            _replace_snapshot(snapshot, balances, positions)
            if on_demand
            else write_snapshot(snapshot, balances, positions)
        )
    except (ArithmeticError, ValueError) as error:
        return _unstorable(account, reading, error)
    detail = reading.history_unread if stored else "cycle stored"
    return JobOutcome(account.name, "ok" if stored else "skipped", detail=detail)


def _replace_snapshot(snapshot: Snapshot, balances: list[BalanceLine], positions: list[PositionLine]) -> bool:
    """An on-demand refresh: its reading replaces the cycle's snapshot (the unique constraint
    keeps one per account and cycle), in one transaction, so a page sees the old or the new."""
    with transaction.atomic():
        Snapshot.objects.filter(account_id=snapshot.account_id, cycle=snapshot.cycle).delete()
        return write_snapshot(snapshot, balances, positions)


def _unstorable(account: Account, reading: Reading, error: Exception) -> JobOutcome:
    """Every field passed okxapi's checks, but a figure derived from them (a price times an
    amount, a sum) does not fit NUMERIC(38, 18) (decimal.InvalidOperation on quantize or save):
    the answer is still not storable as fact. Nothing is written (write_snapshot is one
    transaction); the history gets a malformed error on the balance endpoint, like a field that
    failed validation, so the account page says why it is stale."""
    path = VIA_MASTER_PATHS[0] if reading.via_master else "/api/v5/account/balance"
    failure = record_unstorable(account, path, error)
    return JobOutcome(account.name, "failed", failure.category, failure.diagnosis.meaning, transient=True)


DERIVED_OUT_OF_RANGE = "a figure derived from this answer is out of range"


def record_unstorable(
    account: Account,
    path: str,
    error: Exception,
    *,
    problem: str = DERIVED_OUT_OF_RANGE,
    value: str = "(derived)",
) -> MalformedResponse:
    """An answer of `path` (an OKX endpoint) whose fields all passed okxapi's checks but which
    cannot be stored (`error`: ArithmeticError, django.db.DataError, or the ValueError of a text
    the database cannot encode) is recorded in the account's error history as a malformed answer
    of that endpoint, "data = `value`: `problem` (error type)"; returns the error. By default it
    says a derived figure (a price times an amount, a sum) is out of range. Raises NoCredential
    when the account has no key to read it with."""
    logger.warning("%s: %s (%s)", account.name, problem, type(error).__name__)
    failure = MalformedResponse.of(path, 200, "data", value, f"{problem} ({type(error).__name__})")
    credential, _ = account.reading_credential()
    ApiError.record(account.pk, credential.pk, failure)
    return failure
