from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class Reward(TimeStampedModel):
    code = models.CharField(_("礼品编码"), max_length=32, unique=True)
    name = models.CharField(_("礼品名称"), max_length=100)
    points_cost = models.PositiveIntegerField(_("所需积分"))
    # None = unlimited.
    stock = models.PositiveIntegerField(_("库存"), null=True, blank=True)
    is_active = models.BooleanField(_("上架"), default=True)

    class Meta:
        verbose_name = _("积分礼品")
        verbose_name_plural = _("积分礼品")
        ordering = ["points_cost", "code"]
        constraints = [models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_cost_positive")]

    def __str__(self) -> str:
        return f"{self.name}（{self.points_cost} 积分）"


class Redemption(TimeStampedModel):
    """A reward a member holds: redeemed for points (or points used as cash on an order), or given
    by a campaign occurrence as a gift — then it cost no points, has no ledger entry, and its
    reference is "campaign:<occurrence id>". `reference` makes retries safe."""

    # No index of its own: the unique (member, reference) index serves look-ups by member, and a
    # campaign gift writes a row per audience member.
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="redemptions", db_index=False
    )
    reward = models.ForeignKey(
        Reward, verbose_name=_("礼品"), on_delete=models.PROTECT, null=True, blank=True, related_name="redemptions"
    )
    # Indexed only where set (redemption_order below): reward redemptions and gifts have none.
    order = models.ForeignKey(
        "members.Order",
        verbose_name=_("订单"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    quantity = models.PositiveIntegerField(_("数量"), default=1)
    points = models.PositiveIntegerField(_("消耗积分"))
    # The debit that paid for it; None for a gift (points = 0).
    entry = models.OneToOneField(
        "members.PointsEntry",
        verbose_name=_("积分流水"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redemption",
    )
    reference = models.CharField(_("请求编号"), max_length=128)
    actor = models.CharField(_("操作人"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("积分兑换")
        verbose_name_plural = _("积分兑换")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["member", "reference"], name="redemption_reference_unique"),
            # Paid with points and a ledger debit, or a gift with neither: never points without a debit.
            models.CheckConstraint(
                condition=Q(points__gt=0, entry__isnull=False) | Q(points=0, entry__isnull=True),
                name="redemption_paid_or_gift",
            ),
        ]
        indexes = [models.Index(fields=["order"], condition=Q(order__isnull=False), name="redemption_order")]

    def __str__(self) -> str:
        return f"{self.reward or '-'} ×{self.quantity}"

    @property
    def is_gift(self) -> bool:
        return self.entry_id is None
