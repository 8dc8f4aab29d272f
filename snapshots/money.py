"""Exact money on every database: `MoneyField`, the column type of every amount (issue 16 item 10).

Why a field of our own: Django's SQLite backend declares a DecimalField column "decimal", which
SQLite gives NUMERIC affinity, and SQLite turns any well-formed numeric text stored there into a
REAL (an IEEE double, about 15 significant digits). OKX's funding balance "828810596.00089356"
came back as 828810596.000894 and an `eq` of "1.0095984098559447" as 1.00959840985594.
PostgreSQL's numeric(38,18) is exact, and the embedded SQLite default must keep the same promise.

What `MoneyField` is on each database:
- PostgreSQL (and any other backend): exactly Django's DecimalField, numeric(38,18), the same
  parameters and values as before; psycopg hands back Decimal.
- SQLite: a TEXT column (TEXT affinity: SQLite never converts what is stored there) holding the
  canonical decimal string of the amount: plain notation, no exponent, no trailing zeros, "0" for
  any zero ("828810596.00089356", "-5", "0"). It reads back as the Decimal quantized to 18 places,
  as PostgreSQL's numeric(38,18) and Django's SQLite converter give it, so callers see the same
  Decimal on both databases. One canonical spelling per value is what makes `=` and `IN` exact.

Text does not compare or aggregate as numbers ("-5" > "0", "9" > "10"), so on SQLite:
- `gt`, `gte`, `lt` and `lte` on a MoneyField compare `CAST(... AS REAL)` of both sides
  (registered below; PostgreSQL compares the numerics as before). REAL keeps about 15 significant
  digits: two amounts that differ only beyond that compare as equal there.
- `exact` and `in` compare the canonical text (exact, as on PostgreSQL); `range` casts like the
  comparisons.
- Aggregates must be `MoneySum`, `MoneyAvg`, `MoneyMax`, `MoneyMin` from this module: on SQLite
  they aggregate `CAST(... AS REAL)` (plain `Max` would take the lexicographic maximum of the
  text). Sums and means over SQLite are float-approximate, as they were with the REAL columns;
  callers round them (snapshots.queries `_decimal`, cents on every surface). On PostgreSQL they
  are Django's exact aggregates.
- `order_by` a money column on SQLite would sort the text: order by `Cast(..., FloatField())` if
  one is ever needed (nothing does today).
- Arithmetic in SQL on a MoneyField (F("equity") * 2) is not supported on SQLite (Django refuses
  it for a non-numeric internal type); no query needs it.

The internal type is "MoneyField", not "DecimalField": Django's SQLite backend adds a float
converter to every "DecimalField" result, which cannot read text. On other backends the column
type is still looked up as "DecimalField" (numeric(38,18)), so the migration that introduced this
field (snapshots 0003) changes nothing on PostgreSQL.

A stored value that is not a finite decimal (an old SQLite row that held OKX's "1e400" as REAL
infinity, read back as the text "Inf") reads as None, unknown, with a warning in the log: no page
breaks on a stored value.
"""

from __future__ import annotations

import decimal
import logging
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import lookups
from django.db.models.sql.compiler import SQLCompiler

log = logging.getLogger(__name__)

MAX_DIGITS = 38
DECIMAL_PLACES = 18
# Every canonical value fits: 38 significant digits at most (the column's limit).
CONTEXT = decimal.Context(prec=MAX_DIGITS)
STEP = Decimal(1).scaleb(-DECIMAL_PLACES)
# What SQLite's own REAL results (aggregates) are worth: Django reads them at 15 digits too.
FLOAT_CONTEXT = decimal.Context(prec=15)


def canonical(value: Decimal) -> str:
    """The one text spelling of an amount in a SQLite money column: rounded to 18 places (as
    numeric(38,18) rounds), plain notation, no trailing zeros, "0" for zero ("-0" too).

    Raises decimal.InvalidOperation for a non-finite value or one with more than 20 digits before
    the point (numeric(38,18) refuses those too)."""
    rounded = value.quantize(STEP, context=CONTEXT)
    if rounded.is_zero():
        return "0"
    return format(rounded.normalize(context=CONTEXT), "f")


