from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from snapshots.models import Snapshot
from snapshots.tasks import refresh_plan
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

    plan = dict(refresh_plan())

    assert plan[master.pk] == plan[own.pk] == 0
    # OKX allows 6 calls per 2 s per master UID on both sub-account endpoints; our limiter pads
    # that window to 2 s x 1.1 + 0.1 s = 2.3 s: one sub-account every 2.3 / 6 = 0.383 s, not
    # 3 spread over 80 % of 60 s (16 s apart).
    assert [plan[a.pk] for a in keyless] == [0, 0.383, 0.767]

    settings.REFRESH_INTERVAL_SECONDS = 1  # a short interval: still all within 80 % of it
    assert [dict(refresh_plan())[a.pk] for a in keyless] == [0, 0.267, 0.533]


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
