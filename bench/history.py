"""A year of snapshot history after retention, written straight into the tables (not via refresh).

Per account: raw every minute for 7 days (10,080), the first of each hour from 7 to 90 days
(83 x 24 = 1,992), the first of each day from 90 to 365 days (275): 12,347 snapshots, each with
three balance lines (trading USDT and BTC, funding USDT). One template account is written from
Python; every other account is copied from it inside the database (INSERT ... SELECT with id
offsets), which is what makes millions of rows fit in minutes. Its equity is scaled per account.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

RAW_DAYS, HOURLY_DAYS, YEAR_DAYS = 7, 90, 365


def history_times(now: datetime) -> list[datetime]:
    """The taken_at of one account's snapshots after retention, oldest first."""
    raw = [now - timedelta(minutes=m) for m in range(RAW_DAYS * 1440)]
    hourly = [now - timedelta(days=RAW_DAYS, hours=h) for h in range(1, (HOURLY_DAYS - RAW_DAYS) * 24 + 1)]
    daily = [now - timedelta(days=HOURLY_DAYS + d) for d in range(1, YEAR_DAYS - HOURLY_DAYS + 1)]
    return sorted([*raw, *hourly, *daily])


def write_template(account, now: datetime) -> tuple[int, int, int, int]:
    """The template account's history; returns (first snapshot id, count, first line id, count)."""
    from django.db.models import Count, Max, Min

    from snapshots.models import BalanceLine, Snapshot, Wallet

    rng = random.Random(11)
    equity = 50_000.0
    snapshots = []
    for i, taken_at in enumerate(history_times(now)):
        equity = max(1000.0, equity * (1 + rng.gauss(0, 0.001)))
        total = Decimal(f"{equity:.2f}")
        snapshots.append(
            Snapshot(
                account=account, cycle=i, taken_at=taken_at, total_equity_usd=total,
                trading_equity_usd=total - 500, funding_usd=Decimal(500),
            )
        )  # fmt: skip
    Snapshot.objects.bulk_create(snapshots, batch_size=2000)
    ids = list(Snapshot.objects.filter(account=account).order_by("id").values_list("id", flat=True))
    lines = []
    for sid, snap in zip(ids, snapshots, strict=True):
        usdt = snap.trading_equity_usd - Decimal("6500")
        for wallet, ccy, amount, usd in (
            (Wallet.TRADING, "USDT", usdt, usdt),
            (Wallet.TRADING, "BTC", Decimal("0.1"), Decimal(6500)),
            (Wallet.FUNDING, "USDT", Decimal(500), Decimal(500)),
        ):
            lines.append(
                BalanceLine(
                    snapshot_id=sid,
                    wallet=wallet,
                    ccy=ccy,
                    equity=amount,
                    usd_value=usd,
                    available=amount,
                    frozen=0,
                )
            )
    BalanceLine.objects.bulk_create(lines, batch_size=3000)
    span = BalanceLine.objects.aggregate(first=Min("id"), last=Max("id"), n=Count("id"))
    # The copies shift ids by whole blocks, so the template's ids must have no gaps.
    assert ids == list(range(ids[0], ids[0] + len(ids))), "template snapshot ids must be contiguous"
    assert span["last"] - span["first"] + 1 == span["n"] == len(lines), "template line ids must be contiguous"
    return ids[0], len(ids), span["first"], len(lines)


def copy_sql(model, table_alias: str, overrides: dict[str, str | None]) -> str:
    """INSERT INTO <table> (<every column>) SELECT <column or override> FROM <table>; a column
    overridden with None is left out (the database numbers it)."""
    from django.db import connection

    quote = connection.ops.quote_name
    columns = [f.column for f in model._meta.concrete_fields if overrides.get(f.column, "") is not None]
    select = [overrides.get(c, f"{table_alias}.{quote(c)}") for c in columns]
    table = quote(model._meta.db_table)
    # Table and column names come from the models; every value is a query parameter.
    names = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {table} ({names}) SELECT {', '.join(select)} FROM {table} {table_alias}"  # noqa: S608


def copy_template(template: tuple[int, int, int, int], template_account: int, accounts: list[int]) -> None:
    """Every account in `accounts` gets the template's history (ids shifted by whole blocks)."""
    from django.db import connection, transaction

    from snapshots.models import BalanceLine, Snapshot

    first_snap, n_snap, _, n_line = template
    snap_sql = (
        copy_sql(
            Snapshot,
            "s",
            {
                "id": "s.id + %(snap_off)s",
                "account_id": "%(account)s",
                "total_equity_usd": "s.total_equity_usd * %(scale)s",
            },
        )
        + " WHERE s.account_id = %(template)s"
    )
    line_sql = (
        copy_sql(
            BalanceLine, "b", {"id": "b.id + %(line_off)s", "snapshot_id": "b.snapshot_id + %(snap_off)s"}
        )
        + " WHERE b.snapshot_id BETWEEN %(first)s AND %(last)s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for k, account_id in enumerate(accounts, start=1):
            params = {
                "snap_off": k * n_snap, "line_off": k * n_line, "account": account_id,
                "template": template_account, "scale": 0.5 + (k % 10) / 10,
                "first": first_snap, "last": first_snap + n_snap - 1,
            }  # fmt: skip
            cursor.execute(snap_sql, params)
            cursor.execute(line_sql, params)
    _reset_sequences(Snapshot, BalanceLine)


def _reset_sequences(*models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models)):
            cursor.execute(sql)
