"""Background exports: a file too large to build in the request is built by a task, with its
progress on the row and, when done, the file to download. One mechanism for every app's large
export (performance report, referral graph): the app's model extends `BackgroundExport` with its
own criteria and progress counter, its task calls `export_build`, and its admin uses
`crm.jobs.admin_exports.BackgroundExportAdmin` for the status line and the download.

A finished file is kept `Brand.export_keep_days` days (default 7, set per brand by the platform
operator): then the hourly `jobs.exports_expire` (beat, every brand) deletes it and the row says
已过期 — a file of member data, full names and mobiles included, must not lie in the database
for ever (PIPL: kept no longer than needed). The row stays, with its criteria: the admin offers to
run it again. The same job fails exports left running by a killed worker (`RUNNING_LEASE`)."""

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from django.apps import apps
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel
from crm.db import connection
from crm.errors import AppError


class BackgroundExport(TimeStampedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("生成中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")
        EXPIRED = "expired", _("已过期")

    requested_by = models.CharField(_("申请人"), max_length=150)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows = models.PositiveIntegerField(_("行数"), default=0)
    content = models.BinaryField(_("文件内容"), editable=False, default=b"")
    error = models.TextField(_("失败原因"), blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    expired_at = models.DateTimeField(_("文件删除时间"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def progress_pct(self) -> int:
        """0–100 while running; each model says how far it is through `progress_of`."""
        if self.status == self.Status.DONE:
            return 100
        done, total = self.progress_of()
        return done * 100 // total if total else 0

    def progress_of(self) -> tuple[int, int]:
        return (0, 0)


E = TypeVar("E", bound=BackgroundExport)
# builder(export) -> (file content, data rows). It may record progress on the row as it goes.
Builder = Callable[[E], tuple[bytes, int]]


def export_build(model: type[E], *, export_id: int, build: Builder[E]) -> str:
    """Claim the export (queued → running, one conditional UPDATE: a re-delivered task, or two at
    once, build it once), build it, then store the file — or the failure, said on the row."""
    claimed = model._default_manager.filter(pk=export_id, status=BackgroundExport.Status.QUEUED).update(
        status=BackgroundExport.Status.RUNNING, updated_at=timezone.now()
    )
    if not claimed:
        return "already taken"
    export = model._default_manager.get(pk=export_id)
    try:
        content, rows = build(export)
    except Exception as exc:
        # The row says it in words its list shows (a refusal's own message; anything else a plain
        # sentence); the exception itself goes on to the worker's log for whoever fixes it.
        words = exc.message if isinstance(exc, AppError) else BUILD_FAILED
        model._default_manager.filter(pk=export_id).update(
            status=BackgroundExport.Status.FAILED, error=words[:2000], finished_at=timezone.now()
        )
        raise
    # Only over a build still running: one that outlived its lease was failed by
    # exports_interrupted_fail, and its late end must not bring a file back the list says failed.
    model._default_manager.filter(pk=export_id, status=BackgroundExport.Status.RUNNING).update(
        status=BackgroundExport.Status.DONE,
        content=content,
        rows=rows,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return "done"


def export_models() -> list[type[BackgroundExport]]:
    """Every app's concrete export model (the kernel imports no app: it asks the registry)."""
    return [m for m in apps.get_models() if issubclass(m, BackgroundExport)]


DEFAULT_KEEP_DAYS = 7


def export_keep_days(*, fresh: bool = False) -> int:
    """The current brand's Brand.export_keep_days: from the Brand a request's connection holds (no
    query per listed row), else — or when `fresh`, as the expiry job asks: a worker may hold its
    brand since before the setting changed — from its row (a schema_context holds a stand-in
    without the brand's fields)."""
    from crm.tenancy.models import Brand

    if not fresh and (days := getattr(connection.tenant, "export_keep_days", None)):
        return int(days)
    days = Brand.objects.filter(schema_name=connection.schema_name).values_list("export_keep_days", flat=True).first()
    return days or DEFAULT_KEEP_DAYS


def exports_expire(*, now: dt.datetime, keep_days: int) -> dict[str, int]:
    """Finished exports older than `keep_days` (counted from when the file was made): the file is
    deleted and the row marked expired, in one conditional UPDATE per model — run twice, or beside
    a download, it expires each once. Failed rows have no file; queued and running ones are left
    to finish."""
    cutoff = now - dt.timedelta(days=keep_days)
    expired: dict[str, int] = {}
    for model in export_models():
        count = model._default_manager.filter(status=BackgroundExport.Status.DONE, finished_at__lt=cutoff).update(
            status=BackgroundExport.Status.EXPIRED, content=b"", expired_at=now, updated_at=now
        )
        if count:
            expired[model._meta.label] = count
    return expired


# The export tasks' hard time limit is 11 minutes and a build stamps updated_at with its progress:
# a row still running this long after its last stamp belongs to a worker that was killed (the time
# limit, a deploy, out of memory) and would say 生成中 for ever.
RUNNING_LEASE = dt.timedelta(minutes=30)
INTERRUPTED = "生成中断（任务超时或进程退出），请重新生成。"
BUILD_FAILED = "生成出错，请重新生成；仍失败请联系系统管理员（详情见后台任务日志）。"


def exports_interrupted_fail(*, now: dt.datetime) -> dict[str, int]:
    """Running exports past the lease → failed, saying so (the list then offers to run it again);
    a late answer of the killed build cannot store a file over it (it only writes when it ends,
    and it ended)."""
    failed: dict[str, int] = {}
    for model in export_models():
        count = model._default_manager.filter(
            status=BackgroundExport.Status.RUNNING, updated_at__lt=now - RUNNING_LEASE
        ).update(status=BackgroundExport.Status.FAILED, error=INTERRUPTED, finished_at=now, updated_at=now)
        if count:
            failed[model._meta.label] = count
    return failed


def export_expires_at(export: BackgroundExport, *, keep_days: int) -> dt.datetime | None:
    """When a finished file will be deleted (None unless it is downloadable now)."""
    if export.status != BackgroundExport.Status.DONE or export.finished_at is None:
        return None
    return export.finished_at + dt.timedelta(days=keep_days)
