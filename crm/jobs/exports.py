"""Background exports: a file too large to build in the request is built by a task, with its
progress on the row and, when done, the file to download. One mechanism for every app's large
export (performance report, referral graph): the app's model extends `BackgroundExport` with its
own criteria and progress counter, its task calls `export_build`, and its admin uses
`crm.jobs.admin_exports.BackgroundExportAdmin` for the status line and the download."""

from collections.abc import Callable
from typing import TypeVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class BackgroundExport(TimeStampedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("生成中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    requested_by = models.CharField(_("申请人"), max_length=150)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows = models.PositiveIntegerField(_("行数"), default=0)
    content = models.BinaryField(_("文件内容"), editable=False, default=b"")
    error = models.TextField(_("失败原因"), blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

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
        model._default_manager.filter(pk=export_id).update(
            status=BackgroundExport.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    model._default_manager.filter(pk=export_id).update(
        status=BackgroundExport.Status.DONE,
        content=content,
        rows=rows,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return "done"
