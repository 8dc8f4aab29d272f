"""How often each account can be read, and what each beat of refresh_all sends.

Own-key accounts are read every beat (REFRESH_INTERVAL_SECONDS). A sub-account without a key of
its own is read through its master's key, on two endpoints OKX limits per master UID
(GET /api/v5/account/subaccount/balances and GET /api/v5/asset/subaccount/balances, 6 requests per
2 s each: okx-reference.md section 2.8-2.9 and the limits table of section 2). However many such
sub-accounts a master has, they are read round-robin at that budget, without a pause between
beats: each beat plans, per master, only the reads its budget allows before the next beat, after
the last one the previous beat planned (a cursor per master in Redis). So every task sent can run
before it expires, and a master with 1,000 keyless sub-accounts reads each of them every
1,000 x master_pace() seconds instead of letting most of a cycle's tasks expire unrun.

Pure planning: reads the accounts and the cursors, sends nothing (snapshots.tasks sends).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db.models import OuterRef, Subquery

from accounts.health import HealthStatus
from accounts.models import Account, Credential, CredentialStatus
from accounts.okx import shared_connection
from okxapi import ENDPOINT_LIMITS
from snapshots import refresh
from snapshots.models import Snapshot

CURSOR_PREFIX = "okxdash:refresh:cursor:"
# A cursor nobody moved for this long belongs to a master that is gone (or a dashboard that was
# stopped): it lapses, and the next plan resumes from the snapshots (_last_read).
CURSOR_TTL_SECONDS = 7 * 24 * 3600


class Planned(NamedTuple):
    """One refresh_account task of a beat's plan."""

    account_id: int
    countdown: float  # seconds from the plan until the task is due
    expires: float  # seconds from the plan until an unstarted task is dropped: countdown + interval - 1


def master_pace() -> float:
    """Seconds between two sub-accounts read through one master: each of their calls (refresh.
    VIA_MASTER_PATHS) is limited per master UID, 6 per 2 s at OKX, 6 per 2 s plus the padding
    the shared limiter enforces now (okxapi/ratelimit.py: the spread it learned from OKX's
    answers, 2.05 s on the benchmarks' simulator; 2.3 s before it learned anything, so one
    read every 0.383 s). Planning at the limiter's own pace keeps every task's wait for budget
    short, and the plan follows the padding as it widens after a 50011 and relaxes."""
    limiter = shared_connection().limiter
    limits = {path: ENDPOINT_LIMITS[path] for path in refresh.VIA_MASTER_PATHS}
    return max(limiter.window(path, limit) / limit.count for path, limit in limits.items())


def round_robin_interval(subaccounts: int, pace: float | None = None) -> float:
    """Seconds between two reads of each of `subaccounts` keyless sub-accounts read through one
    master: the refresh interval, or `subaccounts` x `pace` (master_pace() unless given) when
    the master's budget cannot read them all within it (1,000 at OKX's 6 per 2 s: 333 s; with
    the cold padding 383 s)."""
    pace = master_pace() if pace is None else pace
    return max(float(settings.REFRESH_INTERVAL_SECONDS), subaccounts * pace)


def split_accounts(rows: Iterable[tuple[int, int | None, bool]]) -> tuple[list[int], dict[int, list[int]]]:
    """(own, through) from rows (account id, master id or None, has an active key of its own):
    own, the ids read with their own key (a master's too: a master without a key is refused when
    its refresh runs); through, {master id: its keyless sub-account ids in ascending order, the
    round-robin's ring}."""
    own: list[int] = []
    through: dict[int, list[int]] = {}
    for pk, master_id, keyed in sorted(rows):
        if master_id and not keyed:
            through.setdefault(master_id, []).append(pk)
        else:
            own.append(pk)
    return own, through


def active_accounts() -> tuple[list[int], dict[int, list[int]]]:
    """split_accounts() of the active accounts (two queries)."""
    keyed = set(
        Credential.objects.filter(status=CredentialStatus.ACTIVE).values_list("account_id", flat=True)
    )
    rows = Account.objects.filter(active=True).values_list("pk", "master_id")
    return split_accounts((pk, master_id, pk in keyed) for pk, master_id in rows)


def read_intervals(through: dict[int, list[int]] | None = None) -> dict[int, float]:
    """{keyless sub-account id: seconds between two of its reads (round_robin_interval)} for every
    sub-account read through a master; an account not in it is read every refresh interval.
    `through` as split_accounts() returns it; read from the database (two queries) when None."""
    through = active_accounts()[1] if through is None else through
    pace = master_pace()
    return {pk: round_robin_interval(len(ids), pace) for ids in through.values() for pk in ids}


def through_master_interval(master_id: int) -> timedelta:
    """How often each keyless sub-account of this master is read ("through this key each
    sub-account is read every 6 min 23 s"); the refresh interval when it has none, or few."""
    return timedelta(seconds=round_robin_interval(len(active_accounts()[1].get(master_id, []))))


