"""Brand admin pages of the engagement programme: the rules (签到、成长值、生日礼), the check-in
ladder and the birthday benefits per tier. Brand-wide settings, opened by brand admins only (no
store role holds engagement permissions, so no store scoping is needed)."""

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Value
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminDecimalFieldWidget

from coupons.models import CouponTemplate
from crm.admin_readonly import ReadOnlyAdminMixin
from crm.admin_sites import brand_admin
from crm.jobs.admin_exports import XLSX, BackgroundExportAdminMixin
from crm.money import fen_to_yuan, yuan_to_fen
from crm.tenancy.zones import brand_time_shown
from members.masking import can_view_full_pi, member_label, mobile_shown

from .models import (
    BirthdayBenefit,
    CheckinLadderStep,
    CheckinReminder,
    EngagementSettings,
    Referral,
    ReferralCampaign,
    ReferralExport,
    RewardKind,
)
from .rewards import coupons_available
from .selectors import referral_graph, referrals_filtered
from .services.referral_export import referral_export_request

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
                "fields": (("checkin_reminder_enabled", "checkin_reminder_channel", "checkin_reminder_hour"),),
                "description": _(
                    "只提醒自己开启了提醒、且同意该渠道营销消息的会员（企业微信：由会员的专属导购群发，"
                    "须已添加导购企业微信）；每人每天最多一条，当天已签到的不发。谁收到了、谁没收到及原因见“签到提醒记录”。"
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
            "growth",
            "multiplier_pct",
            "window_days",
            "coupon_template",
            "active",
        )


@admin.register(BirthdayBenefit, site=brand_admin)
class BirthdayBenefitAdmin(ModelAdmin):
    form = BirthdayBenefitForm
    list_display = ("tier", "release", "points", "growth", "multiplier_pct", "window_days", "active")


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


@admin.register(CheckinReminder, site=brand_admin)
class CheckinReminderAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """签到提醒记录: every opted-in member on every brand day the job ran, reminded or not and why
    (read-only; masked as the viewer's permission says)."""

    list_display = ("biz_date", "member_shown", "channel", "status", "error", "staff", "sent_at_shown")
    list_filter = ("status", "channel", "error")
    list_select_related = ("member", "staff")
    search_fields = ("member__member_no",)
    date_hierarchy = "biz_date"
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(pi_full=Value(can_view_full_pi(request.user)))

    @admin.display(description=_("会员"))
    def member_shown(self, obj: CheckinReminder) -> str:
        return member_label(obj.member.member_no, obj.member.name, full=getattr(obj, "pi_full", False))

    @admin.display(description=_("发送时间"), ordering="sent_at")
    def sent_at_shown(self, obj: CheckinReminder) -> str:
        return brand_time_shown(obj.sent_at) if obj.sent_at else "—"


