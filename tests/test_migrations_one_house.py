"""Moving models between apps (issue 15) keeps every table, row and content type.

The moves are state-only (SeparateDatabaseAndState, each model keeps its old db_table), so a
database made by the previous release must come through `migrate` unchanged. These tests build
such a database with the migration executor: migrate back to the last release's leaf nodes
(accounts 0004_alerts, dashboard 0002_reports, no snapshots/alerts/reports), fill every moved
model through the historical models of that state, migrate to the latest state and find every row
through today's models. The same tests run on SQLite and in CI on PostgreSQL; the one branch on
the database vendor holds PostgreSQL's NUMERIC columns to the 38 digits the old release wrote
(SQLite keeps a decimal column as REAL, about 15 significant digits, before and after the move).

The fixture puts the database back at the latest migration when a test ends, pass or fail,
before pytest-django flushes it: the tests after these expect the current schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as current_apps
from django.apps.registry import Apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from alerts.models import Alert, AlertChannel, Delivery
from reports.models import Report, ReportSchedule
from snapshots.models import Snapshot

# model name -> (app label before the move, app label after it)
MOVED = {
    "alertchannel": ("accounts", "alerts"),
    "alertsettings": ("accounts", "alerts"),
    "alert": ("accounts", "alerts"),
    "delivery": ("accounts", "alerts"),
    "snapshot": ("dashboard", "snapshots"),
    "balanceline": ("dashboard", "snapshots"),
    "positionline": ("dashboard", "snapshots"),
    "reportschedule": ("dashboard", "reports"),
    "report": ("dashboard", "reports"),
}
NEW_APPS = ("alerts", "snapshots", "reports", "ledger")
# The last release's leaf nodes of the apps the models left.
OLD_LEAVES = {"accounts": ("accounts", "0004_alerts"), "dashboard": ("dashboard", "0002_reports")}
# The migrations that move the models: state only.
MOVES = {
    ("accounts", "0005_alerts_moved_out"),
    ("dashboard", "0003_moved_out"),
    ("snapshots", "0001_initial"),
    ("alerts", "0001_initial"),
    ("reports", "0001_initial"),
}

AT = datetime(2026, 11, 20, 8, 30, 15, 123456, tzinfo=UTC)
# 38 digits, 18 after the point: the widest amount the money columns hold, and the smallest.
WIDE = Decimal("12345678901234567890.123456789012345678")
TINY = Decimal("0.000000000000000001")
NEGATIVE = Decimal("-0.123456789012345678")

Rows = dict[str, list[dict[str, Any]]]  # model name -> its rows as column -> value, by pk


# -- migrating -----------------------------------------------------------------------------
def _executor() -> MigrationExecutor:
    """A fresh executor: its loader reads which migrations the database has applied now."""
    return MigrationExecutor(connection)


def _latest_nodes(executor: MigrationExecutor) -> list[tuple[str, str]]:
    return executor.loader.graph.leaf_nodes()


def _old_nodes(executor: MigrationExecutor) -> list[tuple[str, str]]:
    """Every app's leaf, except the moved-from apps at the last release and no new apps."""
    nodes = [OLD_LEAVES.get(app, (app, name)) for app, name in _latest_nodes(executor)]
    return [node for node in nodes if node[0] not in NEW_APPS]


def migrate_to_old() -> Apps:
    """Migrate back to the last release; returns the historical models of that state."""
    executor = _executor()
    old = _old_nodes(executor)
    executor.migrate([*old, *((app, None) for app in NEW_APPS)])
    return _executor().loader.project_state(old).apps


def migrate_to_latest() -> None:
    executor = _executor()
    executor.migrate(_latest_nodes(executor))


def pending_plan() -> list[tuple[Any, bool]]:
    """(Migration, backwards) pairs that `migrate` would apply now."""
    executor = _executor()
    return executor.migration_plan(_latest_nodes(executor))


def _nodes(plan: list[tuple[Any, bool]]) -> set[tuple[str, str]]:
    return {(migration.app_label, migration.name) for migration, _ in plan}


