"""Exact money (issue 16 item 10): every amount column becomes snapshots.money.MoneyField.

PostgreSQL: nothing changes (numeric(38,18) before and after; Django emits no ALTER for an
unchanged column type).

SQLite: each AlterField rebuilds its table with TEXT columns and copies the rows; SQLite writes
each stored REAL as its text (828810596.000894 -> "828810596.000894"). Existing rows keep exactly
the value they had (the digits SQLite had already dropped cannot come back); rows written from now
on are exact. Then `canonical_text` rewrites the few copied spellings that are not canonical
("5.0", "1.0e-05", "-0.0") to the one spelling MoneyField writes, so `=` and `IN` match old rows
too. A stored value that is no amount (SQLite keeps an unvalidated "1e400" as the REAL infinity,
copied as the text "Inf"; or "NaN") becomes NULL, unknown: SQLite's CAST("Inf" AS REAL) is 0.0,
so left as text it would count as 0 in every comparison and aggregate.
"""

from decimal import Decimal, InvalidOperation

from django.db import migrations

import snapshots.money

# The columns this migration turns into MoneyField, by table.
MONEY_COLUMNS = {
    "dashboard_snapshot": ["total_equity_usd", "trading_equity_usd", "funding_usd"],
    "dashboard_balanceline": ["equity", "usd_value", "available", "frozen"],
    "dashboard_positionline": [
        "size", "avg_price", "mark_price", "upl", "upl_usd", "upl_usd_price", "upl_ratio",
        "leverage", "liq_price", "notional_usd",
    ],
}  # fmt: skip
# What SQLite's REAL-to-text spelling has and canonical text never has: letters (an exponent,
# Inf, NaN), a trailing zero after the point, a trailing point, a negative zero.
NOT_CANONICAL = "({c} GLOB '*[A-Za-z]*' OR {c} GLOB '*.*0' OR {c} GLOB '*.' OR {c} = '-0')"


def canonical_text(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, columns in MONEY_COLUMNS.items():
            for column in columns:
                c = quote(column)
                cursor.execute(f"SELECT id, {c} FROM {quote(table)} WHERE {NOT_CANONICAL.format(c=c)}")  # noqa: S608
                fixed: list[tuple[str | None, int]] = []
                for pk, text in cursor.fetchall():
                    try:
                        fixed.append((snapshots.money.canonical(Decimal(str(text))), pk))
                    except (InvalidOperation, ValueError):
                        fixed.append((None, pk))  # no amount: unknown, never a 0 in SQL
                cursor.executemany(f"UPDATE {quote(table)} SET {c} = %s WHERE id = %s", fixed)  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0002_position_side_unit_upl_usd"),
    ]

    operations = [
        migrations.AlterField(
            model_name="balanceline",
            name="available",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="balanceline",
            name="equity",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="balanceline",
            name="frozen",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="balanceline",
            name="usd_value",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="avg_price",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="leverage",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="liq_price",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="mark_price",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="notional_usd",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="size",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="upl",
            field=snapshots.money.MoneyField(
                blank=True, decimal_places=18, max_digits=38, null=True, verbose_name="unrealised PnL"
            ),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="upl_ratio",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="upl_usd",
            field=snapshots.money.MoneyField(
                blank=True, decimal_places=18, max_digits=38, null=True, verbose_name="unrealised PnL (USD)"
            ),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="upl_usd_price",
            field=snapshots.money.MoneyField(
                blank=True,
                decimal_places=18,
                max_digits=38,
                null=True,
                verbose_name="USD price of the PnL currency",
            ),
        ),
        migrations.AlterField(
            model_name="snapshot",
            name="funding_usd",
            field=snapshots.money.MoneyField(
                blank=True,
                decimal_places=18,
                max_digits=38,
                null=True,
                verbose_name="funding value (USD, priced currencies)",
            ),
        ),
        migrations.AlterField(
            model_name="snapshot",
            name="total_equity_usd",
            field=snapshots.money.MoneyField(
                blank=True, decimal_places=18, max_digits=38, null=True, verbose_name="total equity (USD)"
            ),
        ),
        migrations.AlterField(
            model_name="snapshot",
            name="trading_equity_usd",
            field=snapshots.money.MoneyField(blank=True, decimal_places=18, max_digits=38, null=True),
        ),
        migrations.RunPython(canonical_text, migrations.RunPython.noop),
    ]