class ReferralGraphFilter(forms.Form):
    campaign = forms.ModelChoiceField(
        label=_("活动"), queryset=ReferralCampaign.objects.order_by("-id"), required=False, empty_label="全部活动"
    )
    joined_from = forms.DateField(label=_("入会日期自"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    joined_to = forms.DateField(label=_("至"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    referrer = forms.CharField(label=_("邀请人会员号"), max_length=20, required=False)

    def criteria(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "campaign": data.get("campaign"),
            "joined_from": data.get("joined_from"),
            "joined_to": data.get("joined_to"),
            "referrer_no": data.get("referrer") or "",
        }


@admin.register(ReferralExport, site=brand_admin)
class ReferralExportAdmin(ReadOnlyAdminMixin, BackgroundExportAdminMixin, ModelAdmin):
    """邀请关系导出: the graph exports for a regulator, built in the background, with their progress
    and a download link. Seen by whoever may see the referral graph; a file with members in full
    only downloads for viewers who may see members in full. Requested from 邀请关系图, with its
    filters (never added here)."""

    list_display = ("created_at_shown", "criteria_shown", "file_format", "progress", "rows", "requested_by", "download")
    download_url_name = "engagement_referralexport_download"
    progress_unit = "条"

    def export_filename(self, obj: ReferralExport) -> str:
        return f"referral-graph-{obj.pk}.{obj.file_format}"

    def export_content_type(self, obj: ReferralExport) -> str:
        return "text/csv; charset=utf-8" if obj.file_format == ReferralExport.Format.CSV else XLSX

    def may_download(self, request: HttpRequest, obj: ReferralExport) -> bool:
        return not obj.full_pi or can_view_full_pi(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("engagement.view_referral")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("engagement.view_referral")

    def get_urls(self) -> list[URLPattern]:
        return [*self.download_urls(), *super().get_urls()]

    @admin.display(description=_("申请时间"), ordering="created_at")
    def created_at_shown(self, obj: ReferralExport) -> str:
        return brand_time_shown(obj.created_at)

    @admin.display(description=_("条件"))
    def criteria_shown(self, obj: ReferralExport) -> str:
        parts = [obj.campaign.name if obj.campaign else "全部活动"]
        if obj.joined_from or obj.joined_to:
            parts.append(f"入会 {obj.joined_from or '…'} 至 {obj.joined_to or '…'}")
        if obj.referrer_no:
            parts.append(f"邀请人 {obj.referrer_no}")
        if obj.full_pi:
            parts.append("含完整个人信息")
        return "，".join(parts)

    @admin.display(description=_("状态"))
    def progress(self, obj: ReferralExport) -> str:
        return self.progress_words(obj)

    @admin.display(description=_("下载"))
    def download(self, obj: ReferralExport) -> str:
        return self.download_cell(obj, f"下载 {obj.get_file_format_display()}")

    def rerun_url(self, obj: ReferralExport) -> str:
        criteria = {
            "campaign": obj.campaign_id or "",
            "joined_from": obj.joined_from or "",
            "joined_to": obj.joined_to or "",
            "referrer": obj.referrer_no,
        }
        query = urlencode({k: v for k, v in criteria.items() if v})
        return reverse("admin:engagement_referral_graph") + (f"?{query}" if query else "")


@admin.register(Referral, site=brand_admin)
class ReferralAdmin(ModelAdmin):
    """邀请记录: read-only, masked as the viewer's permission says; the export is the referral
    graph for a regulator (one level: depth is always 1)."""

    list_display = ("referrer_shown", "invitee_shown", "joined_shown", "status", "reason", "rewards_shown")
    list_filter = ("status", "channel", "campaign")
    list_select_related = ("referrer", "invitee", "campaign")
    search_fields = ("referrer__member_no", "invitee__member_no")
    change_list_template = "admin/engagement/referral_change_list.html"
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

    # --- 邀请关系图: who referred whom, one level, with rewards and reversals -----------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path("graph/", self.admin_site.admin_view(self.graph_view), name="engagement_referral_graph"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "graph_url": "graph/"})

    def graph_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ReferralGraphFilter(request.GET or None)
        criteria = form.criteria() if form.is_valid() else {}
        campaign = criteria.pop("campaign", None)
        full = can_view_full_pi(request.user)
        if request.method == "POST":
            # The export for a regulator: built in the background (a large graph does not fit a
            # request), listed under 邀请关系导出 with its progress and a download link.
            referral_export_request(
                actor=request.user.get_username(),
                full_pi=full,
                file_format=request.POST.get("format", ""),
                campaign=campaign,
                **criteria,
            )
            messages.success(request, "已开始在后台导出邀请关系，完成后可在此列表下载。")
            return HttpResponseRedirect(reverse("admin:engagement_referralexport_changelist"))
        referrals = referrals_filtered(campaign_id=campaign.pk if campaign else None, **criteria)
        try:
            page_no = max(int(request.GET.get("page", "1")), 1)
        except ValueError:
            page_no = 1
        graph = referral_graph(referrals, full=full, page=page_no)
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "邀请关系图",
            "form": form,
            "graph": graph,
            "query": query.urlencode(),
        }
        return TemplateResponse(request, "admin/engagement/referral_graph.html", context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