def _read(value: Any) -> Decimal | None:
    """A value as SQLite hands it back: canonical text for a column, REAL/INTEGER for a SQLite
    aggregate over CAST(... AS REAL)."""
    if isinstance(value, float):
        return FLOAT_CONTEXT.create_decimal_from_float(value)
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(value).quantize(STEP, context=CONTEXT)


class MoneyField(models.DecimalField):
    """A DecimalField that is exact on SQLite too (see the module docstring). Used with
    snapshots.models.MONEY (max_digits 38, decimal_places 18)."""

    def get_internal_type(self) -> str:
        return "MoneyField"

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "sqlite":
            return "text"
        return connection.data_types["DecimalField"] % self.db_type_parameters(connection)

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if connection.vendor != "sqlite":
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or hasattr(value, "as_sql"):
            return value
        return canonical(value)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Decimal | None:
        if value is None:
            return None
        try:
            # PostgreSQL: psycopg's Decimal, exactly as stored (numeric also holds 'NaN').
            read = value if isinstance(value, Decimal) else _read(value)
        except (decimal.InvalidOperation, TypeError, ValueError):
            read = None
        if read is None or not read.is_finite():
            log.warning("unreadable stored amount %.40r read as unknown", value)
            return None
        return read


def _real_compare(
    lookup: lookups.BuiltinLookup, compiler: SQLCompiler, connection: BaseDatabaseWrapper, operator: str
) -> tuple[str, tuple[Any, ...]]:
    """SQLite: `CAST(lhs AS REAL) <operator> CAST(rhs AS REAL)`, numbers, not text."""
    lhs_sql, lhs_params = lookup.process_lhs(compiler, connection)
    rhs_sql, rhs_params = lookup.process_rhs(compiler, connection)
    return f"CAST({lhs_sql} AS REAL) {operator} CAST({rhs_sql} AS REAL)", (*lhs_params, *rhs_params)


@MoneyField.register_lookup
class MoneyGreaterThan(lookups.GreaterThan):
    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[Any, ...]]:
        return _real_compare(self, compiler, connection, ">")


@MoneyField.register_lookup
class MoneyGreaterThanOrEqual(lookups.GreaterThanOrEqual):
    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[Any, ...]]:
        return _real_compare(self, compiler, connection, ">=")


@MoneyField.register_lookup
class MoneyLessThan(lookups.LessThan):
    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[Any, ...]]:
        return _real_compare(self, compiler, connection, "<")


@MoneyField.register_lookup
class MoneyLessThanOrEqual(lookups.LessThanOrEqual):
    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[Any, ...]]:
        return _real_compare(self, compiler, connection, "<=")


@MoneyField.register_lookup
class MoneyRange(lookups.Range):
    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[Any, ...]]:
        """`CAST(lhs AS REAL) BETWEEN CAST(low AS REAL) AND CAST(high AS REAL)`."""
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        _, rhs_params = self.process_rhs(compiler, connection)
        sql = f"CAST({lhs_sql} AS REAL) BETWEEN CAST(%s AS REAL) AND CAST(%s AS REAL)"
        return sql, (*lhs_params, *rhs_params)


class _AggregateRealOnSqlite:
    """SQLite: aggregate CAST(value AS REAL), not the text (float-approximate, see above)."""

    template: str

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, Any]:
        # On a copy's template, not as a keyword: Aggregate.as_sql passes its own `template` when
        # there is a filter (FILTER (WHERE ...)), and two would collide.
        copy = self.copy()  # type: ignore[attr-defined]
        copy.template = "%(function)s(%(distinct)sCAST(%(expressions)s AS REAL))"
        return copy.as_sql(compiler, connection, **extra_context)


class MoneySum(_AggregateRealOnSqlite, models.Sum):
    """Sum of a MoneyField: exact on PostgreSQL, float-approximate on SQLite. Decimal or None."""


class MoneyAvg(_AggregateRealOnSqlite, models.Avg):
    """Mean of a MoneyField: exact on PostgreSQL, float-approximate on SQLite. Decimal or None."""


class MoneyMax(_AggregateRealOnSqlite, models.Max):
    """Largest amount of a MoneyField, compared as numbers on every database. Decimal or None."""


class MoneyMin(_AggregateRealOnSqlite, models.Min):
    """Smallest amount of a MoneyField, compared as numbers on every database. Decimal or None."""
