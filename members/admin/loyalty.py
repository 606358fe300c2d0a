"""Brand-admin pages of the loyalty part: tiers, the loyalty program (one row), rewards and stock,
orders with their refunds, the points ledger (read-only), redemptions and the capture rate.

Loaded by members/admin/__init__.py. The member page (members/admin/members.py) includes
MEMBER_PAGE_INLINES. Ledger, orders and refunds are written only by services, so their pages
are read-only; list pages select their relations up front (no query per row).
"""

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from crm.admin_readonly import ReadOnlyAdminMixin
from crm.admin_sites import brand_admin
from crm.errors import AppError
from crm.money import AmountField, YuanField, yuan, yuan_column
from members.admin.order_import import OrderImportAdminMixin
from members.hooks import order_notes
from members.ledger_words import reference_words
from members.masking import mobile_shown
from members.models import (
    CaptureRateDaily,
    IdentityKind,
    LoyaltyProgram,
    Order,
    PointsEntry,
    Redemption,
    Refund,
    Reward,
    Tier,
    TierChange,
)
from members.scoping import StoreScopedAdminMixin
from members.services.points_adjustments import APPROVE_PERMISSION
from members.services.rewards import reward_restock
from members.tier_words import tier_amount

ADJUST_LIMIT_FIELDS = tuple(
    f"adjust_{role}_{kind}"
    for role in ("staff", "manager", "hq")
    for kind in ("per_entry", "per_member_day", "per_user_day")
)


amount_yuan = yuan_column("amount_fen", _("实付金额"))
refunded_yuan = yuan_column("refunded_fen", _("已退款"))
refund_amount_yuan = yuan_column("amount_fen", _("退款金额"))
points_cash_yuan = yuan_column("points_cash_fen", _("积分抵现金额"))
gmv_total_yuan = yuan_column("gmv_total_fen", _("GMV"))
gmv_member_yuan = yuan_column("gmv_member_fen", _("会员 GMV"))


@admin.display(description=_("关联单据"))
def reference_shown(obj: Any) -> str:
    return reference_words(obj.reference)


# --- configuration ------------------------------------------------------------------------------


