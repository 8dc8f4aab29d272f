"""Checks at the edge: OKX's answer is read field by field, and anything that is not what OKX
documents becomes MalformedData naming the field and the value, never a stored fact.

What is checked, and why:
- Shape. OKX's envelope is {"code": "0", "msg": "", "data": [...]}: "data" is always an array,
  even for a single object (okx-reference.md 2.0; docs-v5 "REST API" response examples). Each
  element is an object. Endpoints that describe one object (balance, config, asset valuation,
  server time) must send exactly one: an empty list there is not "nothing to report" but a
  broken answer (see the client's per-endpoint parsers for the docs quoted).
- Numbers. OKX sends every amount as a string ("Types: String" in every response table); "" means
  "not applicable" (docs-v5: '"" will be returned for inapplicable fields') and stays None. A
  number must be plain decimal notation (an exponent is accepted when the value is exact), finite,
  |x| < 10**20 and exact at 18 decimal places, because every amount column is NUMERIC(38, 18)
  (snapshots.models.MONEY): 20 digits before the point, 18 after. A value with more non-zero
  decimals than 18 cannot be stored exactly, so it is refused rather than rounded: OKX documents
  no amount finer than 18 places (the smallest unit of an 18-decimal token), so such a value is
  not OKX's. Trailing zeros beyond 18 places are harmless and accepted.
- Timestamps. Unix epoch milliseconds as a string of digits (docs-v5: "Unix timestamp format in
  milliseconds, e.g. 1597026383085"), between 2010-01-01 and 2100-01-01 UTC: nothing OKX reports
  predates OKX, and a date after 2100 is a wrong unit or garbage.
- Text. Strings of bounded length (the columns that store them: ccy 32, instId 64, UID 32...).

The offending value is shown through `shown()`: repr'd, non-ASCII escaped, trimmed to 80
characters, so a hostile or huge value can be logged and shown on a page safely.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

SHOWN_CHARS = 80
MAX_NUMBER_CHARS = 64  # 38 significant digits, sign, point and an exponent fit easily
AMOUNT_LIMIT = Decimal(10) ** 20  # NUMERIC(38, 18): 20 digits before the point
PLACES = 18
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EARLIEST_MS = int(EARLIEST.timestamp() * 1000)
LATEST_MS = int(LATEST.timestamp() * 1000)
_STEP = Decimal(1).scaleb(-PLACES)
_EXACT = Context(prec=60)  # room for 20 + 18 digits and the exponent's trailing zeros: no rounding
TEXT_LIMIT = 64  # a field without a limit of its own (codes like acctLv, posMode, type)

# ASCII digits only: \d also matches Arabic-Indic and fullwidth digits, which Decimal() reads as
# numbers ("123" in either script is 123).
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?", re.ASCII)
_MILLIS = re.compile(r"\d{1,16}", re.ASCII)
_repr = reprlib.Repr()
_repr.maxstring = SHOWN_CHARS
_repr.maxother = SHOWN_CHARS
_repr.maxlist = _repr.maxdict = 4
_repr.maxlevel = 3


class _Absent:
    """Stands for a field that is not in the answer at all (shown as "(absent)", unlike "")."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


def shown(value: Any) -> str:
    """The value for a message: repr'd (so "" and None differ), non-ASCII escaped, <= 80 chars."""
    text = _repr.repr(value).encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


class MalformedData(ValueError):
    """A field of OKX's answer is not what OKX documents. `field` is its path in the answer
    ("data[0].details[2].eq"), `value` the offending value as shown(), `problem` what is wrong."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = shown(value)
        self.problem = problem
        super().__init__(f"{field} = {self.value}: {problem}")


def decimal_of(value: Any, field: str) -> Decimal | None:
    """Decimal from an OKX number string; None for "" ("not applicable"). MalformedData for
    anything else: not a string, not a number (NaN, Infinity, "abc"), |x| >= 10**20, or more than
    18 non-zero decimals (NUMERIC(38, 18) could not hold it exactly)."""
    if value == "" and isinstance(value, str):
        return None
    if not isinstance(value, str):
        raise MalformedData(field, value, "not a number string (OKX sends amounts as strings)")
    if len(value) > MAX_NUMBER_CHARS or not _NUMBER.fullmatch(value):
        raise MalformedData(field, value, "not a finite decimal number")
    try:
        number = Decimal(value)
    except InvalidOperation:  # the pattern admits only what Decimal reads; kept for safety
        raise MalformedData(field, value, "not a finite decimal number") from None
    # copy_abs and comparisons are exact; abs() and normalize() would round to 28 digits.
    if not number.is_finite() or number.copy_abs() >= AMOUNT_LIMIT:
        raise MalformedData(field, value, "out of range (|x| must be below 10^20)")
    if number.quantize(_STEP, context=_EXACT) != number:
        raise MalformedData(field, value, f"more than {PLACES} decimal places (cannot be stored exactly)")
    return number


def datetime_of(value: Any, field: str) -> datetime | None:
    """UTC datetime from epoch milliseconds (a string of digits); None for "". MalformedData for
    anything else or a moment outside 2010-01-01..2100-01-01 UTC."""
    if value == "" and isinstance(value, str):
        return None
    if not isinstance(value, str) or not _MILLIS.fullmatch(value):
        raise MalformedData(field, value, "not a timestamp (epoch milliseconds as a string)")
    millis = int(value)
    if not EARLIEST_MS <= millis < LATEST_MS:
        raise MalformedData(field, value, "timestamp outside 2010..2100")
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def text_of(value: Any, field: str, limit: int = TEXT_LIMIT) -> str:
    """A string of at most `limit` characters."""
    if not isinstance(value, str):
        raise MalformedData(field, value, "not a string")
    if len(value) > limit:
        raise MalformedData(field, value, f"longer than {limit} characters")
    return value


def flag_of(value: Any, field: str) -> bool:
    """A JSON boolean, or OKX's "true"/"false" strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MalformedData(field, value, "not true or false")


