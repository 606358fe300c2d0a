"""The engagement programme: growth value (成长值), check-in (签到) and birthday benefits (生日礼).

Every limit is in the schema: one check-in per member per brand day, one ladder step per cycle,
one birthday benefit per benefit year, growth entries unique per (member, kind, reference), and
capped counters raised by conditional UPDATEs under the member lock (members' lock step 1)."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class RewardKind(models.TextChoices):
    """What a programme grants. Coupons need a coupon issuer (engagement.rewards); until one
    registers, a coupon reward is refused with engagement_coupon_unavailable."""

    POINTS = "points", _("积分")
    GROWTH = "growth", _("成长值")
    COUPON = "coupon", _("优惠券")


class EngagementSettings(TimeStampedModel):
    """The brand's engagement rules. One row per brand."""

    class CheckinCycle(models.TextChoices):
        ROLLING = "rolling", _("滚动周期（自首次签到起 N 天）")
        MONTH = "month", _("自然月")

    class Feb29(models.TextChoices):
        FEB28 = "feb28", _("平年 2 月 28 日")
        MAR1 = "mar1", _("平年 3 月 1 日")

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    # --- growth value ---
    growth_per_yuan = models.PositiveIntegerField(
        _("每消费 1 元获得成长值"), default=1, help_text=_("按订单实付金额计算，退款按比例扣回。")
    )
    growth_activity_cap_per_month = models.PositiveIntegerField(
        _("活动成长值每月上限"),
        default=100,
        help_text=_("签到、邀请等活动每个自然月（品牌时区）最多给的成长值：活动能帮忙升级，但买不来等级。"),
    )
    # --- check-in ---
    checkin_enabled = models.BooleanField(_("开启签到"), default=True)
    checkin_cycle = models.CharField(
        _("签到周期"), max_length=8, choices=CheckinCycle.choices, default=CheckinCycle.MONTH
    )
    checkin_cycle_days = models.PositiveSmallIntegerField(
        _("滚动周期天数"), default=7, validators=[MinValueValidator(2), MaxValueValidator(366)]
    )
    checkin_daily_points = models.PositiveIntegerField(_("每日签到积分"), default=5)
    checkin_daily_growth = models.PositiveIntegerField(_("每日签到成长值"), default=1)
    makeup_window_days = models.PositiveSmallIntegerField(
        _("补签可补最近几天"), default=3, help_text=_("0 = 不允许补签。只能补本周期内的日子。")
    )
    makeup_cost_points = models.PositiveIntegerField(_("补签消耗积分"), default=20)
    makeup_cap_per_cycle = models.PositiveSmallIntegerField(_("每周期补签次数上限"), default=2)
    # --- birthday ---
    birthday_feb29 = models.CharField(
        _("2 月 29 日生日在平年"), max_length=8, choices=Feb29.choices, default=Feb29.FEB28
    )
    birthday_change_guard_days = models.PositiveSmallIntegerField(
        _("生日修改保护期（天）"),
        default=30,
        help_text=_("生日在发放日前这么多天内设置或修改的，本年度不发生日礼。"),
    )

    class Meta:
        verbose_name = _("互动规则")
        verbose_name_plural = _("互动规则")

    def __str__(self) -> str:
        return str(_("互动规则"))


# --- growth value -----------------------------------------------------------------------------


class GrowthEntry(models.Model):
    """The growth-value ledger: non-spendable, append-only (a trigger refuses UPDATE/DELETE); a
    refund is a new negative entry. `reference` is unique per (member, kind), so a retried request
    or a re-run job writes nothing twice. The member's total is GrowthAccount.balance, kept in the
    same transaction; `growth_audit` checks they agree."""

    class Kind(models.TextChoices):
        SPEND = "spend", _("消费")
        REFUND = "refund", _("退款扣回")
        CHECKIN = "checkin", _("签到")
        LADDER = "ladder", _("连续签到奖励")
        BIRTHDAY = "birthday", _("生日礼")
        ADJUST = "adjust", _("人工调整")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(_("类型"), max_length=8, choices=Kind.choices)
    value = models.IntegerField(_("成长值"))
    balance_after = models.IntegerField(_("变动后成长值"))
    # Activity growth counts against the monthly cap; spend and its refunds do not.
    activity = models.BooleanField(_("活动来源"), default=False)
    reason = models.CharField(_("说明"), max_length=255)
    reference = models.CharField(_("关联单据"), max_length=128)
    order_id = models.BigIntegerField(_("订单"), null=True, blank=True)
    actor = models.CharField(_("操作人"), max_length=150, default="system")
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("成长值流水")
        verbose_name_plural = _("成长值流水")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "kind", "reference"], name="growth_entry_reference_unique"),
            models.CheckConstraint(condition=~Q(value=0), name="growth_entry_not_zero"),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="growth_entry_member_recent"),
            models.Index(fields=["order_id"], condition=Q(order_id__isnull=False), name="growth_entry_order"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value:+d}"


