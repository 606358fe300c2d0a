"""The brand admin's first screen (the dashboard above the app list) and the table exports (their
cells written by crm.spreadsheets.writing: staff and store names are typed by people, and no cell
of theirs may become a formula in the file HQ opens)."""

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from crm.spreadsheets.writing import csv_bytes, xlsx_bytes
from crm.tenancy.zones import brand_zone
from members.models import Store
from members.scoping import user_scope

from . import selectors
from .periods import LABELS, PRESETS, Period, earliest_start, period_from_query
from .services import dashboard_refresh, dashboard_refresh_request
from .tables import Board, Table, dashboard_sections, dashboard_table

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _store_chosen(request: HttpRequest) -> int | None:
    """?store=<id>: the store a brand role narrowed the dashboard to (ignored for store users)."""
    value = request.GET.get("store", "")
    return int(value) if value.isdigit() else None


def _period(request: HttpRequest) -> tuple[Period, str]:
    return period_from_query(request.GET, selectors.local_today())


def _choices(request: HttpRequest, store: int | None) -> dict[str, Any]:
    """The page's choices other than the range (view, store), to carry into its links."""
    params: dict[str, Any] = {"view": "dashboard"} if request.GET.get("view") == "dashboard" else {}
    return params | ({"store": store} if store is not None else {})


def _query(request: HttpRequest, period: Period, store: int | None) -> str:
    """The page's own choices (view, store, range) as a query string, for the refresh round trip."""
    return urlencode(_choices(request, store) | period.query())


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    chosen = _store_chosen(request)
    period, period_error = _period(request)
    board = Board.for_user(request.user, store_id=chosen, period=period)
    brand_role = user_scope(request.user).all_stores
    refreshed_at = selectors.refreshed_at()
    if refreshed_at is None:
        # Never computed (a new or freshly seeded brand): compute now rather than show zeros
        # until the hourly job comes round.
        refreshed_at = dashboard_refresh().refreshed_at
    sections = dashboard_sections(board)
    store_chosen = board.scope.store_id if brand_role else None
    today = board.today
    return {
        "dashboard_sections": sections,
        "dashboard_refreshed_at": refreshed_at,
        "dashboard_refreshed_shown": refreshed_at.astimezone(brand_zone()).strftime("%H:%M"),
        "dashboard_progress": _progress(),
        "dashboard_scope": board.scope,
        # Brand roles pick a store (or the whole brand); store users stay on their own store.
        # (board.names: the store names the tables load anyway, in the stores' order by code)
        "dashboard_stores": list(board.names(Store).items()) if brand_role else [],
        "dashboard_store_chosen": store_chosen,
        "dashboard_period": period,
        "dashboard_period_error": period_error,
        "dashboard_presets": [
            (key, LABELS[key], urlencode(_choices(request, store_chosen) | {"range": key})) for key in PRESETS
        ],
        "dashboard_date_min": earliest_start(today, 1).isoformat(),
        "dashboard_date_max": today.isoformat(),
        "dashboard_query": _query(request, period, store_chosen),
        # Exports keep the store and the range (the channel, store and new-member tables follow it).
        "dashboard_export_query": urlencode(
            ({"store": store_chosen} if store_chosen is not None else {}) | period.query()
        ),
    }


def _progress() -> dict[str, Any] | None:
    """A pending on-demand refresh: since when, and how long the last one took (a fair guess)."""
    pending = selectors.refresh_pending()
    if pending is None:
        return None
    last = selectors.refresh_duration_ms()
    step = selectors.refresh_progress()  # None until the worker has started
    return {
        "elapsed_s": max(0, int((timezone.now() - pending).total_seconds())),
        "last_s": round(last / 1000, 1) if last else None,
        "step": step,
        "pct": step["done"] * 100 // step["total"] if step else 0,
    }


def dashboard_refresh_now(request: HttpRequest) -> HttpResponse:
    """The "刷新" control (POST): queue the rebuild in the background and go back to the same
    dashboard (store, range), which shows the progress and reloads itself when it is done."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    dashboard_refresh_request()
    period, _ = _period(request)
    query = _query(request, period, _store_chosen(request))
    return redirect(f"{reverse('admin:index')}?{query}")


def dashboard_refresh_status(request: HttpRequest) -> HttpResponse:
    """Polled by the progress line (htmx, every 2 s): the line again while the refresh runs; when
    it is done, HX-Refresh makes the page reload itself with the new figures."""
    progress = _progress()
    if progress is None:
        response = HttpResponse("已更新")
        response["HX-Refresh"] = "true"
        return response
    return TemplateResponse(request, "dashboard/progress.html", {"dashboard_progress": progress})


def _values(table: Table) -> list[list[Any]]:
    return [list(table.columns), *([cell.value for cell in row] for row in table.rows)]


def _csv(table: Table) -> HttpResponse:
    return HttpResponse(csv_bytes(_values(table)), content_type=CSV)


def _xlsx(table: Table) -> HttpResponse:
    return HttpResponse(xlsx_bytes(title=table.key, rows=_values(table)), content_type=XLSX)


def dashboard_export(request: HttpRequest, key: str, fmt: str) -> HttpResponse | StreamingHttpResponse:
    """One dashboard table as CSV or XLSX, with the user's store scope (the same builder as the page)."""
    period, _ = _period(request)
    table = dashboard_table(Board.for_user(request.user, store_id=_store_chosen(request), period=period), key)
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
