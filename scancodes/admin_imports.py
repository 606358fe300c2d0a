"""The upload pages of one item, one code's back office, mixed into the dealer and batch admins:
the upload form (file + options), the job's result page (progress, row errors in Chinese, 继续导入
when stalled; it reloads itself until the job ends, a plain meta refresh) and the template CSV.
The work is scancodes/imports.py'."""

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from crm.admin_forms import ThemedForm
from crm.errors import AppError
from crm.spreadsheets.reading import MB

from .imports import (
    CODE_COLUMNS_HELP,
    DEALER_COLUMNS_HELP,
    STALLED_AFTER_MINUTES,
    code_import_resume,
    code_import_stalled,
    code_import_start,
    import_limits,
    import_template_csv,
)
from .models import CodeImport

REFRESH_SECONDS = 2
RECENT_JOBS = 5


class ImportForm(ThemedForm):
    file = forms.FileField(label="文件（CSV 或 XLSX）")

    def __init__(self, *args: Any, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        # Before anything reads it into memory (the import checks the same bound on the bytes).
        if upload.size > self.max_bytes:
            raise forms.ValidationError(f"文件过大（上限 {self.max_bytes // MB} MB）。")
        return upload


class CodeImportForm(ImportForm):
    sku = forms.CharField(label="SKU", max_length=64)
    product_name = forms.CharField(label="商品名称", max_length=100)
    category = forms.CharField(label="品类", max_length=50, required=False)
    note = forms.CharField(label="导入说明（印刷厂、订单号等）", max_length=255, required=False)


@dataclass(frozen=True)
class ImportPage:
    title: str
    intro: str
    columns: list[tuple[str, str]]
    form: type[ImportForm]
    perms: tuple[str, ...]


PAGES: dict[str, ImportPage] = {
    CodeImport.Kind.DEALERS: ImportPage(
        title="导入经销商",
        intro="每行一个经销商及其计划销售区域，按经销商编码新增或更新；有错误的行不写入，其余行照常导入，"
        "重新导入同一文件是安全的。",
        columns=DEALER_COLUMNS_HELP,
        form=ImportForm,
        perms=("scancodes.add_dealer", "scancodes.change_dealer"),
    ),
    CodeImport.Kind.CODES: ImportPage(
        title="导入印刷厂码",
        intro="印刷厂自己生成的码（序列号 + 验证码），整份文件一起导入：先逐行检查，任何一行有错都不写入，"
        "并列出所有错误行；验证码只保存加密摘要，文件名和 SHA-256 记录在批次上。导入后在“码段”中激活。",
        columns=CODE_COLUMNS_HELP,
        form=CodeImportForm,
        perms=("scancodes.add_codebatch",),
    ),
}


class CodeImportAdminMixin:
    """Adds import/, import/<id>/ and import/template.csv to a ModelAdmin; `import_kind` says which."""

    import_kind: str = ""

    def _url(self, name: str) -> str:
        return f"scancodes_{self.import_kind}_import{name}"

    def has_import_permission(self, request: HttpRequest) -> bool:
        return all(request.user.has_perm(perm) for perm in PAGES[self.import_kind].perms)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path("import/", wrap(self.import_view), name=self._url("")),
            path("import/<int:job_id>/", wrap(self.import_job_view), name=self._url("_job")),
            path("import/template.csv", wrap(self.import_template_view), name=self._url("_template")),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {
            **(extra_context or {}),
            "import_url": reverse(f"admin:{self._url('')}") if self.has_import_permission(request) else "",
            "import_title": PAGES[self.import_kind].title,
        }
        return super().changelist_view(request, extra)  # type: ignore[misc]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": title,
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "back_url": reverse(f"admin:{self._url('')}"),
        }

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        page = PAGES[self.import_kind]
        limits = import_limits(self.import_kind)
        form = page.form(request.POST or None, request.FILES or None, max_bytes=limits.max_upload_bytes)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            options = {k: v for k, v in form.cleaned_data.items() if k != "file"}
            try:
                job = code_import_start(
                    kind=self.import_kind,
                    content=upload.read(),
                    filename=upload.name,
                    actor=request.user.get_username(),
                    options=options,
                )
            except AppError as exc:
                form.add_error("sku" if "sku" in (exc.fields or {}) else "file", exc.message)
            else:
                self.message_user(  # type: ignore[attr-defined]
                    request, f"文件已上传（{job.rows_total:,} 行），正在后台导入。", messages.INFO
                )
                return HttpResponseRedirect(reverse(f"admin:{self._url('_job')}", args=[job.pk]))
        context = {
            **self._context(request, page.title),
            "form": form,
            "intro": page.intro,
            "columns": page.columns,
            "template_url": reverse(f"admin:{self._url('_template')}"),
            "max_rows_shown": f"{limits.max_rows:,}",
            "max_upload_mb": limits.max_upload_bytes // MB,
            "max_cell_chars": limits.max_cell_chars,
            "jobs": list(CodeImport.objects.filter(kind=self.import_kind).select_related("batch")[:RECENT_JOBS]),
            "kind": self.import_kind,
        }
        return TemplateResponse(request, "admin/scancodes/import.html", context)

    def import_job_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = CodeImport.objects.filter(kind=self.import_kind, pk=job_id).select_related("batch").first()
        if job is None:
            raise Http404("没有这个导入任务。")
        if request.method == "POST":
            if code_import_resume(job=job):
                self.message_user(request, "已重新排队，导入将从中断处继续。", messages.INFO)  # type: ignore[attr-defined]
            return HttpResponseRedirect(request.path)
        total = max(job.rows_total, 1)
        percent = 100 if job.finished else min(99, round(100 * job.rows_done / total))
        context = {
            **self._context(request, PAGES[self.import_kind].title),
            "job": job,
            "percent": percent,
            "stalled": code_import_stalled(job),
            "stalled_minutes": STALLED_AFTER_MINUTES,
            "refresh_seconds": REFRESH_SECONDS,
            "kind": self.import_kind,
        }
        return TemplateResponse(request, "admin/scancodes/import_job.html", context)

    def import_template_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        response = HttpResponse(import_template_csv(self.import_kind), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.import_kind}-import-template.csv"'
        return response
