"""The brand of a request, from its host: django-tenants' TenantMainMiddleware with the host → brand
look-up remembered by the process for a short while.

Every request on a brand host used to cost a domain query in the public schema and two `SET
search_path` round trips (public, then the brand) before the view ran — about a tenth of a
partner API call (bench/README.md). Brands and their domains change a few times a year; a change
made in this process forgets the remembered brands at once (signals below), other processes see
it within HOST_CACHE_SECONDS, as the celery workers see a brand change within
CELERY_TASK_TENANT_CACHE_SECONDS. Unknown hosts are not remembered, so a new brand answers at
once.

Cells (crm/tenancy/cells.py): the host is looked up in the control database, and the request then
runs on the connection of the brand's cell. A brand being moved between cells is read-only: a
request that would write (POST, PUT, PATCH, DELETE) is refused with 503 and a message saying so.
"""

import copy
import time
from typing import Any, cast

from django.core.exceptions import DisallowedHost
from django.core.signals import request_finished
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotFound, JsonResponse
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_tenant_domain_model

from crm.db import connection
from crm.memos import process_memo

from . import error_codes
from .cells import HOME_CELL, cell_activate
from .models import Brand, Domain
from .zones import brand_zones_forget

HOST_CACHE_SECONDS = 30
READ_ONLY_MESSAGE = error_codes.TEXTS[error_codes.BRAND_READ_ONLY].zh
READ_ONLY_RETRY_SECONDS = 120
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# (database, host) → (monotonic expiry, brand)
_brands_by_host: dict[tuple[str, str], tuple[float, Brand]] = process_memo("brands by host")


def brand_hosts_forget(**_: Any) -> None:
    _brands_by_host.clear()
    brand_zones_forget()


for _model in (Brand, Domain):
    post_save.connect(brand_hosts_forget, sender=_model, dispatch_uid=f"brand_hosts_forget_{_model.__name__}_save")
    post_delete.connect(brand_hosts_forget, sender=_model, dispatch_uid=f"brand_hosts_forget_{_model.__name__}_delete")


def _request_cell_leave(**_: Any) -> None:
    """Back to the control database once the response is closed (after the last byte of a streamed
    export, which still reads the brand's cell)."""
    cell_activate(HOME_CELL)


request_finished.connect(_request_cell_leave, dispatch_uid="crm_request_cell_leave")


class BrandRequest(HttpRequest):
    """A request BrandHostMiddleware has passed: it carries its brand (django-tenants' `tenant`)."""

    tenant: Brand


class BrandHostMiddleware(TenantMainMiddleware):
    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            return HttpResponseNotFound()
        # Brands and domains are looked up in the control database: back to it if the previous
        # request of this thread ran in another cell.
        cell_activate(HOME_CELL)
        key = (connection.settings_dict["NAME"], hostname)
        remembered = _brands_by_host.get(key)
        if remembered is not None and remembered[0] > time.monotonic():
            # A copy per request: a view may change its request.tenant without saving it.
            brand = copy.copy(remembered[1])
        else:
            connection.set_schema_to_public()  # where the brands and domains are
            domain_model = get_tenant_domain_model()
            try:
                brand = self.get_tenant(domain_model, hostname)
            except domain_model.DoesNotExist:
                return self.no_tenant_found(request, hostname)
            _brands_by_host[key] = (time.monotonic() + HOST_CACHE_SECONDS, copy.copy(brand))
        brand.domain_url = hostname
        cast(BrandRequest, request).tenant = brand
        if brand.read_only and request.method not in _SAFE_METHODS:
            return brand_read_only_response(request)
        cell_activate(brand.cell)
        if connection.schema_name == brand.schema_name and connection.include_public_schema:
            # Already there (the previous request of this connection was on this brand): keep the
            # search_path the connection has, instead of resetting it and sending it again.
            connection.tenant = brand
        else:
            connection.set_tenant(brand)
        self.setup_url_routing(request)
        return None


def brand_read_only_response(request: HttpRequest) -> HttpResponse:
    """503 while the brand moves between cells: problem+json on the API, plain text elsewhere."""
    response: HttpResponse
    if request.path_info.startswith("/api/"):
        body = {"type": "about:blank", "title": "服务暂不可用", "status": 503, "code": error_codes.BRAND_READ_ONLY}
        response = JsonResponse({**body, "detail": READ_ONLY_MESSAGE, "fields": {}}, status=503)
        response["Content-Type"] = "application/problem+json"
    else:
        response = HttpResponse(READ_ONLY_MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(READ_ONLY_RETRY_SECONDS)
    return response
