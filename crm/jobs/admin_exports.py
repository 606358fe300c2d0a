"""The admin side of background exports (crm.jobs.exports): the status line with progress, the
download link and the download view, scoped by the admin's own queryset (what the viewer may see)
and by `may_download`. A file past the brand's keep days is gone (crm.jobs.exports): the row says
已过期 and when, and links to the page the export was requested from, with its criteria, to run
it again."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from crm.tenancy.zones import brand_time_shown

from .exports import BackgroundExport, export_expires_at, export_keep_days

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A link on one line in the theme's link colour: utility classes of unfold's own compiled
# stylesheet, which every back-office page loads (an app's stylesheet is on that app's pages only:
# the referral exports' list showed these links as plain, wrapping text).
LINK_CLASSES = "font-medium text-primary-600 whitespace-nowrap dark:text-primary-500"


class BackgroundExportAdminMixin:
    """Mixed into the export model's ModelAdmin. Subclasses name the download URL and the file."""

    download_url_name: str  # e.g. "performance_reportexport_download"
    progress_unit: str = ""  # what progress_of() counts, e.g. "月"

    def export_filename(self, obj: Any) -> str:
        raise NotImplementedError

    def export_content_type(self, obj: Any) -> str:
        return XLSX

    def may_download(self, request: HttpRequest, obj: Any) -> bool:
        return True

    def rerun_url(self, obj: Any) -> str:
        """The page the export is requested from, filled in with this export's criteria."""
        return ""

    def progress_words(self, obj: BackgroundExport) -> str:
        words = str(obj.get_status_display())
        if obj.status == BackgroundExport.Status.RUNNING:
            done, total = obj.progress_of()
            words = f"{words} {done}/{total} {self.progress_unit}（{obj.progress_pct}%）".replace(" （", "（")
        elif obj.status == BackgroundExport.Status.FAILED and obj.error:
            words = f"{words}：{obj.error[:80]}"
        elif obj.status == BackgroundExport.Status.EXPIRED:
            words = f"{words}（文件已于 {brand_time_shown(obj.expired_at)} 删除）"
        elif (until := export_expires_at(obj, keep_days=export_keep_days())) is not None:
            words = f"{words}（保留至 {brand_time_shown(until)}）"
        return words

    def download_cell(self, obj: BackgroundExport, link_text: str) -> str:
        """The download link; for an expired or failed export, a link to run it again."""
        if url := self.download_url(obj):
            return format_html('<a class="{}" href="{}">{}</a>', LINK_CLASSES, url, link_text)
        stopped: dict[str, str] = {BackgroundExport.Status.EXPIRED: "已过期", BackgroundExport.Status.FAILED: "失败"}
        if obj.status in stopped and (again := self.rerun_url(obj)):
            return format_html('<a class="{}" href="{}">{}，重新生成</a>', LINK_CLASSES, again, stopped[obj.status])
        return "—"

    def download_url(self, obj: BackgroundExport) -> str:
        return (
            ""
            if obj.status != BackgroundExport.Status.DONE
            else reverse(f"admin:{self.download_url_name}", args=[obj.pk])
        )

    def download_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.download_view)  # type: ignore[attr-defined]
        return [path("<int:pk>/download/", view, name=self.download_url_name)]

    def download_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        queryset = self.get_queryset(request)  # type: ignore[attr-defined]
        export = get_object_or_404(queryset, pk=pk, status=BackgroundExport.Status.DONE)
        # A back-office login is not enough: whoever may not see the exports' list may not fetch
        # one of them by its (sequential) number either.
        if not self.has_view_permission(request, export) or not self.may_download(request, export):  # type: ignore[attr-defined]
            raise PermissionDenied
        response = HttpResponse(bytes(export.content), content_type=self.export_content_type(export))
        response["Content-Disposition"] = f'attachment; filename="{self.export_filename(export)}"'
        return response
