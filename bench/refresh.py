"""Refresh speed against OKX's limits: one full refresh cycle with real Celery workers.

    .venv/bin/python -m dashboard.runtime.launcher run --
        .venv/bin/python -m bench.refresh [--sizes 10,100,500]

For each worker setup (1 worker, then 4 workers, each with make demo's pool concurrency) and each
case (N sub-accounts with their own keys plus a master; N keyless sub-accounts read through the
master), one cycle is enqueued the way refresh_all does it (refresh_plan(), same countdowns and
expiry) and timed until every account has its snapshot. The simulator answers each request after
80 ms +/- 20 ms (60 ms + uniform(0, 40) ms) and enforces OKX's published limits.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass

from bench import harness
from bench.bounds import Bound, own_keys_bound, via_master_bound

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


def run_cycle(queue: str, expected: int) -> float | None:
    """Enqueue one cycle as refresh_all does; seconds until every snapshot of it is stored."""
    from django.conf import settings

    from snapshots.models import Snapshot
    from snapshots.tasks import refresh_account, refresh_plan

    cycle = next(_cycles)
    started = time.monotonic()
    plan = refresh_plan()
    assert len(plan) == expected, (len(plan), expected)
    for account_id, countdown in plan:
        refresh_account.apply_async(
            (account_id, cycle),
            countdown=countdown,
            expires=settings.REFRESH_INTERVAL_SECONDS - 1,
            queue=queue,
        )
    done = harness.wait_until(
        lambda: Snapshot.objects.filter(cycle=cycle).count() >= expected, CYCLE_TIMEOUT_S
    )
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


def run(
    sizes: list[int], keyless: int, worker_counts: list[int], concurrency: int
) -> tuple[list[Result], list[list[object]]]:
    results, ledger = [], []
    for count in worker_counts:
        setup = f"{count} x -c {concurrency}"
        with harness.Workers(count, concurrency) as workers:
            # Warm-up, not recorded: every pool process starts Django and learns OKX's clock once
            # (a /public/time call, 10 per 2 s per IP), as a long-running worker already has.
            measure(workers, setup, 4 * count * concurrency, True, record=False)
            for n in sizes:
                results.append(measure(workers, setup, n, True))
            if keyless:
                results.append(measure(workers, setup, keyless, False))
                ledger.extend(measure_ledger(workers, setup, keyless))
    return results, ledger


def report(
    results: list[Result], ledger: list[list[object]], database: str, concurrency: int, started: float
) -> str:
    return "\n\n".join(
        [
            "## Refresh: one full cycle against OKX's limits",
            harness.header(database),
            f"Per worker: `celery worker -c {concurrency}` (prefork; make demo's DEMO_WORKER_CONCURRENCY). "
            f"Latency {LATENCY_MS[0]:.0f} ms + uniform(0, {LATENCY_MS[1]:.0f}) ms per request "
            f"(mean {MEAN_LATENCY_S * 1000:.0f} ms, used in the bound); OKX's published limits on.",
            harness.table(HEADERS, [r.row() for r in results]),
            "With the ledger on (`ledger.tasks.sync_all` each cycle): the requests it adds and the "
            "simulator's 50011 answers while it runs.",
            harness.table(LEDGER_HEADERS, ledger),
            f"Run time of this benchmark: {time.monotonic() - started:.0f} s.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="10,100,500", help="sub-accounts with own keys, comma-separated")
    parser.add_argument("--keyless", type=int, default=100, help="keyless sub-accounts (0 = skip)")
    parser.add_argument("--workers", default="1,4", help="worker process counts, comma-separated")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    started = time.monotonic()
    database = harness.setup_django("refresh")
    from dashboard.runtime.demo import WORKER_CONCURRENCY

    sizes = [int(s) for s in args.sizes.split(",") if s]
    worker_counts = [int(w) for w in args.workers.split(",") if w]
    print(harness.table(HEADERS, []), flush=True)
    results, ledger = run(sizes, args.keyless, worker_counts, WORKER_CONCURRENCY)
    text = report(results, ledger, database, WORKER_CONCURRENCY, started)
    print(text)
    if not args.no_docs:
        harness.write_section("refresh", text)


if __name__ == "__main__":
    main()