class GrowthAccount(models.Model):
    """A member's growth value: the sum of their entries (never negative: a refund of growth a
    member no longer has stops at 0 and the shortfall is in the entry's reason)."""

    member = models.OneToOneField("members.Member", on_delete=models.PROTECT, primary_key=True, related_name="+")
    balance = models.IntegerField(_("成长值"), default=0)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("成长值账户")
        verbose_name_plural = _("成长值账户")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance}"


class GrowthActivityMonth(models.Model):
    """Activity growth a member got in one brand month; raised only up to the brand's cap by a
    conditional UPDATE under the member lock."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.DateField(_("月份"))  # the first day of the brand month
    total = models.PositiveIntegerField(_("累计活动成长值"), default=0)

    class Meta:
        verbose_name = _("活动成长值月累计")
        verbose_name_plural = _("活动成长值月累计")
        constraints = [models.UniqueConstraint(fields=["member", "month"], name="growth_activity_month_unique")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.month:%Y-%m}: {self.total}"


# --- check-in ---------------------------------------------------------------------------------


class CheckinLadderStep(TimeStampedModel):
    """A milestone of the check-in ladder: `days` consecutive days within one cycle earn the
    reward, once per cycle (CheckinMilestone is unique per member, cycle and step): signing 4 days,
    skipping the 5th and starting again earns the 3-day step once, not every time (ladder farming)."""

    days = models.PositiveSmallIntegerField(_("连续签到天数"), unique=True, validators=[MinValueValidator(1)])
    reward_kind = models.CharField(_("奖励类型"), max_length=8, choices=RewardKind.choices)
    amount = models.PositiveIntegerField(_("奖励数量"), default=0, help_text=_("积分或成长值；优惠券时为张数。"))
    coupon_template = models.CharField(_("优惠券模板编码"), max_length=64, blank=True)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("连续签到奖励")
        verbose_name_plural = _("连续签到奖励")
        ordering = ["days"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reward_kind="coupon") | Q(amount__gt=0), name="checkin_ladder_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"连续 {self.days} 天"


class Checkin(models.Model):
    """One check-in of a member on one brand business day (unique: a double tap, or twenty at once,
    find the same row). What it granted is kept on the row, in words and in numbers."""

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+", db_index=False)
    biz_date = models.DateField(_("签到日"))
    cycle_start = models.DateField(_("所在周期起始日"))
    # Consecutive days ending on this day (across month and year ends); kept current by make-ups.
    streak = models.PositiveIntegerField(_("连续天数"))
    made_up = models.BooleanField(_("补签"), default=False)
    points = models.PositiveIntegerField(_("获得积分"), default=0)
    growth = models.PositiveIntegerField(_("获得成长值"), default=0)
    cost_points = models.PositiveIntegerField(_("补签消耗积分"), default=0)
    # [{"kind": "points", "amount": 10, "label": "连续签到 3 天奖励 10 积分"}, ...]
    rewards = models.JSONField(_("获得奖励"), default=list)
    channel = models.CharField(_("渠道"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("签到记录")
        verbose_name_plural = _("签到记录")
        ordering = ["-biz_date"]
        constraints = [models.UniqueConstraint(fields=["member", "biz_date"], name="checkin_member_day_unique")]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.biz_date}"


class CheckinCycleState(models.Model):
    """Per member and cycle: make-ups used (conditional UPDATE below the cap)."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    cycle_start = models.DateField(_("周期起始日"))
    makeups = models.PositiveSmallIntegerField(_("已补签次数"), default=0)

    class Meta:
        verbose_name = _("签到周期")
        verbose_name_plural = _("签到周期")
        constraints = [models.UniqueConstraint(fields=["member", "cycle_start"], name="checkin_cycle_unique")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.cycle_start}"


