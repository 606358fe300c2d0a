"""Brand admin pages of the engagement programme: the rules (签到、成长值、生日礼), the check-in
ladder and the birthday benefits per tier. Brand-wide settings, opened by brand admins only (no
store role holds engagement permissions, so no store scoping is needed)."""

import csv
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Value
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminDecimalFieldWidget

from coupons.models import CouponTemplate
from crm.admin_sites import brand_admin
from crm.money import fen_to_yuan, yuan_to_fen
from crm.tenancy.zones import brand_time_shown
from members.masking import can_view_full_pi, member_label, mobile_shown

from .models import BirthdayBenefit, CheckinLadderStep, EngagementSettings, Referral, ReferralCampaign, RewardKind
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
            _("签到提醒"),
            {
                "fields": (("checkin_reminder_enabled", "checkin_reminder_hour"),),
                "description": _("只提醒自己开启了提醒、且同意短信营销的会员；每人每天最多一条，当天已签到的不发。"),
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


# --- referral (邀请有礼) -------------------------------------------------------------------------


class ReferralCampaignForm(forms.ModelForm):
    """Money in yuan (the first order's threshold); a coupon reward names an existing template."""

    min_order_yuan = forms.DecimalField(
        label=_("首单最低实付（元）"),
        min_value=Decimal("0"),
        decimal_places=2,
        max_digits=12,
        initial=Decimal("0"),
        widget=UnfoldAdminDecimalFieldWidget,
        help_text=_("0 = 不限金额。"),
    )

    class Meta:
        model = ReferralCampaign
        fields = (
            "name",
            "active",
            "starts_at",
            "ends_at",
            "qualifying",
            "hold_days",
            "attribution_days",
            "referrer_reward_kind",
            "referrer_reward_amount",
            "referrer_coupon_template",
            "invitee_reward_kind",
            "invitee_reward_amount",
            "invitee_coupon_template",
            "cap_per_day",
            "cap_per_month",
            "cap_lifetime",
            "budget",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["min_order_yuan"].initial = fen_to_yuan(self.instance.min_order_fen)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for side in ("referrer", "invitee"):
            kind, code = data.get(f"{side}_reward_kind"), (data.get(f"{side}_coupon_template") or "").strip()
            if kind == RewardKind.COUPON:
                if not coupons_available():
                    self.add_error(f"{side}_reward_kind", COUPON_REFUSED)
                elif not code.isdigit() or not CouponTemplate.objects.filter(pk=int(code)).exists():
                    self.add_error(f"{side}_coupon_template", "请填写已有的优惠券模板编号。")
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", "结束时间应晚于开始时间。")
        if data.get("active") and ReferralCampaign.objects.filter(active=True).exclude(pk=self.instance.pk).exists():
            self.add_error("active", "同一时间只能启用一个邀请有礼活动，请先停用正在进行的活动。")
        return data

    def save(self, commit: bool = True) -> ReferralCampaign:
        self.instance.min_order_fen = yuan_to_fen(self.cleaned_data["min_order_yuan"])
        return super().save(commit=commit)


@admin.register(ReferralCampaign, site=brand_admin)
class ReferralCampaignAdmin(ModelAdmin):
    form = ReferralCampaignForm
    list_display = ("name", "active", "qualifying", "starts_at", "ends_at", "budget_shown")
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "active", "starts_at", "ends_at"),
                "description": _(
                    "只有一级邀请：奖励只给直接邀请人和受邀人本人，绝不按“下级的下级”或下级的消费计酬（《禁止传销条例》第七条）。"
                ),
            },
        ),
        (
            _("奖励条件"),
            {
                "fields": ("qualifying", "min_order_yuan", ("hold_days", "attribution_days")),
                "description": _(
                    "奖励跟随受邀人本人的行为（入会或首次消费），不因分享本身发放。仅限新顾客；同一手机号、微信、设备或网络的邀请不予奖励，"
                    "原因会显示给邀请人。首单在退货期内退款，奖励撤回。"
                ),
            },
        ),
        (
            _("奖励"),
            {
                "fields": (
                    ("referrer_reward_kind", "referrer_reward_amount", "referrer_coupon_template"),
                    ("invitee_reward_kind", "invitee_reward_amount", "invitee_coupon_template"),
                )
            },
        ),
        (_("上限与预算"), {"fields": (("cap_per_day", "cap_per_month", "cap_lifetime"), "budget")}),
    )

    @admin.display(description=_("预算"))
    def budget_shown(self, obj: ReferralCampaign) -> str:
        return f"{obj.budget_used} / {obj.budget}" if obj.budget else f"{obj.budget_used} / 不限"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # invitations keep their campaign; stop one by unticking 启用


