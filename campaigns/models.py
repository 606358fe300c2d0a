import datetime as dt

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class Campaign(TimeStampedModel):
    """A recurring or one-off member activity: who (audience), what (benefit, message) and when
    (schedule, in the brand's time zone). Each time it is due, one Occurrence runs it."""

    class Type(models.TextChoices):
        MEMBER_DAY = "member_day", _("会员日")
        BIRTHDAY = "birthday", _("生日礼")
        BONUS_POINTS = "bonus_points", _("赠送积分")
        POINTS_MULTIPLIER = "points_multiplier", _("积分加倍")

    class Status(models.TextChoices):
        # draft → scheduled → running (an occurrence in progress; shown, not stored) → finished (a
        # one-off whose run is done) or ended (stopped by a marketer, or past its end date).
        DRAFT = "draft", _("草稿")
        SCHEDULED = "scheduled", _("已排期")
        PAUSED = "paused", _("已暂停")
        FINISHED = "finished", _("已完成")
        ENDED = "ended", _("已结束")

    class Frequency(models.TextChoices):
        ONCE = "once", _("单次")
        DAILY = "daily", _("每天")
        WEEKLY = "weekly", _("每周")
        MONTHLY = "monthly", _("每月")

    class MessageChannel(models.TextChoices):
        NONE = "none", _("不发送消息")
        WECOM = "wecom", _("企业微信（专属导购群发）")
        SMS = "sms", _("短信")

    name = models.CharField(_("活动名称"), max_length=100)
    type = models.CharField(_("类型"), max_length=20, choices=Type.choices, default=Type.MEMBER_DAY)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)

    # --- schedule (brand time zone) ---
    frequency = models.CharField(_("频率"), max_length=8, choices=Frequency.choices, default=Frequency.MONTHLY)
    time_of_day = models.TimeField(_("时间"), default=dt.time(10, 0))
    day_of_month = models.PositiveSmallIntegerField(
        _("每月几号"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    # ISO weekdays, 1 = Monday … 7 = Sunday.
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(7)]),
        verbose_name=_("每周几"),
        default=list,
        blank=True,
    )
    run_at = models.DateTimeField(_("单次执行时间"), null=True, blank=True)
    start_date = models.DateField(_("开始日期"), null=True, blank=True)
    end_date = models.DateField(_("结束日期"), null=True, blank=True)

    # --- audience (all optional; always intersected with contactability for the channel) ---
    tiers = models.ManyToManyField("members.Tier", verbose_name=_("等级"), blank=True, related_name="+")
    stores = models.ManyToManyField("members.Store", verbose_name=_("门店"), blank=True, related_name="+")
    tags = models.ManyToManyField("members.Tag", verbose_name=_("标签"), blank=True, related_name="+")
    assigned_staff = models.ManyToManyField("members.Staff", verbose_name=_("专属导购"), blank=True, related_name="+")
    lifecycle_stages = ArrayField(models.CharField(max_length=16), verbose_name=_("生命周期"), default=list, blank=True)
    enrolled_after = models.DateField(_("入会不早于"), null=True, blank=True)
    enrolled_before = models.DateField(_("入会不晚于"), null=True, blank=True)
    purchased_within_days = models.PositiveIntegerField(_("最近 N 天内购买过"), null=True, blank=True)
    not_purchased_within_days = models.PositiveIntegerField(_("最近 N 天内未购买"), null=True, blank=True)
    points_min = models.PositiveIntegerField(_("积分不少于"), null=True, blank=True)
    points_max = models.PositiveIntegerField(_("积分不多于"), null=True, blank=True)
    holdout_pct = models.PositiveSmallIntegerField(_("对照组比例（%）"), default=0, validators=[MaxValueValidator(50)])

    # --- benefit ---
    multiplier_pct = models.PositiveIntegerField(_("当日积分倍率（%）"), default=100)
    bonus_points = models.PositiveIntegerField(_("赠送积分"), default=0)
    bonus_expiry_days = models.PositiveIntegerField(_("赠送积分有效天数"), null=True, blank=True)
    reward = models.ForeignKey(
        "members.Reward", verbose_name=_("赠送礼品"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Benefit "coupon": one coupon of this template to every non-hold-out recipient (coupons app).
    coupon_template = models.ForeignKey(
        "coupons.CouponTemplate",
        verbose_name=_("赠送优惠券"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    # --- message ---
    message_channel = models.CharField(
        _("消息渠道"), max_length=8, choices=MessageChannel.choices, default=MessageChannel.NONE
    )
    message_template = models.TextField(
        _("消息模板"), blank=True, help_text=_("可用占位符：{name} {tier} {balance} {expiring_points}")
    )

    # --- publishing ---
    # The preview the publisher confirmed (selectors.CampaignPreview.as_record): the results of
    # that slot's run say how many dropped out between then and the run, and why.
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    published_preview = models.JSONField(_("发布时预览"), default=dict, blank=True)

    class Meta:
        verbose_name = _("会员活动")
        verbose_name_plural = _("会员活动")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(frequency="monthly") | Q(day_of_month__isnull=False), name="campaign_monthly_needs_day"
            ),
            models.CheckConstraint(
                condition=~Q(frequency="weekly") | ~Q(weekdays=[]), name="campaign_weekly_needs_weekdays"
            ),
            models.CheckConstraint(
                condition=~Q(frequency="once") | Q(run_at__isnull=False), name="campaign_once_needs_run_at"
            ),
            models.CheckConstraint(
                condition=(
                    Q(end_date__isnull=True) | Q(start_date__isnull=True) | Q(end_date__gte=models.F("start_date"))
                ),
                name="campaign_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Occurrence(TimeStampedModel):
    """One run of a campaign for one scheduled slot. Unique per (campaign, slot): however often the
    trigger fires (beat twice, a retry, the catch-up sweep), there is one occurrence per slot, and
    its steps record their progress so a crashed run resumes instead of starting over."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待执行")
        RUNNING = "running", _("执行中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("会员活动"), on_delete=models.PROTECT, related_name="occurrences"
    )
    # The scheduled moment (aware; local wall time in the brand's zone at creation).
    slot = models.DateTimeField(_("计划时间"))
    # Orders paid in [window_start, window_end) get the campaign multiplier: the local day of
    # the slot in the brand's time zone (the 8th in Shanghai, not in UTC).
    window_start = models.DateTimeField(_("活动窗口开始"))
    window_end = models.DateTimeField(_("活动窗口结束"))
    status = models.CharField(_("状态"), max_length=8, choices=Status.choices, default=Status.PENDING)
    # Steps done, in order (e.g. ["snapshot", "awards", "messages"]): a resumed run skips them.
    steps_done = ArrayField(models.CharField(max_length=16), verbose_name=_("已完成步骤"), default=list, blank=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    trigger_count = models.PositiveIntegerField(_("触发次数"), default=0)
    error = models.TextField(_("错误"), blank=True)
    # What each step did (recipients, awarded, queued...), for the results page.
    summary = models.JSONField(_("执行结果"), default=dict, blank=True)

    class Meta:
        verbose_name = _("活动场次")
        verbose_name_plural = _("活动场次")
        ordering = ["-slot"]
        constraints = [models.UniqueConstraint(fields=["campaign", "slot"], name="occurrence_campaign_slot_unique")]

    def __str__(self) -> str:
        from crm.tenancy.zones import brand_time_shown

        return f"{self.campaign} · {brand_time_shown(self.slot)}"


# Recipients and outbox messages are written a million at a time by one occurrence, so each index
# and each foreign-key check on them costs a million operations (Django's FKs are DEFERRABLE
# INITIALLY DEFERRED: every inserted row queues an RI check that runs at the step's COMMIT).
# Hence, deliberately:
# - no index on occurrence_id alone: the unique (occurrence, member) index serves it;
# - no database FK to the member (db_constraint=False): the only writers are the set-based
#   INSERT ... SELECTs of campaigns/services.py and campaigns/messaging.py, which select the
#   member ids from members_member (or from recipients selected from it) in the same statement,
#   and members are never deleted (erasure and merge keep the row), so the check could never
#   fail. The ORM relation and on_delete=PROTECT stay. tests/campaigns/test_bulk_tables.py checks
#   that every row references a real member. The FK to the occurrence stays.


class Recipient(models.Model):
    """The audience snapshot of an occurrence: one row per (occurrence, member), written set-based.
    Hold-out members are snapshotted too (they are the comparison group) but get nothing."""

    occurrence = models.ForeignKey(Occurrence, on_delete=models.PROTECT, related_name="recipients", db_index=False)
    # No index by member either: nothing looks recipients up by member alone.
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    holdout = models.BooleanField(_("对照组"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("活动对象")
        verbose_name_plural = _("活动对象")
        constraints = [
            models.UniqueConstraint(fields=["occurrence", "member"], name="recipient_occurrence_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.occurrence_id}:{self.member_id}"


class OutboxMessage(TimeStampedModel):
    """A message to one member for one occurrence: unique per (occurrence, member), written
    set-based by the run and sent after commit. Consent is checked again right before sending,
    and a withdrawal cancels what is still queued (consent.hooks.on_withdraw)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("待发送")
        SENDING = "sending", _("发送中")
        SENT = "sent", _("已提交")
        DELIVERED = "delivered", _("已送达")
        FAILED = "failed", _("失败")
        CANCELLED = "cancelled", _("已取消")
        SKIPPED = "skipped", _("未发送")

    # Indexes and FKs: see the note above Recipient.
    occurrence = models.ForeignKey(
        Occurrence, verbose_name=_("活动场次"), on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    # Indexed: a consent withdrawal cancels the member's queued messages (consent.hooks).
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    channel = models.CharField(_("渠道"), max_length=8, choices=Campaign.MessageChannel.choices)
    purpose = models.CharField(_("授权目的"), max_length=32)
    # WeCom: the member's own staff sends; SMS: no sender (then no index entry: see Meta).
    staff = models.ForeignKey(
        "members.Staff",
        verbose_name=_("发送导购"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    # Mobile (E.164) for SMS, the WeCom external_userid for WeCom.
    address = models.CharField(_("地址"), max_length=128, blank=True)
    body = models.TextField(_("内容"))
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    provider_msgid = models.CharField(_("渠道消息 ID"), max_length=128, blank=True)
    error = models.CharField(_("错误"), max_length=255, blank=True)
    sent_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("活动消息")
        verbose_name_plural = _("活动消息")
        constraints = [models.UniqueConstraint(fields=["occurrence", "member"], name="outbox_occurrence_member_unique")]
        indexes = [
            models.Index(fields=["occurrence", "status"], name="outbox_occurrence_status"),
            models.Index(fields=["staff"], condition=Q(staff__isnull=False), name="outbox_staff"),
        ]

    def __str__(self) -> str:
        return f"{self.occurrence_id}:{self.member_id} {self.status}"


class SmsInboundReply(models.Model):
    """An inbound SMS (上行短信) the provider called back with, once per provider message id: a
    provider retries its callback until it is answered, and a retry must not withdraw twice."""

    provider_msgid = models.CharField(_("渠道消息 ID"), max_length=128, unique=True)
    mobile = models.CharField(_("手机号"), max_length=20)
    text = models.CharField(_("内容"), max_length=200)
    received_at = models.DateTimeField(_("接收时间"))
    withdrawn = models.PositiveIntegerField(_("撤回授权的会员数"), default=0)

    class Meta:
        verbose_name = _("短信回复")
        verbose_name_plural = _("短信回复")

    def __str__(self) -> str:
        return f"{self.mobile[:-4]}**** · {self.text[:10]}"
