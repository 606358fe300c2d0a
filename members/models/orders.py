from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel

from .stores import SalesChannel


class Order(TimeStampedModel):
    """An order from any channel, unique by (channel, order_no): posting it again changes nothing.

    A tourist order (no member) is kept for the capture rate and earns nothing. Money is fen.
    """

    channel = models.CharField(_("渠道"), max_length=20, choices=SalesChannel.choices)
    order_no = models.CharField(_("订单号"), max_length=64)
    # Indexed in Meta (partial: online orders have no store).
    store = models.ForeignKey(
        "members.Store",
        verbose_name=_("门店"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        db_index=False,
    )
    paid_at = models.DateTimeField(_("支付时间"), db_index=True)
    amount_fen = models.BigIntegerField(_("实付金额（分）"))
    refunded_fen = models.BigIntegerField(_("已退款（分）"), default=0)
    # How the buyer was identified by the channel, as sent.
    buyer_kind = models.CharField(_("买家标识类型"), max_length=32, blank=True)
    buyer_value = models.CharField(_("买家标识"), max_length=128, blank=True)
    # No index of its own: order_member_recent (member, -paid_at) serves every look-up by member.
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("会员"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        db_index=False,
    )
    # Indexed in Meta (partial: most orders have no staff).
    staff = models.ForeignKey(
        "members.Staff",
        verbose_name=_("导购"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        db_index=False,
    )
    # Whether the buyer was a member when the order was placed (the capture rate counts this,
    # even if the member is later merged or erased).
    is_member_order = models.BooleanField(_("会员订单"), default=False)
    points_earned = models.IntegerField(_("获得积分"), default=0)
    # Points-as-cash (members/services/points_cash.py): points the member paid with, and their
    # value in fen at the rate of the day. `amount_fen` is the order total including that value;
    # points are earned on the cash part only (amount_fen − points_cash_fen).
    points_redeemed = models.IntegerField(_("抵现积分"), default=0, db_default=0)
    points_cash_fen = models.BigIntegerField(_("积分抵现金额（分）"), default=0, db_default=0)

    class Meta:
        verbose_name = _("订单")
        verbose_name_plural = _("订单")
        ordering = ["-paid_at"]
        permissions = [("import_orders", _("导入历史订单"))]
        constraints = [
            models.UniqueConstraint(fields=["channel", "order_no"], name="order_channel_no_unique"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="order_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_fen__gte=0, refunded_fen__lte=F("amount_fen")), name="order_refund_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(points_redeemed__gte=0, points_cash_fen__gte=0, points_cash_fen__lte=F("amount_fen")),
                name="order_points_cash_within_amount",
            ),
        ]
        indexes = [
            # Covering: qualifying spend (order ingest's tier upgrade, the nightly tier job) sums
            # amount − refunded over a member's window from the index alone (an index-only scan on
            # all-visible pages) instead of one random heap page per order.
            models.Index(
                fields=["member", "-paid_at"], name="order_member_recent", include=["amount_fen", "refunded_fen"]
            ),
            # Partial, so an order without a store or staff writes no entry into them; every look-up
            # is by value (store scoping, PROTECT checks), which implies NOT NULL.
            models.Index(fields=["store"], condition=Q(store__isnull=False), name="order_store"),
            models.Index(fields=["staff"], condition=Q(staff__isnull=False), name="order_staff"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.order_no}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(_("商品编码"), max_length=64)
    name = models.CharField(_("商品名称"), max_length=200, blank=True)
    quantity = models.PositiveIntegerField(_("数量"), default=1)
    amount_fen = models.BigIntegerField(_("金额（分）"))

    class Meta:
        verbose_name = _("订单明细")
        verbose_name_plural = _("订单明细")
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gte=0), name="order_line_amount_not_negative")]

    def __str__(self) -> str:
        return f"{self.sku} ×{self.quantity}"


class Refund(TimeStampedModel):
    """A full or partial refund; several per order, never more than was paid in total."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    refund_no = models.CharField(_("退款单号"), max_length=64)
    amount_fen = models.BigIntegerField(_("退款金额（分）"))
    refunded_at = models.DateTimeField(_("退款时间"))
    points_reversed = models.IntegerField(_("冲回积分"), default=0)
    # Points-as-cash given back with this refund (pro rata, see points_cash_to_return).
    points_returned = models.IntegerField(_("退回抵现积分"), default=0, db_default=0)

    class Meta:
        verbose_name = _("退款")
        verbose_name_plural = _("退款")
        constraints = [
            models.UniqueConstraint(fields=["order", "refund_no"], name="refund_order_no_unique"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive"),
        ]


class CaptureRateDaily(models.Model):
    """Daily aggregate per (day, channel, store) maintained as orders and refunds arrive, so the
    capture rate (会员交易占比) never scans the orders table. `day` is in the brand's time zone."""

    day = models.DateField(_("日期"))
    channel = models.CharField(_("渠道"), max_length=20, choices=SalesChannel.choices)
    store = models.ForeignKey(
        "members.Store", verbose_name=_("门店"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    orders_total = models.PositiveIntegerField(_("订单数"), default=0)
    orders_member = models.PositiveIntegerField(_("会员订单数"), default=0)
    gmv_total_fen = models.BigIntegerField(_("GMV（分）"), default=0)
    gmv_member_fen = models.BigIntegerField(_("会员 GMV（分）"), default=0)

    class Meta:
        verbose_name = _("会员交易占比（日）")
        verbose_name_plural = _("会员交易占比（日）")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "channel", "store"], name="capture_rate_daily_unique", nulls_distinct=False
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.store_id or '-'}"
