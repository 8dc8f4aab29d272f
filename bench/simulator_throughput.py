"""How many signed requests per second the OKX simulator serves on one core.

    .venv/bin/python -m bench.simulator_throughput [--seconds 10] [--clients 3] [--threads 4]

The simulator runs in its own process pinned to CPU 0 with rate limits off; the load comes
from --clients processes pinned to the other CPUs, each with --threads keep-alive
connections sending signed GETs (balance, positions, config, funding) with rotating keys.
Target: at least 500 requests per second. Not a test: timing belongs here, not in CI.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import socket
import threading
import time

from okxsim import Scenario, Simulator
from okxsim.probe import signed_headers

TARGETS = [
    "/api/v5/account/balance",
    "/api/v5/account/positions",
    "/api/v5/account/config",
    "/api/v5/asset/balances?ccy=USDT",
]
N_SUBACCOUNTS = 50


def pin(cpus: set[int]) -> None:
    available = os.sched_getaffinity(0)
    os.sched_setaffinity(0, (cpus & available) or available)


def serve(port: int, ready: mp.Event) -> None:
    pin({0})
    sim = Simulator(Scenario.generate(N_SUBACCOUNTS, own_keys=True), rate_limits_enabled=False)
    sim.start(port=port)
    ready.set()
    threading.Event().wait()


def client_thread(port: int, keys: list, deadline: float, counts: list[int], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    while time.monotonic() < deadline:
        key, target = keys[i % len(keys)], TARGETS[i % len(TARGETS)]
        conn.request("GET", target, headers=signed_headers(key, "GET", target))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or b'"code":"0"' not in body:
            errors[0] += 1
        counts[0] += 1
        i += 1
    conn.close()


def client_process(port: int, threads: int, seconds: float, offset: int, result: mp.Queue) -> None:
    cpus = set(range(1, os.cpu_count() or 2)) or {0}
    pin(cpus)
    keys = Scenario.generate(N_SUBACCOUNTS, own_keys=True).keys
    keys = keys[offset:] + keys[:offset]
    deadline = time.monotonic() + seconds
    tallies = [([0], [0]) for _ in range(threads)]
    workers = [
        threading.Thread(target=client_thread, args=(port, keys[t::threads], deadline, *tallies[t]))
        for t in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    result.put((sum(c[0] for c, _ in tallies), sum(e[0] for _, e in tallies)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    port, ready, result = free_port(), mp.Event(), mp.Queue()
    server = mp.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    clients = [
        mp.Process(target=client_process, args=(port, args.threads, args.seconds, i * 7, result))
        for i in range(args.clients)
    ]
    for c in clients:
        c.start()
    totals = [result.get() for _ in clients]
    for c in clients:
        c.join()
    server.terminate()
    done, errors = sum(t[0] for t in totals), sum(t[1] for t in totals)
    print(f"server pinned to CPU 0; {args.clients} client processes x {args.threads} connections")
    print(f"{done} signed requests in {args.seconds:.0f} s: {done / args.seconds:.0f} req/s, {errors} errors")


if __name__ == "__main__":
    main()
