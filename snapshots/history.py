"""One account's closed positions (issue 20): OKX's positions history, stored as ClosedPosition rows.

Source: GET /api/v5/account/positions-history (okx-reference.md 8.8.4 and the paging table of
8.7.5): the positions of the calling account closed, partly closed, liquidated or
auto-deleveraged in the last 3 months, newest `uTime` first; `after` returns rows updated before a
`uTime` (epoch ms), `limit` at most 100, and "all rows sharing the last uTime are returned", so a
page may hold more than 100 and paging on to `after` = the page's oldest `uTime` loses none. The
limit is 10 requests per 2 s per User ID, and the page has no `subAcct` parameter: only an
account's own key reads it (a master cannot read a sub-account's; 8.0).

What is left to read is a list of ranges, newest first, each "rows older than `after` (None: the
newest) down to `floor` (a `uTime` already read; None: OKX's 3-month end)", plus `newest_ms`, the
newest `uTime` read. Each run first puts (None, newest_ms) in front (what came since), then reads
the ranges in order, at most PAGES_PER_RUN pages, so one run when nothing is new costs one
request, the first run starts the 3-month backfill, and a backfill or a burst of closes longer
than one run goes on in the next. A range ends at a short page, at a page reaching its floor, or
at a page that does not go back in time.

The ranges are kept in the cache (Redis), not the database: the rows are the facts, and they are
stored idempotently (ClosedPosition's unique constraint). A cursor lost with Redis means one full
re-read of the 3 months (a few pages per run), never a missing row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import transaction

from accounts.models import Account
from okxapi import Client, ClosedPositionRecord
from snapshots.models import ClosedPosition

PATH = "/api/v5/account/positions-history"
PAGE = 100  # OKX's largest `limit` for this endpoint (okx-reference.md 8.7.5)
# At most this many pages per run (per refresh): 3 of OKX's 10 per 2 s on the account's own UID.
PAGES_PER_RUN = 3
CURSOR_KEY = "snapshots:closed-positions:{account_id}"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)

Range = list[int | None]  # [after_ms, floor_ms], JSON-friendly for the cache


def sync_closed_positions(account: Account, client: Client, *, pages: int = PAGES_PER_RUN) -> int:
    """Read `account`'s positions history with `client` (built from the account's OWN key: the
    endpoint has no subAcct parameter) and store its new rows; returns how many were stored.

    1. Load the cursor (module docstring); none yet (first run, or Redis lost it): the whole
       3 months, from the newest page down.
    2. Read at most `pages` pages (100 rows each, more when rows share the last uTime), storing
       each page's rows above its range's floor in one transaction (none: no query); rows
       already stored are left as they are.
    3. Keep the cursor, also after a failure: what was stored stays read, the rest is read next
       run.

    Raises okxapi.OkxError when a call fails (the client's observer has recorded it in the
    error history), django.db.DataError, ArithmeticError or ValueError when a page's rows cannot
    be stored (nothing of that page is stored; the same page is read again next run), and
    redis.RedisError when the cursor cannot be read or kept."""
    cursor = cache.get(CURSOR_KEY.format(account_id=account.pk))
    newest: int | None = cursor["newest_ms"] if cursor else None
    ranges: list[Range] = [[None, newest], *cursor["ranges"]] if cursor else [[None, None]]
    stored = 0
    try:
        for _ in range(pages):
            if not ranges:
                break
            after, floor = ranges[0]
            page = client.get_positions_history(after=after, limit=PAGE)
            stamps = [_ms(row) for row in page]
            # At or below the floor was read, and stored, before: no query for it.
            stored += _store(
                account, [r for r, ms in zip(page, stamps, strict=True) if floor is None or ms > floor]
            )
            if after is None and stamps:
                newest = max([*stamps, newest or 0])
            if _range_done(stamps, after, floor):
                ranges.pop(0)
            else:
                ranges[0][0] = min(stamps)
    finally:
        cache.set(CURSOR_KEY.format(account_id=account.pk), {"newest_ms": newest, "ranges": ranges}, None)
    return stored


def _range_done(stamps: list[int], after: int | None, floor: int | None) -> bool:
    """A short page (OKX has nothing older), one that reaches what was read before (`floor`), or
    one that does not go back in time (an answer not paged as documented: reading on would
    read the same page forever)."""
    oldest = min(stamps, default=None)
    return (
        len(stamps) < PAGE
        or oldest is None
        or (floor is not None and oldest <= floor)
        or (after is not None and oldest >= after)
    )


def _store(account: Account, page: Sequence[ClosedPositionRecord]) -> int:
    """The page's rows not stored yet, in one transaction; returns how many."""
    if not page:
        return 0
    # One transaction for the read and the write: a row the database refuses leaves no half page.
    with transaction.atomic():
        ids = {row.pos_id for row in page}
        stored = set(
            ClosedPosition.objects.filter(account=account, pos_id__in=ids).values_list(
                "pos_id", "closed_at", "close_type"
            )
        )
        new = [_row(account, r) for r in page if (r.pos_id, r.u_time, r.type) not in stored]
        ClosedPosition.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _row(account: Account, record: ClosedPositionRecord) -> ClosedPosition:
    """OKX's row as stored: amounts as sent, in the margin currency `ccy` (ClosedPosition)."""
    return ClosedPosition(
        account=account,
        pos_id=record.pos_id,
        inst_id=record.inst_id,
        inst_type=record.inst_type,
        mgn_mode=record.mgn_mode,
        pos_side=record.pos_side,
        direction=record.direction,
        close_type=record.type,
        ccy=record.ccy,
        leverage=record.lever,
        open_avg_price=record.open_avg_px,
        close_avg_price=record.close_avg_px,
        trigger_price=record.trigger_px,
        open_max_size=record.open_max_pos,
        closed_size=record.close_total_pos,
        pnl=record.pnl,
        realized_pnl=record.realized_pnl,
        fee=record.fee,
        funding_fee=record.funding_fee,
        liq_penalty=record.liq_penalty,
        opened_at=record.c_time,
        closed_at=record.u_time,
    )


def _ms(record: ClosedPositionRecord) -> int:
    """OKX's uTime back in epoch milliseconds, exactly (a float timestamp can be 1 ms off)."""
    return (record.u_time - EPOCH) // MILLISECOND