def refresh_plan(now: float | None = None) -> list[Planned]:
    """The tasks of the beat at `now` (epoch seconds; default: the clock):
    1. Each account with its own key (a master's too), due at once, the stalest first (never
       read, then the oldest newest snapshot; failing keys last: stalest_first): when the
       workers cannot refresh every account
       within the interval, the tasks left at its end expire (and are counted: the "expired"
       refresh outcome of /metrics), and those accounts are first in the next beat instead of
       last again, so none is starved.
    2. Per master, its keyless sub-accounts in ring order after its cursor, one every
       master_pace() from where the previous beat's reads ended (or now), as many as are due
       before the next beat (now + interval) and at most each once; the cursor moves past them.
    Each task expires one interval (less a second) after it is due, as refresh_all's tasks always
    did: a stalled worker builds no backlog, and each task planned has that long to start.
    Raises redis.RedisError when Redis (the cursors, and the broker too) does not answer."""
    now = time.time() if now is None else now
    interval = settings.REFRESH_INTERVAL_SECONDS
    own, through = active_accounts()
    plan = [Planned(pk, 0.0, interval - 1.0) for pk in stalest_first(own)]
    for master_id, ring in through.items():
        plan.extend(_master_plan(master_id, ring, now, interval))
    return plan


def stalest_first(ids: list[int]) -> list[int]:
    """Active accounts' `ids` ordered by their newest snapshot, oldest first, accounts never read
    before all (ties by id); accounts whose active key is failing or in its grace period come
    after every other: a failed refresh stores no snapshot, so by age alone a key that keeps
    failing (with its retries) would be first every beat and could crowd out healthy accounts.
    Two queries: the failing keys, and each active account's newest snapshot found through its
    (account, taken_at) index."""
    troubled = set(
        Credential.objects.filter(
            status=CredentialStatus.ACTIVE, health_status__in=(HealthStatus.FAILING, HealthStatus.GRACE)
        ).values_list("account_id", flat=True)
    )
    newest = Snapshot.objects.filter(account=OuterRef("pk")).order_by("-taken_at").values("taken_at")[:1]
    rows = Account.objects.filter(active=True).annotate(newest=Subquery(newest)).values_list("pk", "newest")
    found = dict(rows)
    never = datetime.min.replace(tzinfo=UTC)
    return sorted(ids, key=lambda pk: (pk in troubled, found.get(pk) or never, pk))


def _master_plan(master_id: int, ring: list[int], now: float, interval: int) -> list[Planned]:
    key = f"{CURSOR_PREFIX}{master_id}"
    # The process's Redis pool, the one the refresh's locks use.
    cursor = refresh._redis().hgetall(key)  # {b"after": account id, b"next_at": epoch seconds}
    after = int(cursor[b"after"]) if cursor else _last_read(ring)
    next_at = float(cursor.get(b"next_at", 0))
    # A cursor further ahead than a beat could have planned means the clock went back: start anew.
    start = max(now, next_at) if next_at <= now + 2 * interval else now
    pace = master_pace()
    count = min(len(ring), max(0, math.ceil((now + interval - start) / pace)))
    if not count:
        return []
    # The ring's ids ascend: the next is the first above the cursor, so a sub-account added or
    # removed since joins or leaves the round where its id falls.
    first = bisect.bisect_right(ring, after) % len(ring)
    chosen = (ring[first:] + ring[:first])[:count]
    planned = [
        Planned(pk, round(start + i * pace - now, 3), round(start + i * pace - now + interval - 1, 3))
        for i, pk in enumerate(chosen)
    ]
    with refresh._redis().pipeline() as pipe:
        pipe.hset(key, mapping={"after": chosen[-1], "next_at": repr(start + count * pace)})
        pipe.expire(key, CURSOR_TTL_SECONDS)
        pipe.execute()
    return planned


def _last_read(ring: list[int]) -> int:
    """Without a cursor (Redis lost it, or a master's first plan): the sub-account read last
    (newest snapshot) of the ring, so the round resumes after it; -1 (the start) if none was."""
    newest = Snapshot.objects.filter(account_id__in=ring).order_by("-taken_at").values_list("account_id")
    row = newest.first()
    return -1 if row is None else row[0]


class OwnKeyGain(NamedTuple):
    """A keyless sub-account and what a read-only key of its own would give it: a read every
    refresh interval instead of every `read_every_s` through its master, and its positions,
    unrealised PnL, risk and closed positions, which the master's key cannot read."""

    account: Account
    equity_usd: Decimal | None  # its latest snapshot's total equity (USD); None when never read
    read_every_s: float  # now, round-robin through its master (round_robin_interval)
    own_key_every_s: float  # with a key of its own: REFRESH_INTERVAL_SECONDS


def own_key_candidates() -> list[OwnKeyGain]:
    """Every active sub-account read through its master, those that would gain most from a key
    of their own first: the most equity (the money whose positions and risk nobody sees), then
    the longest read interval; never-read accounts last. Three queries."""
    through = active_accounts()[1]
    ids = [pk for ring in through.values() for pk in ring]
    latest = (
        Snapshot.objects.filter(account=OuterRef("pk")).order_by("-taken_at").values("total_equity_usd")[:1]
    )
    accounts = Account.objects.filter(pk__in=ids).annotate(equity=Subquery(latest)).order_by("name")
    interval = float(settings.REFRESH_INTERVAL_SECONDS)
    every = read_intervals(through)
    gains = [OwnKeyGain(a, a.equity, every[a.pk], interval) for a in accounts]
    return sorted(gains, key=lambda g: (g.equity_usd is None, -(g.equity_usd or 0), -g.read_every_s))
