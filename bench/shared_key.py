"""Shared key under load: 4 processes read 60 sub-accounts' balances through one master key.

    .venv/bin/python -m dashboard.runtime.launcher run -- .venv/bin/python -m bench.shared_key

Same simulator, same run, two clients one after the other:
1. the product's okxapi.Client, every process sharing one RedisLimiter (one budget per UID);
2. ccxt with its own rate limiter (enableRateLimit=True, one ccxt.okx per process, as users run
   it today); a 50011 is retried on the same sub-account, after ccxt's own throttle.
Each process reads its 15 sub-accounts' trading and funding balances (the two master-only
endpoints, 6 requests per 2 s per master UID). Latency 80 ms +/- 20 ms, OKX's limits on.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import uuid

from bench import harness
from bench.bounds import VIA_MASTER_CALLS, window_bound
from bench.refresh import LATENCY_MS, MEAN_LATENCY_S
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


def _process(kind: str, args: tuple, barrier, results) -> None:
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
    before = sim.stats()
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
    return {"kind": kind, "wall": wall, **totals, **_delta(before, sim.stats())}


def _delta(before: dict, after: dict) -> dict[str, int]:
    paths = set(VIA_MASTER_CALLS)
    rows = [(k, v) for k, v in after.items() if k[0] in paths]
    calls = sum(v["calls"] - before.get(k, {}).get("calls", 0) for k, v in rows)
    rejected = sum(v["rejected"] - before.get(k, {}).get("rejected", 0) for k, v in rows)
    return {"requests": calls, "rejected": rejected}


HEADERS = ["client", "sub-accounts read", "requests sent", "50011 responses", "completion time", "gave up"]
LABELS = {
    "product": "okxapi.Client + shared RedisLimiter",
    "ccxt": "ccxt 4.5.90, enableRateLimit=True (per process)",
}


def report(rows: list[dict[str, object]], started: float) -> str:
    bound = max(window_bound(SUBACCOUNTS, ENDPOINT_LIMITS[p], MEAN_LATENCY_S) for p in VIA_MASTER_CALLS)
    body = [
        [LABELS[r["kind"]], r["ok"], r["requests"], r["rejected"], f"{r['wall']:.1f} s", r["failed"]]
        for r in rows
    ]
    return "\n\n".join(
        [
            "## Shared key under load: the product's limiter and ccxt's, side by side",
            harness.header("no database"),
            f"{PROCESSES} processes read {SUBACCOUNTS} sub-accounts' trading and funding balances "
            f"({2 * SUBACCOUNTS} requests) through one master key; latency {LATENCY_MS[0]:.0f} ms + "
            f"uniform(0, {LATENCY_MS[1]:.0f}) ms, OKX's limits on (6 requests per 2 s per endpoint per "
            f"UID). The fastest OKX allows: {bound:.1f} s. A 50011 is retried by both clients.",
            harness.table(HEADERS, body),
            f"Run time of this benchmark: {time.monotonic() - started:.0f} s.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    started = time.monotonic()
    from okxsim import Scenario, Simulator

    sim = Simulator(Scenario.generate(SUBACCOUNTS, own_keys=False), latency_ms=LATENCY_MS).start()
    try:
        rows = []
        for kind in ("product", "ccxt"):
            rows.append(run_client(kind, sim, f"bench:{uuid.uuid4().hex[:8]}:ratelimit"))
            time.sleep(2.5)  # let the master's windows empty before the next client starts
    finally:
        sim.stop()
    text = report(rows, started)
    print(text)
    if not args.no_docs:
        harness.write_section("shared-key", text)


if __name__ == "__main__":
    main()
