"""Coupons (优惠券): templates, code pools, instances with their append-only history, holdings
(the per-member limit's counter) and redemptions (write-offs).

Money is fen. Every limit is a constraint or a conditional UPDATE whose row count is checked
(coupons/services.py); the instance's `state` is a cache of its history, which
`manage.py audit_coupons` checks."""

from django.contrib.postgres.fields import ArrayField
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
