from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class LoyaltyProgram(TimeStampedModel):
    """The brand's earning, expiry and lifecycle rules. One row per brand (pk=1)."""

    class Expiry(models.TextChoices):
        NEVER = "never", _("永不过期")
        DAYS = "days", _("获得后 N 天")
        END_OF_YEAR = "end_of_year", _("次年年底")  # earned in year Y expires at the end of Y+1

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    # Points per yuan of paid amount, before multipliers; amounts are fen, so points =
    # floor(amount_fen * base_points_per_yuan * multipliers / 100).
    base_points_per_yuan = models.PositiveIntegerField(_("每元基础积分"), default=1)
    per_order_cap = models.PositiveIntegerField(_("单笔订单积分上限"), null=True, blank=True)
    excluded_channels = ArrayField(
        models.CharField(max_length=20), verbose_name=_("不积分渠道"), default=list, blank=True
    )
    excluded_skus = ArrayField(models.CharField(max_length=64), verbose_name=_("不积分商品"), default=list, blank=True)
    expiry = models.CharField(_("积分有效期"), max_length=16, choices=Expiry.choices, default=Expiry.END_OF_YEAR)
    expiry_days = models.PositiveIntegerField(_("有效天数"), null=True, blank=True)
    pending_days = models.PositiveIntegerField(_("积分冻结期（天）"), default=0)
    # Lifecycle (AIPL) thresholds.
    purchase_window_days = models.PositiveIntegerField(_("购买统计窗口（天）"), default=365)
    loyalty_min_purchases = models.PositiveIntegerField(_("忠诚客户最少购买次数"), default=2)
    # Value of one point in fen, for the liability estimate and points-as-cash.
    point_value_fen = models.PositiveIntegerField(
        _("每积分价值（分）"), default=1, help_text=_("积分抵现按此折算：1 分即 100 积分抵 1 元。")
    )
    # Points-as-cash on an order (members/services/points_cash.py). Off until the brand opts in.
    points_cash_enabled = models.BooleanField(
        _("允许积分抵现"), default=False, help_text=_("会员下单时可用积分抵扣部分金额（游客、冻结会员不可用）。")
    )
    points_cash_max_pct = models.PositiveSmallIntegerField(
        _("积分抵现上限（%）"),
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("每笔订单最多可用积分抵扣订单金额的百分比。"),
    )
    # Manual adjustment limits per role (members/services/points_adjustments.py): |points| per
    # adjustment (above it refused; 0 = the role may not adjust), and per member / per back-office
    # user per brand day (above them the adjustment waits for a brand admin's approval). Empty =
    # no limit. Brand admins are never limited. Explained to people in LoyaltyProgramAdmin.
    adjust_staff_per_entry = models.PositiveIntegerField(_("门店导购：单次上限"), default=500, null=True, blank=True)
    adjust_staff_per_member_day = models.PositiveIntegerField(
        _("门店导购：每位会员每日累计上限"), default=1000, null=True, blank=True
    )
    adjust_staff_per_user_day = models.PositiveIntegerField(
        _("门店导购：本人每日累计上限"), default=3000, null=True, blank=True
    )
    adjust_manager_per_entry = models.PositiveIntegerField(_("门店店长：单次上限"), default=2000, null=True, blank=True)
    adjust_manager_per_member_day = models.PositiveIntegerField(
        _("门店店长：每位会员每日累计上限"), default=5000, null=True, blank=True
    )
    adjust_manager_per_user_day = models.PositiveIntegerField(
        _("门店店长：本人每日累计上限"), default=20000, null=True, blank=True
    )
    adjust_hq_per_entry = models.PositiveIntegerField(_("总部营销：单次上限"), default=5000, null=True, blank=True)
    adjust_hq_per_member_day = models.PositiveIntegerField(
        _("总部营销：每位会员每日累计上限"), default=10000, null=True, blank=True
    )
    adjust_hq_per_user_day = models.PositiveIntegerField(
        _("总部营销：本人每日累计上限"), default=50000, null=True, blank=True
    )

    class Meta:
        verbose_name = _("积分规则")
        verbose_name_plural = _("积分规则")
        constraints = [
            models.CheckConstraint(
                condition=~Q(expiry="days") | Q(expiry_days__gt=0), name="loyalty_expiry_days_required"
            ),
            models.CheckConstraint(
                condition=Q(points_cash_max_pct__gte=1, points_cash_max_pct__lte=100),
                name="loyalty_points_cash_max_pct_range",
            ),
        ]

    def __str__(self) -> str:
        return str(_("积分规则"))


class Tier(TimeStampedModel):
    """A membership tier. Rank orders them (higher is better); the lowest is the entry tier."""

    class Basis(models.TextChoices):
        SPEND = "spend", _("消费金额")
        POINTS = "points", _("获得积分")
        # Kept by the engagement app (members.hooks.qualifying_basis_register); never the balance.
        GROWTH = "growth", _("成长值")

    code = models.CharField(_("等级编码"), max_length=32, unique=True)
    name = models.CharField(_("等级名称"), max_length=50)
    rank = models.PositiveSmallIntegerField(_("级别"), unique=True)
    basis = models.CharField(_("升级依据"), max_length=8, choices=Basis.choices, default=Basis.SPEND)
    # Qualifying spend (fen) or points earned within the rolling window to enter this tier.
    threshold = models.BigIntegerField(_("门槛"), default=0)
    window_days = models.PositiveIntegerField(_("统计窗口（天）"), default=365)
    validity_days = models.PositiveIntegerField(_("等级有效期（天）"), default=365)
    # Multipliers in percent: 150 = ×1.5. Integers keep floats away from balances.
    points_multiplier_pct = models.PositiveIntegerField(_("积分倍率（%）"), default=100)
    member_day_multiplier_pct = models.PositiveIntegerField(_("会员日倍率（%）"), default=100)
    birthday_bonus_points = models.PositiveIntegerField(_("生日礼积分"), default=0)

    class Meta:
        verbose_name = _("会员等级")
        verbose_name_plural = _("会员等级")
        ordering = ["rank"]
        constraints = [models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_not_negative")]

    def __str__(self) -> str:
        return self.name


class TierChange(models.Model):
    """Every tier change of a member, with its reason. Append-only by convention and by service."""

    class Reason(models.TextChoices):
        ENROLMENT = "enrolment", _("入会")
        UPGRADE = "upgrade", _("消费升级")
        RENEWAL = "renewal", _("保级")
        DOWNGRADE = "downgrade", _("到期降级")
        MANUAL_GRANT = "manual_grant", _("手动授予")
        MANUAL_REMOVAL = "manual_removal", _("取消手动等级")
        REFUND = "refund", _("退款")
        MERGE = "merge", _("会员合并")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="tier_changes")
    from_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(_("原因"), max_length=16, choices=Reason.choices)
    note = models.CharField(_("说明"), max_length=255, blank=True)
    actor = models.CharField(_("操作人"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("等级变更")
        verbose_name_plural = _("等级变更")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_tier or '-'} → {self.to_tier or '-'}（{self.get_reason_display()}）"
