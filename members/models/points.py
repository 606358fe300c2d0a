from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


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
        "members.Member", on_delete=models.PROTECT, related_name="points_entries", db_index=False
    )
    kind = models.CharField(_("类型"), max_length=8, choices=Kind.choices)
    points = models.IntegerField(_("积分"))
    balance_after = models.IntegerField(_("变动后余额"))
    reason = models.CharField(_("原因"), max_length=255, blank=True)
    reference = models.CharField(_("关联单据"), max_length=128, blank=True)
    # Indexed only where set (points_entry_order below): bonus, redeem, expire and adjust entries —
    # a campaign writes one per audience member — have no order.
    order = models.ForeignKey(
        "members.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
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
