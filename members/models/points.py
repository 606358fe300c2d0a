from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class PointsEntry(models.Model):
    """The points ledger: the source of truth. Append-only — the database refuses UPDATE and
    DELETE on this table (trigger in the migration); a correction is a new entry.

    `points` is signed (earn +, redeem −). `reference` names what caused the entry
    ("order:<channel>:<no>", "refund:<id>", "campaign:<occurrence>"...) and is unique per member
    and kind, so a retried request or task cannot write the same entry twice.
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("消费积分")
        REDEEM = "redeem", _("兑换")
        EXPIRE = "expire", _("过期")
        REVERSE = "reverse", _("退款冲回")
        ADJUST = "adjust", _("人工调整")
        MERGE = "merge", _("合并转入/转出")
        BONUS = "bonus", _("活动赠送")

    # No index of its own: points_entry_member_recent (member, -created_at) serves every look-up by
    # member, and a second index would be written on every earn/bonus/expire insert.
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("会员"),
        on_delete=models.PROTECT,
        related_name="points_entries",
        db_index=False,
    )
    kind = models.CharField(_("类型"), max_length=8, choices=Kind.choices)
    points = models.IntegerField(_("积分"))
    balance_after = models.IntegerField(_("变动后余额"))
    reason = models.CharField(_("原因"), max_length=255, blank=True)
    reference = models.CharField(_("关联单据"), max_length=128, blank=True)
    # Indexed only where set (points_entry_order below): bonus, redeem, expire and adjust entries —
    # a campaign writes one per audience member — have no order.
    order = models.ForeignKey(
        "members.Order",
        verbose_name=_("订单"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    actor = models.CharField(_("操作人"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("积分流水")
        verbose_name_plural = _("积分流水")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "reference"], condition=~Q(reference=""), name="points_entry_reference_unique"
            ),
            models.CheckConstraint(condition=~Q(points=0), name="points_entry_not_zero"),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="points_entry_member_recent"),
            models.Index(fields=["order"], condition=Q(order__isnull=False), name="points_entry_order"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"


class PointsLot(models.Model):
    """Earned points that can be spent, each with its own expiry. Redemption consumes the lots
    that expire first; expiry zeroes what remains.

    A lot is `pending` from earning until the release job passes its `available_at`; its points
    count in Member.points_pending until then and in Member.points_balance afterwards. The
    invariant checked by `audit_ledger` (members.services.points.ledger_audit), per member:

        sum(entries.points)                        = points_balance + points_pending − points_debt
        sum(remaining of lots not expired)         = points_balance + points_pending
        sum(remaining of pending lots not expired) = points_pending

    An expired lot has remaining = 0 (expiry moves what remained into an `expire` entry).
    """

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="points_lots")
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    points = models.PositiveIntegerField(_("获得积分"))
    remaining = models.PositiveIntegerField(_("剩余积分"))
    earned_at = models.DateTimeField(_("获得时间"))
    # Before this moment the points are pending (not spendable).
    available_at = models.DateTimeField(_("生效时间"))
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    expired = models.BooleanField(_("已过期"), default=False)
    # Not yet released by the daily job; see the class docstring.
    pending = models.BooleanField(_("待生效"), default=False)

    class Meta:
        verbose_name = _("积分批次")
        verbose_name_plural = _("积分批次")
        constraints = [
            models.CheckConstraint(condition=Q(remaining__lte=F("points")), name="points_lot_remaining_within_points"),
        ]
        indexes = [
            # Redemption order and the expiry job: open lots by expiry.
            models.Index(
                fields=["member", "expires_at", "id"], condition=Q(remaining__gt=0), name="points_lot_open_by_expiry"
            ),
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="points_lot_expiring"),
            # The release job: pending lots by the moment they become spendable.
            models.Index(fields=["available_at"], condition=Q(pending=True), name="points_lot_pending_release"),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.points}"


class PointsLotConsumption(models.Model):
    """Which lots a debit (redeem, expire, reverse, merge out) took its points from."""

    # No index of its own: the unique (lot, entry) index leads with the lot.
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="consumptions", db_index=False)
    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="consumptions")
    points = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lot", "entry"], name="points_lot_consumption_unique")]

    def __str__(self) -> str:
        return f"{self.entry_id} ← {self.lot_id}: {self.points}"


# --- manual adjustments over a brand day (members/services/points_adjustments.py) ----------------


class PointsAdjustMemberDay(models.Model):
    """How many points (|points|, credits and debits alike) back-office users within limits
    adjusted on one member on one brand day. Raised only by a conditional UPDATE whose row count
    is checked (`total + n <= cap`), so concurrent adjustments cannot pass the cap together."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    biz_date = models.DateField(_("营业日"))
    total = models.BigIntegerField(_("累计调整积分"), default=0)

    class Meta:
        verbose_name = _("会员每日调整累计")
        verbose_name_plural = _("会员每日调整累计")
        constraints = [
            models.UniqueConstraint(fields=["member", "biz_date"], name="points_adjust_member_day_unique"),
            models.CheckConstraint(condition=Q(total__gte=0), name="points_adjust_member_day_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.biz_date}: {self.total}"


class PointsAdjustUserDay(models.Model):
    """The same running total per back-office user (the actor) and brand day."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    biz_date = models.DateField(_("营业日"))
    total = models.BigIntegerField(_("累计调整积分"), default=0)

    class Meta:
        verbose_name = _("员工每日调整累计")
        verbose_name_plural = _("员工每日调整累计")
        constraints = [
            models.UniqueConstraint(fields=["user", "biz_date"], name="points_adjust_user_day_unique"),
            models.CheckConstraint(condition=Q(total__gte=0), name="points_adjust_user_day_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.biz_date}: {self.total}"


class PointsAdjustRequest(TimeStampedModel):
    """A manual adjustment that would have passed its requester's daily cap: not applied, held
    for a brand admin. Decided once — pending → approved (the adjustment is written then, with the
    ledger reference `adjust-request:<id>`) or pending → rejected (nothing is written) — by a
    conditional UPDATE whose row count is checked. A decided row is the audit record of who asked,
    who decided, when and why: the database refuses to change it again or to delete it
    (migration 0015), and the request itself cannot be edited while it waits."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待审批")
        APPROVED = "approved", _("已批准")
        REJECTED = "rejected", _("已驳回")

    class Exceeded(models.TextChoices):
        MEMBER_DAY = "member_day", _("会员当日累计超限")
        USER_DAY = "user_day", _("员工当日累计超限")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="points_adjust_requests"
    )
    points = models.IntegerField(_("调整积分"))
    reason = models.CharField(_("原因"), max_length=255)
    # The requester's own reference (the admin form's), so a retried submit finds this request.
    reference = models.CharField(_("关联单据"), max_length=128, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("申请人"), on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("申请时间"))
    biz_date = models.DateField(_("营业日"))
    exceeded = models.CharField(_("超出额度"), max_length=16, choices=Exceeded.choices)
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

    class Meta:
        verbose_name = _("积分调整申请")
        verbose_name_plural = _("积分调整审批")
        ordering = ["-requested_at", "-id"]
        # Granted to brand admins (members.* in members/roles.py).
        permissions = [("approve_pointsadjustrequest", _("审批积分调整申请"))]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="points_adjust_request_not_zero"),
            models.CheckConstraint(
                condition=(Q(status="pending") & Q(decided_at__isnull=True) & Q(decided_by__isnull=True))
                | (~Q(status="pending") & Q(decided_at__isnull=False) & Q(decided_by__isnull=False)),
                name="points_adjust_request_decided_when_not_pending",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(decision_reason=""), name="points_adjust_request_rejected_reason"
            ),
            models.UniqueConstraint(
                fields=["member", "reference"], condition=~Q(reference=""), name="points_adjust_request_reference"
            ),
        ]
        indexes = [
            # The queue: what waits, oldest first.
            models.Index(fields=["requested_at"], condition=Q(status="pending"), name="points_adjust_request_queue"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.points:+d}"
