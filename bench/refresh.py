"""Refresh speed against OKX's limits: one full refresh cycle with real Celery workers.

    .venv/bin/python -m dashboard.runtime.launcher run --
        .venv/bin/python -m bench.refresh [--sizes 10,100,500] [--keyless 100,1000] [--workers 1]

For each worker setup (1 worker, then 4 workers, each with make demo's pool concurrency) and each
case (N sub-accounts with their own keys plus a master; N keyless sub-accounts read through the
master), one cycle is enqueued the way refresh_all does it (refresh_plan(), same countdowns and
expiry) and timed until every account has its snapshot. Keyless sub-accounts too many for one
beat (`--keyless 1000`: 1,000 x 0.383 s > 60 s) are read round-robin over several beats instead,
sent every interval as refresh_all does, until each sub-account of the first beat was read twice:
the achieved per-account interval against OKX's pace, and the planned reads that never ran. The
simulator answers each request after 80 ms +/- 20 ms (60 ms + uniform(0, 40) ms) and enforces
OKX's published limits.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from dataclasses import dataclass

from bench import harness
from bench.bounds import VIA_MASTER_CALLS, Bound, own_keys_bound, via_master_bound

LATENCY_MS = (60.0, 40.0)  # fixed + uniform(0, jitter): 80 ms +/- 20 ms
MEAN_LATENCY_S = (LATENCY_MS[0] + LATENCY_MS[1] / 2) / 1000
CYCLE_TIMEOUT_S = 240.0  # a guard against a stuck run, not an expectation
_cycles = itertools.count(1_000)


@dataclass
class Result:
    setup: str
    case: str
    accounts: int
    wall_s: float | None
    requests: int
    rejected: int
    failures: int
    bound: Bound

    def row(self) -> list[object]:
        wall = "did not finish" if self.wall_s is None else f"{self.wall_s:.1f} s"
        ratio = "-" if self.wall_s is None else f"{self.wall_s / self.bound.seconds:.2f}"
        return [
            self.setup, self.case, self.accounts, wall, self.requests, self.rejected,
            self.failures, f"{self.bound.seconds:.1f} s ({self.bound.why})", ratio,
        ]  # fmt: skip


HEADERS = [
    "workers", "case", "accounts", "cycle wall time", "requests", "50011",
    "failed refreshes", "lower bound", "measured / bound",
]  # fmt: skip


def sim_totals(sim) -> tuple[int, int]:
    stats = sim.stats().values()
    return sum(row["calls"] for row in stats), sum(row["rejected"] for row in stats)


def run_cycle(queue: str, expected: int, timeout_s: float = CYCLE_TIMEOUT_S) -> float | None:
    """Enqueue one cycle as refresh_all does; seconds until every snapshot of it is stored (None:
    not within timeout_s)."""
    from snapshots.models import Snapshot
    from snapshots.pacing import refresh_plan
    from snapshots.tasks import send_plan

    cycle = next(_cycles)
    started = time.monotonic()
    plan = refresh_plan()
    assert len(plan) == expected, (len(plan), expected)
    send_plan(plan, cycle, queue=queue)
    done = harness.wait_until(lambda: Snapshot.objects.filter(cycle=cycle).count() >= expected, timeout_s)
    return time.monotonic() - started if done else None


def measure(workers: harness.Workers, setup: str, n: int, own_keys: bool, *, record: bool = True):
    from accounts.history import ApiError
    from bench.accounts import create_accounts
    from okxsim import Scenario, Simulator

    sim = Simulator(Scenario.generate(n, own_keys=own_keys), latency_ms=LATENCY_MS).start()
    try:
        ids = create_accounts(sim.scenario, sim.url, prefix=f"{setup}-{n}-{own_keys}", own_keys=own_keys)
        errors_before = ApiError.objects.count()
        wall = run_cycle(workers.queue, len(ids))
        requests, rejected = sim_totals(sim)
    finally:
        sim.stop()
    concurrency = workers.count * workers.concurrency
    bound = (own_keys_bound if own_keys else via_master_bound)(n, MEAN_LATENCY_S, concurrency)
    case = f"{n} subs, own keys" if own_keys else f"{n} subs via master key"
    failures = ApiError.objects.count() - errors_before
    result = Result(setup, case, len(ids), wall, requests, rejected, failures, bound)
    if record:
        print(harness.table(HEADERS, [result.row()]).splitlines()[-1], flush=True)
    return result


ROUND_HEADERS = [
    "workers", "case", "beats", "planned reads", "per-account interval: planned", "achieved (median)",
    "achieved (max)", "bound", "achieved / bound", "50011", "expired or failed",
]  # fmt: skip


@dataclass
class RoundRobin:
    """Keyless sub-accounts read round-robin through one master over several beats."""

    setup: str
    subaccounts: int
    beats: int
    planned: int
    computed_s: float  # snapshots.pacing.through_master_interval
    gaps_s: list[float]  # between two snapshots of one sub-account
    rejected: int
    unrun: int  # planned reads whose snapshot never came (expired unrun, or failed)

    @property
    def bound_s(self) -> float:
        """OKX's own pace: N reads on each master-only endpoint at 6 per 2 s."""
        from okxapi import ENDPOINT_LIMITS

        limit = ENDPOINT_LIMITS[VIA_MASTER_CALLS[0]]
        return self.subaccounts * limit.seconds / limit.count

    def row(self) -> list[object]:
        median = statistics.median(self.gaps_s) if self.gaps_s else None
        biggest = max(self.gaps_s) if self.gaps_s else None
        shown = [f"{g:.0f} s" if g is not None else "-" for g in (median, biggest)]
        ratio = f"{median / self.bound_s:.2f}" if median else "-"
        return [
            self.setup, f"{self.subaccounts} subs via master key", self.beats, self.planned,
            f"{self.computed_s:.0f} s", *shown, f"{self.bound_s:.0f} s", ratio, self.rejected, self.unrun,
        ]  # fmt: skip