@pytest.fixture
def old_apps(transactional_db: None) -> Iterator[Apps]:
    """The database as the last release left it (its historical models); at the end of the test
    it is migrated to the latest state again, before pytest-django flushes it."""
    ContentType.objects.clear_cache()
    try:
        yield migrate_to_old()
    finally:
        migrate_to_latest()
        ContentType.objects.clear_cache()
    assert pending_plan() == []


# -- the last release's data ----------------------------------------------------------------
def _old_content_types(apps: Apps) -> dict[str, Any]:
    """Content types under the old labels, as the last release's database has them (the test
    database was made by today's code, so its rows carry the new labels: rename them back).
    Returns model name -> historical ContentType."""
    content_type_model = apps.get_model("contenttypes", "ContentType")
    types = {}
    for model, (old, new) in MOVED.items():
        content_type_model.objects.filter(app_label=new, model=model).update(app_label=old)
        types[model], _ = content_type_model.objects.get_or_create(app_label=old, model=model)
    return types


def fill_old_database(apps: Apps) -> None:
    """A row of every moved model through the historical models, with every relation: the M2M
    of a schedule, snapshot -> lines, alert -> delivery -> channel, schedule -> report, plus an
    admin log entry and a granted permission on each moved model's content type."""
    user = apps.get_model("auth", "User").objects.create(username="old-admin", password="!", is_staff=True)
    account_model = apps.get_model("accounts", "Account")
    desk = account_model.objects.create(name="Desk A", uid="700000000000000001")
    other = account_model.objects.create(name="Desk B", uid="700000000000000002")
    credential = apps.get_model("accounts", "Credential").objects.create(
        account=desk, fingerprint="0001", status="active", api_key_enc="sealed", warnings=["expires"]
    )
    rows = {**_fill_snapshots(apps, desk), **_fill_alerts(apps, desk, credential)}
    rows.update(_fill_reports(apps, [desk, other]))

    permission_model = apps.get_model("auth", "Permission")
    for model, content_type in _old_content_types(apps).items():
        apps.get_model("admin", "LogEntry").objects.create(
            user=user,
            content_type=content_type,
            object_id=str(rows[model].pk),
            object_repr=f"old {model}",
            action_flag=2,
            change_message="[]",
            action_time=AT,
        )
        permission, _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=f"view_{model}", defaults={"name": f"Can view {model}"}
        )
        user.user_permissions.add(permission)


def _fill_snapshots(apps: Apps, account: Any) -> dict[str, Any]:
    snapshot = apps.get_model("dashboard", "Snapshot").objects.create(
        account=account,
        cycle=29_876_543,
        taken_at=AT,
        total_equity_usd=WIDE,
        trading_equity_usd=TINY,
        funding_usd=None,
        unpriced_funding=["FAKE"],
        via_master=True,
    )
    balance_model = apps.get_model("dashboard", "BalanceLine")
    balance = balance_model.objects.create(
        snapshot=snapshot, wallet="trading", ccy="BTC", equity=WIDE, usd_value=TINY, available=NEGATIVE
    )
    balance_model.objects.create(snapshot=snapshot, wallet="funding", ccy="FAKE", equity=Decimal("10"))
    position = apps.get_model("dashboard", "PositionLine").objects.create(
        snapshot=snapshot,
        inst_id="BTC-USDT-SWAP",
        inst_type="SWAP",
        side="long",
        size=Decimal("0.5"),
        avg_price=WIDE,
        mark_price=TINY,
        upl=NEGATIVE,
        upl_ratio=Decimal("-0.000000000000000123"),
        leverage=Decimal("10"),
        liq_price=None,
        margin_mode="cross",
        notional_usd=WIDE,
    )
    return {"snapshot": snapshot, "balanceline": balance, "positionline": position}


