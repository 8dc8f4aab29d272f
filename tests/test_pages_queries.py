"""The shared read model (snapshots/queries.py): totals, changes, series and query counts.

Pages only read rows, so these tests write Account/Credential/Snapshot rows directly.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, AccountKind, Credential, CredentialStatus, Environment
from snapshots import queries
from snapshots.models import BalanceLine, PositionLine, Snapshot, Wallet

pytestmark = pytest.mark.django_db

_cycles = itertools.count(1)
_keys = itertools.count(1)


# -- builders shared with test_pages_overview ------------------------------------------------------
def make_account(
    name: str, *, kind: str = AccountKind.MASTER, master: Account | None = None, **fields
) -> Account:
    fields.setdefault("environment", Environment.LIVE)
    return Account.objects.create(name=name, kind=kind, master=master, **fields)


def give_key(account: Account, **fields) -> Credential:
    """An active credential with an obviously fake key (pages never decrypt it)."""
    n = next(_keys)
    fields.setdefault("health_status", "ok")
    credential = Credential.from_plaintext(
        account,
        f"FAKE0000-PAGE-TEST-KEY0-{n:012d}",
        f"FAKE{n:028d}",
        f"Fake-Pass-{n:04d}",
        status=CredentialStatus.ACTIVE,
        **fields,
    )
    credential.save()
    return credential


def snap(
    account: Account, equity: str | None, *, at: datetime | None = None, upls: tuple[str, ...] = (), **fields
) -> Snapshot:
    """A snapshot with one USDT trading line and one position per given unrealised PnL."""
    snapshot = Snapshot.objects.create(
        account=account,
        cycle=next(_cycles),
        taken_at=at or timezone.now(),
        total_equity_usd=None if equity is None else Decimal(equity),
        trading_equity_usd=None if equity is None else Decimal(equity),
        funding_usd=Decimal(0),
        **fields,
    )
    if equity is not None:
        BalanceLine.objects.create(
            snapshot=snapshot,
            wallet=Wallet.TRADING,
            ccy="USDT",
            equity=Decimal(equity),
            usd_value=Decimal(equity),
        )
    for i, upl in enumerate(upls):
        PositionLine.objects.create(
            snapshot=snapshot,
            inst_id=f"BTC-USDT-SWAP-{i}",
            inst_type="SWAP",
            side="long",
            size=Decimal("1"),
            size_unit="contracts",
            upl=Decimal(upl),
            upl_ccy="USDT",
            upl_usd=Decimal(upl),  # a USDT-margined swap, USDT priced at 1
            margin_mode="cross",
        )
    return snapshot


def many_accounts(n: int) -> None:
    """n accounts, each with a key, a snapshot a day ago, a fresh one and two positions."""
    now = timezone.now()
    for i in range(n):
        account = make_account(f"bulk-{i:04d}")
        give_key(account)
        snap(account, "100", at=now - timedelta(days=1, minutes=5))
        snap(account, "110", at=now - timedelta(seconds=5), upls=("1.5", "-0.5"))


def by_name(rows: list[queries.AccountRow]) -> dict[str, queries.AccountRow]:
    return {row.account.name: row for row in rows}


# -- account_rows and totals ------------------------------------------------------------------
def test_total_equity_is_the_sum_of_the_rows_and_shares_add_up_to_one():
    now = timezone.now()
    for name, equity in (("alpha", "1000.10"), ("beta", "2500.25"), ("gamma", "0.05")):
        snap(make_account(name), equity, at=now - timedelta(seconds=10))
    make_account("never-refreshed")
    rows = queries.account_rows()
    total = queries.totals(rows)
    assert total.equity_usd == Decimal("3500.40")
    assert total.equity_usd == sum(r.equity_usd for r in rows if r.equity_usd is not None)
    assert sum(r.share for r in rows if r.share is not None) == pytest.approx(
        Decimal(1), abs=Decimal("1e-20")
    )
    assert by_name(rows)["never-refreshed"].equity_usd is None
    assert by_name(rows)["never-refreshed"].stale


def test_rows_show_the_latest_snapshot_and_its_positions_only():
    account = make_account("alpha")
    now = timezone.now()
    snap(account, "900", at=now - timedelta(minutes=3), upls=("100",))
    snap(account, "1000", at=now - timedelta(seconds=5), upls=("12.5", "-2.25", "0"))
    row = by_name(queries.account_rows())["alpha"]
    assert row.equity_usd == Decimal("1000")
    assert row.upl_usd == Decimal("10.25")
    assert row.open_positions == 3
    assert not row.stale


def test_the_24h_change_compares_with_the_last_snapshot_at_or_before_a_day_ago():
    account = make_account("alpha")
    now = timezone.now()
    snap(account, "400", at=now - timedelta(days=8))
    snap(account, "500", at=now - timedelta(days=2))
    snap(account, "800", at=now - timedelta(days=1, minutes=1))
    snap(account, "950", at=now - timedelta(hours=23))  # newer than a day: not the reference
    snap(account, "1000", at=now - timedelta(seconds=5))
    newcomer = make_account("newcomer")
    snap(newcomer, "300", at=now - timedelta(seconds=5))
    rows = by_name(queries.account_rows())
    assert rows["alpha"].change_24h_usd == Decimal("200")
    assert rows["newcomer"].change_24h_usd is None
    total = queries.totals(list(rows.values()))
    assert total.change_24h_usd == Decimal("200")  # the newcomer's 300 is not a gain
    assert total.change_7d_usd == Decimal("600")  # 1000 now, 400 eight days ago


def test_the_7d_change_is_none_without_a_week_of_history():
    snap(make_account("alpha"), "1000", at=timezone.now() - timedelta(hours=1))
    assert queries.totals(queries.account_rows()).change_7d_usd is None


def test_stale_rows_are_those_without_a_snapshot_within_two_refresh_intervals(settings):
    settings.REFRESH_INTERVAL_SECONDS = 60
    now = timezone.now()
    snap(make_account("fresh"), "1", at=now - timedelta(seconds=100))
    snap(make_account("late"), "1", at=now - timedelta(seconds=130))
    rows = queries.account_rows()
    assert {r.account.name: r.stale for r in rows} == {"fresh": False, "late": True}
    assert queries.totals(rows).stale_accounts == 1
    assert queries.stale_after() == timedelta(minutes=2)


def test_key_status_of_each_kind_of_account():
    master = make_account("master")
    give_key(
        master,
        health_status="failing",
        warnings=[{"code": "expired", "message": "m", "date": "2024-01-01", "severity": "danger"}],
    )
    make_account("sub-via-master", kind=AccountKind.SUB, master=master, sub_acct_name="s1")
    give_key(make_account("unchecked"), health_status="")
    retired = make_account("retired-key-only")
    give_key(retired).retire()
    make_account("inactive", active=False)
    rows = by_name(queries.account_rows())
    assert {name: row.key_status for name, row in rows.items()} == {
        "master": "failing",
        "sub-via-master": "none",
        "unchecked": "unchecked",
        "retired-key-only": "none",
    }
    assert rows["master"].warnings[0]["code"] == "expired"
    assert rows["sub-via-master"].account.master.name == "master"


@pytest.mark.parametrize("n", [10, 200])
def test_account_rows_runs_three_queries_for_any_number_of_accounts(n):
    many_accounts(n)
    with CaptureQueriesContext(connection) as captured:
        rows = queries.account_rows()
        for row in rows:  # what a page touches on every row
            (row.account.master, row.account.get_kind_display(), row.warnings)
    assert len(rows) == n
    assert len(captured) == 3
    with CaptureQueriesContext(connection) as captured:
        total = queries.totals(rows)
    assert len(captured) == 1
    assert total.equity_usd == Decimal(110 * n)
    assert total.change_24h_usd == Decimal(10 * n)


# -- latest_snapshot ----------------------------------------------------------------------------
def test_latest_snapshot_comes_with_its_lines(django_assert_num_queries):
    account = make_account("alpha")
    snap(account, "5", at=timezone.now() - timedelta(minutes=5))
    newest = snap(account, "7", upls=("1", "2"))
    with django_assert_num_queries(3):
        latest = queries.latest_snapshot(account)
        assert [line.ccy for line in latest.balances.all()] == ["USDT"]
        assert len(latest.positions.all()) == 2
    assert latest == newest
    assert queries.latest_snapshot(make_account("empty")) is None


# -- equity_series ------------------------------------------------------------------------------
def test_the_series_sums_each_accounts_mean_per_bucket():
    """Two accounts over an hour, one with three snapshots in the bucket and one with one: the
    bucket is mean(a) + b, not sum(a) + b."""
    now = timezone.now()
    # A minute into a 5-minute bucket, so the four snapshots 0-3 s apart share it.
    base = datetime.fromtimestamp((now - timedelta(hours=12)).timestamp() // 300 * 300 + 60, tz=UTC)
    a, b = make_account("a"), make_account("b")
    for minutes, value in ((0, "100"), (1, "110"), (2, "120")):
        snap(a, value, at=base + timedelta(seconds=minutes))
    snap(b, "1000", at=base + timedelta(seconds=3))
    snap(b, "1000", at=now - timedelta(minutes=1))
    series = queries.equity_series(None, "1d")
    assert [value for _, value in series] == [Decimal("1110.00"), Decimal("1120.00")]  # then a's latest
    assert series[0][0] <= base < series[0][0] + timedelta(minutes=5)  # 1 day / 300 -> 5-minute buckets
    # Alone, a's one bucket is also the newest: it ends on the latest snapshot.
    assert queries.equity_series(a, "1d") == [(series[0][0], Decimal("120.00"))]


def test_a_week_of_minute_snapshots_is_downsampled_to_at_most_300_points_in_order():
    account = make_account("alpha")
    now = timezone.now()
    Snapshot.objects.bulk_create(
        Snapshot(
            account=account,
            cycle=next(_cycles),
            taken_at=now - timedelta(minutes=m),
            total_equity_usd=Decimal(m),
            trading_equity_usd=Decimal(m),
        )
        for m in range(0, 7 * 24 * 60, 2)
    )
    series = queries.equity_series(account, "7d")
    times = [t for t, _ in series]
    assert 100 < len(series) <= queries.MAX_POINTS + 1
    assert times == sorted(times)
    assert all(isinstance(v, Decimal) for _, v in series)
    assert len(queries.equity_series(account, "1d")) <= queries.MAX_POINTS + 1
    assert series[-1][1] < series[0][1]  # equity Decimal(m) falls towards now
    assert series[-1][1] == Decimal("0.00")  # the newest point is the latest snapshot, not a mean


def test_each_range_reaches_back_as_far_as_it_says():
    account = make_account("alpha")
    now = timezone.now()
    for days in (0, 2, 20, 60, 200):
        snap(account, str(1000 + days), at=now - timedelta(days=days, minutes=1))
    oldest = {key: queries.equity_series(account, key)[0][1] for key in queries.RANGES}
    assert oldest == {
        "1d": Decimal("1000.00"),
        "7d": Decimal("1002.00"),
        "30d": Decimal("1020.00"),
        "90d": Decimal("1060.00"),
        "all": Decimal("1200.00"),
    }
    assert len(queries.equity_series(None, "all")) == 5


def test_an_unknown_range_is_refused_and_the_default_is_seven_days():
    with pytest.raises(ValueError, match="unknown range"):
        queries.equity_series(None, "2y")
    assert queries.range_or_none(None) == queries.DEFAULT_RANGE == "7d"
    assert queries.range_or_none("30d") == "30d"
    assert queries.range_or_none("1y") is None


def test_no_snapshots_give_an_empty_series():
    assert queries.equity_series(make_account("empty"), "all") == []
    assert queries.equity_series(None, "7d") == []


def test_a_large_series_caches_its_settled_buckets_and_reads_the_open_one_live(settings, monkeypatch):
    """Above SERIES_CACHE_MIN_ROWS only the open bucket is read each time: a new snapshot shows
    at once, and the settled part is not recomputed."""
    settings.REFRESH_INTERVAL_SECONDS = 60
    monkeypatch.setattr(queries, "SERIES_CACHE_MIN_ROWS", 0)
    account = make_account("cached")
    now = timezone.now()
    snap(account, "100", at=now - timedelta(hours=20))
    first = queries.equity_series(account, "1d")
    Snapshot.objects.filter(account=account).update(total_equity_usd=Decimal("999"))  # settled: cached
    snap(account, "200", at=now)
    second = queries.equity_series(account, "1d")
    assert [v for _, v in first] == [Decimal("100.00")]
    assert [v for _, v in second] == [Decimal("100.00"), Decimal("200.00")]


def test_the_all_accounts_series_ends_on_the_sum_of_the_rows_as_shown():
    """Three accounts of x.xx4 each: their exact sum rounds to .01 more than the shown rows add up
    to. The chart's last point is the total beside it (the browser showed a one-cent gap)."""
    for name in ("a", "b", "c"):
        snap(make_account(name), "100.004")
    shown = sum((row.equity_usd.quantize(queries.CENT) for row in queries.account_rows()), Decimal(0))
    assert shown == Decimal("300.00")
    assert queries.equity_series(None, "1d")[-1][1] == shown
