"""The result page of an import job (members and historical orders), shared by both import pages,
which redirect here after the upload: how far the job got, its counts and the row errors, in
Chinese. Until the job ends the page reloads itself every REFRESH_SECONDS (a plain meta refresh:
no script, no CDN), and offers 继续导入 if the job stopped making progress (the work is
members/services/import_jobs.py')."""

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from crm.spreadsheets.reading import MB, SheetLimits

from ..models import ImportJob
from ..selectors import import_jobs_visible
from ..services.import_jobs import STALLED_AFTER, import_job_resume, import_job_stalled

REFRESH_SECONDS = 2
ROWS_SHOWN = 2_000  # of the error rows, and of every row once the job has ended
RECENT_JOBS = 5

STATUS_LABELS = {
    ImportJob.Kind.MEMBERS: {"created": "新入会", "existing": "已是会员", "error": "错误"},
    ImportJob.Kind.ORDERS: {"created": "已导入", "existing": "已存在", "error": "错误"},
}


def import_job_summary(job: ImportJob) -> str:
    """The result page's heading: what the job did, or that it is under way."""
    if job.kind == ImportJob.Kind.MEMBERS:
        counts = f"新入会 {job.created} 人，已是会员 {job.existing} 人，错误 {job.errors} 行"
    else:
        counts = f"新导入 {job.created} 笔，已存在 {job.existing} 笔，错误 {job.errors} 行"
    if job.status == ImportJob.Status.SUCCEEDED:
        return f"导入完成：{counts}。"
    if job.status == ImportJob.Status.FAILED:
        return f"导入中止（已处理的行：{counts}）"  # the reason follows, as an error note
    return f"{job.get_status_display()}……"  # the progress bar and the counts follow


def _percent(job: ImportJob) -> int:
    if job.finished or not job.rows_total:
        return 100 if job.finished else 0
    # The scan counts rows with any text in them; a row of blank spaces is skipped when imported.
    return min(99, round(100 * job.rows_done / job.rows_total))


def import_page_context(request: HttpRequest, *, kind: str, max_rows: int) -> dict[str, Any]:
    """What both upload pages show besides their form: the bounds a file must keep to and the
    user's recent jobs of the kind."""
    limits = SheetLimits(max_rows=max_rows)
    return {
        "max_rows": limits.max_rows,
        "max_upload_mb": limits.max_upload_bytes // MB,
        "max_cell_chars": limits.max_cell_chars,
        "jobs": list(import_jobs_visible(user=request.user, kind=kind)[:RECENT_JOBS]),
    }


def import_job_page(
    model_admin: Any, request: HttpRequest, *, kind: str, job_id: int, title: str, back_url: str
) -> HttpResponse:
    """GET: the page. POST: 继续导入 a stalled job, then back to the page."""
    job = import_jobs_visible(user=request.user, kind=kind).select_related("user").filter(pk=job_id).first()
    if job is None:
        raise Http404("没有这个导入任务。")
    if request.method == "POST":
        if import_job_resume(job=job):
            model_admin.message_user(request, "已重新排队，导入将从中断处继续。", messages.INFO)
        return HttpResponseRedirect(request.path)
    labels = STATUS_LABELS[ImportJob.Kind(kind)]
    errors = list(job.rows.filter(status="error").order_by("line")[:ROWS_SHOWN])
    rows = list(job.rows.order_by("line")[:ROWS_SHOWN]) if job.finished else []
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "job": job,
        "summary": import_job_summary(job),
        "percent": _percent(job),
        "errors": [(row, labels[row.status]) for row in errors],
        "rows": [(row, labels[row.status]) for row in rows],
        "rows_shown": ROWS_SHOWN,
        "stalled": import_job_stalled(job),
        "stalled_minutes": int(STALLED_AFTER.total_seconds() // 60),
        "refresh_seconds": REFRESH_SECONDS,
        "back_url": back_url,
        "orders": kind == ImportJob.Kind.ORDERS,
    }
    return TemplateResponse(request, "admin/members/import_job.html", context)
