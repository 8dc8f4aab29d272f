"""What every benchmark shares: a private database, real Celery workers, the machine line and
the section of docs/benchmarks.md each script owns.

A benchmark never touches the dashboard's own database: SQLite goes to var/bench-<name>.sqlite3,
and with DATABASE_URL set, a database named <name>_bench is created beside the configured one.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DOCS = BASE_DIR / "docs" / "benchmarks.md"
CELERY = str(Path(sys.executable).with_name("celery"))


def machine() -> str:
    """Core count as Python sees it, and how many of those this process may run on."""
    return f"{os.cpu_count()} CPUs (affinity {len(os.sched_getaffinity(0))})"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


# When this benchmark's process started, and the machine's load then: each benchmark runs in a
# process of its own, and its section's header is written at its end.
STARTED_AT = datetime.now(UTC)
LOAD_AT_START = load()


def setup_django(name: str) -> str:
    """Point Django at a fresh private database, set it up and migrate; returns its description."""
    if os.environ.get("DATABASE_URL"):
        described = _fresh_postgres(name)
    else:
        path = BASE_DIR / "var" / f"bench-{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["SQLITE_PATH"] = str(path)
        described = "SQLite (WAL)"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    # The benchmarks' simulators run on 127.0.0.1: accounts may send keys there only through this.
    os.environ.setdefault("OKX_EXTRA_BASE_URLS", "http://127.0.0.1")
    import django
    from django.core.management import call_command

    django.setup()
    logging.getLogger("okxsim").setLevel(logging.WARNING)  # one line per start is noise
    call_command("migrate", verbosity=0)
    return described


def _fresh_postgres(name: str) -> str:
    import psycopg

    parts = urlsplit(os.environ["DATABASE_URL"])
    bench_db = f"{parts.path.lstrip('/') or 'okxdash'}_{name}_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{bench_db}"')
        version = conn.execute("SHOW server_version").fetchone()[0]
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + bench_db))
    return f"PostgreSQL {version}"


def worker_env(**extra: str) -> dict[str, str]:
    """The environment a worker needs to reach this benchmark's Redis and database."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


class Workers:
    """`count` real Celery workers (prefork, `concurrency` pool processes each) on a private queue."""

    def __init__(self, count: int, concurrency: int, **env: str) -> None:
        from dashboard.runtime.launcher import spawn

        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.count, self.concurrency = count, concurrency
        self.names = [f"{self.queue}-w{i}" for i in range(count)]
        args = ["-A", "dashboard", "worker", "-Q", self.queue, "-c", str(concurrency), "--loglevel", "ERROR"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.processes = [
            spawn([CELERY, *args, "--hostname", f"{name}@%h"], worker_env(**env)) for name in self.names
        ]
        self._wait_ready()

    def _wait_ready(self, timeout: float = 120) -> None:
        from dashboard.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a Celery worker exited with status {process.returncode}")
            replies = app.control.ping(timeout=1.0)
            answered = {host.split("@")[0] for reply in replies for host in reply}
            if answered >= set(self.names):
                return
        raise RuntimeError(f"the Celery workers did not answer within {timeout:.0f} s")

    def pool_pids(self) -> list[int]:
        """The pool processes (children of each worker's main process)."""
        import psutil

        return [c.pid for p in self.processes for c in psutil.Process(p.pid).children()]

    def stop(self) -> None:
        from dashboard.runtime.launcher import stop

        stop(self.processes)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.02) -> bool:
    """Poll until condition() holds; False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (also what the terminal shows)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def header(database: str, idle_note: str | None = None) -> str:
    when = STARTED_AT.strftime("%Y-%m-%d %H:%M UTC")
    note = idle_note or os.environ.get("BENCH_MACHINE_NOTE", "")
    parts = [f"Measured from {when} on {machine()}, {LOAD_AT_START} at the start", database]
    return "; ".join(parts) + (f". {note}" if note else ".")


def write_section(name: str, body: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md (markers keep the rest intact)."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + f"\n\n{block}\n"
    DOCS.write_text(text)
    print(f"[bench] wrote section {name!r} of {DOCS.relative_to(BASE_DIR)}", flush=True)


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
