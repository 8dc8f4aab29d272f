"""One account's ledger sync: its cash flows (CashFlow) and its bill days (BillDay) from OKX's own
records, read through the account's OWN key (issue 19, decisions 1, 2, 4 and 8).

Sources (okx-reference.md 8.1, 8.7; all GET, "Permission: Read", limited per User ID):
- a master: GET /api/v5/asset/subaccount/bills, its transfers with its sub-accounts ("6 requests
  per second"): each record is one row on the master and one on the sub-account when the
  dashboard tracks it, so sub-accounts without a key of their own cost nothing.
- every own-key account: GET /api/v5/asset/deposit-history and /asset/withdrawal-history (each
  "6 requests per second"), and its trading bills for the PnL breakdown: GET
  /api/v5/account/bills (last 7 days, "5 requests per second") and /account/bills-archive
  (last 3 months, "5 requests per 2 seconds").
A keyless sub-account is never read here: its flows are the master's transfers.

Each run reads the newest pages of each source down to the newest record stored before (however
many came since: a run that cannot read them all leaves a cursor and the next one goes on), then
pages back (the backfill) at most `backfill_pages` pages per source until OKX returns a short
page; LedgerSync.progress says how far it got, and the next run resumes there. Flows are upserted
by (account, source, okx_id): a record read again updates its state (a pending deposit becomes
credited), never a duplicate.

Time and counting (okx-reference.md 8.7.4):
- A deposit counts once credited (state 1 or 2). OKX's deposit history has no credit time (`ts`
  is when the record was created): a deposit first read already credited is dated at its `ts`;
  one stored pending and later read credited is dated when that run saw it, so it is not counted
  before a reading that holds it. Such a time is accurate to one sync cycle.
- A withdrawal counts unless it failed (-1) or was cancelled (-2): OKX takes the money at the
  request (funding bill type 2) and gives it back on failure or cancellation (type 13). One read
  counted and later read -1/-2 stays counted, and a reversal row (okx_id "<wdId>:returned", the
  amount back, dated when the run saw it) books the refund, so a past period's figure does not
  change and the refund is no gain. One first read already -1/-2 is stored uncounted.

Every call goes through the shared client and its Redis limiter and is observed by the
CallRecorder (failures in the error history, the key's health moved as for a refresh). A failed
source is named in LedgerSync.last_problem and the other sources go on; so is an answer that
passed validation but holds a figure the database cannot store (a malformed answer in the error
history, snapshots.refresh.record_unstorable): nothing of that page is stored.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import redis
from django.core.cache import cache
from django.db import DataError, transaction
from django.utils import timezone

from accounts.calls import CallRecorder
from accounts.crypto import DecryptionError
from accounts.jobs import JobOutcome
from accounts.models import Account, AccountKind, Credential, NoCredential
from accounts.okx import shared_connection
from ledger.models import BillDay, CashFlow, FlowKind, FlowSource, LedgerSync
from ledger.valuation import IndexCandles, flow_usd
from okxapi import AccountBill, Client, Deposit, OkxError, SubAccountTransfer, Withdrawal
from snapshots.prices import cycle_table, read_table, scope_of
from snapshots.refresh import current_cycle, record_unstorable, refresh_time_limits

logger = logging.getLogger(__name__)

PAGE = 100  # OKX's maximum `limit` on every ledger endpoint (okx-reference.md 8.7.5)
BILLS = "account_bills"  # LedgerSync.progress key of the trading bills (not a flow source)
LOCK_PREFIX = "ledger:lock:"
# The endpoint each source reads (where an answer that cannot be stored is recorded).
ENDPOINTS = {
    FlowSource.SUBACCOUNT_BILLS.value: "/api/v5/asset/subaccount/bills",
    FlowSource.DEPOSIT_HISTORY.value: "/api/v5/asset/deposit-history",
    FlowSource.WITHDRAWAL_HISTORY.value: "/api/v5/asset/withdrawal-history",
    BILLS: "/api/v5/account/bills",
}
RETURNED = frozenset({"-1", "-2"})  # withdrawal failed / cancelled: the money came back (8.7.4)
RETURNED_SUFFIX = ":returned"  # okx_id of a returned withdrawal's reversal row: "<wdId>:returned"
Record = SubAccountTransfer | Deposit | Withdrawal
Price = Callable[[str, Decimal, datetime], tuple[Decimal | None, Decimal | None, str]]
Fetch = Callable[..., Sequence[Record]]  # a client's history method: (after_ms=...) -> records


@dataclass
class SyncOutcome(JobOutcome):
    """A JobOutcome (accounts/jobs.py: how the task retries) with what the run stored: flow rows
    created and updated, and bills summed into BillDay."""

    created: int = 0
    updated: int = 0
    bills: int = 0


@dataclass
class _Run:
    """What one run shares: the account, its client, the pricing, the progress it moves and its
    moment (when it observes a change of state)."""

    account: Account
    client: Client
    price: Price
    sync: LedgerSync
    outcome: SyncOutcome
    now: datetime


def sync_account(account_id: int, *, backfill_pages: int = 3) -> SyncOutcome:
    """1. Skip an inactive account, one without an own active key (a keyless sub-account's flows
       come from its master), or one whose sync is running elsewhere (a Redis lock per account).
    2. Build its client as the refresh does (CallRecorder in batch mode, the shared connection
       with a rate-limit wait within the time limit) and a public client for prices.
    3. Per source: the newest pages (up to `backfill_pages`) down to what was stored before,
       then up to `backfill_pages` older pages; rows stored per page. An answer that cannot be
       stored (ArithmeticError, DataError) is recorded as malformed; the other sources go on.
    4. Store the progress; `last_problem` names the sources that failed ("" when none).
    Returns counts; "failed" (transient) when any source failed, so the task retries it. Redis
    not answering (the lock, the cache, the limiter's store) is "failed" with category "redis" and
    not retried, as for a refresh (snapshots.refresh.refresh_account): the broker is that same
    Redis, and a task blocked sending a retry or a traceback to it outlived its time limit and
    crashed its worker (the Redis-outage soak test)."""
    account = Account.objects.filter(pk=account_id, active=True).select_related("master").first()
    if account is None:
        return SyncOutcome(str(account_id), "skipped", detail="inactive or deleted")
    credential = account.active_credential()
    if credential is None:
        return SyncOutcome(
            account.name, "skipped", detail="no key of its own: its transfers come from its master"
        )
    _, hard = refresh_time_limits()
    try:
        if not cache.add(f"{LOCK_PREFIX}{account.pk}", "1", timeout=hard + 2):
            return SyncOutcome(
                account.name, "skipped", detail="another ledger sync of this account is running"
            )
        try:
            return _sync(account, credential, backfill_pages)
        finally:
            cache.delete(f"{LOCK_PREFIX}{account.pk}")
    except redis.exceptions.RedisError as error:
        detail = f"Redis does not answer ({type(error).__name__}); the next cycle reads again"
        return SyncOutcome(account.name, "failed", "redis", detail)


def _sync(account: Account, credential: Credential, backfill_pages: int) -> SyncOutcome:
    soft, _ = refresh_time_limits()
    connection = shared_connection().with_rate_limit_timeout(soft / 2)
    recorder = CallRecorder(account, credential, batch=True)
    market = CallRecorder(account, None, batch=True)  # a market-data outage is not the key's fault
    outcome = SyncOutcome(account.name, "ok")
    try:
        client = credential.build_client(on_call=recorder, stamp_successes=False, connection=connection)
    except DecryptionError as error:
        credential.fail_closed(error)
        return SyncOutcome(account.name, "failed", "decryption", "a stored secret cannot be decrypted")
    except NoCredential as error:  # HostNotAllowed
        return SyncOutcome(account.name, "failed", "no_credential", str(error))
    sync, _ = LedgerSync.objects.get_or_create(account=account)
    sync.backfill_started_at = sync.backfill_started_at or timezone.now()
    problems: list[str] = []
    try:
        with (
            client,
            Client.public(
                demo=client.demo, base_url=client.base_url, connection=connection, on_call=market
            ) as public,
        ):
            now = timezone.now()
            run = _Run(account, client, _pricing(client, public, now), sync, outcome, now)
            for source, read in _sources(account):
                try:
                    read(run, backfill_pages)
                except OkxError as error:
                    problems.append(f"{source}: {error.category} on {error.endpoint}")
                except (ArithmeticError, DataError) as error:
                    failure = record_unstorable(account, ENDPOINTS[source], error)
                    problems.append(f"{source}: {failure.category} on {failure.endpoint}")
    finally:
        recorder.flush()
        market.flush()
    _finish(sync, problems)
    if problems:
        outcome.status, outcome.category, outcome.transient = "failed", "okx", True
        outcome.detail = sync.last_problem
    return outcome


def _pricing(client: Client, public: Client, now: datetime) -> Price:
    """flow_usd with this run's moment, the cycle's price table (shared with the refresh through
    the cache: usually no call) and the run's candle cache."""
    scope = scope_of(client.base_url, client.demo)
    table = cycle_table(current_cycle(), scope, lambda: read_table(public))
    return functools.partial(flow_usd, now=now, price_table=table, candles=IndexCandles(public))


Reader = Callable[[_Run, int], None]


def _sources(account: Account) -> list[tuple[str, Reader]]:
    own: list[tuple[str, Reader]] = [
        (FlowSource.DEPOSIT_HISTORY.value, _read_deposits),
        (FlowSource.WITHDRAWAL_HISTORY.value, _read_withdrawals),
        (BILLS, _read_bills),
    ]
    if account.kind == AccountKind.MASTER:
        return [(FlowSource.SUBACCOUNT_BILLS.value, _read_transfers), *own]
    return own


def _finish(sync: LedgerSync, problems: list[str]) -> None:
    now = timezone.now()
    sync.last_synced_at = now
    sync.last_problem = "; ".join(problems)[:300]
    if sync.backfill_done_at is None and all(p.get("done") for p in sync.progress.values()) and sync.progress:
        sync.backfill_done_at = now
    sync.save()


# -- flows: transfers, deposits, withdrawals ------------------------------------------------------


def _read_transfers(run: _Run, pages: int) -> None:
    _read_flows(run, FlowSource.SUBACCOUNT_BILLS, run.client.get_subaccount_transfers, pages)
    run.outcome.created += adopt_subaccounts(run.account)


def adopt_subaccounts(master: Account) -> int:
    """Transfers stored before their sub-account was added to the dashboard: the master's rows
    name it (counterparty_name, OKX's subAcct) with no counterparty, and the newest-page read
    never meets them again. Make the sub-account's side from them (the opposite amount and USD
    value; no call to OKX: the master's record holds it all) and link the master's rows to it.
    Returns the rows created."""
    orphans = list(
        CashFlow.objects.filter(
            account=master, source=FlowSource.SUBACCOUNT_BILLS, counterparty__isnull=True
        ).exclude(counterparty_name="")
    )
    names = {flow.counterparty_name for flow in orphans}
    subs = {sub.sub_acct_name: sub for sub in Account.objects.filter(master=master, sub_acct_name__in=names)}
    adopted = [flow for flow in orphans if flow.counterparty_name in subs]
    sides = []
    for flow in adopted:
        flow.counterparty = subs[flow.counterparty_name]
        side = _flow_on(flow.counterparty, flow)
        side.counterparty, side.counterparty_name = master, master.name[:100]
        sides.append(side)
    with transaction.atomic():
        CashFlow.objects.bulk_create(sides, ignore_conflicts=True)
        CashFlow.objects.bulk_update(adopted, ["counterparty"])
    return len(sides)


def _flow_on(sub: Account, master_side: CashFlow) -> CashFlow:
    """The sub-account's side of a stored master-side transfer row."""
    into = master_side.kind == FlowKind.TRANSFER_OUT
    side = CashFlow(
        account=sub,
        kind=FlowKind.TRANSFER_IN if into else FlowKind.TRANSFER_OUT,
        source=master_side.source,
        okx_id=master_side.okx_id,
        occurred_at=master_side.occurred_at,
        ccy=master_side.ccy,
        amount=-master_side.amount,
        usd_price=master_side.usd_price,
        usd_basis=master_side.usd_basis,
    )
    side.usd_value = None if master_side.usd_value is None else -master_side.usd_value
    return side


def _read_deposits(run: _Run, pages: int) -> None:
    _read_flows(run, FlowSource.DEPOSIT_HISTORY, run.client.get_deposit_history, pages)


def _read_withdrawals(run: _Run, pages: int) -> None:
    _read_flows(run, FlowSource.WITHDRAWAL_HISTORY, run.client.get_withdrawal_history, pages)


def _read_flows(run: _Run, source: FlowSource, fetch: Fetch, pages: int) -> None:
    """1. The newest records (_read_newest), at most `pages` pages.
    2. The backfill from progress["oldest_ms"], at most `pages`, until a short page (done).
    All three endpoints page on `ts` in ms, `after` = older than, exclusive (okx-reference.md
    8.7.5): the cursor is the oldest ts + 1, so records sharing that millisecond are read again
    (upserted, not lost); a full page of one millisecond moves the cursor past it.
    progress: {"oldest_ms", "done", "rows", "newest_ms", "gap"} (LedgerSync's docstring)."""
    progress = run.sync.progress.setdefault(
        source.value, {"oldest_ms": None, "done": False, "rows": 0, "newest_ms": None, "gap": None}
    )
    # A progress kept before newest_ms was: read the newest pages down to what is surely stored.
    progress.setdefault("newest_ms", progress["oldest_ms"] or 0)
    progress.setdefault("gap", None)
    _read_newest(run, source, fetch, pages, progress)
    read = 0
    while not progress["done"] and progress["oldest_ms"] is not None and read < pages:
        after = progress["oldest_ms"] + 1
        page = fetch(after_ms=after)
        read += 1
        _store_flows(run, source, page, progress)
        progress["done"] = len(page) < PAGE
        if progress["oldest_ms"] == after - 1 and not progress["done"]:
            progress["oldest_ms"] -= 1  # a full page of one millisecond
    run.sync.save(update_fields=["progress", "backfill_started_at"])


def _read_newest(run: _Run, source: FlowSource, fetch: Fetch, pages: int, progress: dict[str, Any]) -> None:
    """Newest pages until one reaches progress["newest_ms"] (the newest ts stored before: every
    record since is then read) or is short (OKX has nothing older), at most `pages`. A page's
    oldest record comes again on the next page (the cursor is its ts + 1): it is no sign of
    having caught up, only a ts at or below newest_ms is. When `pages` run out first,
    progress["gap"] = {"after_ms": the next page's cursor, "newest_ms": the newest ts read} and
    the next run goes on from it; newest_ms moves only when the gap is closed, and the pages left
    then read what came meanwhile. The first read (newest_ms None) is one page: older records are
    the backfill's."""
    for _ in range(pages):
        gap = progress["gap"]
        after = gap["after_ms"] if gap else None
        page = fetch(after_ms=after)
        _store_flows(run, source, page, progress)
        stamps = [_ms(record.ts) for record in page]
        top = max([*stamps, gap["newest_ms"] if gap else 0], default=0)
        floor = progress["newest_ms"]
        if floor is not None and len(page) == PAGE and min(stamps) > floor:
            progress["gap"] = {"after_ms": _next_after(after, page), "newest_ms": top}
            continue
        progress["newest_ms"], progress["gap"] = max(floor or 0, top), None
        progress["done"] = progress["done"] or len(page) < PAGE
        if gap is None:
            return


def _next_after(after: int | None, page: Sequence[Record]) -> int:
    oldest = min(_ms(record.ts) for record in page)
    return oldest + 1 if after is None or oldest + 1 < after else oldest


def _store_flows(run: _Run, source: FlowSource, page: Sequence[Record], progress: dict[str, Any]) -> None:
    """Upsert the page's rows (with the reversal rows of withdrawals OKX gave back) in one
    transaction; count new records in progress["rows"]."""
    if not page:
        return
    rows = _flow_rows(run.account, source, page)
    ids = {row.okx_id for row in rows}
    existing = {
        (flow.account_id, flow.okx_id): flow
        for flow in CashFlow.objects.filter(
            source=source, okx_id__in=ids, account_id__in={row.account_id for row in rows}
        )
    }
    known = {okx_id for account_id, okx_id in existing if account_id == run.account.pk}
    new = [row for row in rows if (row.account_id, row.okx_id) not in existing]
    for row in new:
        _value(run.price, row)
    changed, reversals = [], []
    for row in rows:
        stored = existing.get((row.account_id, row.okx_id))
        if stored is None:
            continue
        if _returned(stored, row):
            reversals.append(_reversal(stored, row.state, run))
        if flow := _changed(stored, row, run):
            changed.append(flow)
    with transaction.atomic():
        CashFlow.objects.bulk_create([*new, *reversals], ignore_conflicts=True)
        for flow in changed:
            flow.save(update_fields=[*UPDATED_FIELDS])
    oldest = min(_ms(record.ts) for record in page)
    progress["oldest_ms"] = oldest if progress["oldest_ms"] is None else min(progress["oldest_ms"], oldest)
    progress["rows"] += len(ids - known)
    run.outcome.created += len(new) + len(reversals)
    run.outcome.updated += len(changed)


UPDATED_FIELDS = ("state", "counts", "amount", "fee", "occurred_at", "usd_price", "usd_value", "usd_basis")


def _changed(stored: CashFlow | None, read: CashFlow, run: _Run) -> CashFlow | None:
    """The stored row with what OKX says now (state, counts, amount, fee), revalued when its
    amount or time changed or it had no USD value; None when nothing changed. A deposit stored
    uncounted and now credited is dated now (never before OKX's ts); a withdrawal stored counted
    stays counted (its refund, if OKX gives it back, is a reversal row: module docstring)."""
    if stored is None:
        return None
    counts = read.counts or (stored.counts and read.kind == FlowKind.WITHDRAWAL)
    fresh = (read.state, counts, read.amount, read.fee)
    if fresh == (stored.state, stored.counts, stored.amount, stored.fee) and stored.usd_value is not None:
        return None
    revalue = stored.usd_value is None or read.amount != stored.amount
    if read.kind == FlowKind.DEPOSIT and counts and not stored.counts:
        stored.occurred_at, revalue = max(run.now, read.occurred_at), True
    stored.state, stored.counts, stored.amount, stored.fee = fresh
    if revalue:
        _value(run.price, stored)
    return stored


def _returned(stored: CashFlow, read: CashFlow) -> bool:
    """A withdrawal stored counted that OKX now says failed or was cancelled (its money came back)."""
    return (
        read.kind == FlowKind.WITHDRAWAL
        and stored.counts
        and stored.state not in RETURNED
        and read.state in RETURNED
    )


def _reversal(withdrawal: CashFlow, state: str, run: _Run) -> CashFlow:
    """The refund of a counted withdrawal OKX failed or cancelled (funding bill type 13,
    okx-reference.md 8.7.2): what left comes back, dated when this run saw it, counted, valued
    at that time."""
    row = CashFlow(
        account_id=withdrawal.account_id,
        kind=FlowKind.WITHDRAWAL,
        source=withdrawal.source,
        okx_id=f"{withdrawal.okx_id}{RETURNED_SUFFIX}",
        occurred_at=run.now,
        ccy=withdrawal.ccy,
        amount=-withdrawal.amount,
        state=state,
        counts=True,
        counterparty_name="returned by OKX",
    )
    _value(run.price, row)
    return row


def _value(price: Price, flow: CashFlow) -> None:
    flow.usd_price, flow.usd_value, flow.usd_basis = price(flow.ccy, flow.amount, flow.occurred_at)


def _flow_rows(account: Account, source: FlowSource, page: Sequence[Record]) -> list[CashFlow]:
    """Unsaved CashFlow rows for one page (decisions 1 and 2 of issue 19)."""
    rows: list[CashFlow] = []
    names = {record.sub_acct for record in page if isinstance(record, SubAccountTransfer)}
    subs = (
        {sub.sub_acct_name: sub for sub in Account.objects.filter(master=account, sub_acct_name__in=names)}
        if names
        else {}
    )
    for record in page:
        if isinstance(record, SubAccountTransfer):
            rows.extend(_transfer_rows(account, record, subs.get(record.sub_acct)))
        elif isinstance(record, Deposit):
            rows.append(_flow(account, source, record.dep_id, record, FlowKind.DEPOSIT, record.amount))
            rows[-1].state, rows[-1].counts = record.state, record.credited
        else:
            # What left the account: the amount plus the fee when the fee is in the same currency.
            fee_in_ccy = record.fee_ccy in ("", record.ccy)
            left = record.amount + record.fee if fee_in_ccy else record.amount
            rows.append(_flow(account, source, record.wd_id, record, FlowKind.WITHDRAWAL, -left))
            counts = record.state not in RETURNED  # taken at the request (module docstring)
            rows[-1].state, rows[-1].counts, rows[-1].fee = record.state, counts, record.fee
    return rows


def _transfer_rows(master: Account, record: SubAccountTransfer, sub: Account | None) -> list[CashFlow]:
    """The master's side (counterparty the tracked sub-account, else None with OKX's subAcct),
    and the sub-account's side when it is tracked (the opposite sign, counterparty the master)."""
    sign = -1 if record.to_sub else 1
    out, into = FlowKind.TRANSFER_OUT, FlowKind.TRANSFER_IN
    source = FlowSource.SUBACCOUNT_BILLS
    own = _flow(master, source, record.bill_id, record, out if record.to_sub else into, sign * record.amount)
    own.counterparty, own.counterparty_name = sub, record.sub_acct
    if sub is None:
        return [own]
    other = _flow(sub, source, record.bill_id, record, into if record.to_sub else out, -sign * record.amount)
    other.counterparty, other.counterparty_name = master, master.name[:100]
    return [own, other]


def _flow(
    account: Account, source: FlowSource, okx_id: str, record: Record, kind: str, amount: Decimal
) -> CashFlow:
    return CashFlow(
        account=account,
        kind=kind,
        source=source,
        okx_id=okx_id,
        occurred_at=record.ts,
        ccy=record.ccy,
        amount=amount,
    )


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


# -- trading bills: the PnL breakdown ----------------------------------------------------------------


def _read_bills(run: _Run, pages: int) -> None:
    """Sum each bill once into BillDay. progress["account_bills"] = {"newest_id", "gaps",
    "oldest_ms", "done", "rows"}: every bill with an id up to `newest_id` is summed except those
    inside a gap [after_id, floor_id] still to read (floor None: the backfill, down to OKX's
    oldest). billIds grow with time (okx-reference.md 8.7.5: `after`/`before` page on billId).
    1. The newest page (7-day endpoint; the 3-month one for a first read with nothing in 7
       days): bills above `newest_id` are summed; a full page of new bills leaves a gap down to
       `newest_id`, read next.
    2. Gaps, newest first (7-day endpoint), then the backfill (3-month endpoint): `pages` pages
       at most."""
    progress = run.sync.progress.setdefault(
        BILLS, {"newest_id": None, "gaps": [], "oldest_ms": None, "done": False, "rows": 0}
    )
    newest = progress["newest_id"]
    page = run.client.get_account_bills()
    if newest is None and not page and not progress["done"]:
        page = run.client.get_account_bills(archive=True)
        progress["done"] = not page  # no bills in 3 months: nothing to go back to
    fresh = [bill for bill in page if newest is None or _no(bill.bill_id) > _no(newest)]
    if fresh:
        progress["newest_id"] = _edge(fresh, max)
        if newest is None:
            progress["gaps"] = [[_edge(page, min), None]]
        elif len(fresh) == PAGE:
            progress["gaps"].insert(0, [_edge(page, min), newest])
    _sum_bills(run, fresh, progress)
    for _ in range(pages):
        if not progress["gaps"]:
            break
        after, floor = progress["gaps"][0]
        page = run.client.get_account_bills(archive=floor is None, after_bill_id=after)
        fresh = [bill for bill in page if floor is None or _no(bill.bill_id) > _no(floor)]
        if len(page) < PAGE or len(fresh) < len(page):
            progress["gaps"].pop(0)
            progress["done"] = progress["done"] or floor is None
        else:
            progress["gaps"][0][0] = _edge(page, min)
        _sum_bills(run, fresh, progress)


def _edge(bills: Sequence[AccountBill], pick: Callable[..., AccountBill]) -> str:
    """The id of the newest (max) or oldest (min) bill of a page."""
    return pick(bills, key=lambda bill: _no(bill.bill_id)).bill_id


def _no(bill_id: str) -> int:
    """OKX's billId as a number (it grows with time); a non-numeric id sorts first."""
    return int(bill_id) if bill_id.isdigit() else -1


def _sum_bills(run: _Run, bills: Iterable[AccountBill], progress: dict[str, Any]) -> None:
    """Add the bills to their BillDay rows and store the progress, in one transaction (a run
    that dies in between sums nothing twice: the progress moves with the sums)."""
    days: dict[tuple[date, str], dict[str, Any]] = {}
    count = 0
    for bill in bills:
        count += 1
        sums = days.setdefault((bill.ts.astimezone(UTC).date(), bill.ccy), _empty_day())
        sums["bills"] += 1
        for name, amount in _bill_amounts(bill):
            _, usd, basis = run.price(bill.ccy, amount, bill.ts)
            sums[name] += amount
            sums["usd"][name] = None if usd is None or sums["usd"][name] is None else sums["usd"][name] + usd
            sums["basis"] = sums["basis"] or ("" if usd is not None else basis)
        oldest = _ms(bill.ts)
        progress["oldest_ms"] = (
            oldest if progress["oldest_ms"] is None else min(progress["oldest_ms"], oldest)
        )
    progress["rows"] += count
    with transaction.atomic():
        for (day, ccy), day_sums in days.items():
            _add_day(run.account, day, ccy, day_sums)
        run.sync.save(update_fields=["progress", "backfill_started_at"])
    run.outcome.bills += count


BILL_FIELDS = ("trading_fees", "funding_fees", "interest")


def _empty_day() -> dict[str, Any]:
    zero = Decimal(0)
    return {
        **dict.fromkeys(BILL_FIELDS, zero),
        "usd": dict.fromkeys(BILL_FIELDS, zero),
        "basis": "",
        "bills": 0,
    }


def _bill_amounts(bill: AccountBill) -> list[tuple[str, Decimal]]:
    """(BillDay field, amount in bill.ccy) of one bill (BillDay's docstring: which field, which sign)."""
    if bill.type == "8":
        return [("funding_fees", bill.bal_chg)]
    if bill.type == "7":
        return [("interest", bill.bal_chg)]
    return [("trading_fees", bill.fee)] if bill.fee else []


def _add_day(account: Account, day: date, ccy: str, sums: dict[str, Any]) -> None:
    row, _ = BillDay.objects.select_for_update().get_or_create(account=account, day=day, ccy=ccy)
    for name in BILL_FIELDS:
        setattr(row, name, getattr(row, name) + sums[name])
        stored, added = getattr(row, f"{name}_usd"), sums["usd"][name]
        setattr(row, f"{name}_usd", None if stored is None or added is None else stored + added)
    row.usd_basis = row.usd_basis or sums["basis"][:200]
    row.bills += sums["bills"]
    row.save()
