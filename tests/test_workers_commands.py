from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.history import ApiError
from snapshots.models import Snapshot
from snapshots.tasks import refresh_plan
from tests.accounts_support import calls_to
from tests.workers_support import add_account, frozen, key_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(make_simulator):
    return make_simulator(frozen())


def run(*args: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command(*args, stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def test_refresh_command_refreshes_every_active_account_and_summarises_failures(sim):
    master = add_account(sim, "main")
    add_account(sim, "delta-nokey", master=master, keyless=True)
    add_account(sim, "zeta-frozen", master=master)

    output, error = run("refresh")

    assert Snapshot.objects.filter(account__name__in=["main", "delta-nokey"]).count() == 2
    assert "zeta-frozen: failed [key]" in output
    assert "refresh: 2 ok, 1 failed, 0 skipped (key 1)" in output
    assert error is not None and error.returncode == 2


def test_refresh_command_for_one_account_touches_only_that_account(sim):
    add_account(sim, "main")
    add_account(sim, "alpha-desk")

    output, error = run("refresh", "--account", "alpha-desk")

    assert error is None
    assert list(Snapshot.objects.values_list("account__name", flat=True)) == ["alpha-desk"]
    assert "refresh: 1 ok, 0 failed" in output
    assert run("refresh", "--account", "nobody")[1] is not None


def test_check_keys_command_prints_each_keys_warnings(sim):
    master = add_account(sim, "main")
    add_account(sim, "gamma-mm", master=master)
    sim.freeze_key(key_fields(sim, "main")["api_key"])

    output, error = run("check_keys")

    assert "gamma-mm: ok" in output and "no_ip_binding" in output
    assert "main: failed [key]" in output
    assert "check_keys: 1 ok, 1 failed, 0 skipped (key 1)" in output
    assert error is not None


def test_the_plan_paces_subaccounts_read_through_one_master_at_its_budget(sim, settings):
    settings.REFRESH_INTERVAL_SECONDS = 60
    master = add_account(sim, "main")
    names = ("delta-nokey", "gamma-mm", "beta-readonly")
    keyless = [add_account(sim, name, master=master, keyless=True) for name in names]
    own = add_account(sim, "alpha-desk", master=master)

    plan = {task.account_id: task.countdown for task in refresh_plan(now=0)}

    assert plan[master.pk] == plan[own.pk] == 0
    # OKX allows 6 calls per 2 s per master UID on both sub-account endpoints; our limiter pads
    # that window to 2 s x 1.1 + 0.1 s = 2.3 s: one sub-account every 2.3 / 6 = 0.383 s, not
    # 3 spread over 80 % of 60 s (16 s apart).
    assert [plan[a.pk] for a in keyless] == [0, 0.383, 0.767]

    # A short interval: the three take longer than a beat (1.15 s), so each beat sends what the
    # budget allows before the next one, after where the previous beat stopped.
    settings.REFRESH_INTERVAL_SECONDS = 1
    ids = [a.pk for a in keyless]
    for now, countdowns in ((10, [0, 0.383, 0.767]), (11, [0.15, 0.533, 0.917])):
        beat = [(t.account_id, t.countdown) for t in refresh_plan(now=now) if t.account_id in ids]
        assert beat == list(zip(ids, countdowns, strict=True))


def test_retention_keeps_raw_for_a_week_then_hourly_then_daily(sim):
    account = add_account(sim, "main")
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    ages = [timedelta(days=100, hours=h) for h in (3, 2, 1)]  # one day: the first is kept
    ages += [timedelta(days=10, minutes=m) for m in (20, 10, 1)]  # one hour: the first is kept
    ages += [timedelta(days=1, minutes=m) for m in (20, 10, 0)]  # raw: all kept
    for cycle, age in enumerate(ages):  # in time order, as the refresh writes them
        Snapshot.objects.create(account=account, cycle=cycle, taken_at=now - age)

    deleted = Snapshot.objects.thin(now)

    assert deleted == 4
    kept = set(Snapshot.objects.values_list("cycle", flat=True))
    assert kept == {0, 3, 6, 7, 8}
    assert Snapshot.objects.thin(now) == 0


BALANCE = "/api/v5/account/balance"


def test_refresh_command_refreshes_now_even_when_this_cycle_is_already_stored(sim, settings):
    settings.REFRESH_INTERVAL_SECONDS = 86400  # both runs fall in one cycle
    add_account(sim, "main")
    run("refresh")
    first = Snapshot.objects.get()
    calls = calls_to(sim, BALANCE)

    output, error = run("refresh")

    assert error is None and "main: ok" in output and "refresh: 1 ok, 0 failed, 0 skipped" in output
    assert calls_to(sim, BALANCE) == calls + 1  # it asked OKX again
    again = Snapshot.objects.get()  # still one snapshot per account and cycle: the newer one
    assert again.cycle == first.cycle and again.taken_at > first.taken_at


class _Releasing(StringIO):
    """The command's stderr: the first line written releases the lock held on the database, so
    the next account finds it free (an event, no waiting on time)."""

    def __init__(self, release) -> None:
        super().__init__()
        self.release = release

    def write(self, text: str) -> int:
        if self.release is not None:
            self.release, release = None, self.release
            release()
        return super().write(text)


# Another process holds SQLite's write lock until it reads a line (a second connection in this
# process would share its POSIX locks with the test's own, and closing it could drop them).
SQLITE_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
print("released", flush=True)
sys.stdin.readline()  # never closed: SQLite's last close would checkpoint and remove the WAL
"""


class _SqliteLocker:
    def __init__(self, path: str) -> None:
        args = [sys.executable, "-c", SQLITE_LOCKER, path]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "locked"  # waits for the lock, not a time

    def rollback(self) -> None:
        self.process.stdin.write("release\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "released"

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def _hold_the_database() -> tuple[object, str]:
    """Another connection takes the lock a refresh's write needs, and this process waits on a
    lock at most 0.3 s. Returns (the other connection, what the database then says)."""
    table = Snapshot._meta.db_table
    if connection.vendor == "sqlite":
        other = _SqliteLocker(str(connection.settings_dict["NAME"]))  # the write lock (WAL: readers go on)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 300")
        return other, "database is locked"
    import psycopg

    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
    )
    other.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")
    return other, "lock timeout"


@pytest.mark.django_db(transaction=True)
def test_a_database_error_fails_that_account_only_and_lands_in_its_error_history(sim):
    alpha = add_account(sim, "alpha-desk")  # refreshed first (by name), while the lock is held
    main = add_account(sim, "main")
    other, says = _hold_the_database()
    out, err = StringIO(), _Releasing(other.rollback)
    try:
        with pytest.raises(CommandError) as raised:
            call_command("refresh", stdout=out, stderr=err)
    finally:
        other.close()
        connection.close()  # the next test opens one with the configured lock waits

    assert raised.value.returncode == 2
    line = err.getvalue().splitlines()[0]
    assert (
        line.startswith("alpha-desk: the database refused the refresh (OperationalError: ") and says in line
    )
    output = out.getvalue()
    assert "alpha-desk: failed [database]" in output and "main: ok" in output
    assert "refresh: 1 ok, 1 failed, 0 skipped (database 1)" in output
    assert list(Snapshot.objects.values_list("account", flat=True)) == [main.pk]
    row = ApiError.objects.get(account=alpha)
    assert (row.endpoint, row.category) == ("(dashboard database)", "database") and says in row.message