def run_beats(queue: str, span_s: float) -> tuple[int, list[tuple[int, int]]]:
    """Beats every REFRESH_INTERVAL_SECONDS as beat sends refresh_all, for `span_s` seconds:
    (beats, the planned reads as (account id, cycle)); returns once each has its snapshot or
    has expired."""
    from django.conf import settings

    from snapshots.models import Snapshot
    from snapshots.pacing import refresh_plan
    from snapshots.tasks import send_plan

    interval = settings.REFRESH_INTERVAL_SECONDS
    first, planned, last_expiry, beats = time.time(), [], 0.0, 0
    while beats * interval < span_s:
        time.sleep(max(0.0, first + beats * interval - time.time()))
        now, cycle = time.time(), next(_cycles)
        plan = refresh_plan(now)
        send_plan(plan, cycle, queue=queue)
        planned += [(task.account_id, cycle) for task in plan]
        last_expiry = max(last_expiry, now + max(task.expires for task in plan))
        beats += 1
    cycles = {cycle for _, cycle in planned}
    stored = Snapshot.objects.filter(cycle__in=cycles)
    harness.wait_until(lambda: stored.count() >= len(planned), last_expiry - time.time(), poll=0.5)
    return beats, planned


def measure_round_robin(workers: harness.Workers, setup: str, n: int) -> RoundRobin:
    """N keyless sub-accounts, more than the master's budget reads in one interval: beats until
    every sub-account planned in the first beat was read twice; the gaps between two snapshots
    of each sub-account, against OKX's own pace and snapshots.pacing's computed interval."""
    from django.conf import settings

    from bench.accounts import create_accounts
    from okxsim import Scenario, Simulator
    from snapshots.models import Snapshot
    from snapshots.pacing import through_master_interval

    sim = Simulator(Scenario.generate(n, own_keys=False), latency_ms=LATENCY_MS).start()
    try:
        master, *subs = create_accounts(sim.scenario, sim.url, prefix=f"{setup}-{n}-rr", own_keys=False)
        computed = through_master_interval(master).total_seconds()
        beats, planned = run_beats(workers.queue, computed + settings.REFRESH_INTERVAL_SECONDS)
        _, rejected = sim_totals(sim)
    finally:
        sim.stop()
    taken: dict[int, list[float]] = {}
    rows = (
        Snapshot.objects.filter(account_id__in=subs)
        .order_by("taken_at")
        .values_list("account_id", "taken_at")
    )
    for pk, at in rows:
        taken.setdefault(pk, []).append(at.timestamp())
    gaps = [b - a for times in taken.values() for a, b in itertools.pairwise(times)]
    stored = set(Snapshot.objects.filter(account_id__in=[master, *subs]).values_list("account_id", "cycle"))
    unrun = sum(1 for read in planned if read not in stored)
    result = RoundRobin(setup, n, beats, len(planned), computed, gaps, rejected, unrun)
    print(harness.table(ROUND_HEADERS, [result.row()]).splitlines()[-1], flush=True)
    return result


LEDGER_HEADERS = ["workers", "case", "ledger syncs", "ledger run", "extra requests", "50011", "wall time"]