def _fill_alerts(apps: Apps, account: Any, credential: Any) -> dict[str, Any]:
    channel = apps.get_model("accounts", "AlertChannel").objects.create(
        name="desk mail", kind="email", recipients="desk@example.com", url_enc="sealed-url", url_hint="com/"
    )
    settings = apps.get_model("accounts", "AlertSettings").objects.create(
        equity_drop=True, equity_drop_percent=Decimal("12.50"), refresh_stopped_minutes=15
    )
    alert = apps.get_model("accounts", "Alert").objects.create(
        rule="key_failing",
        subject=f"credential:{credential.pk}",
        stage="failing",
        account=account,
        credential=credential,
        title="Key 0001 is failing",
        message="OKX said 50113",
        opened_at=AT,
        changed_at=AT,
    )
    delivery = apps.get_model("accounts", "Delivery").objects.create(
        alert=alert,
        channel=channel,
        channel_name=channel.name,
        event="firing",
        subject=alert.title,
        text=alert.message,
        status="retrying",
        attempts=2,
        http_status=503,
        created_at=AT,
        next_attempt_at=AT,
    )
    return {"alertchannel": channel, "alertsettings": settings, "alert": alert, "delivery": delivery}


def _fill_reports(apps: Apps, accounts: list[Any]) -> dict[str, Any]:
    schedule = apps.get_model("dashboard", "ReportSchedule").objects.create(
        name="weekly desks",
        cadence="weekly",
        time_of_day=time(7, 30),
        weekday=0,
        time_zone="Europe/Berlin",
        recipients="boss@example.com",
        all_accounts=False,
        currency="BTC",
    )
    schedule.accounts.set(accounts)
    report = apps.get_model("dashboard", "Report").objects.create(
        schedule=schedule,
        schedule_name=schedule.name,
        time_zone=schedule.time_zone,
        slot=AT,
        status="sent",
        attempts=1,
        sent_at=AT,
        created_at=AT,
        totals={"total_usd": str(WIDE)},
        stale_accounts=["Desk B"],
        csv="section,usd_value\r\ntotal,1\r\n",
    )
    return {"reportschedule": schedule, "report": report}


def every_row(apps: Apps, *, moved: bool) -> Rows:
    """Every column of every row of the moved models (and of the schedules' M2M table), read
    through `apps` under the labels before (`moved=False`) or after the move."""
    rows = {}
    for model, (old, new) in MOVED.items():
        rows[model] = list(apps.get_model(new if moved else old, model).objects.order_by("pk").values())
    schedule_model = apps.get_model("reports" if moved else "dashboard", "reportschedule")
    through = schedule_model._meta.get_field("accounts").remote_field.through
    rows["reportschedule_accounts"] = list(through.objects.order_by("pk").values())
    return rows


def old_columns(rows: Rows, old: Rows) -> Rows:
    """`rows` cut to the columns the last release had (a later migration may add columns)."""
    return {
        model: [{column: row[column] for column in old[model][0]} for row in model_rows]
        for model, model_rows in rows.items()
    }


def _table_names() -> set[str]:
    return set(connection.introspection.table_names())


# -- the tests ---------------------------------------------------------------------------------
def test_migrating_an_old_database_keeps_every_row_and_every_value(old_apps):
    fill_old_database(old_apps)
    before = every_row(old_apps, moved=False)
    assert all(before.values()), "every moved model (and the M2M) has rows to find"
    assert len(before["reportschedule_accounts"]) == 2
    tables = _table_names()
    forward = pending_plan()
    assert _nodes(forward) >= MOVES
    # State only: sqlmigrate of each move gives its comments and not one SQL statement.
    loader = _executor().loader
    moves = [step for step in forward if _nodes([step]) <= MOVES]
    sql = [statement for step in moves for statement in loader.collect_sql([step])]
    assert sql, "sqlmigrate wrote its comments"
    assert [statement for statement in sql if not statement.lstrip().startswith("--")] == []

    migrate_to_latest()

    assert _table_names() >= tables
    assert old_columns(every_row(current_apps, moved=True), before) == before


