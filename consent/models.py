import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel

from .agreement_text import placeholders_in


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

    agreement = models.ForeignKey(Agreement, verbose_name=_("协议"), on_delete=models.PROTECT, related_name="versions")
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
    published_by = models.CharField(_("发布人"), max_length=150, blank=True)
    # Set by the author of a draft: the text changes what is done with the data for its purposes
    # (scope, method, categories, retention, recipient). PIPL art. 14: such a change needs fresh
    # consent, so publishing flags every holder of an earlier version. Typo fixes, contact
    # details and filling in the brand's name are not material.
    material_change = models.BooleanField(
        _("实质性变更"),
        default=False,
        help_text=_(
            "勾选后发布：此前同意旧版本的会员需重新同意（处理目的、方式、信息种类或接收方发生变化时必须勾选）。"
        ),
    )
    # Computed when published: the purposes whose consent under an earlier version of this
    # agreement no longer counts (see consent.services.agreements.agreement_version_publish).
    reconsent_purposes = ArrayField(
        models.CharField(max_length=32, choices=Purpose.choices),
        verbose_name=_("需重新同意的目的"),
        default=list,
        blank=True,
    )

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

    def purpose_labels(self) -> list[str]:
        return [str(Purpose(purpose).label) for purpose in self.purposes]

    def placeholders(self) -> list[str]:
        """The 【…】 blanks left in the text: a published version has none (PIPL art. 17)."""
        return placeholders_in(self.text)


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

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="consent_records"
    )
    version = models.ForeignKey(
        AgreementVersion, verbose_name=_("协议版本"), on_delete=models.PROTECT, related_name="consent_records"
    )
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


