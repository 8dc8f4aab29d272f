"""The one CSV writer: every CSV the product writes (report files and e-mail attachments, balances at
a date, the /api/v1 CSVs) is made here, so every file is safe to open in Excel or LibreOffice.

Text that came from outside (account names from the admin, currency and instrument names from
OKX) could start with = + - @ (or a tab / carriage return) and be run as a formula by a
spreadsheet; such cells get a leading apostrophe, as OWASP's "CSV Injection" page recommends
(the csv module quotes cells holding a separator, a quote or a line break). Numbers are passed as
Decimal or int and written as plain numbers, so a negative amount stays "-12.5" and a
spreadsheet sums it.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What a spreadsheet may skip before a formula: spaces and line breaks, NBSP (NFKC makes it a
# space), zero-width characters and a BOM; NFKC also turns a fullwidth equals sign into "=".
_SKIPPED = " \t\r\n\ufeff\u200b\u200c\u200d\u2060"


def formula_like(text: str) -> bool:
    """Whether a spreadsheet could read `text` as a formula (OWASP's starts, also behind
    whitespace or invisible characters, and their fullwidth forms)."""
    head = unicodedata.normalize("NFKC", text[:32]).lstrip(_SKIPPED)
    return text.startswith(FORMULA_STARTS) or head.startswith(FORMULA_STARTS[:4])


def number(value: Decimal) -> str:
    """Every digit, no exponent, no trailing zeros: Decimal("1E+2") -> "100", "-0.0" -> "0"."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def moment(value: datetime) -> str:
    """Aware datetime -> ISO 8601 in UTC with a Z: "2026-06-10T07:59:30Z"."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cell(value: Any) -> str:
    """One value as CSV cell text: None -> "" (unknown: an empty cell, never 0); bool -> true/false;
    Decimal/int -> a plain number; datetime -> UTC ISO with Z; date -> ISO; anything else is
    text, guarded with a leading apostrophe when it starts like a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return moment(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if formula_like(text) else text


def write(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The CSV text (header row first, "\\r\\n" line ends as RFC 4180) of rows of Python values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([cell(name) for name in header])
    writer.writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue()
