"""python -m okxsim --host 127.0.0.1 --port 8765 --scenario demo"""

from __future__ import annotations

import argparse
import contextlib
import logging

from .core import Simulator
from .scenario import Scenario


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m okxsim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--scenario", default="demo", help="a shipped scenario name or a JSON file")
    parser.add_argument("--no-rate-limits", action="store_true", help="for throughput benchmarks")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    sim = Simulator(Scenario.load(args.scenario), rate_limits_enabled=not args.no_rate_limits)
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever(args.host, args.port)


if __name__ == "__main__":
    main()
