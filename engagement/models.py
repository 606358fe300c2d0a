"""The engagement programme: growth value (成长值), check-in (签到) and birthday benefits (生日礼).

Every limit is in the schema: one check-in per member per brand day, one ladder step per cycle,
one birthday benefit per benefit year, growth entries unique per (member, kind, reference), and
capped counters raised by conditional UPDATEs under the member lock (members' lock step 1)."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel
from crm.jobs.exports import BackgroundExport


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

    class ReminderChannel(models.TextChoices):
        WECOM = "wecom", _("企业微信（由专属导购群发）")
        SMS = "sms", _("短信")

    checkin_reminder_enabled = models.BooleanField(
        _("签到提醒"),
        default=False,
        help_text=_("只发给自己开启了提醒、且同意该渠道营销消息的会员；当天已签到的不发。"),
    )
    checkin_reminder_channel = models.CharField(
        _("提醒渠道"), max_length=8, choices=ReminderChannel.choices, default=ReminderChannel.WECOM
    )
    checkin_reminder_hour = models.PositiveSmallIntegerField(
        _("提醒时间（品牌时区，几点）"), default=20, validators=[MinValueValidator(0), MaxValueValidator(23)]
    )
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
        REFERRAL = "referral", _("邀请有礼")
        ADJUST = "adjust", _("人工调整")
        SCAN = "scan", _("扫码领取")  # one item, one code (scancodes/rewards.py)

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
    """A tier's birthday gift: when it is released and what it gives (points, growth value, a
    multiplier on orders paid in the window from the release day, a coupon)."""

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
    # A capped activity like a check-in's (growth_activity_cap_per_month): a birthday helps a
    # tier, it cannot buy one.
    growth = models.PositiveIntegerField(_("赠送成长值"), default=0, db_default=0)
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
            # The job's points and coupons read the grants of one release day (not a scan of
            # every year's grants per member chunk).
            models.Index(fields=["release_date", "benefit", "member"], name="birthday_grant_release_day"),
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


# --- referral (邀请有礼) -------------------------------------------------------------------------


class ReferralCampaign(TimeStampedModel):
    """邀请有礼: what the invitee must do for both sides to be rewarded, the rewards, the caps and
    the budget. One level only, by design (禁止传销条例 art. 7): the engine knows a referrer and
    an invitee, never a referrer's referrer, and pays nothing for sharing or for a downline's sales.
    At most one campaign is active at a time (a partial unique constraint)."""

    class Qualifying(models.TextChoices):
        ENROLMENT = "enrolment", _("受邀人入会")
        FIRST_ORDER = "first_order", _("受邀人入会后首次消费")
        FIRST_ORDER_HELD = "first_order_held", _("受邀人首次消费且过了退货期")

    name = models.CharField(_("活动名称"), max_length=64)
    active = models.BooleanField(_("启用"), default=False)
    starts_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    ends_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    qualifying = models.CharField(
        _("奖励条件"), max_length=16, choices=Qualifying.choices, default=Qualifying.FIRST_ORDER
    )
    min_order_fen = models.BigIntegerField(
        _("首单最低实付（分）"), default=0, validators=[MinValueValidator(0)], help_text=_("0 = 不限金额。")
    )
    hold_days = models.PositiveSmallIntegerField(
        _("退货期（天）"),
        default=7,
        validators=[MaxValueValidator(90)],
        help_text=_("首单在此期间退款，已发的奖励撤回；“过了退货期”的活动在此期间奖励待发放。"),
    )
    attribution_days = models.PositiveSmallIntegerField(
        _("邀请有效期（天）"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text=_("受邀人首次打开邀请链接后这么多天内入会才算被邀请（首次点击归因）。"),
    )
    referrer_reward_kind = models.CharField(
        _("邀请人奖励"), max_length=8, choices=RewardKind.choices, default=RewardKind.POINTS
    )
    referrer_reward_amount = models.PositiveIntegerField(_("邀请人奖励数量"), default=0)
    referrer_coupon_template = models.CharField(_("邀请人优惠券模板编号"), max_length=64, blank=True)
    invitee_reward_kind = models.CharField(
        _("受邀人奖励"), max_length=8, choices=RewardKind.choices, default=RewardKind.POINTS
    )
    invitee_reward_amount = models.PositiveIntegerField(_("受邀人奖励数量"), default=0)
    invitee_coupon_template = models.CharField(_("受邀人优惠券模板编号"), max_length=64, blank=True)
    cap_per_day = models.PositiveIntegerField(_("每位邀请人每天奖励上限（人）"), default=0, help_text=_("0 = 不限。"))
    cap_per_month = models.PositiveIntegerField(
        _("每位邀请人每月奖励上限（人）"), default=10, help_text=_("0 = 不限。")
    )
    cap_lifetime = models.PositiveIntegerField(_("每位邀请人累计奖励上限（人）"), default=0, help_text=_("0 = 不限。"))
    budget = models.PositiveIntegerField(_("活动预算（奖励人次）"), default=0, help_text=_("0 = 不限。"))
    budget_used = models.PositiveIntegerField(_("已用预算"), default=0, editable=False)

    class Meta:
        verbose_name = _("邀请有礼活动")
        verbose_name_plural = _("邀请有礼活动")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="referral_one_active_campaign"),
            models.CheckConstraint(
                condition=Q(budget=0) | Q(budget_used__lte=F("budget")), name="referral_budget_not_exceeded"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ReferralLink(models.Model):
    """A member's invite link: a short unguessable token (fits a mini-program scene, ≤ 32
    characters). The device and network the member last opened it from are kept for the
    self-referral check."""

    member = models.OneToOneField("members.Member", on_delete=models.CASCADE, related_name="+")
    token = models.CharField(_("邀请码"), max_length=32, unique=True)
    device = models.CharField(_("设备标识"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("网络地址"), null=True, blank=True)
    # Browsers that opened the link before anyone enrolled through it (counted once per browser
    # session, on first touch): the referrer's "invited" people who have not joined yet are
    # anonymous, so the page can only say how many times the invitation was opened.
    opened = models.PositiveIntegerField(_("打开次数"), default=0, db_default=0)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("邀请链接")
        verbose_name_plural = _("邀请链接")

    def __str__(self) -> str:
        return self.token


class Referral(models.Model):
    """One invitation that led to an enrolment: who invited whom, and where it stands, with the
    reason in words (the referrer's top question is why a reward did not arrive). Unique per
    invitee: the first touch binds, nobody is invited twice."""

    class Status(models.TextChoices):
        JOINED = "joined", _("已入会，待首单")
        PENDING = "pending", _("已下单，退货期后发放")
        QUALIFIED = "qualified", _("已达成，奖励发放中")
        REWARDED = "rewarded", _("已发放奖励")
        REVERSED = "reversed", _("奖励已撤回")
        REFUSED = "refused", _("不发放奖励")

    class Stage(models.TextChoices):
        """What the referrer reads first (the status above is the detail): 已邀请 → 待确认 →
        已奖励, or 未达成 (with the reason) / 已撤回."""

        INVITED = "invited", _("已邀请")
        PENDING = "pending", _("待确认")
        REWARDED = "rewarded", _("已奖励")
        NOT_MET = "not_met", _("未达成")
        REVERSED = "reversed", _("已撤回")

    class Channel(models.TextChoices):
        LINK = "link", _("邀请链接")
        STORE = "store", _("门店登记")

    campaign = models.ForeignKey(
        ReferralCampaign, verbose_name=_("活动"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    referrer = models.ForeignKey("members.Member", verbose_name=_("邀请人"), on_delete=models.PROTECT, related_name="+")
    invitee = models.OneToOneField(
        "members.Member", verbose_name=_("受邀人"), on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(_("来源"), max_length=8, choices=Channel.choices, default=Channel.LINK)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.JOINED)
    reason = models.CharField(_("说明"), max_length=255, blank=True)
    device = models.CharField(_("受邀人设备"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("受邀人网络地址"), null=True, blank=True)
    staff_id = models.BigIntegerField(_("登记导购"), null=True, blank=True)
    joined_at = models.DateTimeField(_("入会时间"))
    order_id = models.BigIntegerField(_("首单"), null=True, blank=True)
    qualified_at = models.DateTimeField(_("达成时间"), null=True, blank=True)
    hold_until = models.DateTimeField(_("退货期至"), null=True, blank=True)
    rewarded_at = models.DateTimeField(_("发放时间"), null=True, blank=True)
    reversed_at = models.DateTimeField(_("撤回时间"), null=True, blank=True)
    # [{"kind": "points", "amount": 50, "label": "邀请好友奖励：50 积分"}]
    referrer_rewards = models.JSONField(_("邀请人所得"), default=list)
    invitee_rewards = models.JSONField(_("受邀人所得"), default=list)

    class Meta:
        verbose_name = _("邀请记录")
        verbose_name_plural = _("邀请记录")
        ordering = ["-joined_at", "-id"]
        indexes = [
            models.Index(fields=["referrer", "-joined_at"], name="referral_referrer_recent"),
            models.Index(fields=["order_id"], condition=Q(order_id__isnull=False), name="referral_order"),
            models.Index(fields=["hold_until"], condition=Q(status="pending"), name="referral_pending_due"),
            models.Index(fields=["device"], condition=~Q(device=""), name="referral_device"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} → {self.invitee_id}"

    @property
    def stage(self) -> "Referral.Stage":
        return STATUS_STAGE[Referral.Status(self.status)]


STATUS_STAGE = {
    Referral.Status.JOINED: Referral.Stage.INVITED,  # bound, not yet qualified
    Referral.Status.PENDING: Referral.Stage.PENDING,  # qualified, the return window still open
    Referral.Status.QUALIFIED: Referral.Stage.PENDING,  # qualified, the grant on its way
    Referral.Status.REWARDED: Referral.Stage.REWARDED,
    Referral.Status.REFUSED: Referral.Stage.NOT_MET,
    Referral.Status.REVERSED: Referral.Stage.REVERSED,
}


class ReferralQuota(models.Model):
    """Rewards a referrer got in one period of a campaign (`all`, `m2027-01`, `d2027-01-05`),
    raised only below the cap by a conditional upsert whose row count is checked."""

    campaign = models.ForeignKey(ReferralCampaign, on_delete=models.CASCADE, related_name="+")
    referrer = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    period = models.CharField(max_length=12)
    used = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("邀请奖励计数")
        verbose_name_plural = _("邀请奖励计数")
        constraints = [models.UniqueConstraint(fields=["referrer", "campaign", "period"], name="referral_quota_unique")]

    def __str__(self) -> str:
        return f"{self.referrer_id} {self.period}: {self.used}"


# --- check-in reminders -----------------------------------------------------------------------


class ReferralExport(BackgroundExport):
    """The referral graph exported for a regulator (depth, rewards, reversals), built in the
    background (crm.jobs.exports) with the graph page's filters. `full_pi`: the requester could see
    members in full; only viewers who can see them in full may download such a file."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    file_format = models.CharField(_("格式"), max_length=4, choices=Format.choices, default=Format.XLSX)
    full_pi = models.BooleanField(_("含完整个人信息"), default=False)
    campaign = models.ForeignKey(
        ReferralCampaign, verbose_name=_("活动"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    joined_from = models.DateField(_("入会日期自"), null=True, blank=True)
    joined_to = models.DateField(_("入会日期至"), null=True, blank=True)
    referrer_no = models.CharField(_("邀请人会员号"), max_length=20, blank=True)
    referrals_total = models.PositiveIntegerField(_("邀请记录总数"), default=0)
    referrals_done = models.PositiveIntegerField(_("已导出记录数"), default=0)

    class Meta:
        verbose_name = _("邀请关系导出")
        verbose_name_plural = _("邀请关系导出")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"邀请关系导出 {self.pk}"

    def progress_of(self) -> tuple[int, int]:
        return (self.referrals_done, self.referrals_total)


class CheckinReminderOptIn(models.Model):
    """A member asked to be reminded to check in (off unless they switch it on)."""

    member = models.OneToOneField("members.Member", on_delete=models.CASCADE, primary_key=True, related_name="+")
    created_at = models.DateTimeField(_("开启时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("签到提醒订阅")
        verbose_name_plural = _("签到提醒订阅")

    def __str__(self) -> str:
        return f"{self.member_id}"


class CheckinReminder(models.Model):
    """One opted-in member on one brand day (unique: the job run twice or in parallel writes and
    sends once): reminded, or skipped with the reason (no consent, no WeCom staff, checked in...)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("待发送")
        SENDING = "sending", _("发送中")
        SENT = "sent", _("已发送")
        SKIPPED = "skipped", _("未发送")
        FAILED = "failed", _("发送失败")

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    biz_date = models.DateField(_("日期"))
    channel = models.CharField(
        _("渠道"),
        max_length=8,
        choices=EngagementSettings.ReminderChannel.choices,
        default=EngagementSettings.ReminderChannel.SMS,
    )
    staff = models.ForeignKey(
        "members.Staff", verbose_name=_("发送导购"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The mobile (SMS) or the member's WeCom external contact id.
    address = models.CharField(_("接收账号"), max_length=64, blank=True)
    body = models.CharField(_("内容"), max_length=255)
    status = models.CharField(_("状态"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(_("未发送原因"), max_length=255, blank=True)
    provider_msgid = models.CharField(_("渠道消息号"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    # When a sender claimed it (queued → sending): a row still sending a lease after this was
    # claimed by a worker that died before recording the channel's answer (services.reminders).
    claimed_at = models.DateTimeField(_("领取时间"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("签到提醒记录")
        verbose_name_plural = _("签到提醒记录")
        constraints = [models.UniqueConstraint(fields=["member", "biz_date"], name="checkin_reminder_once_a_day")]
        indexes = [
            models.Index(fields=["biz_date", "status"], name="checkin_reminder_day_status"),
            # The hourly lease sweep looks at sending rows of any day: a few at most, while the
            # table holds one row per opted-in member and day (never scanned for them).
            models.Index(fields=["claimed_at"], condition=models.Q(status="sending"), name="checkin_reminder_sending"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.biz_date}"


class BirthdayChange(models.Model):
    """The audit of a member's birthday: set once by the member themself, changed after that only
    by store staff (who, when, from what to what, and why) — a birthday that moves freely would
    be a way to collect the gift twice a year."""

    class By(models.TextChoices):
        MEMBER = "member", _("会员本人")
        STAFF = "staff", _("门店员工")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    by = models.CharField(_("修改人类型"), max_length=8, choices=By.choices)
    actor = models.CharField(_("操作人"), max_length=150)
    before = models.DateField(_("原生日"), null=True, blank=True)
    after = models.DateField(_("新生日"), null=True, blank=True)
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("生日修改记录")
        verbose_name_plural = _("生日修改记录")
        ordering = ["-created_at", "-id"]
        constraints = [
            # The member sets it once: a second self-service row cannot exist.
            models.UniqueConstraint(fields=["member"], condition=Q(by="member"), name="birthday_set_by_member_once"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.before} → {self.after}"
