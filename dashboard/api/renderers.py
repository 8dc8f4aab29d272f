"""CSV for spreadsheets: a header row, then one row per item, safe to open in Excel or LibreOffice.

Text that came from outside (account names from the admin, currency and instrument names from
OKX) could start with = + - @ (or a tab / carriage return) and be run as a formula by a
spreadsheet; such cells get a leading apostrophe (OWASP's advice). Numbers are written as
numbers, so a negative amount stays "-12.5".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Table:
    """What a CSV view hands the renderer: column names and rows of plain Python values."""

    def __init__(self, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self.header = list(header)
        self.rows = rows


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if not isinstance(data, Table):  # error bodies are rendered as JSON by the views
            raise TypeError("CSVRenderer renders a Table")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([cell(name) for name in data.header])
        writer.writerows([cell(value) for value in row] for row in data.rows)
        return buffer.getvalue().encode(self.charset)


class JsonErrorsMixin:
    """For views whose success is not JSON (CSV files, the YAML schema): refusals and errors (401,
    403, 404, 400) are JSON like the rest of the API, which a script reads more easily."""

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
