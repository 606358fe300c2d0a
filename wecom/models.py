"""WeCom data of one brand (these tables live in the brand's schema): the app configuration, every
callback received, and the follow relations (which staff member a customer has added)."""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel
from members.models import Member, Staff

from .client import DEFAULT_BASE_URL
from .crypto import WXBizMsgCrypt, validate_encoding_aes_key


def _fernet_key(secret_key: str) -> bytes:
    # A dedicated key derived for this purpose: the Django SECRET_KEY itself is never used as a
    # cipher key, and rotating it (SECRET_KEY_FALLBACKS) keeps old secrets readable.
    # The salt keeps the app's old module path: changing it would make every stored secret unreadable.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"crm.wecom", info=b"wecom app secret at rest")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


@lru_cache(maxsize=4)
def _fernet(secret_key: str, fallbacks: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(key)) for key in (secret_key, *fallbacks)])


def secret_cipher() -> MultiFernet:
    return _fernet(settings.SECRET_KEY, tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ())))


def aes_key_validator(value: str) -> None:
    try:
        validate_encoding_aes_key(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_aes_key") from exc


class WecomConfig(TimeStampedModel):
    """The brand's WeCom self-built app (one row per brand schema)."""

    # A constant unique column makes "one row per brand" a database rule, not a hope.
    singleton = models.BooleanField(default=True, unique=True, editable=False)
    corp_id = models.CharField(_("企业 ID（CorpID）"), max_length=64)
    secret_encrypted = models.TextField(_("应用 Secret（已加密）"), editable=False)
    token = models.CharField(_("回调 Token"), max_length=64)
    encoding_aes_key = models.CharField(
        _("回调 EncodingAESKey"), max_length=43, validators=[aes_key_validator], help_text=_("43 位字符")
    )
    api_base_url = models.URLField(_("API 地址"), default=DEFAULT_BASE_URL, help_text=_("测试和演示时指向模拟服务器"))
    welcome_text = models.TextField(
        _("欢迎语"), blank=True, help_text=_("客户添加导购后自动发送（20 秒内、仅一次）；留空则不发送")
    )

    class Meta:
        verbose_name = _("企业微信配置")
        verbose_name_plural = _("企业微信配置")
        constraints = [models.CheckConstraint(condition=models.Q(singleton=True), name="wecom_config_singleton")]

    def __str__(self) -> str:
        return self.corp_id

    @property
    def secret(self) -> str:
        try:
            return secret_cipher().decrypt(self.secret_encrypted.encode()).decode()
        except InvalidToken as exc:
            # SECRET_KEY changed without listing the old one in SECRET_KEY_FALLBACKS.
            raise ValueError("无法解密企业微信 Secret，请重新填写。") from exc

    def set_secret(self, raw: str) -> None:
        self.secret_encrypted = secret_cipher().encrypt(raw.encode()).decode()

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    def crypt(self) -> WXBizMsgCrypt:
        return WXBizMsgCrypt(token=self.token, encoding_aes_key=self.encoding_aes_key, receive_id=self.corp_id)


class ChangeType(models.TextChoices):
    ADD_EXTERNAL_CONTACT = "add_external_contact", _("添加客户")
    EDIT_EXTERNAL_CONTACT = "edit_external_contact", _("编辑客户")
    ADD_HALF_EXTERNAL_CONTACT = "add_half_external_contact", _("免验证添加客户")
    DEL_EXTERNAL_CONTACT = "del_external_contact", _("导购删除客户")
    DEL_FOLLOW_USER = "del_follow_user", _("客户删除导购")
    TRANSFER_FAIL = "transfer_fail", _("客户接替失败")


class CallbackEvent(TimeStampedModel):
    """One WeCom callback, stored once however often WeCom delivers it.

    `natural_key` is a hash of the decrypted event fields: WeCom re-delivers the same event (with a
    new signature and nonce) when it did not get a 200 in time, and the unique constraint turns
    every re-delivery into a no-op. Processing happens in a task; `status` tracks it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("待处理")
        PROCESSED = "processed", _("已处理")
        IGNORED = "ignored", _("已忽略")
        FAILED = "failed", _("失败")

    natural_key = models.CharField(_("事件指纹"), max_length=64, unique=True, editable=False)
    event = models.CharField(_("事件"), max_length=64)
    change_type = models.CharField(_("变更类型"), max_length=64, db_index=True)
    user_id = models.CharField(_("导购 UserID"), max_length=64, blank=True, db_index=True)
    external_user_id = models.CharField(_("客户 ExternalUserID"), max_length=64, blank=True, db_index=True)
    state = models.CharField(_("渠道 State"), max_length=64, blank=True)
    welcome_code = models.CharField(_("欢迎语 Code"), max_length=128, blank=True)
    fail_reason = models.CharField(_("失败原因"), max_length=64, blank=True)
    source = models.CharField(_("来源"), max_length=64, blank=True)
    event_time = models.DateTimeField(_("事件时间"))
    payload = models.JSONField(_("解密内容"), default=dict)
    status = models.CharField(
        _("处理状态"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(_("处理次数"), default=0)
    error = models.TextField(_("错误"), blank=True)
    processed_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("企业微信回调事件")
        verbose_name_plural = _("企业微信回调事件")
        ordering = ["-event_time", "-id"]

    def __str__(self) -> str:
        return f"{self.change_type} {self.external_user_id} @ {self.event_time:%Y-%m-%d %H:%M:%S}"

    @staticmethod
    def natural_key_of(fields: dict[str, str]) -> str:
        canonical = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
        return hashlib.sha256(canonical.encode()).hexdigest()


class FollowRelation(TimeStampedModel):
    """A customer (external contact) following a staff member on WeCom: the brand's asset.

    Maintained by the callback handlers; a deleted relation keeps its row (`deleted_at`,
    `deleted_by`) so history and attribution (`state`) survive. `last_event_time` is the time of
    the newest event applied: WeCom does not guarantee delivery order, and an older event arriving
    late must not undo a newer one.
    """

    class DeletedBy(models.TextChoices):
        STAFF = "staff", _("导购删除客户")
        CUSTOMER = "customer", _("客户删除导购")
        TRANSFER = "transfer", _("因客户转接")

    external_userid = models.CharField(_("客户 ExternalUserID"), max_length=64)
    staff_userid = models.CharField(_("导购 UserID"), max_length=64, db_index=True)
    unionid = models.CharField(_("UnionID"), max_length=64, blank=True, db_index=True)
    name = models.CharField(_("客户昵称"), max_length=128, blank=True)
    state = models.CharField(_("渠道 State"), max_length=64, blank=True, db_index=True)
    remark = models.CharField(_("备注"), max_length=128, blank=True)
    add_way = models.IntegerField(_("添加方式"), null=True, blank=True)
    added_at = models.DateTimeField(_("添加时间"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("删除时间"), null=True, blank=True)
    deleted_by = models.CharField(_("删除方"), max_length=16, choices=DeletedBy.choices, blank=True)
    last_event_time = models.DateTimeField(_("最近事件时间"), null=True, blank=True)
    raw = models.JSONField(_("企业微信原始数据"), default=dict, blank=True)

    class Meta:
        verbose_name = _("客户关系")
        verbose_name_plural = _("客户关系")
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["external_userid", "staff_userid"], name="wecom_follow_unique_pair"),
            models.CheckConstraint(
                condition=models.Q(deleted_at__isnull=True, deleted_by="") | models.Q(deleted_at__isnull=False),
                name="wecom_follow_deleted_by_needs_deleted_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_userid} → {self.staff_userid}"

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None


class AssignmentPolicy(models.TextChoices):
    """Who owns (专属导购) a member once WeCom relations exist. See wecom/assignment.py."""

    FIRST_ADDED = "first_added", _("客户首次添加的导购")
    LAST_ADDED = "last_added", _("客户最近添加的导购")
    ENROLLING = "enrolling", _("入会导购")
    ROUND_ROBIN = "round_robin", _("归属门店轮流分配")


class AssignmentSettings(TimeStampedModel):
    """The brand's assignment policy (one row per brand schema; absent = the default policy).

    Kept apart from WecomConfig on purpose: the policy applies to enrolment and the round-robin
    job even in a brand whose WeCom app is not configured yet."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    policy = models.CharField(
        _("归属策略"), max_length=16, choices=AssignmentPolicy.choices, default=AssignmentPolicy.FIRST_ADDED
    )
    transfer_message = models.CharField(
        _("在职转接提示语"),
        max_length=200,
        blank=True,
        default="您好，您的专属导购已变更，新导购会继续为您服务。",
        help_text=_("在职转接时企业微信发给客户的消息（transfer_success_msg）"),
    )

    class Meta:
        verbose_name = _("导购归属策略")
        verbose_name_plural = _("导购归属策略")
        constraints = [models.CheckConstraint(condition=models.Q(singleton=True), name="wecom_assignment_singleton")]

    def __str__(self) -> str:
        return str(self.get_policy_display())


