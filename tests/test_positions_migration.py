"""snapshots 0002: positions stored before it keep every value; what can be derived for them (the
side in words, the unit, the PnL's currency and its USD value at the same snapshot's trading
price) is, the rest is unknown with the reason, never zero."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from snapshots.models import PositionLine

BEFORE = [("snapshots", "0001_initial")]
AFTER = [("snapshots", "0002_position_side_unit_upl_usd")]


def migrate(nodes):
    executor = MigrationExecutor(connection)
    executor.migrate(nodes)
    return MigrationExecutor(connection).loader.project_state(nodes).apps


@pytest.fixture
def old_apps(transactional_db: None) -> Iterator:
    try:
        yield migrate(BEFORE)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_old_positions_get_what_can_be_derived_and_unknown_for_the_rest(old_apps):
    Account = old_apps.get_model("accounts", "Account")
    Snapshot = old_apps.get_model("snapshots", "Snapshot")
    BalanceLine = old_apps.get_model("snapshots", "BalanceLine")
    OldLine = old_apps.get_model("snapshots", "PositionLine")
    account = Account.objects.create(name="old desk", kind="master", environment="live")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    snap = Snapshot.objects.create(account=account, cycle=1, taken_at=at)
    BalanceLine.objects.create(
        snapshot=snap, wallet="trading", ccy="BTC", equity=Decimal("2"), usd_value=Decimal("130000")
    )
    BalanceLine.objects.create(
        snapshot=snap, wallet="trading", ccy="USDT", equity=Decimal("100"), usd_value=Decimal("100")
    )

    def line(inst_id, inst_type, side, size, upl):
        OldLine.objects.create(snapshot=snap, inst_id=inst_id, inst_type=inst_type, side=side,
                               size=Decimal(size), upl=Decimal(upl), margin_mode="cross")  # fmt: skip

    line("BTC-USD-SWAP", "SWAP", "net", "-5", "0.0128205128")
    line("BTC-USDT-SWAP", "SWAP", "long", "2", "200.2")
    line("ETH-USD-SWAP", "SWAP", "net", "3", "0.5")  # no ETH in that snapshot's trading account
    line("BTC-USDT", "MARGIN", "net", "1500", "12.5")

    migrate(AFTER)

    # The columns of 0002 only: later migrations add others (0006: adl, ...) not there yet.
    columns = ("inst_id", "side", "pos_side", "size_unit", "upl", "upl_ccy", "upl_usd", "upl_usd_basis")
    lines = {p.inst_id: p for p in PositionLine.objects.only(*columns)}
    inverse = lines["BTC-USD-SWAP"]
    assert (inverse.side, inverse.pos_side, inverse.size_unit, inverse.upl_ccy) == (
        "short",
        "net",
        "contracts",
        "BTC",
    )
    assert inverse.upl_usd == Decimal("833.333332") and inverse.upl == Decimal("0.0128205128")
    assert (lines["BTC-USDT-SWAP"].side, lines["BTC-USDT-SWAP"].upl_usd) == ("long", Decimal("200.2"))
    unpriced = lines["ETH-USD-SWAP"]
    assert unpriced.upl_usd is None and "no USD price of ETH" in unpriced.upl_usd_basis
    margin = lines["BTC-USDT"]
    assert (margin.side, margin.size_unit, margin.upl_usd) == ("", "", None)
    assert "margin currency is not known" in margin.upl_usd_basis
