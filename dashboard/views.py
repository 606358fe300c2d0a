"""The brand admin's first screen (the dashboard above the app list) and the table exports (their
cells written by crm.spreadsheets.writing: staff and store names are typed by people, and no cell
of theirs may become a formula in the file HQ opens)."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from crm.spreadsheets.writing import csv_bytes, xlsx_bytes
from crm.tenancy.zones import brand_zone
from members.models import Store
from members.scoping import user_scope

from . import selectors
from .services import dashboard_refresh
from .tables import Board, Table, dashboard_sections, dashboard_table

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _store_chosen(request: HttpRequest) -> int | None:
    """?store=<id>: the store a brand role narrowed the dashboard to (ignored for store users)."""
    value = request.GET.get("store", "")
    return int(value) if value.isdigit() else None


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    chosen = _store_chosen(request)
    board = Board.for_user(request.user, store_id=chosen)
    brand_role = user_scope(request.user).all_stores
    refreshed_at = selectors.refreshed_at()
    if refreshed_at is None:
        # Never computed (a new or freshly seeded brand): compute now rather than show zeros
        # until the hourly job comes round.
        refreshed_at = dashboard_refresh().refreshed_at
    sections = dashboard_sections(board)
    return {
        "dashboard_sections": sections,
        "dashboard_refreshed_at": refreshed_at,
        "dashboard_refreshed_shown": refreshed_at.astimezone(brand_zone()).strftime("%H:%M"),
        "dashboard_scope": board.scope,
        # Brand roles pick a store (or the whole brand); store users stay on their own store.
        # (board.names: the store names the tables load anyway, in the stores' order by code)
        "dashboard_stores": list(board.names(Store).items()) if brand_role else [],
        "dashboard_store_chosen": board.scope.store_id if brand_role else None,
    }


def dashboard_refresh_now(request: HttpRequest) -> HttpResponse:
    """The "刷新" control: rebuild the figures now (POST), then back to the dashboard."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    dashboard_refresh()
    return redirect("admin:index")


def _values(table: Table) -> list[list[Any]]:
    return [list(table.columns), *([cell.value for cell in row] for row in table.rows)]


def _csv(table: Table) -> HttpResponse:
    return HttpResponse(csv_bytes(_values(table)), content_type=CSV)


def _xlsx(table: Table) -> HttpResponse:
    return HttpResponse(xlsx_bytes(title=table.key, rows=_values(table)), content_type=XLSX)


def dashboard_export(request: HttpRequest, key: str, fmt: str) -> HttpResponse | StreamingHttpResponse:
    """One dashboard table as CSV or XLSX, with the user's store scope (the same builder as the page)."""
    table = dashboard_table(Board.for_user(request.user, store_id=_store_chosen(request)), key)
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
