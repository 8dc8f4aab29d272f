"""Exact money on SQLite and PostgreSQL (issue 16 item 10): an amount reads back as exactly the
decimal OKX sent, and comparisons and aggregates over money columns answer as numbers, not as
text ("-5" vs "0", "10" vs "9"), on both databases (snapshots.money).

The same tests run on SQLite (the launcher) and in CI on PostgreSQL; only the migration test has a
branch on the vendor, because SQLite had already rounded the rows it stored as REAL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import Account, AccountKind, Environment
from alerts.rules import Findings, loss
from okxsim import Scenario
from reports.build import usd_rate
from snapshots.models import BalanceLine, PositionLine, Snapshot, Wallet
from snapshots.money import MoneyAvg, MoneyMax, MoneyMin, MoneySum
from snapshots.refresh import refresh_account
from tests.api_support import balance, snapshot
from tests.workers_support import add_account, frozen

# The issue's amounts: SQLite's REAL gave 828810596.000894 and 1.00959840985594.
FUNDING_USDT = "828810596.00089356"
ETH_EQ = "1.0095984098559447"
# The column's limits: 20 digits before the point, 18 after, negative, the smallest step.
EDGES = ["99999999999999999999.999999999999999999", "-12345678901234567890.123456789012345678"]
EDGES += ["0.000000000000000001", "-0.5", "0"]


def _account(name: str = "desk") -> Account:
    return Account.objects.create(name=name, kind=AccountKind.MASTER, environment=Environment.LIVE)


@pytest.mark.django_db
def test_a_refresh_from_the_exchange_stores_the_issues_amounts_to_the_last_digit(make_simulator):
    data = Scenario.load("demo").to_dict()
    main = next(a for a in data["accounts"] if a["name"] == "main")
    main["trading"]["ETH"] = ETH_EQ
    main["funding"]["USDT"] = FUNDING_USDT
    sim = make_simulator(frozen(Scenario.from_dict(data)))
    account = add_account(sim, "main")

    assert refresh_account(account.pk, cycle=1).status == "ok"

    lines = {(b.wallet, b.ccy): b for b in BalanceLine.objects.filter(snapshot__account=account)}
    assert lines[(Wallet.TRADING, "ETH")].equity == Decimal(ETH_EQ)
    assert lines[(Wallet.FUNDING, "USDT")].equity == Decimal(FUNDING_USDT)
    assert lines[(Wallet.FUNDING, "USDT")].available == Decimal(FUNDING_USDT)
    # Found by the exact amount, as a person checking OKX's figure would look it up.
    assert BalanceLine.objects.filter(wallet=Wallet.FUNDING, equity=Decimal(FUNDING_USDT)).count() == 1


@pytest.mark.django_db
def test_amounts_read_back_exactly_through_the_orm():
    snap = snapshot(_account(), timezone.now(), FUNDING_USDT)
    for i, text in enumerate([ETH_EQ, *EDGES]):
        balance(snap, f"C{i}", text, text)
    snap.refresh_from_db()
    assert snap.total_equity_usd == Decimal(FUNDING_USDT)
    read = {b.ccy: (b.equity, b.usd_value) for b in BalanceLine.objects.filter(snapshot=snap)}
    assert read == {f"C{i}": (Decimal(t), Decimal(t)) for i, t in enumerate([ETH_EQ, *EDGES])}
    # values() and a subquery read the same Decimal as the model.
    assert Snapshot.objects.values_list("total_equity_usd", flat=True).get() == Decimal(FUNDING_USDT)
    position = PositionLine.objects.create(
        snapshot=snap, inst_id="BTC-USD-SWAP", inst_type="SWAP", side="short", size=Decimal("-5"),
        upl=Decimal("0.0128205128"), upl_usd=Decimal("833.333332"), margin_mode="cross",
    )  # fmt: skip
    position.refresh_from_db()
    assert (position.size, position.upl, position.upl_usd) == (
        Decimal("-5"),
        Decimal("0.0128205128"),
        Decimal("833.333332"),
    )


@pytest.fixture
def tricky() -> Snapshot:
    """Amounts whose text order differs from their numeric order."""
    snap = snapshot(_account(), timezone.now(), "1")
    for ccy, amount in [("A", "-5"), ("B", "0"), ("C", "9"), ("D", "10"), ("E", "0.5"), ("F", "-10.25")]:
        balance(snap, ccy, amount, amount)
    return snap


def _ccys(**lookup: object) -> set[str]:
    return set(BalanceLine.objects.filter(**lookup).values_list("ccy", flat=True))


@pytest.mark.django_db
def test_comparisons_are_numeric_and_equality_is_exact(tricky):
    assert _ccys(equity__gt=Decimal(9)) == {"D"}  # as text, "10" < "9"
    assert _ccys(equity__gte=Decimal(9)) == {"C", "D"}
    assert _ccys(equity__lt=Decimal(-5)) == {"F"}  # as text, "-10.25" < "-5" holds, "-5" < "-5" not
    assert _ccys(equity__lte=Decimal("-5.0")) == {"A", "F"}
    assert _ccys(equity__gt=0) == {"C", "D", "E"}
    assert _ccys(equity__lt=0) == {"A", "F"}
    assert _ccys(equity__gt=Decimal("0.75"), equity__lt=Decimal(10)) == {"C"}
    assert _ccys(equity=Decimal("10.000")) == {"D"}
    assert _ccys(equity=0) == {"B"}
    assert _ccys(equity__in=[Decimal("-5"), Decimal("0.50")]) == {"A", "E"}
    assert set(BalanceLine.objects.exclude(equity=0).values_list("ccy", flat=True)) == set("ACDEF")


@pytest.mark.django_db
def test_aggregates_are_numeric(tricky):
    lines = BalanceLine.objects.filter(snapshot=tricky)
    result = lines.aggregate(
        high=MoneyMax("equity"), low=MoneyMin("equity"), total=MoneySum("equity"), mean=MoneyAvg("equity")
    )
    assert result["high"] == Decimal(10)  # as text, "9"
    assert result["low"] == Decimal("-10.25")  # as text, "-5"
    assert result["total"] == Decimal("4.25")
    assert result["mean"].quantize(Decimal("0.0001")) == Decimal("0.7083")


@pytest.mark.django_db
def test_the_loss_alert_counts_from_10_not_9():
    account = _account()
    now = timezone.now()
    snapshot(account, now - timedelta(hours=25), "10")  # the equity when the 24 hours began
    snapshot(account, now - timedelta(hours=2), "9")
    snapshot(account, now - timedelta(seconds=30), "8.5")  # 1.5 lost: 15 % of 10

    findings = Findings()
    loss(now, Decimal(10), findings)
    conditions = list(findings.conditions.values())

    assert [c.account_id for c in conditions] == [account.pk]
    assert "15.0 % of its equity of 10.00 USD" in conditions[0].text


@pytest.mark.django_db
def test_a_reports_usd_rate_skips_a_negative_balance_and_reads_the_newest_positive():
    account = _account()
    now = timezone.now()
    balance(snapshot(account, now - timedelta(hours=2), "1"), "BTC", "2", "130000")
    balance(snapshot(account, now - timedelta(hours=1), "1"), "BTC", "-0.5", "-33000")  # a loan
    assert usd_rate("BTC", now) == Decimal(65000)


# --- the migration ------------------------------------------------------------------------
BEFORE = [("snapshots", "0002_position_side_unit_upl_usd")]
AFTER = [("snapshots", "0003_exact_money")]


def _migrate(nodes):
    MigrationExecutor(connection).migrate(nodes)
    return MigrationExecutor(connection).loader.project_state(nodes).apps


@pytest.fixture
def old_apps(transactional_db: None) -> Iterator:
    try:
        yield _migrate(BEFORE)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_rows_stored_before_keep_their_values_and_match_exactly_afterwards(old_apps):
    OldAccount = old_apps.get_model("accounts", "Account")
    OldSnapshot = old_apps.get_model("snapshots", "Snapshot")
    OldLine = old_apps.get_model("snapshots", "BalanceLine")
    account = OldAccount.objects.create(name="old desk", kind="master", environment="live")
    snap = OldSnapshot.objects.create(
        account=account, cycle=1, taken_at=datetime(2026, 11, 1, tzinfo=UTC), total_equity_usd=Decimal("2.50")
    )
    for ccy, amount in [("A", "2.50"), ("B", "0.00001"), ("C", "-0"), ("D", FUNDING_USDT), ("E", "7")]:
        OldLine.objects.create(snapshot=snap, wallet="funding", ccy=ccy, equity=Decimal(amount))

    after = _migrate(AFTER)  # the models as of 0003, whatever later migrations add
    BalanceLine, Snapshot = (
        after.get_model("snapshots", "BalanceLine"),
        after.get_model("snapshots", "Snapshot"),
    )

    read = dict(BalanceLine.objects.values_list("ccy", "equity"))
    kept = Decimal("828810596.000894") if connection.vendor == "sqlite" else Decimal(FUNDING_USDT)
    assert read == {"A": Decimal("2.5"), "B": Decimal("0.00001"), "C": 0, "D": kept, "E": 7}
    assert Snapshot.objects.get().total_equity_usd == Decimal("2.5")
    # The copied spellings ("2.5", "1.0e-05", "7") are found by the exact amount.
    for amount in ("2.5", "0.00001", "0", "7"):
        assert BalanceLine.objects.filter(equity=Decimal(amount)).count() == 1, amount
    assert set(BalanceLine.objects.filter(equity__gt=Decimal(2)).values_list("ccy", flat=True)) == {
        "A",
        "D",
        "E",
    }


def test_a_stored_infinity_becomes_unknown_not_a_zero_in_sql(old_apps):
    """SQLite kept an unvalidated "1e400" as the REAL infinity (PostgreSQL's numeric refuses it).
    After 0003 it is NULL: as the text "Inf" it would have been 0.0 in every CAST, so a chart or
    an alert would have read a 0 where nothing is known."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's numeric(38,18) cannot hold an infinity: no such row exists there")
    OldAccount = old_apps.get_model("accounts", "Account")
    OldSnapshot = old_apps.get_model("snapshots", "Snapshot")
    account = OldAccount.objects.create(name="old desk", kind="master", environment="live")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    for cycle, value in ((1, "1000"), (2, "1000"), (3, "1000")):
        OldSnapshot.objects.create(account=account, cycle=cycle, taken_at=at, total_equity_usd=Decimal(value))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE dashboard_snapshot SET total_equity_usd = 9e999 WHERE cycle = 2")

    new_snapshot = _migrate(AFTER).get_model("snapshots", "Snapshot")

    assert sorted(new_snapshot.objects.values_list("cycle", "total_equity_usd")) == [
        (1, Decimal(1000)),
        (2, None),
        (3, Decimal(1000)),
    ]
    assert new_snapshot.objects.filter(total_equity_usd__lt=1).count() == 0


@pytest.mark.django_db
def test_a_range_is_numeric(tricky):
    assert _ccys(equity__range=(Decimal(-5), Decimal(9))) == {"A", "B", "C", "E"}  # as text: also "10"
    assert _ccys(equity__range=(Decimal(-11), Decimal(0))) == {"A", "B", "F"}
