"""One SQLite configuration, whichever way the file is named (the default path, SQLITE_PATH,
DATABASE_URL=sqlite:///…): WAL, IMMEDIATE transactions, the busy timeout, and a file only its
owner can read (0600, with its -wal and -shm). Four `manage.py refresh` at once on one file do
not fail with "database is locked"."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from okxsim import Scenario, Simulator

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, os
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
    cursor.execute("PRAGMA journal_mode")
    journal = cursor.fetchone()[0]
    cursor.execute("PRAGMA busy_timeout")
    busy = cursor.fetchone()[0]
    name = str(connection.settings_dict["NAME"])
    modes = {s: oct(os.stat(name + s).st_mode & 0o777) for s in ("", "-wal", "-shm")}
print(json.dumps({
    "journal": journal, "busy_ms": busy, "modes": modes,
    "transaction_mode": connection.settings_dict["OPTIONS"].get("transaction_mode"),
}))
"""


def manage(*args: str, database: dict[str, str], **kwargs) -> subprocess.Popen:
    """manage.py in a process of its own on the given database, with the usual umask (022), so a
    file created without an explicit mode would be world-readable."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLITE_PATH")}
    env.update(EMBEDDED="1", **database)
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0o022,
        **kwargs,
    )


def finished(process: subprocess.Popen, timeout: float = 180) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def named(how: str, path: Path) -> dict[str, str]:
    if how == "DATABASE_URL":
        return {"DATABASE_URL": f"sqlite:///{path}"}
    return {"SQLITE_PATH": str(path)}


@pytest.mark.parametrize("how", ["DATABASE_URL", "SQLITE_PATH"])
def test_every_way_of_naming_sqlite_gets_wal_immediate_busy_timeout_and_a_private_file(tmp_path, how):
    path = tmp_path / "dashboard.sqlite3"
    code, out, err = finished(manage("shell", "--no-imports", "-c", PROBE, database=named(how, path)))
    assert code == 0, err
    shown = json.loads(out.strip().splitlines()[-1])
    assert shown["journal"] == "wal"
    assert shown["transaction_mode"] == "IMMEDIATE"
    assert shown["busy_ms"] == 20_000
    assert shown["modes"] == {"": "0o600", "-wal": "0o600", "-shm": "0o600"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_database_file_left_world_readable_is_narrowed_to_0600(tmp_path):
    path = tmp_path / "old.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    database = named("DATABASE_URL", path)
    code, _out, err = finished(manage("shell", "--no-imports", "-c", PROBE, database=database))
    assert code == 0, err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


NAMES = """
import json
from accounts.models import Account
print(json.dumps(sorted(Account.objects.filter(active=True).values_list("name", flat=True))))
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Iterator[tuple[dict[str, str], list[str]]]:
    """A migrated SQLite file named by DATABASE_URL, with the demo's accounts on the simulator;
    (its environment, the names of its active accounts)."""
    simulator = Simulator(Scenario.load("demo")).start(host="127.0.0.1", port=0)
    database = {
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('shared') / 'shared.sqlite3'}",
        "OKX_EXTRA_BASE_URLS": simulator.url,  # the simulator is a permitted OKX host here
    }
    for args in (("migrate", "--noinput"), ("seed_demo", "--simulator-url", simulator.url)):
        code, out, err = finished(manage(*args, database=database))
        assert code == 0, out + err
    code, out, err = finished(manage("shell", "--no-imports", "-c", NAMES, database=database))
    assert code == 0, err
    names = json.loads(out.strip().splitlines()[-1])
    assert len(names) >= 4
    yield database, names
    simulator.stop()


def assert_a_line_per_account(out: str, names: list[str]) -> None:
    # Refreshed, failed with a reason, or skipped (another of the four holds the account, or
    # already stored this cycle): every account has its line, none was skipped by a crash.
    for name in names:
        assert f"\n{name}: " in "\n" + out, out


def test_four_concurrent_refresh_commands_on_one_sqlite_url_neither_lock_up_nor_skip_accounts(seeded):
    database, names = seeded
    for _round in range(2):
        started = time.monotonic()
        runs = [finished(p) for p in [manage("refresh", database=database) for _ in range(4)]]
        elapsed = time.monotonic() - started
        for code, out, err in runs:
            assert "database is locked" not in out + err
            assert "Traceback" not in err, err
            assert code in (0, 2), out + err  # 2: an account failed at OKX (the demo's frozen key)
            assert_a_line_per_account(out, names)
        print(f"4 concurrent refreshes of {len(names)} accounts: {elapsed:.1f} s")


def test_a_database_error_fails_each_account_with_a_line_and_the_command_goes_on(seeded):
    """The SQLite write lock is held by another connection for longer than the busy timeout:
    every account's write fails. Each gets its own line; no traceback stops the run."""
    database, names = seeded
    path = database["DATABASE_URL"].removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        code, out, err = finished(
            manage("refresh", database={**database, "SQLITE_BUSY_TIMEOUT_SECONDS": "1"})
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # The run ends with its summary, not with a traceback halfway through the accounts.
    assert code == 2, out + err
    assert err.strip().splitlines()[-1] == "CommandError: some accounts failed (see above)", err
    assert_a_line_per_account(out, names)
    failed = [name for name in names if f"{name}: failed [database]" in out]
    assert failed, out
    for name in failed:
        assert f"{name}: " in err and "database is locked" in err