class CheckinMilestone(models.Model):
    """A ladder step reached in a cycle: unique, so it is granted once per cycle."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    cycle_start = models.DateField(_("周期起始日"))
    days = models.PositiveSmallIntegerField(_("连续签到天数"))
    checkin = models.ForeignKey(Checkin, on_delete=models.PROTECT, related_name="milestones")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("连续签到奖励记录")
        verbose_name_plural = _("连续签到奖励记录")
        constraints = [
            models.UniqueConstraint(fields=["member", "cycle_start", "days"], name="checkin_milestone_unique")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.cycle_start} {self.days}"


# --- birthday ---------------------------------------------------------------------------------


class BirthdayBenefit(TimeStampedModel):
    """A tier's birthday gift: when it is released and what it gives (points, a multiplier on
    orders paid in the window from the release day, a coupon)."""

    class Release(models.TextChoices):
        ON_DAY = "on_day", _("生日当天")
        DAYS_BEFORE = "days_before", _("生日前 N 天")
        FIXED_DAY = "fixed_day", _("生日当月固定日")

    tier = models.OneToOneField("members.Tier", verbose_name=_("会员等级"), on_delete=models.CASCADE, related_name="+")
    release = models.CharField(_("发放时间"), max_length=12, choices=Release.choices, default=Release.ON_DAY)
    days_before = models.PositiveSmallIntegerField(_("提前天数"), default=0, validators=[MaxValueValidator(60)])
    fixed_day = models.PositiveSmallIntegerField(
        _("当月几号"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_("大于当月天数时在月末发放。"),
    )
    points = models.PositiveIntegerField(_("赠送积分"), default=0)
    multiplier_pct = models.PositiveIntegerField(
        _("生日期间消费积分倍率（%）"), default=100, help_text=_("200 = 双倍积分；100 = 不加倍。")
    )
    window_days = models.PositiveSmallIntegerField(
        _("倍率有效天数"), default=7, validators=[MinValueValidator(1), MaxValueValidator(62)]
    )
    coupon_template = models.CharField(_("优惠券模板编码"), max_length=64, blank=True)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("生日礼")
        verbose_name_plural = _("生日礼")
        constraints = [
            models.CheckConstraint(condition=Q(multiplier_pct__gte=100), name="birthday_multiplier_at_least_100"),
            models.CheckConstraint(
                condition=Q(fixed_day__gte=1, fixed_day__lte=31), name="birthday_fixed_day_in_month"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} 生日礼"


class BirthdayGrant(models.Model):
    """One member's birthday benefit for one benefit year (unique): the job run twice, in
    parallel or catching up, grants once. The tier at release is kept."""

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+", db_index=False)
    benefit_year = models.PositiveSmallIntegerField(_("权益年度"))
    benefit = models.ForeignKey(BirthdayBenefit, on_delete=models.PROTECT, related_name="+")
    tier = models.ForeignKey("members.Tier", verbose_name=_("发放时等级"), on_delete=models.PROTECT, related_name="+")
    release_date = models.DateField(_("发放日"))
    points = models.PositiveIntegerField(_("赠送积分"), default=0)
    multiplier_pct = models.PositiveIntegerField(_("积分倍率（%）"), default=100)
    window_start = models.DateTimeField(_("倍率开始"))
    window_end = models.DateTimeField(_("倍率结束"))
    coupon_template = models.CharField(_("优惠券模板编码"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("生日礼发放")
        verbose_name_plural = _("生日礼发放")
        constraints = [models.UniqueConstraint(fields=["member", "benefit_year"], name="birthday_grant_once_per_year")]
        indexes = [
            models.Index(
                fields=["member", "window_end"], condition=Q(multiplier_pct__gt=100), name="birthday_grant_multiplier"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.benefit_year}"


class BirthdayJobState(models.Model):
    """The last brand day the birthday job finished: the next run catches up from the day after."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    last_date = models.DateField(_("已处理至"))

    class Meta:
        verbose_name = _("生日礼任务进度")
        verbose_name_plural = _("生日礼任务进度")

    def __str__(self) -> str:
        return f"{self.last_date}"
