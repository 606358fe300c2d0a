from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class Purpose(models.TextChoices):
    MEMBERSHIP = "membership", _("会员服务（必需）")
    MARKETING_SMS = "marketing_sms", _("短信营销")
    MARKETING_WECOM = "marketing_wecom", _("企业微信营销")
    MARKETING_PHONE = "marketing_phone", _("电话营销")
    THIRD_PARTY_SHARE = "third_party_share", _("向第三方提供")
    PERSONALISED_MARKETING = "personalised_marketing", _("个性化推荐")


class Agreement(TimeStampedModel):
    class Kind(models.TextChoices):
        MEMBERSHIP = "membership", _("会员协议与隐私政策")
        MARKETING = "marketing", _("营销授权")
        THIRD_PARTY = "third_party", _("第三方共享")

    code = models.CharField(_("协议编码"), max_length=32, unique=True)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    title = models.CharField(_("标题"), max_length=100)

    class Meta:
        verbose_name = _("协议")
        verbose_name_plural = _("协议")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return self.title


class AgreementVersion(TimeStampedModel):
    """A version of an agreement. Once published it never changes (a new version replaces it);
    the services refuse edits and the consent records point at the exact text people saw."""

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(_("版本号"))
    text = models.TextField(_("协议正文"))
    purposes = ArrayField(models.CharField(max_length=32, choices=Purpose.choices), verbose_name=_("处理目的"))
    # Third-party sharing must name who receives what, and why (PIPL art. 23).
    recipient = models.CharField(_("接收方"), max_length=100, blank=True)
    recipient_purpose = models.CharField(_("接收方处理目的"), max_length=255, blank=True)
    data_categories = ArrayField(
        models.CharField(max_length=50), verbose_name=_("个人信息种类"), default=list, blank=True
    )
    effective_at = models.DateTimeField(_("生效时间"), default=timezone.now)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("协议版本")
        verbose_name_plural = _("协议版本")
        ordering = ["agreement", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "version"], name="agreement_version_unique"),
            models.CheckConstraint(condition=~Q(purposes=[]), name="agreement_version_has_purposes"),
        ]

    def __str__(self) -> str:
        return f"{self.agreement.title} v{self.version}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class ConsentRecord(models.Model):
    """One decision about one purpose. Append-only (the database refuses UPDATE and DELETE): the
    current state of a purpose is its latest record, and the history answers "what had this
    member agreed to on date X"."""

    class Channel(models.TextChoices):
        STORE = "store", _("门店")
        MEMBER_PAGE = "member_page", _("会员自助页面")
        PARTNER_API = "partner_api", _("合作方接口")
        IMPORT = "import", _("导入")
        ADMIN = "admin", _("后台")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="consent_records")
    version = models.ForeignKey(AgreementVersion, on_delete=models.PROTECT, related_name="consent_records")
    purpose = models.CharField(_("处理目的"), max_length=32, choices=Purpose.choices)
    granted = models.BooleanField(_("同意"))
    recorded_at = models.DateTimeField(_("时间"), default=timezone.now)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    evidence = models.JSONField(_("证据"), default=dict)
    actor = models.CharField(_("操作人"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("授权记录")
        verbose_name_plural = _("授权记录")
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["member", "purpose", "-recorded_at", "-id"], name="consent_latest_per_purpose"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.purpose} {'✓' if self.granted else '✗'}"
