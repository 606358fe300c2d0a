"""The brand admin's first screen (the dashboard above the app list) and the table exports."""

import csv
import io
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from openpyxl import Workbook

from . import selectors
from .tables import Board, Table, dashboard_sections, dashboard_table

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    board = Board.for_user(request.user)
    return {
        "dashboard_sections": dashboard_sections(board),
        "dashboard_refreshed_at": selectors.refreshed_at(),
        "dashboard_scope": board.scope,
    }


def _plain(value: Any) -> Any:
    """Cell value for a spreadsheet: numbers stay numbers, None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, int | float | str):
        return value
    return str(value)


def _csv(table: Table) -> HttpResponse:
    buffer = io.StringIO()
    # A BOM so that Excel (the tool HQ opens these with) reads the Chinese headers as UTF-8.
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_plain(cell.value) for cell in row])
    return HttpResponse(buffer.getvalue(), content_type=CSV)


def _xlsx(table: Table) -> HttpResponse:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=table.key[:31])
    sheet.append(table.columns)
    for row in table.rows:
        sheet.append([float(c.value) if hasattr(c.value, "as_tuple") else _plain(c.value) for c in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return HttpResponse(buffer.getvalue(), content_type=XLSX)


def dashboard_export(request: HttpRequest, key: str, fmt: str) -> HttpResponse | StreamingHttpResponse:
    """One dashboard table as CSV or XLSX, with the user's store scope (the same builder as the page)."""
    table = dashboard_table(Board.for_user(request.user), key)
    if table is None or fmt not in ("csv", "xlsx"):
        raise Http404("没有这个报表。")
    response = _csv(table) if fmt == "csv" else _xlsx(table)
    response["Content-Disposition"] = f'attachment; filename="{table.key}.{fmt}"'
    return response


def dashboard_index(site: Any) -> Any:
    """The brand site's index view: the dashboard widgets, then the usual app list below them."""
    original = site.index

    def index(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        context = dashboard_context(request)
        context.update(extra_context or {})
        return original(request, extra_context=context)

    return index