class Fields:
    """One object of OKX's answer, read field by field. Absent optional fields read as OKX's
    "not applicable" (None, "" or False); `required=True` fields must be present and non-empty
    (the docs list them for every account mode). Every problem names the field's path."""

    __slots__ = ("row", "where")

    def __init__(self, row: Mapping[str, Any], where: str) -> None:
        self.row = row
        self.where = where

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}"

    def _value(self, key: str, required: bool) -> Any:
        if key not in self.row:
            if required:
                raise MalformedData(self._path(key), ABSENT, "required field missing")
            return ""
        value = self.row[key]
        if required and value == "":
            raise MalformedData(self._path(key), value, "required field is empty")
        return value

    def has(self, key: str) -> bool:
        return key in self.row

    def number(self, key: str, *, required: bool = False) -> Decimal | None:
        return decimal_of(self._value(key, required), self._path(key))

    def amount(self, key: str, *, required: bool = False, strict: bool = False) -> Decimal | None:
        """A number OKX documents as a quantity that is never negative (a deposit's `amt`, a
        withdrawal's `fee`): >= 0, or > 0 when `strict` (a transfer of nothing is no transfer)."""
        number = self.number(key, required=required)
        if number is not None and (number <= 0 if strict else number < 0):
            raise MalformedData(self._path(key), self.row[key], "must be above 0" if strict else "negative")
        return number

    def time(self, key: str, *, required: bool = False) -> datetime | None:
        return datetime_of(self._value(key, required), self._path(key))

    def text(self, key: str, *, required: bool = False, limit: int = TEXT_LIMIT) -> str:
        return text_of(self._value(key, required), self._path(key), limit)

    def flag(self, key: str) -> bool:
        value = self._value(key, False)
        return False if value == "" else flag_of(value, self._path(key))

    def objects(self, key: str, *, required: bool = False) -> list[Fields]:
        """A nested array of objects (e.g. balance `details`); [] when absent and optional."""
        value = self._value(key, required)
        if value == "" and not required:
            return []
        return objects_in(value, self._path(key))

    def object(self, key: str, *, required: bool = False) -> Fields:
        """A nested object (e.g. asset valuation `details`); an empty one when absent."""
        value = self._value(key, required)
        if value == "" and not required:
            return Fields({}, self._path(key))
        if not isinstance(value, Mapping):
            raise MalformedData(self._path(key), value, "not an object")
        return Fields(value, self._path(key))


def objects_in(data: Any, where: str = "data") -> list[Fields]:
    """Each element of an array of objects (OKX's `data`, or a nested array)."""
    if not isinstance(data, list):
        raise MalformedData(where, data, "not an array")
    rows = []
    for index, row in enumerate(data):
        if not isinstance(row, Mapping):
            raise MalformedData(f"{where}[{index}]", row, "not an object")
        rows.append(Fields(row, f"{where}[{index}]"))
    return rows


def arrays_in(data: Any, columns: tuple[str, ...], where: str = "data") -> list[Fields]:
    """Each element of an array of arrays (OKX's candles: `[ts, o, h, l, c, confirm]`), read as
    an object whose keys are `columns` in order, so a problem names the column ("data[3].c").
    A row shorter than `columns` is malformed; extra trailing columns are ignored (OKX appends
    new columns at the end, as it did for the trading candles' volume fields)."""
    if not isinstance(data, list):
        raise MalformedData(where, data, "not an array")
    rows = []
    for index, row in enumerate(data):
        if not isinstance(row, list):
            raise MalformedData(f"{where}[{index}]", row, "not an array")
        if len(row) < len(columns):
            raise MalformedData(f"{where}[{index}]", row, f"fewer than {len(columns)} columns")
        rows.append(Fields(dict(zip(columns, row, strict=False)), f"{where}[{index}]"))
    return rows


def one_object(data: Any, where: str = "data") -> Fields:
    """The single object of an endpoint that documents exactly one (balance, config, ...)."""
    rows = objects_in(data, where)
    if len(rows) != 1:
        raise MalformedData(where, data, f"expected exactly one object, got {len(rows)}")
    return rows[0]