def run_ledger(queue: str, sim) -> tuple[int, int, float | None]:
    """One ledger run as ledger.tasks.sync_all enqueues it (its accounts; countdowns dropped, the
    limiter still paces them): (requests, 50011 answers, seconds until every sync stored)."""
    from django.conf import settings
    from django.utils import timezone

    from ledger.models import LedgerSync
    from ledger.tasks import ledger_accounts, sync_ledger

    ids = ledger_accounts()
    started_at, started = timezone.now(), time.monotonic()
    before = sim_totals(sim)
    for account_id in ids:
        sync_ledger.apply_async((account_id,), expires=settings.REFRESH_INTERVAL_SECONDS - 1, queue=queue)
    synced = LedgerSync.objects.filter(account_id__in=ids, last_synced_at__gte=started_at)
    done = harness.wait_until(lambda: synced.count() >= len(ids), CYCLE_TIMEOUT_S)
    after = sim_totals(sim)
    return after[0] - before[0], after[1] - before[1], (time.monotonic() - started if done else None)


def measure_ledger(workers: harness.Workers, setup: str, n: int) -> list[list[object]]:
    """Issue 19, decision 8: with the ledger on, what a refresh cycle costs besides the refresh,
    for N keyless sub-accounts through one master (only the master's key is read: its
    sub-account transfer history covers them all). The first run also backfills (a few older
    pages per source); the second is a cycle's steady cost."""
    from bench.accounts import create_accounts
    from okxsim import Scenario, Simulator

    sim = Simulator(Scenario.generate(n, own_keys=False), latency_ms=LATENCY_MS).start()
    rows = []
    try:
        create_accounts(sim.scenario, sim.url, prefix=f"{setup}-{n}-ledger", own_keys=False)
        run_cycle(workers.queue, n + 1)
        for label in ("first (backfill)", "second (a cycle)"):
            requests, rejected, wall = run_ledger(workers.queue, sim)
            shown = "did not finish" if wall is None else f"{wall:.1f} s"
            rows.append([setup, f"{n} subs via master key", 1, label, requests, rejected, shown])
            print(harness.table(LEDGER_HEADERS, [rows[-1]]).splitlines()[-1], flush=True)
    finally:
        sim.stop()
    return rows


HISTORY_PATH = "/api/v5/account/positions-history"
HISTORY_HEADERS = [
    "workers", "case", "cycle", "positions-history requests", "per account", "all requests",
    "50011", "closed positions stored", "cycle wall time",
]  # fmt: skip


def with_history(scenario, closes: int):
    """The scenario with `closes` past full closes on every account, one a minute (okxsim's
    PastClose: the positions history only, no balance moves)."""
    from dataclasses import replace

    from okxsim.scenario import PastClose

    past = [
        PastClose(
            instId="BTC-USDT-SWAP", type="2", pos="1", avgPx="64000", posId=f"8{i:06d}", closed=f"-{i}m"
        )
        for i in range(1, closes + 1)
    ]
    return replace(scenario, accounts=[replace(a, closed_positions=past) for a in scenario.accounts])


def measure_history(workers: harness.Workers, setup: str, n: int, closes: int) -> list[list[object]]:
    """Issue 20: what the positions-history read adds to a refresh cycle, for a master and N
    sub-accounts with their own keys, each with `closes` closed positions in its 3 months: the
    first cycle backfills (up to snapshots.history.PAGES_PER_RUN pages per account), the second
    is a cycle's steady cost (one request per account when nothing is new)."""
    from bench.accounts import create_accounts
    from okxsim import Scenario, Simulator
    from snapshots.models import ClosedPosition

    scenario = with_history(Scenario.generate(n, own_keys=True), closes)
    sim = Simulator(scenario, latency_ms=LATENCY_MS).start()
    rows = []
    try:
        ids = create_accounts(sim.scenario, sim.url, prefix=f"{setup}-{n}-history", own_keys=True)
        for label in ("first (backfill)", "second (a cycle)"):
            sim.reset_stats()
            wall = run_cycle(workers.queue, len(ids))
            history = sum(row["calls"] for (path, _), row in sim.stats().items() if path == HISTORY_PATH)
            requests, rejected = sim_totals(sim)
            stored = ClosedPosition.objects.filter(account_id__in=ids).count()
            shown = "did not finish" if wall is None else f"{wall:.1f} s"
            case = f"{n} subs, own keys, {closes} closes each"
            per = f"{history / len(ids):.2f}"
            rows.append([setup, case, label, history, per, requests, rejected, stored, shown])
            print(harness.table(HISTORY_HEADERS, [rows[-1]]).splitlines()[-1], flush=True)
    finally:
        sim.stop()
    return rows