class TierForm(forms.ModelForm):
    """The threshold is typed in yuan for a spend tier (stored in fen) and in points otherwise:
    "门槛 100000" used to mean ¥1,000 and tiers were set 100× too low."""

    threshold = AmountField(
        label=_("门槛"),
        min_value=0,
        help_text=_("按消费金额升级时填金额（元），例如 1000 表示 ¥1,000.00；按获得积分升级时填积分数。"),
    )

    class Meta:
        model = Tier
        fields = (
            "code",
            "name",
            "rank",
            "basis",
            "threshold",
            "window_days",
            "validity_days",
            "points_multiplier_pct",
            "member_day_multiplier_pct",
            "birthday_bonus_points",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.basis == Tier.Basis.SPEND and not self.is_bound:
            self.initial["threshold"] = YuanField().prepare_value(instance.threshold)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        value = cleaned.get("threshold")
        if value is not None:
            if cleaned.get("basis") == Tier.Basis.SPEND:
                cleaned["threshold"] = YuanField().clean(str(value))
            elif value != int(value):
                self.add_error("threshold", _("积分门槛须为整数。"))
            else:
                cleaned["threshold"] = int(value)
        return cleaned


@admin.register(Tier, site=brand_admin)
class TierAdmin(ModelAdmin):
    form = TierForm
    # Names, not codes: the code is the API's and the rules' key, shown on the tier's own page.
    list_display = (
        "rank",
        "name",
        "basis",
        "threshold_shown",
        "window_days",
        "validity_days",
        "points_multiplier_pct",
        "member_day_multiplier_pct",
        "birthday_bonus_points",
    )
    list_display_links = ("name",)
    ordering = ("rank",)

    @admin.display(description=_("门槛"), ordering="threshold")
    def threshold_shown(self, obj: Tier) -> str:
        return tier_amount(obj, obj.threshold)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Members and their history point at tiers (PROTECT); retire a tier by raising its threshold.
        return False


class LoyaltyProgramForm(forms.ModelForm):
    """The value of a point is typed in yuan like every amount people type (stored in fen):
    "每积分价值（分） 1" read as one yuan a point to whoever did not know the unit."""

    point_value_fen = YuanField(
        label=_("每积分价值（元）"),
        min_value=0,
        help_text=_("积分抵现和积分负债按此折算，例如 0.01 表示每积分值 ¥0.01，即 100 积分抵 ¥1.00。"),
    )

    class Meta:
        model = LoyaltyProgram
        fields = ("point_value_fen",)  # the admin's fieldsets add the others


@admin.register(LoyaltyProgram, site=brand_admin)
class LoyaltyProgramAdmin(ModelAdmin):
    form = LoyaltyProgramForm
    list_display = (
        "__str__",
        "base_points_per_yuan",
        "point_value_shown",
        "expiry",
        "expiry_days",
        "pending_days",
        "per_order_cap",
    )
    fieldsets = (
        (_("积分获取"), {"fields": ("base_points_per_yuan", "per_order_cap", "excluded_channels", "excluded_skus")}),
        (_("有效期"), {"fields": ("expiry", "expiry_days", "pending_days")}),
        (_("生命周期"), {"fields": ("purchase_window_days", "loyalty_min_purchases")}),
        (_("积分价值与积分抵现"), {"fields": ("point_value_fen", "points_cash_enabled", "points_cash_max_pct")}),
        (
            _("人工调整积分额度"),
            {
                "fields": (
                    ("adjust_staff_per_entry", "adjust_staff_per_member_day", "adjust_staff_per_user_day"),
                    ("adjust_manager_per_entry", "adjust_manager_per_member_day", "adjust_manager_per_user_day"),
                    ("adjust_hq_per_entry", "adjust_hq_per_member_day", "adjust_hq_per_user_day"),
                ),
                "description": _(
                    "按角色限制员工手工调整积分，增加和扣减都按绝对值计。"
                    "单次上限：超过即拒绝，0 表示该角色不能调整积分。"
                    "每位会员每日累计：同一会员在一个营业日内被员工调整的合计；"
                    "本人每日累计：同一员工在一个营业日内调整的合计。"
                    "超过每日累计的调整不会生效，而是提交品牌管理员在“积分调整审批”中批准或驳回。"
                    "留空表示不限。营业日按品牌时区计算。"
                    "品牌管理员不受限制，其调整不计入累计；开放接口（API 密钥）不受每日累计限制。"
                ),
            },
        ),
    )

    @admin.display(description=_("每积分价值"), ordering="point_value_fen")
    def point_value_shown(self, obj: LoyaltyProgram) -> str:
        return yuan(obj.point_value_fen)

    def get_readonly_fields(self, request: HttpRequest, obj: LoyaltyProgram | None = None) -> tuple[str, ...]:
        # The limits are the brand admins' control over everyone else's adjustments: only those
        # who decide the held adjustments (brand admins) set them.
        if request.user.has_perm(APPROVE_PERMISSION):
            return ()
        return ADJUST_LIMIT_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not LoyaltyProgram.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RewardForm(forms.ModelForm):
    restock = forms.IntegerField(label=_("补充库存"), min_value=1, required=False, help_text=_("在现有库存上增加"))

    class Meta:
        model = Reward
        fields = ("code", "name", "points_cost", "stock", "is_active")


@admin.register(Reward, site=brand_admin)
class RewardAdmin(ModelAdmin):
    form = RewardForm
    # People pick a reward by its name; the code (what partners and imports use) is on its page
    # and still found by the search box.
    list_display = ("name", "points_cost", "stock", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: Reward | None = None) -> tuple[str, ...]:
        # Stock of an existing reward moves only by atomic increments (redemptions, restock): an
        # edited absolute number would overwrite redemptions made while the form was open.
        return ("stock",) if obj else ()

    def save_model(self, request: HttpRequest, obj: Reward, form: Any, change: bool) -> None:
        fields = [f for f in ("code", "name", "points_cost", "is_active") if f in form.changed_data]
        if change:
            if fields:
                obj.save(update_fields=[*fields, "updated_at"])
        else:
            obj.save()
        add = form.cleaned_data.get("restock")
        if change and add:
            try:
                obj.stock = reward_restock(reward=obj, add=add).stock
            except AppError as exc:
                self.message_user(request, exc.message, messages.ERROR)


# --- orders and refunds -------------------------------------------------------------------------


class RefundInline(TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ("refund_no", refund_amount_yuan, "refunded_at", "points_reversed", "points_returned", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MemberOrderFilter(admin.SimpleListFilter):
    title = _("会员订单")
    parameter_name = "member_order"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("1", _("会员订单")), ("0", _("游客订单"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("0", "1"):
            return queryset.filter(is_member_order=self.value() == "1")
        return queryset


@admin.register(Order, site=brand_admin)
class OrderAdmin(OrderImportAdminMixin, StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    scope_member_path = "member"
    scope_store_path = "store"
    list_display = (
        "order_no",
        "channel",
        "store",
        "member",
        "is_member_order",
        amount_yuan,
        refunded_yuan,
        "points_earned",
        "points_redeemed",
        "paid_at",
    )
    list_filter = ("channel", MemberOrderFilter, "store", ("paid_at", admin.DateFieldListFilter))
    search_fields = ("=order_no", "=member__member_no")
    list_select_related = ("store", "member")
    date_hierarchy = "paid_at"
    inlines = (RefundInline,)
    show_full_result_count = False  # counting millions of orders on every page load is not free
    # The order's page: amounts in yuan, the buyer in words and masked (the fen columns and the
    # raw buyer identity are the API's).
    fields = (
        "order_no",
        "channel",
        "store",
        "staff",
        "member",
        "is_member_order",
        "buyer_shown",
        "paid_at",
        amount_yuan,
        refunded_yuan,
        points_cash_yuan,
        "points_earned",
        "points_redeemed",
        "order_notes_shown",
    )

    @admin.display(description=_("买家"))
    def buyer_shown(self, obj: Order) -> str:
        if not obj.buyer_value:
            return "—"
        kind = dict(IdentityKind.choices).get(obj.buyer_kind, obj.buyer_kind)
        value = mobile_shown(obj.buyer_value, full=False) if obj.buyer_kind == IdentityKind.MOBILE else obj.buyer_value
        return f"{kind} {value}"

    # What upper apps say about an order (members.hooks.order_notes: staff performance says who got
    # the credit and why), read in one query per provider for the rows shown, kept on the rows.
    def get_list_display(self, request: HttpRequest) -> Any:
        return (*super().get_list_display(request), "order_notes_shown")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "order_notes_shown")

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        _notes_attach(list(changelist.result_list))
        return changelist

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            _notes_attach([obj])
        return obj

    @admin.display(description=_("业绩归属"))
    def order_notes_shown(self, obj: Order) -> str:
        return getattr(obj, "notes_text", "") or "—"


def _notes_attach(orders: list[Order]) -> None:
    notes = order_notes([o.pk for o in orders])
    for order in orders:
        order.notes_text = "；".join(texts[order.pk] for texts in notes.values() if order.pk in texts)  # type: ignore[attr-defined]


# --- ledger -------------------------------------------------------------------------------------


@admin.register(PointsEntry, site=brand_admin)
class PointsEntryAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    scope_member_path = "member"
    list_display = ("created_at", "member", "kind", "points", "balance_after", "reason", reference_shown, "actor")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=member__member_no", "=reference")
    list_select_related = ("member",)
    show_full_result_count = False


@admin.display(description=_("来源"))
def redemption_source(obj: Redemption) -> str:
    return str(_("活动赠送")) if obj.is_gift else str(_("积分兑换"))


@admin.register(Redemption, site=brand_admin)
class RedemptionAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    scope_member_path = "member"
    list_display = ("created_at", "member", "reward", redemption_source, "quantity", "points", reference_shown, "actor")
    list_filter = ("reward",)
    search_fields = ("=member__member_no", "=reference")
    list_select_related = ("member", "reward")


@admin.register(CaptureRateDaily, site=brand_admin)
class CaptureRateDailyAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    scope_store_path = "store"
    list_display = (
        "day",
        "channel",
        "store",
        "orders_total",
        "orders_member",
        "order_rate",
        gmv_total_yuan,
        gmv_member_yuan,
        "gmv_rate",
    )
    list_filter = ("channel", "store", ("day", admin.DateFieldListFilter))
    list_select_related = ("store",)
    date_hierarchy = "day"
    ordering = ("-day", "channel")
    fields = ("day", "channel", "store", "orders_total", "orders_member", gmv_total_yuan, gmv_member_yuan)

    @admin.display(description=_("会员订单占比"))
    def order_rate(self, obj: CaptureRateDaily) -> str:
        return f"{100 * obj.orders_member / obj.orders_total:.1f}%" if obj.orders_total else "-"

    @admin.display(description=_("会员 GMV 占比"))
    def gmv_rate(self, obj: CaptureRateDaily) -> str:
        return f"{100 * obj.gmv_member_fen / obj.gmv_total_fen:.1f}%" if obj.gmv_total_fen else "-"


# --- member page blocks (included by the Member admin) ------------------------------------------


class _MemberReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False
    # The member page shows the recent history; the full one is on the list pages above.
    recent_days = 365

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        since = timezone.now() - dt.timedelta(days=self.recent_days)
        return super().get_queryset(request).filter(created_at__gte=since)


class MemberPointsEntryInline(_MemberReadOnlyInline):
    model = PointsEntry
    verbose_name_plural = _("积分流水（近一年）")
    fields = ("created_at", "kind", "points", "balance_after", "reason", reference_shown, "actor")
    readonly_fields = fields
    ordering = ("-created_at", "-id")


class MemberOrderInline(_MemberReadOnlyInline):
    model = Order
    verbose_name_plural = _("订单（近一年）")
    fields = (
        "paid_at",
        "channel",
        "order_no",
        "store",
        amount_yuan,
        refunded_yuan,
        "points_earned",
        "points_redeemed",
    )
    readonly_fields = fields
    ordering = ("-paid_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("store")


class MemberTierChangeInline(_MemberReadOnlyInline):
    model = TierChange
    fk_name = "member"
    verbose_name_plural = _("等级变更")
    recent_days = 365 * 5
    fields = ("created_at", "from_tier_shown", "to_tier_shown", "reason", "note", "actor")
    readonly_fields = fields

    @admin.display(description=_("原等级"))
    def from_tier_shown(self, obj: TierChange) -> str:
        return obj.from_tier.name if obj.from_tier else "-"

    @admin.display(description=_("新等级"))
    def to_tier_shown(self, obj: TierChange) -> str:
        return obj.to_tier.name if obj.to_tier else "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("from_tier", "to_tier")


class MemberRedemptionInline(_MemberReadOnlyInline):
    """Rewards the member holds: redeemed for points or given by a campaign (coupons included)."""

    model = Redemption
    verbose_name_plural = _("礼品与券（近一年）")
    fields = ("created_at", "reward_shown", "source", "quantity", "points", reference_shown, "actor")
    readonly_fields = fields

    @admin.display(description=_("礼品"))
    def reward_shown(self, obj: Redemption) -> str:
        return str(obj.reward)

    @admin.display(description=_("来源"))
    def source(self, obj: Redemption) -> str:
        return redemption_source(obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("reward")


MEMBER_PAGE_INLINES = [MemberTierChangeInline, MemberPointsEntryInline, MemberOrderInline, MemberRedemptionInline]