@admin.register(Referral, site=brand_admin)
class ReferralAdmin(ModelAdmin):
    """邀请记录: read-only, masked as the viewer's permission says; the export is the referral
    graph for a regulator (one level: depth is always 1)."""

    list_display = ("referrer_shown", "invitee_shown", "joined_shown", "status", "reason", "rewards_shown")
    list_filter = ("status", "channel", "campaign")
    list_select_related = ("referrer", "invitee", "campaign")
    search_fields = ("referrer__member_no", "invitee__member_no")
    actions = ("export_graph",)
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> Any:
        # The viewer's permission rides on each row (as on the member list): masking per request.
        return (
            super()
            .get_queryset(request)
            .select_related("referrer", "invitee", "campaign")
            .annotate(pi_full=Value(can_view_full_pi(request.user)))
        )

    @admin.display(description=_("邀请人"))
    def referrer_shown(self, obj: Referral) -> str:
        return member_label(obj.referrer.member_no, obj.referrer.name, full=getattr(obj, "pi_full", False))

    @admin.display(description=_("受邀人"))
    def invitee_shown(self, obj: Referral) -> str:
        full = bool(getattr(obj, "pi_full", False))
        mobile = mobile_shown(obj.invitee.mobile, full=full) if obj.invitee.mobile else ""
        return f"{member_label(obj.invitee.member_no, obj.invitee.name, full=full)} {mobile}".strip()

    @admin.display(description=_("入会时间"), ordering="joined_at")
    def joined_shown(self, obj: Referral) -> str:
        return brand_time_shown(obj.joined_at)

    @admin.display(description=_("奖励"))
    def rewards_shown(self, obj: Referral) -> str:
        return "；".join(str(g.get("label", "")) for g in [*obj.referrer_rewards, *obj.invitee_rewards]) or "—"

    @admin.action(description=_("导出邀请关系（CSV，供监管查阅）"))
    def export_graph(self, request: HttpRequest, queryset: Any) -> HttpResponse:
        full = can_view_full_pi(request.user)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="referral-graph.csv"'
        response.write("\ufeff")  # Excel opens UTF-8 with a BOM
        writer = csv.writer(response)
        writer.writerow(
            [
                "邀请人",
                "受邀人",
                "层级",
                "活动",
                "来源",
                "入会时间",
                "状态",
                "说明",
                "邀请人奖励",
                "受邀人奖励",
                "撤回时间",
            ]
        )
        for r in queryset.select_related("referrer", "invitee", "campaign").order_by("joined_at", "id"):
            writer.writerow(
                [
                    member_label(r.referrer.member_no, r.referrer.name, full=full),
                    member_label(r.invitee.member_no, r.invitee.name, full=full),
                    1,  # one level only, by design
                    r.campaign.name if r.campaign else "",
                    r.get_channel_display(),
                    brand_time_shown(r.joined_at),
                    r.get_status_display(),
                    r.reason,
                    "；".join(str(g.get("label", "")) for g in r.referrer_rewards),
                    "；".join(str(g.get("label", "")) for g in r.invitee_rewards),
                    brand_time_shown(r.reversed_at) if r.reversed_at else "",
                ]
            )
        return response

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
