from django.db import models
from django.db.models import Q
from django.db.models.functions import ExtractDay, ExtractMonth, Right
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel

from ..masking import identity_shown, member_label
from .stores import SalesChannel, Staff, Store


class Member(TimeStampedModel):
    """One person, across every channel (OneID). Identities point here.

    The loyalty columns (tier, balances) are maintained only by the points and tier services,
    under a row lock on this member (see members/services/points.py for the lock order).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("正常")
        FROZEN = "frozen", _("冻结")
        ERASED = "erased", _("已删除")  # personal data erased on request; ledger amounts kept
        # Folded into another member (merged_into): kept for history, excluded from all processing.
        MERGED = "merged", _("已合并")

    class Gender(models.TextChoices):
        UNKNOWN = "unknown", _("未知")
        MALE = "male", _("男")
        FEMALE = "female", _("女")

    class Lifecycle(models.TextChoices):
        # AIPL: Awareness → Interest → Purchase → Loyalty
        AWARENESS = "awareness", _("认知")
        INTEREST = "interest", _("兴趣")
        PURCHASE = "purchase", _("购买")
        LOYALTY = "loyalty", _("忠诚")

    member_no = models.CharField(_("会员号"), max_length=20, unique=True)
    name = models.CharField(_("姓名"), max_length=50, blank=True)
    # E.164 (+8613812341234). Also bound as an Identity of kind "mobile" for look-ups. Indexed in
    # Meta (exact match only: no LIKE pattern index).
    mobile = models.CharField(_("手机号"), max_length=20, blank=True)
    gender = models.CharField(_("性别"), max_length=8, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.DateField(_("生日"), null=True, blank=True)
    # When the birthday was last changed after enrolment (None: as given at enrolment, so
    # enrolled_at). A birthday set or changed shortly before it does not earn the birthday gift
    # (engagement.services.birthday).
    birthday_changed_at = models.DateTimeField(_("生日修改时间"), null=True, blank=True)
    home_store = models.ForeignKey(
        Store, verbose_name=_("归属门店"), on_delete=models.PROTECT, null=True, blank=True, related_name="members"
    )
    # Indexed in Meta: choice fields are compared for equality, never with LIKE, so they do not get
    # the `_like` pattern index `db_index=True` would add on a varchar.
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    lifecycle_stage = models.CharField(
        _("生命周期"), max_length=16, choices=Lifecycle.choices, default=Lifecycle.INTEREST
    )
    # Beside it in the table, not a field: `owner_changed_at`, the time of the newest row of the
    # member's assignment history (NULL: none), kept by a trigger on that history (migration 0021)
    # and read only by the order ingest, which knows from it the owner when an order was paid.
    assigned_staff = models.ForeignKey(
        Staff,
        verbose_name=_("专属导购"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_members",
    )
    enrolled_at = models.DateTimeField(_("入会时间"), default=timezone.now, db_index=True)
    enrolled_channel = models.CharField(
        _("入会渠道"), max_length=20, choices=SalesChannel.choices, default=SalesChannel.STORE
    )
    enrolled_by = models.ForeignKey(
        Staff, verbose_name=_("入会导购"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The `state` of the WeCom channel QR code (or campaign code) the member came through. Not
    # indexed: nothing filters or sorts members by it (the dashboard groups it in a full pass).
    source = models.CharField(_("来源"), max_length=64, blank=True)
    # Not indexed, on purpose: every order moves it, and an index on it makes each order's member
    # UPDATE non-HOT (a new entry in every index of this table). Its only filter, the campaign
    # audience's recency criterion, is one condition among others on a pass over the members.
    last_purchase_at = models.DateTimeField(_("最近购买"), null=True, blank=True)

    # --- loyalty state (written by the tier and points services only) ---
    tier = models.ForeignKey(
        "members.Tier", verbose_name=_("等级"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tier_expires_at = models.DateTimeField(_("等级有效期至"), null=True, blank=True)
    # A manually granted tier: the member never drops below it until it is removed. Indexed in Meta
    # (partial: only the few members who have one).
    tier_floor = models.ForeignKey(
        "members.Tier",
        verbose_name=_("保底等级"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    points_balance = models.IntegerField(_("可用积分"), default=0)
    points_pending = models.IntegerField(_("待生效积分"), default=0)
    # Points reversed after they were spent: future earning pays this first.
    points_debt = models.IntegerField(_("积分欠额"), default=0)

    # Indexed in Meta (partial: only merged members have one).
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("已合并至"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_from",
        db_index=False,
    )
    erased_at = models.DateTimeField(_("删除时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("会员")
        verbose_name_plural = _("会员")
        ordering = ["-enrolled_at"]
        # Granted through the roles in members/roles.py.
        permissions = [
            ("view_full_pi", _("查看完整个人信息（手机号、姓名、生日）")),
            ("view_all_stores", _("查看所有门店的会员")),
            ("adjust_points_unlimited", _("不限额调整积分")),
            ("freeze_member", _("冻结/解冻会员")),
            ("merge_member", _("合并会员")),
            ("import_members", _("导入会员")),
            ("export_members", _("导出会员")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="merged") | Q(merged_into__isnull=False), name="member_merged_has_survivor"
            ),
            models.CheckConstraint(condition=Q(points_balance__gte=0), name="member_balance_not_negative"),
            models.CheckConstraint(condition=Q(points_pending__gte=0), name="member_pending_not_negative"),
            models.CheckConstraint(condition=Q(points_debt__gte=0), name="member_debt_not_negative"),
            models.CheckConstraint(condition=~Q(merged_into=models.F("pk")), name="member_not_merged_into_self"),
        ]
        indexes = [
            models.Index(fields=["mobile"], name="member_mobile"),
            models.Index(fields=["status"], name="member_status"),
            models.Index(fields=["lifecycle_stage"], name="member_lifecycle_stage"),
            # Partial: an index entry only for the rows that have a value, so the (non-HOT) member
            # updates of ingest and the nightly jobs do not write one for every member. Look-ups
            # by value (`= x`, `IN (...)`, the PROTECT checks) imply NOT NULL and use them.
            models.Index(fields=["merged_into"], condition=Q(merged_into__isnull=False), name="member_merged_into"),
            models.Index(fields=["tier_floor"], condition=Q(tier_floor__isnull=False), name="member_tier_floor"),
            # The workbench's search box (workbench/selectors.py): 手机尾号, the last 4 digits a
            # customer says at the counter, and a name typed from its start. An expression index
            # on mobile only: points and order updates leave mobile alone, so they stay HOT.
            models.Index(Right("mobile", 4), name="member_mobile_last4"),
            models.Index(fields=["name"], name="member_name_prefix", opclasses=["varchar_pattern_ops"]),
            # The workbench's "birthdays this week": month and day, whatever the year (partial:
            # only members who gave a birthday).
            models.Index(
                ExtractMonth("birthday"),
                ExtractDay("birthday"),
                condition=Q(birthday__isnull=False),
                name="member_birthday_month_day",
            ),
        ]

    def __str__(self) -> str:
        # Masked: str() lands in headings, links, breadcrumbs, history and messages, none of
        # which know the viewer. A page that may show the full name asks members/masking.py.
        return member_label(self.member_no, self.name, full=False)


class IdentityKind(models.TextChoices):
    MOBILE = "mobile", _("手机号")
    WECHAT_UNIONID = "wechat_unionid", _("微信 UnionID")
    WECHAT_OPENID = "wechat_openid", _("微信 OpenID")
    WECOM_EXTERNAL_USERID = "wecom_external_userid", _("企业微信外部联系人")
    TMALL_OUID = "tmall_ouid", _("天猫 OUID")
    JD_PIN = "jd_pin", _("京东 PIN")
    DOUYIN_OPENID = "douyin_openid", _("抖音 OpenID")
    POS_CARD = "pos_card", _("POS 会员卡号")


class Identity(TimeStampedModel):
    """(kind, value) is unique in the brand and belongs to exactly one member."""

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.PROTECT, related_name="identities")
    kind = models.CharField(_("类型"), max_length=32, choices=IdentityKind.choices)
    value = models.CharField(_("值"), max_length=128)

    class Meta:
        verbose_name = _("身份标识")
        verbose_name_plural = _("身份标识")
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="identity_kind_value_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {identity_shown(self.kind, self.value, full=False)}"


class Tag(TimeStampedModel):
    name = models.CharField(_("标签"), max_length=50, unique=True)
    group = models.CharField(_("标签组"), max_length=50, blank=True)
    # The matching WeCom corp tag, once synced.
    wecom_tag_id = models.CharField(_("企业微信标签 ID"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("标签")
        verbose_name_plural = _("标签")
        ordering = ["group", "name"]

    def __str__(self) -> str:
        return self.name


class MemberTag(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="member_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="member_tags")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("会员标签")
        verbose_name_plural = _("会员标签")
        constraints = [models.UniqueConstraint(fields=["member", "tag"], name="member_tag_unique")]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.tag_id}"


class MemberMerge(TimeStampedModel):
    """Audit of a merge: `merged` was folded into `survivor`, with what moved and who did it."""

    survivor = models.ForeignKey(
        Member, verbose_name=_("保留会员"), on_delete=models.PROTECT, related_name="merges_received"
    )
    merged = models.OneToOneField(
        Member, verbose_name=_("被合并会员"), on_delete=models.PROTECT, related_name="merge_record"
    )
    actor = models.CharField(_("操作人"), max_length=150)
    reason = models.CharField(_("原因"), max_length=255)
    moved = models.JSONField(_("迁移内容"), default=dict)

    class Meta:
        verbose_name = _("会员合并记录")
        verbose_name_plural = _("会员合并记录")

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"


class MemberAssignment(TimeStampedModel):
    """History of who owns a member (专属导购), with the reason of each change."""

    class Reason(models.TextChoices):
        ENROLMENT = "enrolment", _("入会导购")
        WECOM_ADD = "wecom_add", _("添加企业微信")
        ROUND_ROBIN = "round_robin", _("门店轮流分配")
        TRANSFER = "transfer", _("在职转接")
        RESIGNED_TRANSFER = "resigned_transfer", _("离职继承")
        MANUAL = "manual", _("手动调整")
        MERGE = "merge", _("会员合并")
        UNASSIGNED = "unassigned", _("解除归属")

    # Indexed by (member, newest first) below: the member's history page and the attribution's
    # "owner when the order was paid" read it in that order and stop at the first row.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="assignments", db_index=False)
    from_staff = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_staff = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(_("原因"), max_length=24, choices=Reason.choices)
    actor = models.CharField(_("操作人"), max_length=150, blank=True)
    note = models.CharField(_("备注"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("导购归属变更")
        verbose_name_plural = _("导购归属变更")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["member", "-created_at", "-id"], name="member_assign_recent")]