def run(
    sizes: list[int],
    keyless: list[int],
    worker_counts: list[int],
    concurrency: int,
    history_sizes: list[int] | None = None,
    closes: int = 150,
) -> tuple[list[Result], list[list[object]], list[RoundRobin], list[list[object]]]:
    from django.conf import settings

    from snapshots.pacing import round_robin_interval

    results, ledger, rounds, history = [], [], [], []
    for count in worker_counts:
        setup = f"{count} x -c {concurrency}"
        with harness.Workers(count, concurrency) as workers:
            # Warm-up, not recorded: every pool process starts Django and learns OKX's clock once
            # (a /public/time call, 10 per 2 s per IP), as a long-running worker already has.
            measure(workers, setup, 4 * count * concurrency, True, record=False)
            for n in sizes:
                results.append(measure(workers, setup, n, True))
            for n in keyless:
                if round_robin_interval(n) > settings.REFRESH_INTERVAL_SECONDS:
                    rounds.append(measure_round_robin(workers, setup, n))  # more than a beat reads
                    continue
                results.append(measure(workers, setup, n, False))
                ledger.extend(measure_ledger(workers, setup, n))
            for n in history_sizes or []:
                history.extend(measure_history(workers, setup, n, closes))
    return results, ledger, rounds, history


def report(
    results: list[Result],
    ledger: list[list[object]],
    rounds: list[RoundRobin],
    history: list[list[object]],
    database: str,
    concurrency: int,
    started: float,
) -> str:
    round_robin = [
        "More keyless sub-accounts than the master's budget reads in one interval: read round-robin, "
        "beat after beat (`snapshots.pacing`). Per-account interval: the time between two snapshots "
        "of one sub-account; planned = `through_master_interval()` (our limiter's padded pace); "
        "bound = N reads on each master-only endpoint at 6 per 2 s; expired or failed = planned "
        "reads that never stored a snapshot.",
        harness.table(ROUND_HEADERS, [r.row() for r in rounds]),
    ]
    return "\n\n".join(
        [
            f"## Refresh: one full cycle against OKX's limits ({database})",
            harness.header(database),
            f"Per worker: `celery worker -c {concurrency}` (prefork; make demo's DEMO_WORKER_CONCURRENCY). "
            f"Latency {LATENCY_MS[0]:.0f} ms + uniform(0, {LATENCY_MS[1]:.0f}) ms per request "
            f"(mean {MEAN_LATENCY_S * 1000:.0f} ms, used in the bound); OKX's published limits on.",
            harness.table(HEADERS, [r.row() for r in results]),
            *(round_robin if rounds else []),
            "With the ledger on (`ledger.tasks.sync_all` each cycle): the requests it adds and the "
            "simulator's 50011 answers while it runs.",
            harness.table(LEDGER_HEADERS, ledger),
            "The positions history (`snapshots/history.py`, read by each own-key refresh): the "
            "requests it adds in an account's first cycle (its 3-month backfill) and in the next, "
            "with the simulator's 50011 answers over the whole cycle.",
            harness.table(HISTORY_HEADERS, history),
            f"Run time of this benchmark: {time.monotonic() - started:.0f} s.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="10,100,500", help="sub-accounts with own keys, comma-separated")
    parser.add_argument(
        "--keyless",
        default="100,1000",
        help="keyless sub-accounts through one master, comma-separated (0 = skip); more than a beat "
        "reads (157 at 60 s) are measured over several beats, round-robin",
    )
    parser.add_argument("--workers", default="1,4", help="worker process counts, comma-separated")
    parser.add_argument(
        "--history",
        default="100",
        help="sub-accounts with own keys whose positions history is read over two cycles (0 = skip)",
    )
    parser.add_argument("--closes", type=int, default=150, help="closed positions per account (--history)")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    started = time.monotonic()
    database = harness.setup_django("refresh")
    from dashboard.runtime.demo import WORKER_CONCURRENCY

    sizes = [int(s) for s in args.sizes.split(",") if s]
    worker_counts = [int(w) for w in args.workers.split(",") if w]
    print(harness.table(HEADERS, []), flush=True)
    keyless = [int(n) for n in args.keyless.split(",") if int(n or 0)]
    history_sizes = [int(n) for n in args.history.split(",") if int(n or 0)]
    results, ledger, rounds, history = run(
        sizes, keyless, worker_counts, WORKER_CONCURRENCY, history_sizes, args.closes
    )
    text = report(results, ledger, rounds, history, database, WORKER_CONCURRENCY, started)
    print(text)
    if not args.no_docs:
        harness.write_section("refresh-" + ("postgresql" if "PostgreSQL" in database else "sqlite"), text)


if __name__ == "__main__":
    main()