def test_the_amounts_are_the_ones_the_old_release_wrote(old_apps):
    fill_old_database(old_apps)
    before = every_row(old_apps, moved=False)

    migrate_to_latest()

    snapshot = Snapshot.objects.get()
    assert snapshot.total_equity_usd == before["snapshot"][0]["total_equity_usd"]
    if connection.vendor != "sqlite":
        # SQLite stores a decimal column as REAL (about 15 significant digits); a NUMERIC column
        # (PostgreSQL) must give back the 38 digits the old release wrote.
        assert (snapshot.total_equity_usd, snapshot.trading_equity_usd) == (WIDE, TINY)
        position = snapshot.positions.get()
        assert (position.avg_price, position.mark_price, position.upl) == (WIDE, TINY, NEGATIVE)
    assert snapshot.funding_usd is None and snapshot.unpriced_funding == ["FAKE"]
    assert Decimal(Report.objects.get().totals["total_usd"]) == WIDE  # a JSON string: exact anywhere


def test_the_relations_hold_through_todays_models(old_apps):
    fill_old_database(old_apps)

    migrate_to_latest()

    snapshot = Snapshot.objects.get()
    assert snapshot.account.name == "Desk A"
    assert [(line.wallet, line.ccy) for line in snapshot.balances.all()] == [
        ("funding", "FAKE"),
        ("trading", "BTC"),
    ]
    assert [line.inst_id for line in snapshot.positions.all()] == ["BTC-USDT-SWAP"]
    delivery = Delivery.objects.get()
    assert delivery.alert.credential.account == delivery.alert.account == snapshot.account
    assert delivery.channel == AlertChannel.objects.get(name="desk mail")
    assert list(delivery.alert.deliveries.all()) == [delivery]
    schedule = ReportSchedule.objects.get()
    assert sorted(schedule.accounts.values_list("name", flat=True)) == ["Desk A", "Desk B"]
    assert schedule.reports.get() == Report.objects.get()
    assert sorted(snapshot.account.report_schedules.values_list("name", flat=True)) == ["weekly desks"]


def test_content_types_move_with_their_models(old_apps):
    fill_old_database(old_apps)
    old_types = {
        model: old_apps.get_model("contenttypes", "ContentType").objects.get(app_label=old, model=model).pk
        for model, (old, _) in MOVED.items()
    }

    migrate_to_latest()
    ContentType.objects.clear_cache()

    for model, (old, new) in MOVED.items():
        content_type = ContentType.objects.get(pk=old_types[model])
        assert (content_type.app_label, content_type.model) == (new, model)
        assert content_type == ContentType.objects.get_for_model(current_apps.get_model(new, model))
        assert not ContentType.objects.filter(app_label=old, model=model).exists()
    assert LogEntry.objects.count() == len(MOVED)
    for entry in LogEntry.objects.all():
        edited = entry.get_edited_object()
        assert edited.pk == int(entry.object_id)
        assert edited._meta.app_label == entry.content_type.app_label
    assert isinstance(LogEntry.objects.get(content_type__model="snapshot").get_edited_object(), Snapshot)
    assert isinstance(LogEntry.objects.get(content_type__model="alert").get_edited_object(), Alert)
    admin = get_user_model().objects.get(username="old-admin")
    assert admin.has_perms([f"{new}.view_{model}" for model, (_, new) in MOVED.items()])


def test_migrating_back_to_the_old_release_keeps_every_row(old_apps):
    fill_old_database(old_apps)
    before = every_row(old_apps, moved=False)
    migrate_to_latest()

    old_again = migrate_to_old()

    assert every_row(old_again, moved=False) == before
    content_types = old_again.get_model("contenttypes", "ContentType").objects
    for model, (old, new) in MOVED.items():  # the old release's admin history and permissions
        assert content_types.filter(app_label=old, model=model).exists()
        assert not content_types.filter(app_label=new, model=model).exists()
    assert _nodes(pending_plan()) >= MOVES
    migrate_to_latest()
    assert old_columns(every_row(current_apps, moved=True), before) == before