class ConsentState(models.Model):
    """The current state of one purpose for one member: a denormalised reading of the latest
    ConsentRecord, kept by the consent services in the same transaction as the record, so the
    contactability selector over a million members is one indexed join. The records remain the
    truth: `consent_state_audit` (command `consent_audit`, nightly job) proves they agree.

    Effective consent = granted and not needs_reconsent.
    """

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="consent_states"
    )
    purpose = models.CharField(_("处理目的"), max_length=32, choices=Purpose.choices)
    granted = models.BooleanField(_("同意"))
    # A later version of the agreement changed the terms of this purpose (PIPL art. 14).
    needs_reconsent = models.BooleanField(_("需重新同意"), default=False)
    version = models.ForeignKey(
        AgreementVersion, verbose_name=_("协议版本"), on_delete=models.PROTECT, related_name="+"
    )
    record = models.OneToOneField(ConsentRecord, verbose_name=_("授权记录"), on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(_("更新时间"))

    class Meta:
        verbose_name = _("当前授权状态")
        verbose_name_plural = _("当前授权状态")
        ordering = ["member_id", "purpose"]
        constraints = [models.UniqueConstraint(fields=["member", "purpose"], name="consent_state_member_purpose")]
        indexes = [
            # members_contactable: effective consents per purpose.
            models.Index(
                fields=["purpose", "member"],
                condition=Q(granted=True, needs_reconsent=False),
                name="consent_state_effective",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.purpose} {'✓' if self.effective else '✗'}"

    @property
    def effective(self) -> bool:
        return self.granted and not self.needs_reconsent


class ConsentSession(TimeStampedModel):
    """An enrolment consent captured in store, before the member exists.

    Staff open a session in the admin and show its QR code; the customer reads the agreements on
    their own phone and decides each purpose (device evidence: IP, user agent). Or staff record a
    signed paper form (flagged `paper`). `member_enroll` then reads the decisions with
    `consent_session_decisions` and consumes the session, once, in its own transaction.
    """

    class Mode(models.TextChoices):
        DEVICE = "device", _("顾客手机扫码")
        PAPER = "paper", _("纸质授权书")

    class Status(models.TextChoices):
        OPEN = "open", _("等待顾客确认")
        SUBMITTED = "submitted", _("已确认，待入会")
        CONSUMED = "consumed", _("已用于入会")
        CANCELLED = "cancelled", _("已取消")

    mode = models.CharField(_("方式"), max_length=8, choices=Mode.choices, default=Mode.DEVICE)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    staff = models.ForeignKey("members.Staff", verbose_name=_("经办导购"), on_delete=models.PROTECT, related_name="+")
    # Random, part of the signed link: a session's link cannot be guessed from its id.
    nonce = models.CharField(max_length=32, unique=True, editable=False)
    expires_at = models.DateTimeField(_("链接失效时间"))
    # [{"purpose": ..., "granted": ..., "version_id": ...}] once submitted.
    decisions = models.JSONField(_("授权决定"), default=list, blank=True)
    # ConsentEvidence.as_json() of the device (or of the paper form) once submitted.
    evidence = models.JSONField(_("证据"), default=dict, blank=True)
    submitted_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    consumed_at = models.DateTimeField(_("入会时间"), null=True, blank=True)
    actor = models.CharField(_("创建人"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("入会授权会话")
        verbose_name_plural = _("入会授权会话")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "cancelled"]) | Q(submitted_at__isnull=False),
                name="consent_session_submitted_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="consumed") | Q(member__isnull=False), name="consent_session_consumed_has_member"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_mode_display()} {self.get_status_display()}"

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.expires_at


class DataRequest(TimeStampedModel):
    """A data-subject request (PIPL arts. 45-47): access/copy, correction, deletion. Queued with a
    due date; every step is a DataRequestEvent; refusing needs a reason (art. 50)."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("查阅/复制")
        CORRECTION = "correction", _("更正")
        DELETION = "deletion", _("删除")

    class Status(models.TextChoices):
        PENDING = "pending", _("待处理")
        COMPLETED = "completed", _("已完成")
        REFUSED = "refused", _("已拒绝")

    class Channel(models.TextChoices):
        MEMBER_PAGE = "member_page", _("会员自助页面")
        ADMIN = "admin", _("后台登记")
        PARTNER_API = "partner_api", _("合作方接口")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="data_requests"
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    channel = models.CharField(_("来源"), max_length=16, choices=Channel.choices)
    due_at = models.DateTimeField(_("截止时间"), db_index=True)
    note = models.TextField(_("说明"), blank=True)
    # Correction only: {"name": ..., "gender": ..., "birthday": "YYYY-MM-DD"} as asked by the member.
    requested_changes = models.JSONField(_("更正内容"), default=dict, blank=True)
    refusal_reason = models.TextField(_("拒绝理由"), blank=True)
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True)
    closed_by = models.CharField(_("办理人"), max_length=150, blank=True)
    # The nonce of the signed member link that submitted it: replaying that link's form finds
    # this request instead of queuing a second one.
    source_nonce = models.CharField(max_length=32, blank=True, editable=False)

    class Meta:
        verbose_name = _("个人信息权利申请")
        verbose_name_plural = _("个人信息权利申请")
        ordering = ["due_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="refused") | ~Q(refusal_reason=""), name="data_request_refusal_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", closed_at__isnull=True) | Q(closed_at__isnull=False),
                name="data_request_closed_has_time",
            ),
            models.UniqueConstraint(
                fields=["member", "kind", "source_nonce"],
                condition=~Q(source_nonce=""),
                name="data_request_source_nonce_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return self.status == self.Status.PENDING and (now or timezone.now()) > self.due_at


class DataRequestEvent(models.Model):
    """Audit trail of a data request. Append-only (database trigger)."""

    request = models.ForeignKey(DataRequest, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(_("操作"), max_length=32)
    actor = models.CharField(_("操作人"), max_length=150, blank=True)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = _("申请处理记录")
        verbose_name_plural = _("申请处理记录")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.action}"


class PIField(models.TextChoices):
    MOBILE = "mobile", _("手机号")
    NAME = "name", _("姓名")
    BIRTHDAY = "birthday", _("生日")
    EXPORT = "export", _("全部（数据导出）")


class PIAccessLog(models.Model):
    """Who saw whose personal information in full, when, which fields and where. Append-only
    (database trigger): PIPL art. 51 asks processors to control and audit access to personal
    information; the log is that audit."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("查看人"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    # Kept as text too: the log must still say who it was if the login is renamed.
    username = models.CharField(_("查看人账号"), max_length=150, db_index=True)
    member = models.ForeignKey("members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="+")
    fields = ArrayField(models.CharField(max_length=16, choices=PIField.choices), verbose_name=_("查看字段"))
    context = models.CharField(_("场景"), max_length=200)
    ip = models.GenericIPAddressField(_("IP"), null=True, blank=True)
    viewed_at = models.DateTimeField(_("查看时间"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("个人信息查看日志")
        verbose_name_plural = _("个人信息查看日志")
        ordering = ["-viewed_at", "-id"]
        indexes = [models.Index(fields=["member", "-viewed_at"], name="pi_access_member_recent")]

    def __str__(self) -> str:
        return f"{self.username} → {self.member_id} {','.join(self.fields)}"
