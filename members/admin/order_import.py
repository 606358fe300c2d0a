"""The historical order import page of the order admin (mixed into OrderAdmin): upload, the
import job's result page, and the downloadable template. The work is members.order_imports' and
members.services.import_jobs'."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from crm.errors import AppError

from .. import order_imports
from ..models import ImportJob
from ..services.import_jobs import orders_import_start
from .forms import OrderImportForm
from .import_jobs import import_job_page, import_page_context


class OrderImportAdminMixin:
    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.import_orders") and request.user.has_perm("members.add_order")

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path("import/", wrap(self.import_view), name="members_order_import"),
            path("import/<int:job_id>/", wrap(self.import_job_view), name="members_order_import_job"),
            path("import/template.csv", wrap(self.import_template_view), name="members_order_import_template"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = OrderImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = orders_import_start(
                    content=upload.read(),
                    filename=upload.name,
                    user=request.user,
                    earn_points=form.cleaned_data["earn_points"],
                    actor=request.user.get_username(),
                )
            except AppError as exc:
                form.add_error("file", exc.message)
            else:
                self.message_user(  # type: ignore[attr-defined]
                    request, f"文件已上传（{job.rows_total} 行），正在后台导入。", messages.INFO
                )
                return HttpResponseRedirect(reverse("admin:members_order_import_job", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": _("导入历史订单"),
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "form": form,
            "columns": order_imports.COLUMNS_HELP,
            **import_page_context(request, kind=ImportJob.Kind.ORDERS, max_rows=order_imports.MAX_ROWS),
        }
        return TemplateResponse(request, "admin/members/order/import.html", context)

    def import_job_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        return import_job_page(
            self,
            request,
            kind=ImportJob.Kind.ORDERS,
            job_id=job_id,
            title=str(_("导入历史订单")),
            back_url=reverse("admin:members_order_import"),
        )

    def import_template_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        response = HttpResponse(order_imports.orders_import_template_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="order-import-template.csv"'
        return response

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)  # type: ignore[misc]
