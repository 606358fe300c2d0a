"""Staff performance (导购业绩): three things kept apart (DOMAIN.md "Staff performance").

- the member's exclusive staff is a relationship, kept by members (MemberAssignment: its history
  says who owned a member at any moment, transfers included);
- a Touch is one contact of a staff member with a member (a channel QR code added, a share link
  or poster opened, serving at the counter, a coupon sent, a group message);
- an Attribution is the credit of one order, decided when the order arrives by the rule in force
  (an AttributionRule version, never edited: a change is a new version) and kept with it.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.jobs.exports import BackgroundExport
from members.models import Member, Order, Staff, Store


class TouchKind(models.TextChoices):
    CHANNEL_QR = "channel_qr", _("渠道活码")
    SHARE_LINK = "share_link", _("分享链接")
    POSTER = "poster", _("分享海报")
    SERVED = "served", _("门店服务")
    COUPON = "coupon", _("优惠券")
    GROUP_MESSAGE = "group_message", _("群发消息")


# How a touch reads in an explanation: "近 30 天内{phrase}".
TOUCH_PHRASES = {
    TouchKind.CHANNEL_QR: "通过渠道活码添加",
    TouchKind.SHARE_LINK: "分享的链接",
    TouchKind.POSTER: "分享的海报",
    TouchKind.SERVED: "在门店服务",
    TouchKind.COUPON: "发送的优惠券",
    TouchKind.GROUP_MESSAGE: "群发的消息",
}


class Touch(models.Model):
    """One contact of a staff member with a member. `key` names the event it came from
    ("wecom:<external_userid>:<userid>:<time>", "order:<id>", ...) and is unique, so recording
    the same event twice is harmless."""

    # No database foreign keys here and on Attribution: each would be a deferred check per row,
    # run at the order's commit, taking a FOR KEY SHARE lock on a hot staff or member row (a
    # multixact when several orders of one staff commit at once) — the largest part of what
    # attribution added to ingest. Staff, members, stores and rule versions are never deleted
    # (PROTECT; erasure pseudonymises, merges keep the row), so the keys cannot dangle.
    # No index of their own either: (member, touched_at) and (touched_at, staff) below serve every
    # read, and two more index entries per touch were written with each store order.
    staff = models.ForeignKey(
        Staff, verbose_name=_("导购"), on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    member = models.ForeignKey(
        Member, verbose_name=_("会员"), on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    kind = models.CharField(_("触达方式"), max_length=16, choices=TouchKind.choices)
    touched_at = models.DateTimeField(_("触达时间"))
    source = models.CharField(_("来源"), max_length=128, blank=True, help_text=_("渠道 state、分享 token、订单号等"))
    # Unique by the constraint in Meta (not unique=True, which adds a second, LIKE-pattern index
    # nobody reads to every touch written), for every kind but `served`: a served touch is written
    # by its order's insert, once (a replayed order is not among the new ones), and its key
    # order:<id> is looked up by no query — the index entry and the ON CONFLICT probe were ~6 buffer
    # accesses per store order.
    key = models.CharField(_("事件标识"), max_length=160)
    created_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("导购触达")
        verbose_name_plural = _("导购触达")
        indexes = [
            # The attribution's "last touch before the order" look-up, in its order (stops at the
            # first), answered from the index alone: staff and kind are all it reads of a touch.
            models.Index(
                fields=["member", "-touched_at", "-id"], name="perf_touch_member_recent", include=["staff", "kind"]
            ),
            # The same without the served touches, for a rule without a `served` window (the default):
            # they cannot credit, and a member's store orders make most of their touches
            # (attribution._UNSERVED). Served touches, written by the order path, skip it.
            models.Index(
                fields=["member", "-touched_at", "-id"],
                name="perf_touch_member_unserved",
                include=["staff", "kind"],
                condition=~Q(kind="served"),
            ),
            models.Index(fields=["touched_at", "staff"], name="perf_touch_time_staff"),
            # (and perf_touch_late, partial, migration 0008: created_at - touched_at > 1 hour)
        ]
        constraints = [
            # Full this release: the previous release's code, serving beside migrated brands during
            # the deploy, writes ON CONFLICT (key), which only a non-partial index answers. The
            # next release may make it partial (WHERE kind <> 'served'; docs/deploy.md).
            models.UniqueConstraint(fields=["key"], name="perf_touch_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.staff_id} → {self.member_id}"


class ShareLink(models.Model):
    """A staff member's share link or poster (the poster carries the link's QR code). A member who
    opens it — signed in, or signing in / enrolling in the same browser session afterwards — is a
    touch of its staff member (performance/share.py). The token is random and never reused."""

    class Kind(models.TextChoices):
        SHARE_LINK = TouchKind.SHARE_LINK.value, _("分享链接")
        POSTER = TouchKind.POSTER.value, _("分享海报")

    token = models.CharField(_("令牌"), max_length=32, unique=True, editable=False)
    staff = models.ForeignKey(Staff, verbose_name=_("导购"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.SHARE_LINK)
    target = models.CharField(
        _("打开的页面"), max_length=200, default="/m/", help_text=_("会员中心内的路径，如 /m/ 或 /m/coupons/")
    )
    note = models.CharField(_("说明"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("导购分享链接/海报")
        verbose_name_plural = _("导购分享链接/海报")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.token[:8]}…"


class Basis(models.TextChoices):
    EXCLUSIVE = "exclusive", _("专属导购")
    TOUCH = "touch", _("最近触达")
    SERVING = "serving", _("服务导购")


class AttributionRule(models.Model):
    """One version of the brand's attribution rule. Never updated: saving a change inserts a new
    version, the newest is in force, and each attribution names the version that decided it."""

    precedence = ArrayField(
        models.CharField(max_length=16, choices=Basis.choices),
        verbose_name=_("优先顺序"),
        help_text=_("依次尝试的依据：专属导购、最近触达、服务导购"),
    )
    windows = models.JSONField(_("触达有效天数"), help_text=_("每种触达方式计入业绩的天数；不在其中的方式不计"))
    note = models.CharField(_("说明"), max_length=200, blank=True)
    created_by = models.CharField(_("设置人"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("生效时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("业绩归属规则")
        verbose_name_plural = _("业绩归属规则")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"规则 #{self.pk}"


class StaffIdentity(models.Model):
    """A staff member's own mobile or WeChat unionid: orders bought with them credit nobody
    (员工内购不计业绩)."""

    class Kind(models.TextChoices):
        # The same values as members.IdentityKind, so a buyer's identity matches directly.
        MOBILE = "mobile", _("手机号")
        WECHAT_UNIONID = "wechat_unionid", _("微信 UnionID")

    staff = models.ForeignKey(Staff, verbose_name=_("导购"), on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("类型"), max_length=32, choices=Kind.choices)
    value = models.CharField(_("值"), max_length=128)

    class Meta:
        verbose_name = _("导购本人身份")
        verbose_name_plural = _("导购本人身份")
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="perf_staff_identity_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class Attribution(models.Model):
    """The credit of one order, decided in the order's transaction and never recomputed. One row
    per order (the primary key is the order), so a replayed order cannot add a second one. `staff`
    is empty when the buyer is a staff member (`own_purchase_staff`)."""

    # Two indexes only, the primary key and perf_attr_paid (reports): every further one was one
    # more index entry written in each order's transaction, for reads that never happen (staff,
    # members, stores, touches and rules are never deleted; the admin's store scope and filters
    # read the paid_at index or walk the primary key).
    # No database foreign key to the order either: the row is written by the statement that inserts
    # its order (the rider reads only the orders that statement created), so the key cannot dangle,
    # and the deferred check ran at every commit, per order, a query that locked the order row
    # (FOR KEY SHARE): ~5 buffer accesses and an SPI call per order, a fifth of what attribution
    # added to the batch ingest (bench/README.md, session 16). Orders are never deleted; an ORM
    # delete still cascades (on_delete is Django's).
    order = models.OneToOneField(
        Order,
        verbose_name=_("订单"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="attribution",
        db_constraint=False,
    )
    paid_at = models.DateTimeField(_("支付时间"))
    member = models.ForeignKey(
        Member,
        verbose_name=_("会员"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    staff = models.ForeignKey(
        Staff,
        verbose_name=_("业绩导购"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # The credited staff member's store when the order arrived (a later move does not move history).
    store = models.ForeignKey(
        Store,
        verbose_name=_("业绩门店"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    basis = models.CharField(_("归属依据"), max_length=16, choices=Basis.choices, blank=True)
    touch = models.ForeignKey(
        Touch,
        verbose_name=_("触达"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    touch_kind = models.CharField(_("触达方式"), max_length=16, choices=TouchKind.choices, blank=True)
    window_days = models.PositiveIntegerField(_("触达有效天数"), null=True, blank=True)
    is_exclusive = models.BooleanField(_("下单时为专属导购"), default=False)
    own_purchase_staff = models.ForeignKey(
        Staff,
        verbose_name=_("购买的导购本人"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    rule = models.ForeignKey(
        AttributionRule,
        verbose_name=_("归属规则"),
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    credited_fen = models.BigIntegerField(_("业绩金额（分）"))
    refunded_fen = models.BigIntegerField(_("业绩退款（分）"), default=0)
    created_at = models.DateTimeField(_("归属时间"))

    class Meta:
        verbose_name = _("订单业绩归属")
        verbose_name_plural = _("订单业绩归属")
        indexes = [
            # Reports: a period's rows with what they sum, read from the index alone.
            # (and perf_attr_late, a partial index of migration 0008 that only late rows write:
            # created_at - paid_at > 1 hour; performance/rollups.py)
            models.Index(
                fields=["paid_at"],
                name="perf_attr_paid",
                include=["staff", "store", "credited_fen", "refunded_fen", "member"],
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(refunded_fen__gte=0, refunded_fen__lte=models.F("credited_fen")),
                name="perf_attr_refund_within_credit",
            ),
            models.CheckConstraint(
                condition=Q(staff__isnull=True) | Q(own_purchase_staff__isnull=True), name="perf_attr_own_no_credit"
            ),
        ]

    def __str__(self) -> str:
        return f"订单 {self.order_id}"


class ReportExport(BackgroundExport):
    """A background export of the performance report over a long range (a year runs in a task),
    with its progress and, when done, the file to download (crm.jobs.exports). Scoped like the
    report: a store user's export holds their store only (`store` is then set, whatever they asked)."""

    all_stores = models.BooleanField(_("全部门店"), default=False)
    store = models.ForeignKey(
        Store, verbose_name=_("门店"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    start = models.DateField(_("开始日期"))
    end = models.DateField(_("结束日期"))
    months_total = models.PositiveIntegerField(_("总月数"), default=0)
    months_done = models.PositiveIntegerField(_("已完成月数"), default=0)

    class Meta:
        verbose_name = _("业绩报表导出")
        verbose_name_plural = _("业绩报表导出")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(all_stores=True) | Q(store__isnull=False), name="perf_export_scoped"),
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="perf_export_range"),
        ]

    def __str__(self) -> str:
        return f"业绩报表 {self.start} — {self.end}"

    def progress_of(self) -> tuple[int, int]:
        return (self.months_done, self.months_total)


