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
newest `uTime` read. Each run first puts (None, newest_ms) in front (what came since; it takes
the place of such a range a failed run left unread, so failures never pile up repeat reads of the
newest page), then reads the ranges in order, at most PAGES_PER_RUN pages, so one run when nothing
is new costs one request, the first run starts the 3-month backfill, and a backfill or a burst of
closes longer than one run goes on in the next. A range ends at a short page, at a page reaching
its floor, or at a page that does not go back in time.

OKX keeps one row per position (posId and its creation time cTime: "A posId expires 30 days after
the last full close"), updated in place as it closes in steps: `type` "the latest close type",
running totals (closeTotalPos, realizedPnl, ...), a later uTime (okx-reference.md 8.8.4). So does
ClosedPosition: one row per (account, pos_id, opened_at), updated when OKX's row has a later
uTime; `forced_at` is set when the position is first stored or updated with a forced close type
and never moved after.

The ranges are kept in the cache (Redis), not the database: the rows are the facts, and they are
stored idempotently (a version already stored is left as it is). A cursor lost with Redis means
one full re-read of the 3 months (a few pages per run), never a missing row. A cursor is keyed by
the account's id and creation time: a Redis that outlives its database (a database reset, or two
databases on one Redis, as `make bench` runs them) has cursors of other accounts under the same
ids, and reading on from one of them would skip every position it claims was read. A cursor
whose newest position is not stored (a database restored from an older backup) is dropped too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from okxapi import Client, ClosedPositionRecord
from snapshots.models import FORCED_CLOSES, ClosedPosition

PATH = "/api/v5/account/positions-history"
PAGE = 100  # OKX's largest `limit` for this endpoint (okx-reference.md 8.7.5)
# At most this many pages per run (per refresh): 3 of OKX's 10 per 2 s on the account's own UID.
PAGES_PER_RUN = 3
CURSOR_KEY = "snapshots:closed-positions:{account_id}:{created_us}"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)

Range = list[int | None]  # [after_ms, floor_ms], JSON-friendly for the cache

# Why the stored history may be incomplete after a run that did not fail (Snapshot.history_note).
READING_BACK = "still being read back: {reached} reached"
NOT_READ_YET = "not read yet"


@dataclass(frozen=True)
class Synced:
    """What a run did: `stored`, the rows created or updated; `behind`, "" when the history is
    read up to now and back to OKX's 3 months, else how far it got (READING_BACK)."""

    stored: int
    behind: str


def sync_closed_positions(account: Account, client: Client, *, pages: int = PAGES_PER_RUN) -> Synced:
    """Read `account`'s positions history with `client` (built from the account's OWN key: the
    endpoint has no subAcct parameter) and store its new and changed rows (Synced).

    1. Load the cursor (module docstring); none yet (first run, or Redis lost it) or one whose
       newest position is not stored: the whole 3 months, from the newest page down.
    2. Read at most `pages` pages (100 rows each, more when rows share the last uTime), storing
       each page's rows above its range's floor in one transaction (none: no query): a position
       not stored yet is created, one OKX has updated since (a later uTime) is updated in place,
       one stored as it is now is left alone.
    3. Keep the cursor, also after a failure: what was stored stays read, the rest is read next
       run.

    Raises okxapi.OkxError when a call fails (the client's observer has recorded it in the
    error history), django.db.DataError, ArithmeticError or ValueError when a page's rows cannot
    be stored (nothing of that page is stored; the same page is read again next run), and
    redis.RedisError when the cursor cannot be read or kept."""
    key = cursor_key(account)
    cursor = cache.get(key)
    if cursor and not _newest_is_stored(account, cursor["newest_ms"]):
        cursor = None  # the database lost what the cursor says was read: read it all again
    newest: int | None = cursor["newest_ms"] if cursor else None
    ranges: list[Range] = _since(newest, cursor["ranges"]) if cursor else [[None, None]]
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
        cache.set(key, {"newest_ms": newest, "ranges": ranges}, None)
    return Synced(stored, _behind(ranges))


def cursor_key(account: Account) -> str:
    """The cache key of the account's cursor (the module docstring: its id and creation time)."""
    created_us = (account.created_at - EPOCH) // timedelta(microseconds=1)
    return CURSOR_KEY.format(account_id=account.pk, created_us=created_us)


def _newest_is_stored(account: Account, newest_ms: int | None) -> bool:
    """Whether the newest position the cursor says was read is in the database (one indexed
    query; True when the cursor has none). False when the database was restored from a backup
    older than the cursor, with Redis kept: the positions closed since the backup were read,
    and are not stored."""
    if newest_ms is None:
        return True
    newest = EPOCH + newest_ms * MILLISECOND
    return ClosedPosition.objects.filter(account=account, closed_at__gte=newest).exists()