class WecomProspect(TimeStampedModel):
    """An external contact not (yet) linked to a member: no unionid, or nobody bound to it.

    `prospects_link_for_member` links it when a member with that unionid enrols or binds it;
    `linked_member` stays as history of which contact became which member."""

    external_userid = models.CharField(_("客户 ExternalUserID"), max_length=64, unique=True)
    unionid = models.CharField(_("UnionID"), max_length=64, blank=True, db_index=True)
    name = models.CharField(_("客户昵称"), max_length=128, blank=True)
    first_staff_userid = models.CharField(_("首次添加的导购"), max_length=64, blank=True)
    state = models.CharField(_("渠道 State"), max_length=64, blank=True)
    linked_member = models.ForeignKey(
        "members.Member",
        verbose_name=_("已关联会员"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    linked_at = models.DateTimeField(_("关联时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("潜在会员（未关联客户）")
        verbose_name_plural = _("潜在会员（未关联客户）")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name or self.external_userid}"


class CustomerTransfer(TimeStampedModel):
    """One member's WeCom relation moving from a handover to a takeover staff member.

    WeCom settles a transfer asynchronously (the customer has 24 h to refuse), so each one is
    tracked from `pending` (recorded, not yet sent) through `waiting` to a final status. At most
    one open (pending/waiting) transfer per external contact is a database rule: re-running an
    offboarding never sends the same customer twice.
    """

    class Kind(models.TextChoices):
        RESIGNED = "resigned", _("离职继承")
        ON_JOB = "on_job", _("在职转接")

    class Status(models.TextChoices):
        PENDING = "pending", _("待发起")
        WAITING = "waiting", _("等待客户接替")
        DONE = "done", _("已完成")
        REFUSED = "refused", _("客户拒绝")
        OVER_LIMIT = "over_limit", _("接替导购客户数已满")
        TOO_OFTEN = "too_often", _("90 天内已转接 2 次")
        FAILED = "failed", _("失败")

    OPEN = (Status.PENDING, Status.WAITING)
    FLAGGED = (Status.REFUSED, Status.OVER_LIMIT, Status.TOO_OFTEN, Status.FAILED)

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="wecom_transfers"
    )
    external_userid = models.CharField(_("客户 ExternalUserID"), max_length=64)
    handover = models.ForeignKey("members.Staff", verbose_name=_("原导购"), on_delete=models.PROTECT, related_name="+")
    takeover = models.ForeignKey(
        "members.Staff", verbose_name=_("接替导购"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    errcode = models.IntegerField(_("企业微信错误码"), null=True, blank=True)
    detail = models.CharField(_("说明"), max_length=255, blank=True)
    message = models.CharField(_("转接提示语"), max_length=200, blank=True)
    attempts = models.PositiveIntegerField(_("发送次数"), default=0)
    actor = models.CharField(_("操作人"), max_length=150, blank=True)
    sent_at = models.DateTimeField(_("发起时间"), null=True, blank=True)
    settled_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("客户转接")
        verbose_name_plural = _("客户转接")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_userid"],
                condition=models.Q(status__in=["pending", "waiting"]),
                name="wecom_transfer_one_open_per_customer",
            ),
            models.CheckConstraint(
                condition=~models.Q(handover=models.F("takeover")), name="wecom_transfer_handover_not_takeover"
            ),
        ]
        indexes = [models.Index(fields=["handover", "takeover", "kind", "status"], name="wecom_transfer_pair_idx")]

    def __str__(self) -> str:
        return f"{self.external_userid}: {self.handover_id} → {self.takeover_id} ({self.status})"

    @property
    def is_flagged(self) -> bool:
        return self.status in self.FLAGGED


class ContactWay(TimeStampedModel):
    """A channel QR code (`add_contact_way`). Its `state` comes back in the add callback and
    becomes the member's source (channel attribution)."""

    class Type(models.IntegerChoices):
        SINGLE = 1, _("单人")
        MULTI = 2, _("多人")

    name = models.CharField(_("名称"), max_length=100)
    # WeCom caps `state` at 30 characters.
    state = models.CharField(_("渠道 State"), max_length=30, unique=True)
    store = models.ForeignKey(
        "members.Store", verbose_name=_("门店"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    staff = models.ManyToManyField("members.Staff", verbose_name=_("导购"), related_name="+")
    campaign = models.CharField(_("活动"), max_length=100, blank=True)
    type = models.PositiveSmallIntegerField(_("类型"), choices=Type.choices, default=Type.SINGLE)
    skip_verify = models.BooleanField(_("免验证添加"), default=True)
    config_id = models.CharField(_("企业微信 config_id"), max_length=64, unique=True)
    qr_code = models.URLField(_("二维码"), max_length=500)
    created_by = models.CharField(_("创建人"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("渠道活码")
        verbose_name_plural = _("渠道活码")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name}（{self.state}）"


class MyMember(Member):
    """ "我的会员": the logged-in staff member's members with their WeCom relation (admin only)."""

    class Meta:
        proxy = True
        verbose_name = _("我的会员")
        verbose_name_plural = _("我的会员")


class OwnershipReview(Member):
    """Members whose ownership needs a person: no owner, a resigned owner, a pending or failed
    transfer, or an owner who lost the WeCom relation (admin only)."""

    class Meta:
        proxy = True
        verbose_name = _("归属待处理会员")
        verbose_name_plural = _("归属待处理会员")


class StaffHandover(Staff):
    """Staff as seen for offboarding (离职交接) and on-the-job reassignment (在职转接): the only
    way their members change hands in bulk, through the WeCom transfer services (admin only)."""

    class Meta:
        proxy = True
        verbose_name = _("导购交接")
        verbose_name_plural = _("导购交接")
