from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class JobRun(TimeStampedModel):
    """One run of a scheduled or queued job in this brand, so brand admins can see that the nightly
    jobs ran and what they did, and operators can tell which schema a task really ran in."""

    class Status(models.TextChoices):
        RUNNING = "running", _("运行中")
        SUCCEEDED = "succeeded", _("成功")
        FAILED = "failed", _("失败")

    name = models.CharField(_("任务"), max_length=100, db_index=True)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    summary = models.JSONField(_("结果"), default=dict, blank=True)

    class Meta:
        verbose_name = _("任务记录")
        verbose_name_plural = _("任务记录")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.created_at:%Y-%m-%d %H:%M}"