class DayFigures(models.Model):
    """Rollup (performance/rollups.py): one brand day's credited orders per staff member and
    credited store, for reports over many days at 10M orders. Rebuilt for closed days; refunds of
    rolled-up days are applied to it in the refund's transaction."""

    day = models.DateField(_("营业日"))
    staff_id = models.BigIntegerField(_("导购"))
    store_id = models.BigIntegerField(_("门店"), null=True)
    orders = models.IntegerField(_("业绩订单数"))
    credited_fen = models.BigIntegerField(_("业绩金额（分）"))
    refunded_fen = models.BigIntegerField(_("业绩退款（分）"))

    class Meta:
        verbose_name = _("导购业绩日汇总")
        verbose_name_plural = _("导购业绩日汇总")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "staff_id", "store_id"], name="perf_day_unique", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.staff_id}"


class ServedMonth(models.Model):
    """Rollup: the distinct (staff, store, member) of one closed calendar month — members served
    is a distinct count, which day sums cannot give."""

    month = models.DateField(_("月份"))  # its first day
    staff_id = models.BigIntegerField(_("导购"))
    store_id = models.BigIntegerField(_("门店"), null=True)
    member_id = models.BigIntegerField(_("会员"))

    class Meta:
        verbose_name = _("导购服务会员月汇总")
        verbose_name_plural = _("导购服务会员月汇总")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "staff_id", "store_id", "member_id"], name="perf_served_unique", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.staff_id} → {self.member_id}"


class ServedDay(models.Model):
    """Rollup: one closed brand day's distinct members served per staff member and store, as one
    sorted array (a range's members served is a distinct count over its days' arrays)."""

    day = models.DateField(_("营业日"))
    staff_id = models.BigIntegerField(_("导购"))
    store_id = models.BigIntegerField(_("门店"), null=True)
    member_ids = ArrayField(models.BigIntegerField(), verbose_name=_("会员"))

    class Meta:
        verbose_name = _("导购服务会员日汇总")
        verbose_name_plural = _("导购服务会员日汇总")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "staff_id", "store_id"], name="perf_served_day_unique", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.staff_id}"


class RollupState(models.Model):
    """One row: the rollups hold every brand day up to and including `through`."""

    through = models.DateField(_("汇总截至"), null=True)
    refreshed_at = models.DateTimeField(_("刷新时间"), null=True)

    class Meta:
        verbose_name = _("业绩汇总状态")
        verbose_name_plural = _("业绩汇总状态")

    def __str__(self) -> str:
        return f"汇总截至 {self.through}"