def _since(newest: int | None, ranges: list[Range]) -> list[Range]:
    """The ranges with "what came since `newest`" in front. A front range not read at all yet
    (after None: its run failed before its first page) is the same read: it is merged into the
    new one (down to the lower of the two floors, None the lowest), never put twice."""
    if ranges and ranges[0][0] is None:
        floor = ranges[0][1]
        lower = None if floor is None or newest is None else min(floor, newest)
        return [[None, lower], *ranges[1:]]
    return [[None, newest], *ranges]


def _behind(ranges: list[Range]) -> str:
    """ "" when nothing is left to read, else how far the reading got: the oldest uTime read in
    the first range left (UTC), or "not read yet"."""
    if not ranges:
        return ""
    after = ranges[0][0]
    if after is None:
        return NOT_READ_YET
    return READING_BACK.format(reached=f"{EPOCH + after * MILLISECOND:%Y-%m-%d %H:%M} UTC")


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
    """The page's positions as OKX has them now, in one transaction; returns how many rows were
    created or updated. Identity (pos_id, c_time); of two versions of one position the later
    uTime wins, and a stored row is updated only by a later one (idempotent)."""
    latest: dict[tuple[str, datetime], ClosedPositionRecord] = {}
    for record in page:
        key = (record.pos_id, record.c_time)
        if key not in latest or record.u_time > latest[key].u_time:
            latest[key] = record
    if not latest:
        return 0
    now = timezone.now()
    # One transaction for the read and the write: a row the database refuses leaves no half page.
    with transaction.atomic():
        stored = {
            (row.pos_id, row.opened_at): row
            for row in ClosedPosition.objects.filter(
                account=account, pos_id__in={pos_id for pos_id, _ in latest}
            )
        }
        new, changed = [], []
        for key, record in latest.items():
            row = stored.get(key)
            if row is None:
                new.append(_row(record, now, ClosedPosition(account=account)))
            elif record.u_time > row.closed_at:
                changed.append(_row(record, now, row))
        # A concurrent writer cannot be (the refresh holds the account's lock); if one were, its
        # row is the same fact.
        ClosedPosition.objects.bulk_create(new, ignore_conflicts=True)
        ClosedPosition.objects.bulk_update(changed, UPDATED)
    return len(new) + len(changed)


# ClosedPosition's fields -> OKX's row (okxapi ClosedPositionRecord) attribute, as sent.
FIELDS = {
    "pos_id": "pos_id",
    "inst_id": "inst_id",
    "inst_type": "inst_type",
    "mgn_mode": "mgn_mode",
    "pos_side": "pos_side",
    "direction": "direction",
    "close_type": "type",
    "ccy": "ccy",
    "leverage": "lever",
    "open_avg_price": "open_avg_px",
    "close_avg_price": "close_avg_px",
    "trigger_price": "trigger_px",
    "open_max_size": "open_max_pos",
    "closed_size": "close_total_pos",
    "pnl": "pnl",
    "realized_pnl": "realized_pnl",
    "fee": "fee",
    "funding_fee": "funding_fee",
    "liq_penalty": "liq_penalty",
    "opened_at": "c_time",
    "closed_at": "u_time",
}
IDENTITY = ("pos_id", "opened_at")  # a position's identity (OKX's posId, cTime): never updated
# What an update in place changes: all of OKX's row but its identity, and forced_at once.
UPDATED = (*(name for name in FIELDS if name not in IDENTITY), "forced_at")


def _row(record: ClosedPositionRecord, now: datetime, row: ClosedPosition) -> ClosedPosition:
    """`row` (new, or the position as stored) set to OKX's row: amounts as sent, in the margin
    currency `ccy`. `forced_at` is `now` the first time the position is a forced close (a
    liquidation or ADL, FORCED_CLOSES), then kept whatever later types say."""
    for name, value in _fields(record).items():
        setattr(row, name, value)
    if row.forced_at is None and record.type in FORCED_CLOSES:
        row.forced_at = now
    return row


def _fields(record: ClosedPositionRecord) -> dict[str, object]:
    """OKX's row as ClosedPosition's fields (FIELDS)."""
    return {name: getattr(record, attribute) for name, attribute in FIELDS.items()}


def _ms(record: ClosedPositionRecord) -> int:
    """OKX's uTime back in epoch milliseconds, exactly (a float timestamp can be 1 ms off)."""
    return (record.u_time - EPOCH) // MILLISECOND
