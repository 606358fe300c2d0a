from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class SalesChannel(models.TextChoices):
    """Where an order was placed or a store sells. Shared by stores, orders and enrolment."""

    STORE = "store", _("线下门店")
    MINI_PROGRAM = "mini_program", _("小程序")
    TMALL = "tmall", _("天猫")
    JD = "jd", _("京东")
    DOUYIN = "douyin", _("抖音")
    WECOM = "wecom", _("企业微信")
    OTHER = "other", _("其他")


class Store(TimeStampedModel):
    code = models.CharField(_("门店编码"), max_length=32, unique=True)
    name = models.CharField(_("门店名称"), max_length=100)
    city = models.CharField(_("城市"), max_length=50, blank=True)
    channel = models.CharField(_("渠道类型"), max_length=20, choices=SalesChannel.choices, default=SalesChannel.STORE)
    is_active = models.BooleanField(_("营业中"), default=True)

    class Meta:
        verbose_name = _("门店")
        verbose_name_plural = _("门店")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class Staff(TimeStampedModel):
    """A store employee (导购) or HQ staff member. May have a WeCom user id and an admin login."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("在职")
        RESIGNED = "resigned", _("离职")

    store = models.ForeignKey(
        Store, verbose_name=_("所属门店"), on_delete=models.PROTECT, null=True, blank=True, related_name="staff"
    )
    name = models.CharField(_("姓名"), max_length=50)
    wecom_userid = models.CharField(_("企业微信 UserID"), max_length=64, blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    resigned_at = models.DateTimeField(_("离职时间"), null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("后台账号"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="staff",
    )

    class Meta:
        verbose_name = _("员工")
        verbose_name_plural = _("员工")
        ordering = ["store__code", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["wecom_userid"], condition=~Q(wecom_userid=""), name="staff_wecom_userid_unique"
            ),
            models.CheckConstraint(
                condition=Q(status="active", resigned_at__isnull=True) | Q(status="resigned"),
                name="staff_resigned_at_only_when_resigned",
            ),
        ]

    def __str__(self) -> str:
        return self.name
