"""Shared key under load: 4 processes read 60 sub-accounts' balances through one master key.

    .venv/bin/python -m dashboard.runtime.launcher run -- .venv/bin/python -m bench.shared_key

Same simulator, same run, two clients one after the other:
1. the product's okxapi.Client, every process sharing one RedisLimiter (one budget per UID);
2. ccxt with its own rate limiter (enableRateLimit=True, one ccxt.okx per process, as users run
   it today); a 50011 is retried on the same sub-account, after ccxt's own throttle.
Each process reads its 15 sub-accounts' trading and funding balances (the two master-only
endpoints, 6 requests per 2 s per master UID). Latency 80 ms +/- 20 ms, OKX's limits on.
--clock-offset-ms sets the simulator's clock apart from ours and --latency-ms its latency
(fixed,jitter: fixed + uniform(0, jitter) ms); the simulator's busiest-window counter
(max_window) shows the true peak it saw inside one of its windows.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing as mp
import os
import time
import uuid

from bench import harness
from bench.bounds import VIA_MASTER_CALLS, window_bound
from bench.refresh import LATENCY_MS
from okxapi import ENDPOINT_LIMITS

PROCESSES = 4
SUBACCOUNTS = 60
MAX_TRIES = 50  # per call, so a client that never gets through still ends


def product_reader(base_url: str, key: dict, uid: str, names: list[str], prefix: str) -> tuple[int, int]:
    import redis

    from okxapi import Client, Connection, OkxError, RedisLimiter

    limiter = RedisLimiter(redis.Redis.from_url(os.environ["REDIS_URL"]), prefix=prefix)
    connection = Connection(limiter, rate_limit_timeout=120)
    ok = failed = 0
    with Client(**key, base_url=base_url, uid=uid, connection=connection) as client:
        for name in names:
            try:
                client.get_subaccount_balance(name)
                client.get_subaccount_funding_balances(name)
                ok += 1
            except OkxError:
                failed += 1
    return ok, failed


def ccxt_reader(base_url: str, key: dict, uid: str, names: list[str], prefix: str) -> tuple[int, int]:
    import ccxt

    exchange = ccxt.okx(
        {
            "apiKey": key["api_key"],
            "secret": key["secret_key"],
            "password": key["passphrase"],
            "enableRateLimit": True,
        }
    )
    exchange.urls["api"] = {"rest": base_url}
    calls = (exchange.privateGetAccountSubaccountBalances, exchange.privateGetAssetSubaccountBalances)
    ok = failed = 0
    for name in names:
        done = all(_ccxt_call(call, name) for call in calls)
        ok, failed = ok + done, failed + (not done)
    return ok, failed


def _ccxt_call(call, name: str) -> bool:
    import ccxt

    for _ in range(MAX_TRIES):
        try:
            call({"subAcct": name})
            return True
        except ccxt.RateLimitExceeded:
            continue  # ccxt's throttle spaces the retry
    return False


READERS = {"product": product_reader, "ccxt": ccxt_reader}
LIBRARIES = {"product": ("redis", "okxapi"), "ccxt": ("ccxt",)}


def _process(kind: str, args: tuple, barrier, results) -> None:
    for library in LIBRARIES[kind]:  # imported before the start line: not what is measured
        importlib.import_module(library)
    barrier.wait()
    started = time.monotonic()
    ok, failed = READERS[kind](*args)
    results.put((ok, failed, time.monotonic() - started))


def run_client(kind: str, sim, prefix: str) -> dict[str, object]:
    scenario = sim.scenario
    master = scenario.keys_of("master")[0]
    key = {"api_key": master.api_key, "secret_key": master.secret_key, "passphrase": master.passphrase}
    names = [sub.name for sub in scenario.subaccounts]
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES + 1), ctx.Queue()
    sim.reset_stats()  # each client's own counts and peak
    processes = [
        ctx.Process(
            target=_process,
            args=(kind, (sim.url, key, scenario.master.uid, names[i::PROCESSES], prefix), barrier, results),
        )
        for i in range(PROCESSES)
    ]
    for p in processes:
        p.start()
    barrier.wait()
    started = time.monotonic()
    outcomes = [results.get(timeout=600) for _ in processes]
    wall = time.monotonic() - started
    for p in processes:
        p.join()
    totals = {"ok": sum(o[0] for o in outcomes), "failed": sum(o[1] for o in outcomes)}
    return {"kind": kind, "wall": wall, **totals, **_counts(sim.stats()), "padding": _padding(kind, prefix)}


def _padding(kind: str, prefix: str) -> str:
    """What the product's limiter learned to add to OKX's 2 s (okxapi/ratelimit.py)."""
    if kind != "product":
        return "-"
    import redis

    from okxapi import RedisLimiter

    limiter = RedisLimiter(redis.Redis.from_url(os.environ["REDIS_URL"]), prefix=prefix)
    limits = {path: ENDPOINT_LIMITS[path] for path in VIA_MASTER_CALLS}
    return f"{max(limiter.window(p, limit) - limit.seconds for p, limit in limits.items()) * 1000:.0f} ms"


def _counts(stats: dict) -> dict[str, int]:
    rows = [v for k, v in stats.items() if k[0] in VIA_MASTER_CALLS]
    return {
        "requests": sum(v["calls"] for v in rows),
        "rejected": sum(v["rejected"] for v in rows),
        "peak": max((v["max_window"] for v in rows), default=0),
    }


HEADERS = [
    "client", "sub-accounts read", "requests sent", "50011 responses", "busiest 2 s window",
    "completion time", "measured / bound", "gave up", "learned padding",
]  # fmt: skip
LABELS = {
    "product": "okxapi.Client + shared RedisLimiter",
    "ccxt": "ccxt 4.5.90, enableRateLimit=True (per process)",
}


def _row(r: dict, bound: float, count: int) -> list[object]:
    wall = float(r["wall"])
    peak = f"{r['peak']} (limit {count})"
    return [
        LABELS[r["kind"]],
        r["ok"],
        r["requests"],
        r["rejected"],
        peak,
        f"{wall:.1f} s",
        f"{wall / bound:.2f}",
        r["failed"],
        r["padding"],
    ]


def report(
    rows: list[dict[str, object]], started: float, latency_ms: tuple[float, float], offset_ms: int
) -> str:
    mean_latency_s = (latency_ms[0] + latency_ms[1] / 2) / 1000
    limit = ENDPOINT_LIMITS[VIA_MASTER_CALLS[0]]
    bound = max(window_bound(SUBACCOUNTS, ENDPOINT_LIMITS[p], mean_latency_s) for p in VIA_MASTER_CALLS)
    body = [_row(r, bound, limit.count) for r in rows]
    clock = f"; the simulator's clock {offset_ms:+d} ms from ours" if offset_ms else ""
    return "\n\n".join(
        [
            "## Shared key under load: the product's limiter and ccxt's, side by side",
            harness.header("no database"),
            f"{PROCESSES} processes read {SUBACCOUNTS} sub-accounts' trading and funding balances "
            f"({2 * SUBACCOUNTS} requests) through one master key; latency {latency_ms[0]:.0f} ms + "
            f"uniform(0, {latency_ms[1]:.0f}) ms{clock}, OKX's limits on (6 requests per 2 s per endpoint "
            f"per UID). The fastest OKX allows: {bound:.1f} s. A 50011 is retried by both clients. "
            "Busiest window: the most requests the simulator accepted inside one of its rolling windows.",
            harness.table(HEADERS, body),
            f"Run time of this benchmark: {time.monotonic() - started:.0f} s.",
        ]
    )


def _latency(text: str) -> tuple[float, float]:
    fixed, jitter = (float(part) for part in text.split(","))
    return fixed, jitter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--clock-offset-ms", type=int, default=0, help="the simulator's clock minus ours")
    parser.add_argument(
        "--latency-ms", type=_latency, default=LATENCY_MS, help="fixed,jitter: fixed + uniform(0, jitter) ms"
    )
    parser.add_argument("--clients", default="product,ccxt", help="comma-separated: product, ccxt")
    args = parser.parse_args()
    started = time.monotonic()
    from okxsim import Scenario, Simulator

    scenario = Scenario.generate(SUBACCOUNTS, own_keys=False)
    sim = Simulator(scenario, latency_ms=args.latency_ms, clock_offset_ms=args.clock_offset_ms).start()
    try:
        rows = []
        for kind in args.clients.split(","):
            rows.append(run_client(kind, sim, f"bench:{uuid.uuid4().hex[:8]}:ratelimit"))
            time.sleep(2.5)  # let the master's windows empty before the next client starts
    finally:
        sim.stop()
    text = report(rows, started, args.latency_ms, args.clock_offset_ms)
    print(text)
    if not args.no_docs:
        harness.write_section("shared-key", text)


if __name__ == "__main__":
    main()
