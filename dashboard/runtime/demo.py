"""`make demo`: every process of the product on one machine, against the built-in simulator.

1. Start the embedded Redis on var/redis.sock (the settings' default, so `manage.py` and
   `celery` commands run in another terminal reach the same server).
2. Start the OKX simulator with the demo scenario.
3. Migrate, seed the demo accounts (validated live against the simulator, as a real key would be)
   and print a login with a freshly generated password.
4. Start web (gunicorn), a Celery worker and Celery beat, and wait. Ctrl-C (or SIGTERM) stops
   everything, bounded (launcher.stop): each child gets its grace period, then is killed, and
   Redis last; the time it took is printed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from dashboard.runtime.embedded import VAR_DIR, start_redis, stop_redis
from dashboard.runtime.launcher import spawn, stop, uninterruptible

SIMULATOR_PORT = int(os.environ.get("DEMO_SIMULATOR_PORT", "8700"))
WEB_PORT = int(os.environ.get("DEMO_PORT", "8000"))
WORKER_CONCURRENCY = int(os.environ.get("DEMO_WORKER_CONCURRENCY", "4"))
# Seconds each process gets after SIGTERM before it is killed. gunicorn is told to finish its
# requests within less than its grace; a Celery worker's warm shutdown waits for running tasks,
# which are acknowledged late, so a task cut short is redelivered on the next start.
WEB_GRACE_SECONDS = 8
WORKER_GRACE_SECONDS = 10
QUICK_GRACE_SECONDS = 5  # beat and the simulator hold no work


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f} s")


def _refuse_second_demo(socket_path: Path) -> None:
    if socket_path.exists():
        try:
            if redis.Redis(unix_socket_path=str(socket_path)).ping():
                raise SystemExit(f"A demo is already running (its Redis answers on {socket_path}).")
        except redis.ConnectionError:
            socket_path.unlink()


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], env=env, check=True)  # noqa: S603


def _start_services(env: dict[str, str], children: list[subprocess.Popen]) -> None:
    """Start web, worker and beat, each added to `children` as soon as it exists (a Ctrl-C while
    waiting for them stops them too), and wait until web listens and the worker answers."""
    python = sys.executable
    bin_dir = os.path.dirname(python)
    web = spawn(
        [
            f"{bin_dir}/gunicorn",
            "dashboard.wsgi",
            "--bind",
            f"127.0.0.1:{WEB_PORT}",
            "--workers",
            "2",
            "--graceful-timeout",
            str(WEB_GRACE_SECONDS - 2),
        ],
        env,
        grace=WEB_GRACE_SECONDS,
    )
    children.append(web)
    worker = spawn(
        [
            f"{bin_dir}/celery",
            "-A",
            "dashboard",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(WORKER_CONCURRENCY),
            "--hostname",
            "demo@%h",
        ],
        env,
        grace=WORKER_GRACE_SECONDS,
    )
    children.append(worker)
    beat = spawn(
        [f"{bin_dir}/celery", "-A", "dashboard", "beat", "--loglevel", "INFO"], env, grace=QUICK_GRACE_SECONDS
    )
    children.append(beat)
    _wait_for_port(WEB_PORT, web, "the web server")
    _wait_for_worker(env, worker)


def _wait_for_worker(env: dict[str, str], worker: subprocess.Popen, timeout: float = 90) -> None:
    """Say "running" only once the worker answers a ping over the broker."""
    os.environ["REDIS_URL"] = env["REDIS_URL"]
    from dashboard.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with status {worker.returncode}")
        if app.control.ping(timeout=1.0):
            return
    raise RuntimeError(f"the Celery worker did not answer within {timeout:.0f} s")


def demo(argv: list[str]) -> int:
    socket_path = VAR_DIR / "redis.sock"
    _refuse_second_demo(socket_path)
    redis_server = start_redis(socket_path)
    env = {**os.environ, "REDIS_URL": f"unix://{socket_path}", "PYTHONUNBUFFERED": "1"}
    env.setdefault("DEMO_SIMULATOR_URL", f"http://127.0.0.1:{SIMULATOR_PORT}")
    # The demo's accounts send their (fake) keys to the simulator: allowed only through this.
    env.setdefault("OKX_EXTRA_BASE_URLS", env["DEMO_SIMULATOR_URL"])
    children: list[subprocess.Popen] = []
    try:
        simulator = spawn(
            [
                sys.executable,
                "-m",
                "okxsim",
                "--host",
                "127.0.0.1",
                "--port",
                str(SIMULATOR_PORT),
                "--scenario",
                "demo",
            ],
            env,
            grace=QUICK_GRACE_SECONDS,
        )
        children.append(simulator)
        _wait_for_port(SIMULATOR_PORT, simulator, "the OKX simulator")
        _manage(env, "migrate", "--noinput", "--verbosity", "0")
        _manage(
            env,
            "seed_demo",
            "--simulator-url",
            env["DEMO_SIMULATOR_URL"],
            "--web-url",
            f"http://127.0.0.1:{WEB_PORT}/",
        )
        _start_services(env, children)
        print(
            "[demo] running; the worker answers `.venv/bin/celery -A dashboard inspect ping`. "
            "Ctrl-C stops everything.",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("[demo] a process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[demo] stopping…", flush=True)
        return 0
    finally:
        with uninterruptible():
            started = time.monotonic()
            stop(children)
            stop_redis(redis_server)
            socket_path.unlink(missing_ok=True)
            print(f"[demo] stopped in {time.monotonic() - started:.1f} s", flush=True)
