"""CSV for spreadsheets: a header row, then one row per item, safe to open in Excel or LibreOffice.

The file is made by the product's one CSV writer (reports.csvfile): text starting like a formula
gets a leading apostrophe; numbers stay numbers, so a negative amount stays "-12.5".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from reports import csvfile


class Table:
    """What a CSV view hands the renderer: column names and rows of plain Python values."""

    def __init__(self, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self.header = list(header)
        self.rows = rows


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if not isinstance(data, Table):  # error bodies are rendered as JSON by the views
            raise TypeError("CSVRenderer renders a Table")
        return csvfile.write(data.header, data.rows).encode(self.charset)


class JsonErrorsMixin:
    """For views whose success is not JSON (CSV files, the YAML schema): refusals and errors (401,
    403, 404, 400) are JSON like the rest of the API, which a script reads more easily."""

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
