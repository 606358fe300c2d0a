from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class ImportJob(TimeStampedModel):
    """One uploaded member or historical-order file, imported in the background
    (members/services/import_jobs.py). The file is kept here, in the brand's own schema, until
    the job ends, then dropped: it holds personal data, and the rows' results are what stays."""

    class Kind(models.TextChoices):
        MEMBERS = "members", _("会员导入")
        ORDERS = "orders", _("历史订单导入")

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("导入中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")

    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    filename = models.CharField(_("文件名"), max_length=255)
    content = models.BinaryField(_("文件内容"), editable=False)
    # Per kind: members {"staff_id": id or null}; orders {"earn_points": bool}.
    options = models.JSONField(_("选项"), default=dict, blank=True)
    # Indexed in Meta, with the kind and the time (the import page lists a user's recent jobs).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("导入人"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    actor = models.CharField(_("操作人"), max_length=150)
    rows_total = models.PositiveIntegerField(_("数据行数"), default=0)
    rows_done = models.PositiveIntegerField(_("已处理行数"), default=0)
    # The sheet line up to which rows have been imported and recorded: a resumed job starts after it.
    last_line = models.PositiveIntegerField(_("已处理到第几行"), default=0)
    created = models.PositiveIntegerField(_("新增"), default=0)
    existing = models.PositiveIntegerField(_("已存在"), default=0)
    errors = models.PositiveIntegerField(_("错误行数"), default=0)
    error = models.TextField(_("失败原因"), blank=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("导入任务")
        verbose_name_plural = _("导入任务")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "kind", "-created_at"], name="importjob_user_kind_recent")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} {self.filename}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class ImportJobRow(models.Model):
    """The result of one row of an import job (rows without content are not recorded)."""

    class Status(models.TextChoices):
        CREATED = "created", _("新增")
        EXISTING = "existing", _("已存在")
        ERROR = "error", _("错误")

    # Indexed by the (job, line) constraint.
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows", db_index=False)
    line = models.PositiveIntegerField(_("行号"))
    status = models.CharField(_("结果"), max_length=16, choices=Status.choices)
    order_no = models.CharField(_("订单号"), max_length=64, blank=True)
    member_no = models.CharField(_("会员号"), max_length=32, blank=True)
    points_earned = models.IntegerField(_("获得积分"), default=0)
    column = models.CharField(_("列"), max_length=50, blank=True)
    message = models.TextField(_("说明"), blank=True)

    class Meta:
        verbose_name = _("导入结果行")
        verbose_name_plural = _("导入结果行")
        # A chunk recorded twice (a job resumed after its worker died) keeps its first result.
        constraints = [models.UniqueConstraint(fields=["job", "line"], name="importjobrow_job_line_unique")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.line} {self.status}"
