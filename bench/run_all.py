"""`make bench`: every benchmark, one after the other, each in its own process and database.

    .venv/bin/python -m dashboard.runtime.launcher run --
        .venv/bin/python -m bench.run_all [--quick] [--only a,b]

Each writes its section of docs/benchmarks.md. Everything runs on SQLite; with DATABASE_URL set
(PostgreSQL), the refresh and pages benchmarks run a second time on PostgreSQL (a separate
database named <name>_<bench>_bench on that server; the configured database is not touched).
--quick runs small sizes to check the scripts, and leaves docs/benchmarks.md alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

BENCHES: dict[str, list[str]] = {
    "refresh": [],
    "shared_key": [],
    "footprint": [],
    "pages": [],
}
QUICK: dict[str, list[str]] = {
    "refresh": ["--sizes", "10,50", "--keyless", "12", "--history", "10", "--no-docs"],
    "shared_key": ["--no-docs"],
    "footprint": ["--cycles", "4", "--accounts", "20", "--no-docs"],
    "pages": ["--accounts", "30", "--small", "10", "--repeat", "5", "--no-docs"],
}
ON_POSTGRES = ("refresh", "pages")


def run(name: str, args: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    print(f"\n[bench] === {name} {' '.join(args)} ===", flush=True)
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", f"bench.{name}", *args], env=env)  # noqa: S603
    return name, time.monotonic() - started, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(BENCHES))
    args = parser.parse_args()
    chosen = [n for n in args.only.split(",") if n] or list(BENCHES)
    table = QUICK if args.quick else BENCHES
    postgres = os.environ.get("DATABASE_URL", "")
    sqlite_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    started, runs = time.monotonic(), []
    for name in chosen:
        runs.append(run(name, table[name], sqlite_env))
    for name in (n for n in chosen if postgres and n in ON_POSTGRES):
        runs.append(run(name, table[name], dict(os.environ)))
    print("\n[bench] summary")
    for name, seconds, code in runs:
        print(f"  {name:<12} {seconds:6.0f} s  {'ok' if code == 0 else f'FAILED (exit {code})'}")
    print(f"  total        {time.monotonic() - started:6.0f} s")
    return max((code for _, _, code in runs), default=0)


if __name__ == "__main__":
    sys.exit(main())
