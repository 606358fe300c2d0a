"""Brand admin pages of the engagement programme: the rules (签到、成长值、生日礼), the check-in
ladder and the birthday benefits per tier. Brand-wide settings, opened by brand admins only (no
store role holds engagement permissions, so no store scoping is needed)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from coupons.models import CouponTemplate
from crm.admin_sites import brand_admin

from .models import BirthdayBenefit, CheckinLadderStep, EngagementSettings, RewardKind
from .rewards import coupons_available

COUPON_REFUSED = _("优惠券功能尚未启用（尚无优惠券模块），请改用积分或成长值奖励。")


@admin.register(EngagementSettings, site=brand_admin)
class EngagementSettingsAdmin(ModelAdmin):
    list_display = ("__str__", "checkin_enabled", "checkin_cycle", "checkin_daily_points", "growth_per_yuan")
    fieldsets = (
        (
            _("签到"),
            {
                "fields": (
                    "checkin_enabled",
                    ("checkin_cycle", "checkin_cycle_days"),
                    ("checkin_daily_points", "checkin_daily_growth"),
                ),
                "description": _(
                    "每位会员每个营业日（品牌时区）只能签到一次。连续签到奖励在“连续签到奖励”中设置，每个周期每档只发一次："
                    "断签后重新开始不会再次领取同一档（防刷）。"
                ),
            },
        ),
        (
            _("补签"),
            {"fields": (("makeup_window_days", "makeup_cost_points", "makeup_cap_per_cycle"),)},
        ),
        (
            _("成长值"),
            {
                "fields": (("growth_per_yuan", "growth_activity_cap_per_month"),),
                "description": _(
                    "成长值不能消费，只用于定级：在“会员等级”中把升级依据设为“成长值”即可。等级从不按可用积分余额评定。"
                ),
            },
        ),
        (_("生日礼"), {"fields": (("birthday_feb29", "birthday_change_guard_days"),)}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not EngagementSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _CouponGuardForm(forms.ModelForm):
    """A coupon reward is refused until a coupon issuer registers (engagement.rewards)."""

    kind_field = "reward_kind"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        wants_coupon = data.get(self.kind_field) == RewardKind.COUPON or bool(data.get("coupon_template"))
        if wants_coupon and not coupons_available():
            field = self.kind_field if self.kind_field in self.fields else "coupon_template"
            self.add_error(field, COUPON_REFUSED)
        elif wants_coupon:
            # The reward names a coupon template by its number (优惠券模板 in the back office).
            code = (data.get("coupon_template") or "").strip()
            if not code.isdigit() or not CouponTemplate.objects.filter(pk=int(code)).exists():
                self.add_error("coupon_template", "请填写已有的优惠券模板编号（后台「优惠券模板」列表中的编号）。")
        return data


class LadderStepForm(_CouponGuardForm):
    class Meta:
        model = CheckinLadderStep
        fields = ("days", "reward_kind", "amount", "coupon_template", "active")


@admin.register(CheckinLadderStep, site=brand_admin)
class CheckinLadderStepAdmin(ModelAdmin):
    form = LadderStepForm
    list_display = ("__str__", "reward_kind", "amount", "active")
    ordering = ("days",)


class BirthdayBenefitForm(_CouponGuardForm):
    kind_field = "coupon_template"

    class Meta:
        model = BirthdayBenefit
        fields = (
            "tier",
            "release",
            "days_before",
            "fixed_day",
            "points",
            "multiplier_pct",
            "window_days",
            "coupon_template",
            "active",
        )


@admin.register(BirthdayBenefit, site=brand_admin)
class BirthdayBenefitAdmin(ModelAdmin):
    form = BirthdayBenefitForm
    list_display = ("tier", "release", "points", "multiplier_pct", "window_days", "active")
