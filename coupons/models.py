"""Coupons (优惠券): templates, code pools, instances with their append-only history, holdings
(the per-member limit's counter) and redemptions (write-offs).

Money is fen. Every limit is a constraint or a conditional UPDATE whose row count is checked
(coupons/services.py); the instance's `state` is a cache of its history, which
`manage.py audit_coupons` checks."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class CouponTemplate(TimeStampedModel):
    """What a coupon gives and when it can be used. Immutable once a coupon has been issued,
    except: more stock, a later end date, deactivation (coupon_template_update enforces it)."""

    class Kind(models.TextChoices):
        AMOUNT_OFF = "amount_off", _("满减券")
        PERCENT_OFF = "percent_off", _("折扣券")
        GIFT = "gift", _("赠品券")
        FREE_SHIPPING = "free_shipping", _("免运费券")

    class CodeMode(models.TextChoices):
        GENERIC = "generic", _("通用码")  # one code for everyone; the member identifies the coupon
        GENERATED = "generated", _("系统生成券码")  # one unique code per coupon from a generated pool
        IMPORTED = "imported", _("导入券码")  # the brand's own codes, stored hashed

    class ValidityKind(models.TextChoices):
        FIXED = "fixed", _("固定日期")
        RELATIVE = "relative", _("领取后 N 天")

    name = models.CharField(_("券名称"), max_length=100)
    kind = models.CharField(_("券类型"), max_length=16, choices=Kind.choices)
    # amount_off: amount_off_fen off an order of at least threshold_fen.
    # percent_off: percent_off % off (12 = 8.8 折), at most cap_fen, from threshold_fen.
    threshold_fen = models.BigIntegerField(_("使用门槛（分）"), default=0)
    amount_off_fen = models.BigIntegerField(_("减免金额（分）"), default=0)
    percent_off = models.PositiveSmallIntegerField(_("折扣比例（%）"), default=0)
    cap_fen = models.BigIntegerField(_("最高优惠（分）"), null=True, blank=True)
    gift_sku = models.CharField(_("赠品编码"), max_length=64, blank=True)
    gift_name = models.CharField(_("赠品名称"), max_length=100, blank=True)

    code_mode = models.CharField(_("券码方式"), max_length=12, choices=CodeMode.choices, default=CodeMode.GENERIC)
    generic_code = models.CharField(_("通用券码"), max_length=32, blank=True)

    # Stock: None = unlimited. stock_total only grows (stock up); stock_left is what can still
    # be issued. Invariant (audit): stock_left + coupons issued = stock_total.
    stock_total = models.BigIntegerField(_("总库存"), null=True, blank=True)
    stock_left = models.BigIntegerField(_("剩余库存"), null=True, blank=True)
    # Held for manual issues waiting in 发券审批 (CouponIssueRequest.reserved, pending ones): taken
    # from stock_left when the request is held, given back when it is decided or expires.
    # Invariant (audit): stock_left + stock_reserved + coupons issued = stock_total.
    stock_reserved = models.BigIntegerField(_("审批中预留"), default=0, editable=False)
    per_member_limit = models.PositiveIntegerField(_("每人限领"), null=True, blank=True)
    points_price = models.PositiveIntegerField(_("兑换所需积分"), null=True, blank=True)

    validity_kind = models.CharField(_("有效期类型"), max_length=10, choices=ValidityKind.choices)
    # Brand-local days: "until 6-30" is 23:59:59 on 30 June in the brand's time zone.
    valid_from_date = models.DateField(_("开始日期"), null=True, blank=True)
    valid_until_date = models.DateField(_("结束日期"), null=True, blank=True)
    valid_days = models.PositiveIntegerField(_("领取后有效天数"), null=True, blank=True)
    wait_days = models.PositiveIntegerField(_("领取后第几天生效"), default=0)
    # Usable only on these ISO weekdays (1 = Monday) and between these brand-local times.
    weekdays = ArrayField(models.PositiveSmallIntegerField(), verbose_name=_("可用星期"), default=list, blank=True)
    time_from = models.TimeField(_("每日可用开始"), null=True, blank=True)
    time_until = models.TimeField(_("每日可用结束"), null=True, blank=True)
    stores = models.ManyToManyField("members.Store", verbose_name=_("适用门店"), blank=True, related_name="+")

    is_active = models.BooleanField(_("可发放"), default=True)
    issued_once = models.BooleanField(_("已发放过"), default=False, editable=False)

    class Meta:
        verbose_name = _("优惠券模板")
        verbose_name_plural = _("优惠券模板")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stock_left__isnull=True, stock_total__isnull=True)
                | Q(stock_left__gte=0, stock_left__lte=F("stock_total")),
                name="coupon_template_stock_within_total",
            ),
            models.CheckConstraint(
                condition=Q(stock_reserved=0)
                | Q(stock_reserved__gt=0, stock_reserved__lte=F("stock_total") - F("stock_left")),
                name="coupon_template_reserved_within_total",
            ),
            models.CheckConstraint(
                condition=Q(threshold_fen__gte=0, amount_off_fen__gte=0, percent_off__lte=100),
                name="coupon_template_amounts_valid",
            ),
            models.CheckConstraint(
                condition=~Q(validity_kind="relative") | Q(valid_days__gte=1), name="coupon_template_relative_has_days"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CouponCode(models.Model):
    """One code of a template's pool. `code_hash` (sha256 of the normalized code) is how a typed
    code is found; `code` is kept only for generated pools (the member must see it); an imported
    pool keeps the hash and the last 4 characters."""

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="codes")
    code_hash = models.CharField(_("券码摘要"), max_length=64, unique=True)
    code = models.CharField(_("券码"), max_length=32, blank=True)
    hint = models.CharField(_("券码尾号"), max_length=8, blank=True)
    coupon = models.OneToOneField(
        "coupons.Coupon", on_delete=models.PROTECT, null=True, blank=True, related_name="pool_code"
    )

    class Meta:
        verbose_name = _("券码")
        verbose_name_plural = _("券码")
        indexes = [
            # The issuing path takes the next free codes of a template.
            models.Index(fields=["template", "id"], condition=Q(coupon__isnull=True), name="coupon_code_free")
        ]

    def __str__(self) -> str:
        return self.code or f"…{self.hint}"


class Coupon(models.Model):
    """One coupon held by one member. `state` follows CouponEvent, its append-only history."""

    class State(models.TextChoices):
        ISSUED = "issued", _("未使用")
        LOCKED = "locked", _("已锁定")
        USED = "used", _("已使用")
        RETURNED = "returned", _("已退回")
        EXPIRED = "expired", _("已过期")
        VOIDED = "voided", _("已作废")

    class Source(models.TextChoices):
        ADMIN = "admin", _("后台发放")
        CAMPAIGN = "campaign", _("活动赠送")
        POINTS = "points", _("积分兑换")
        API = "api", _("合作方接口")
        BIRTHDAY = "birthday", _("生日礼")
        REFERRAL = "referral", _("邀请有礼")
        CHECKIN = "checkin", _("签到奖励")
        SCAN = "scan", _("扫码有礼")

    # No database FKs to the template and the member (db_constraint=False; PROTECT still holds in
    # the ORM): the set-based issue writes up to a million coupons in one statement, and a per-row
    # RI check on each was most of its cost. The only writer (coupons_issue_bulk) selects the
    # member ids from members_member and holds the template row locked in the same transaction,
    # and members and templates are never deleted. Same reasoning as campaigns' Recipient.
    # No index of its own either: the unique (template, member, source_key) leads with it.
    template = models.ForeignKey(
        CouponTemplate,
        verbose_name=_("模板"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("会员"),
        on_delete=models.PROTECT,
        related_name="coupons",
        db_index=False,
        db_constraint=False,
    )
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.ISSUED)
    # Pool coupons: the code (generated) or its last characters (imported), and the hash to find it.
    code = models.CharField(_("券码"), max_length=32, blank=True)
    code_hash = models.CharField(_("券码摘要"), max_length=64, null=True, blank=True)
    source = models.CharField(_("来源"), max_length=10, choices=Source.choices)
    # Idempotency of an issue: the same (template, member, source_key) is one coupon.
    source_key = models.CharField(_("发放编号"), max_length=128)
    issued_at = models.DateTimeField(_("领取时间"))
    valid_from = models.DateTimeField(_("生效时间"))
    valid_until = models.DateTimeField(_("失效时间"))
    used_at = models.DateTimeField(_("使用时间"), null=True, blank=True)
    void_reason = models.CharField(_("作废原因"), max_length=200, blank=True)
    # LOCKED: for which order and until when (a lock past its time counts as ISSUED).
    locked_order = models.CharField(_("锁定订单"), max_length=100, blank=True)
    locked_until = models.DateTimeField(_("锁定至"), null=True, blank=True)

    class Meta:
        verbose_name = _("优惠券")
        verbose_name_plural = _("优惠券")
        constraints = [
            models.UniqueConstraint(fields=["template", "member", "source_key"], name="coupon_issue_once"),
            # Partial: generic-code coupons (most of a mass issue) write no entry.
            models.UniqueConstraint(
                fields=["code_hash"], condition=Q(code_hash__isnull=False), name="coupon_code_hash_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "state"], name="coupon_member_state"),
            models.Index(fields=["valid_until"], condition=Q(state="issued"), name="coupon_issued_until"),
        ]

    def __str__(self) -> str:
        return f"{self.template_id}/{self.pk}"


class CouponEvent(models.Model):
    """One transition of a coupon (append-only in the database). The first is '' → issued."""

    # No database FK (see Coupon.member): issued in the same statement as the coupons it follows.
    coupon = models.ForeignKey(
        Coupon, on_delete=models.PROTECT, related_name="events", db_index=False, db_constraint=False
    )
    from_state = models.CharField(_("原状态"), max_length=10, blank=True)
    to_state = models.CharField(_("新状态"), max_length=10)
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    # Indexed only where set (coupon_event_redemption): an issue writes a million events without.
    redemption = models.ForeignKey(
        "coupons.CouponRedemption", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    actor = models.CharField(_("操作人"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("时间"))

    class Meta:
        verbose_name = _("优惠券记录")
        verbose_name_plural = _("优惠券记录")
        indexes = [
            models.Index(fields=["coupon", "id"], name="coupon_event_coupon"),
            models.Index(fields=["redemption"], condition=Q(redemption__isnull=False), name="coupon_event_redemption"),
        ]

    def __str__(self) -> str:
        return f"{self.from_state or '—'} → {self.to_state}"


class CouponHolding(models.Model):
    """How many coupons of a template a member has been given: the per-member limit is a
    conditional upsert on this row (`count < limit`), keyed on the member, never on a mobile."""

    # No database FKs (see Coupon.member): upserted set-based by the issue, next to the coupons.
    # Indexed by the unique (template, member), which leads with it.
    template = models.ForeignKey(
        CouponTemplate, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "member"], name="coupon_holding_unique")]

    def __str__(self) -> str:
        return f"{self.template_id}/{self.member_id}: {self.count}"


class CouponRedemption(TimeStampedModel):
    """A write-off of a coupon against an order. `request_no` makes a redeem idempotent: a replay
    returns this row. A rollback or a full refund returns the coupon; partial refunds keep it used
    and record the share of the discount refunded (pro rata)."""

    class Status(models.TextChoices):
        USED = "used", _("已核销")
        ROLLED_BACK = "rolled_back", _("已撤销")
        REFUNDED = "refunded", _("已退款")

    coupon = models.ForeignKey(Coupon, verbose_name=_("优惠券"), on_delete=models.PROTECT, related_name="redemptions")
    request_no = models.CharField(_("核销请求号"), max_length=64, unique=True)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.USED)
    store = models.ForeignKey(
        "members.Store", verbose_name=_("门店"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("渠道"), max_length=20)
    order_no = models.CharField(_("订单号"), max_length=64)
    order_amount_fen = models.BigIntegerField(_("订单应付（分）"))
    discount_fen = models.BigIntegerField(_("优惠金额（分）"))
    discount_refunded_fen = models.BigIntegerField(_("已退优惠（分）"), default=0)
    redeemed_at = models.DateTimeField(_("核销时间"))
    actor = models.CharField(_("操作人"), max_length=150)

    class Meta:
        verbose_name = _("核销记录")
        verbose_name_plural = _("核销记录")
        ordering = ["-redeemed_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(discount_fen__gte=0, discount_fen__lte=F("order_amount_fen")),
                name="coupon_discount_within_payable",
            ),
            models.CheckConstraint(
                condition=Q(discount_refunded_fen__gte=0, discount_refunded_fen__lte=F("discount_fen")),
                name="coupon_discount_refund_within",
            ),
            # At most one live write-off per coupon, whatever races.
            models.UniqueConstraint(fields=["coupon"], condition=Q(status="used"), name="coupon_one_live_redemption"),
        ]
        indexes = [models.Index(fields=["channel", "order_no"], name="coupon_redemption_order")]

    def __str__(self) -> str:
        return self.request_no


class CouponSettings(TimeStampedModel):
    """The brand's coupon rules that are not a template's: limits on manual issuing per role and
    the expiry reminder. One row per brand (`coupon_settings_get` makes it).

    Manual issuing (the back office's 发放给会员, coupons/manual_issue.py) is capped per role by
    running totals over a brand day, in coupons: per member (however many staff issue to them)
    and per back-office user. An issue that would pass either waits for a brand admin's approval
    (CouponIssueRequest). Empty = no cap; 0 per user = the role may not issue by hand. Brand
    admins are not limited (their decision is the override); partner API keys issue as machine
    actors under the `coupons:write` scope a brand admin grants."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    issue_staff_per_member_day = models.PositiveIntegerField(
        _("门店导购：每位会员每日累计（张）"), default=1, null=True, blank=True
    )
    issue_staff_per_user_day = models.PositiveIntegerField(
        _("门店导购：本人每日累计（张）"), default=5, null=True, blank=True
    )
    issue_manager_per_member_day = models.PositiveIntegerField(
        _("门店店长：每位会员每日累计（张）"), default=2, null=True, blank=True
    )
    issue_manager_per_user_day = models.PositiveIntegerField(
        _("门店店长：本人每日累计（张）"), default=30, null=True, blank=True
    )
    issue_hq_per_member_day = models.PositiveIntegerField(
        _("总部营销：每位会员每日累计（张）"), default=5, null=True, blank=True
    )
    issue_hq_per_user_day = models.PositiveIntegerField(
        _("总部营销：本人每日累计（张）"), default=10_000, null=True, blank=True
    )
    # A held manual issue not decided within this many days expires (its reserved stock is given
    # back): a request nobody looked at must not hold a template's stock for ever.
    issue_request_days = models.PositiveSmallIntegerField(
        _("发券申请有效天数"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text=_("待审批的发券申请超过这些天未处理即自动过期，预留的库存退回。"),
    )
    # Expiry reminders (coupons/reminders.py): members whose unused coupons end within this many
    # brand days hear once per (template, end day), only if they may be contacted by SMS.
    reminder_days = models.PositiveSmallIntegerField(
        _("到期前几天提醒"),
        default=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text=_("留空表示不发送到期提醒。"),
    )
    reminder_hour = models.PositiveSmallIntegerField(
        _("提醒发送时间（品牌时区，几点）"), default=10, validators=[MinValueValidator(0), MaxValueValidator(23)]
    )

    class Meta:
        verbose_name = _("优惠券设置")
        verbose_name_plural = _("优惠券设置")
        constraints = [
            models.CheckConstraint(condition=Q(reminder_hour__lte=23), name="coupon_settings_reminder_hour"),
        ]

    def __str__(self) -> str:
        return str(_("优惠券设置"))


class CouponIssueMemberDay(models.Model):
    """How many coupons back-office users within limits issued by hand to one member on one
    brand day. Raised only by a conditional UPDATE (`total + 1 <= cap`) whose row count is checked."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    biz_date = models.DateField(_("营业日"))
    total = models.IntegerField(_("累计发放（张）"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "biz_date"], name="coupon_issue_member_day_unique"),
            models.CheckConstraint(condition=Q(total__gte=0), name="coupon_issue_member_day_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.biz_date}: {self.total}"


class CouponIssueUserDay(models.Model):
    """The same running total per back-office user and brand day."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    biz_date = models.DateField(_("营业日"))
    total = models.IntegerField(_("累计发放（张）"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "biz_date"], name="coupon_issue_user_day_unique"),
            models.CheckConstraint(condition=Q(total__gte=0), name="coupon_issue_user_day_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.biz_date}: {self.total}"


class CouponIssueRequest(TimeStampedModel):
    """A manual issue that would have passed its requester's daily cap: nothing issued, held for a
    brand admin. Decided once — pending → approved (the coupons are issued then, with the
    request's batch key, so approving twice issues once) or pending → rejected — by a conditional
    UPDATE whose row count is checked. One request per (template, batch): a resubmit finds it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待审批")
        APPROVED = "approved", _("已批准")
        REJECTED = "rejected", _("已驳回")
        EXPIRED = "expired", _("已过期")  # not decided within CouponSettings.issue_request_days

    class Exceeded(models.TextChoices):
        MEMBER_DAY = "member_day", _("会员当日累计超限")
        USER_DAY = "user_day", _("员工当日累计超限")

    template = models.ForeignKey(
        CouponTemplate, verbose_name=_("优惠券"), on_delete=models.PROTECT, related_name="issue_requests"
    )
    # The members as ids (a request may name thousands); their numbers are shown from the members.
    member_ids = ArrayField(models.BigIntegerField(), verbose_name=_("会员"))
    members_count = models.PositiveIntegerField(_("会员数"))
    source_key = models.CharField(_("发放批次"), max_length=128)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("申请人"), on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("申请时间"))
    # The staff member sending the coupons (发券导购), for staff performance once approved.
    staff = models.ForeignKey(
        "members.Staff", verbose_name=_("发券导购"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    biz_date = models.DateField(_("营业日"))
    exceeded = models.CharField(_("超出额度"), max_length=16, choices=Exceeded.choices)
    # Stock of the template held for this request while it waits (0: the template's stock is
    # unlimited). Taken when the request is held, so an approval never finds the coupons gone;
    # given back (to be issued at once, or to everyone) when the request is decided or expires.
    reserved = models.PositiveIntegerField(_("预留库存（张）"), default=0)
    status = models.CharField(_("状态"), max_length=8, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("审批人"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    decision_reason = models.CharField(_("审批意见"), max_length=255, blank=True)
    # What the approval issued (the set-based issue's counts), for the page.
    issued = models.PositiveIntegerField(_("实际发放（张）"), default=0)
    result = models.CharField(_("发放结果"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("发券申请")
        verbose_name_plural = _("发券审批")
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_couponissuerequest", _("审批发券申请"))]
        constraints = [
            models.UniqueConstraint(fields=["template", "source_key"], name="coupon_issue_request_once"),
            models.CheckConstraint(condition=Q(members_count__gte=1), name="coupon_issue_request_not_empty"),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | Q(status__in=["approved", "rejected", "expired"], decided_at__isnull=False),
                name="coupon_issue_request_decided_when",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="coupon_issue_request_queue")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.template_id} ×{self.members_count}"


class CouponPoolJob(TimeStampedModel):
    """Adding codes to a template's pool in the background (coupons/pool_jobs.py): generating
    `count` codes, or importing the brand's file of codes. Progress is recorded with each chunk in
    the chunk's own transaction, so the page shows how far it got and a resumed job goes on from
    there. An imported file is checked whole before the first code is added (bad rows and
    duplicates refuse it: nothing added) and dropped when the job ends: its codes are secrets."""

    class Kind(models.TextChoices):
        GENERATE = "generate", _("生成券码")
        IMPORT = "import", _("导入券码")

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("进行中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")

    template = models.ForeignKey(
        CouponTemplate, verbose_name=_("优惠券"), on_delete=models.PROTECT, related_name="pool_jobs"
    )
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    count = models.PositiveIntegerField(_("数量"), default=0)  # codes to generate, or data rows of the file
    filename = models.CharField(_("文件名"), max_length=255, blank=True)
    content = models.BinaryField(_("文件内容"), editable=False, default=b"")
    done = models.PositiveIntegerField(_("已完成"), default=0)  # codes added (import: rows checked, then added)
    checked = models.PositiveIntegerField(_("已检查行数"), default=0)
    last_line = models.PositiveIntegerField(_("已导入到第几行"), default=0)
    # Row errors of an import, in Chinese: [[line, message], ...] (the first ROW_ERRORS_KEPT).
    row_errors = models.JSONField(_("错误行"), default=list, blank=True)
    errors = models.PositiveIntegerField(_("错误行数"), default=0)
    error = models.TextField(_("失败原因"), blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    # The number of the job's latest pump chunk (coupons/pool_jobs.py CHAIN): an older one is stale.
    # db_default: the previous release's code, still serving while this one migrates, sets none.
    chunks = models.PositiveIntegerField(_("分块序号"), default=0, db_default=0, editable=False)

    class Meta:
        verbose_name = _("券码任务")
        verbose_name_plural = _("券码任务")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class CouponReminder(models.Model):
    """One expiry reminder: a member's unused coupons of one template ending on one brand day.
    Unique, so a rerun or a retried task writes none twice; sent after commit, consent checked
    again at the moment of sending."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("待发送")
        SENT = "sent", _("已发送")
        SKIPPED = "skipped", _("未发送")
        FAILED = "failed", _("发送失败")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    template = models.ForeignKey(CouponTemplate, verbose_name=_("优惠券"), on_delete=models.PROTECT, related_name="+")
    expires_on = models.DateField(_("到期日"))
    coupons = models.PositiveIntegerField(_("张数"))
    status = models.CharField(_("状态"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    address = models.CharField(_("手机号"), max_length=32, blank=True)
    body = models.TextField(_("内容"))
    provider_msgid = models.CharField(_("回执编号"), max_length=100, blank=True)
    error = models.CharField(_("说明"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("生成时间"))
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("到期提醒")
        verbose_name_plural = _("到期提醒")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "template", "expires_on"], name="coupon_reminder_once"),
        ]
        indexes = [models.Index(fields=["id"], condition=Q(status="queued"), name="coupon_reminder_queued")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.template_id} {self.expires_on}"
