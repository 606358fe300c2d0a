"""Back office of staff performance (brand site): the rule (versions, with a what-if preview
before saving), each order's credit, touches, staff members' own identities, the report and its
background exports. Store users see their store only (members.scoping)."""

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from consent.services import brand_url
from crm.admin_readonly import ReadOnlyAdminMixin
from crm.admin_sites import brand_admin
from crm.errors import AppError
from crm.jobs.admin_exports import BackgroundExportAdminMixin
from crm.posters import Poster, poster_png
from crm.tenancy.zones import brand_time_shown
from members.models import Store
from members.scoping import StoreScopedAdminMixin, user_scope

from .models import (
    TOUCH_PHRASES,
    Attribution,
    AttributionRule,
    Basis,
    ReportExport,
    ShareLink,
    StaffIdentity,
    Touch,
    TouchKind,
)
from .selectors import credit_text, performance_report, rule_preview, yuan
from .services import report_export_request, rule_current, rule_save, share_link_create, share_link_validate


def _last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


@admin.register(Attribution, site=brand_admin)
class AttributionAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    scope_store_path = "store"
    list_display = ("order", "paid_at_shown", "staff", "store", "explanation", "credited", "refunded", "rule")
    list_filter = ("basis", "store", ("paid_at", admin.DateFieldListFilter))
    search_fields = ("=order__order_no", "staff__name")
    list_select_related = ("order", "staff", "store", "own_purchase_staff", "rule")
    show_full_result_count = False

    @admin.display(description=_("支付时间"), ordering="paid_at")
    def paid_at_shown(self, obj: Attribution) -> str:
        return brand_time_shown(obj.paid_at)

    @admin.display(description=_("业绩归属"))
    def explanation(self, obj: Attribution) -> str:
        staff = obj.staff
        name = "" if staff is None else (f"{staff.name}·已离职" if staff.status == "resigned" else staff.name)
        return credit_text(
            basis=obj.basis,
            staff_name=name,
            is_exclusive=obj.is_exclusive,
            touch_kind=obj.touch_kind,
            window_days=obj.window_days,
            own_name=obj.own_purchase_staff.name if obj.own_purchase_staff else "",
        )

    @admin.display(description=_("业绩金额"), ordering="credited_fen")
    def credited(self, obj: Attribution) -> str:
        return yuan(obj.credited_fen)

    @admin.display(description=_("业绩退款"))
    def refunded(self, obj: Attribution) -> str:
        return yuan(obj.refunded_fen)


@admin.register(Touch, site=brand_admin)
class TouchAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    scope_member_path = "member"
    list_display = ("touched_at_shown", "staff", "member", "kind", "source")
    list_filter = ("kind", ("touched_at", admin.DateFieldListFilter))
    search_fields = ("=member__member_no", "staff__name", "=source")
    list_select_related = ("staff", "member")
    show_full_result_count = False

    @admin.display(description=_("触达时间"), ordering="touched_at")
    def touched_at_shown(self, obj: Touch) -> str:
        return brand_time_shown(obj.touched_at)


def share_path(link: ShareLink) -> str:
    return reverse("performance:share", args=[link.token])


class ShareLinkForm(forms.ModelForm):
    class Meta:
        model = ShareLink
        fields = ("staff", "kind", "target", "note")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        staff, kind, target = data.get("staff"), data.get("kind", ""), data.get("target", "")
        if staff is not None:
            try:  # the service's own checks, shown on the form (nothing saved yet)
                share_link_validate(staff=staff, kind=kind, target=target)
            except AppError as exc:
                for field, messages_ in exc.fields.items():
                    for message in messages_:
                        self.add_error(field if field in self.fields else None, message)
        return data


@admin.register(ShareLink, site=brand_admin)
class ShareLinkAdmin(StoreScopedAdminMixin, ModelAdmin):
    """A staff member's share link or poster: the member who opens it is their touch. Links are
    never edited (the touches they made name them); make a new one instead."""

    scope_store_path = "staff__store"
    form = ShareLinkForm
    list_display = ("__str__", "staff", "kind", "target", "note", "link", "created_at_shown")
    list_filter = ("kind",)
    search_fields = ("staff__name", "=token")
    list_select_related = ("staff",)
    autocomplete_fields = ("staff",)
    readonly_fields = ("link", "poster_qr")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("staff", "kind", "target", "note", "link", "poster_qr") if obj else ("staff", "kind", "target", "note")

    @admin.display(description=_("创建时间"), ordering="created_at")
    def created_at_shown(self, obj: ShareLink) -> str:
        return brand_time_shown(obj.created_at)

    @admin.display(description=_("链接"))
    def link(self, obj: ShareLink) -> str:
        return format_html('<code class="perf-share-url">{}</code>', brand_url(share_path(obj)))

    @admin.display(description=_("海报"))
    def poster_qr(self, obj: ShareLink) -> str:
        # The poster as members see it (crm.posters, the same drawing as the 邀请有礼 poster): a
        # PNG WeChat can save and scan, shown small here with a link to the full image.
        url = reverse("admin:performance_sharelink_poster", args=[obj.pk])
        return format_html(
            '<div class="perf-share-qr"><a href="{}" download="poster-{}.png"><img src="{}" alt="分享海报" width="188"'
            ' height="300"></a><br><a href="{}" download="poster-{}.png">下载海报（PNG，750×1200）</a></div>',
            url,
            obj.token[:8],
            url,
            url,
            obj.token[:8],
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/poster.png", self.admin_site.admin_view(self.poster_view), name="performance_sharelink_poster"
            ),
            *super().get_urls(),
        ]

    def poster_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        link = get_object_or_404(self.get_queryset(request).select_related("staff"), pk=pk)
        png = poster_png(
            Poster(
                brand=request.tenant.name,  # type: ignore[attr-defined]
                headline=link.note or "欢迎加入会员",
                url=brand_url(share_path(link)),
                lines=("扫码进入会员中心，享会员专属权益与服务",),
                footer=f"您的导购 {link.staff.name}",
            )
        )
        return HttpResponse(png, content_type="image/png")

    def save_model(self, request: HttpRequest, obj: ShareLink, form: Any, change: bool) -> None:
        created = share_link_create(staff=obj.staff, kind=obj.kind, target=obj.target, note=obj.note)
        obj.pk, obj.token, obj.created_at = created.pk, created.token, created.created_at


@admin.register(StaffIdentity, site=brand_admin)
class StaffIdentityAdmin(ModelAdmin):
    list_display = ("staff", "kind", "value")
    search_fields = ("staff__name", "=value")
    autocomplete_fields = ("staff",)


# --- the rule ---------------------------------------------------------------------------------


class RuleForm(forms.Form):
    first = forms.ChoiceField(label=_("第一依据"), choices=Basis.choices)
    second = forms.ChoiceField(label=_("第二依据"), choices=[("", "（无）"), *Basis.choices], required=False)
    third = forms.ChoiceField(label=_("第三依据"), choices=[("", "（无）"), *Basis.choices], required=False)
    note = forms.CharField(label=_("说明"), max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind in TouchKind:
            self.fields[f"window_{kind.value}"] = forms.IntegerField(
                label=f"{kind.label}有效天数",
                min_value=1,
                max_value=365,
                required=False,
                help_text=f"近 N 天内{TOUCH_PHRASES[kind]}计入业绩；留空则此方式不计",
            )

    def rule(self) -> tuple[list[str], dict[str, int]]:
        data = self.cleaned_data
        precedence = [b for b in (data["first"], data.get("second"), data.get("third")) if b]
        windows = {k.value: data[f"window_{k.value}"] for k in TouchKind if data.get(f"window_{k.value}")}
        return precedence, windows


@admin.register(AttributionRule, site=brand_admin)
class AttributionRuleAdmin(ModelAdmin):
    """Versions are never edited: 增加 saves a new version, after an optional preview of what it
    would have credited last month next to what was credited."""

    list_display = ("__str__", "precedence_shown", "windows_shown", "note", "created_by", "created_at_shown")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("优先顺序"))
    def precedence_shown(self, obj: AttributionRule) -> str:
        return " › ".join(str(Basis(b).label) for b in obj.precedence)

    @admin.display(description=_("触达有效天数"))
    def windows_shown(self, obj: AttributionRule) -> str:
        return "、".join(f"{TouchKind(k).label} {v} 天" for k, v in obj.windows.items()) or "—"

    @admin.display(description=_("生效时间"), ordering="created_at")
    def created_at_shown(self, obj: AttributionRule) -> str:
        return brand_time_shown(obj.created_at)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        current = rule_current()
        initial: dict[str, Any] = {"note": ""}
        for name, basis in zip(("first", "second", "third"), current.precedence, strict=False):
            initial[name] = basis
        for kind, days in current.windows.items():
            initial[f"window_{kind}"] = days
        form = RuleForm(request.POST or None, initial=initial)
        preview = None
        start, end = _last_month(timezone.localdate())
        if request.method == "POST" and form.is_valid():
            precedence, windows = form.rule()
            try:
                if "_preview" in request.POST:
                    preview = rule_preview(
                        precedence=precedence, windows=windows, start=start, end=end, scope=user_scope(request.user)
                    )
                else:
                    rule = rule_save(
                        precedence=precedence,
                        windows=windows,
                        note=form.cleaned_data["note"],
                        actor=request.user.get_username(),
                    )
                    self.message_user(request, f"已保存{rule}，此后到达的订单按新规则归属；已归属的订单不变。")
                    return HttpResponseRedirect(reverse("admin:performance_attributionrule_changelist"))
            except AppError as exc:
                for field_errors in exc.fields.values():
                    for message in field_errors:
                        form.add_error(None, message)
                if not exc.fields:
                    form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "设置业绩归属规则",
            "form": form,
            "preview": [
                {
                    "staff": r.staff_name,
                    "orders_now": r.orders_now,
                    "gmv_now": yuan(r.gmv_now_fen),
                    "orders_new": r.orders_new,
                    "gmv_new": yuan(r.gmv_new_fen),
                    "delta": yuan(r.gmv_new_fen - r.gmv_now_fen),
                }
                for r in preview
            ]
            if preview is not None
            else None,
            "period": f"{start:%Y-%m-%d} 至 {end:%Y-%m-%d}",
        }
        return TemplateResponse(request, "admin/performance/rule_form.html", context)


# --- report and exports ---------------------------------------------------------------------------


class ReportForm(forms.Form):
    start = forms.DateField(label=_("开始日期"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("结束日期"), widget=forms.DateInput(attrs={"type": "date"}))
    store = forms.ModelChoiceField(
        label=_("门店"), queryset=Store.objects.all(), required=False, empty_label="全部门店"
    )


@admin.register(ReportExport, site=brand_admin)
class ReportExportAdmin(StoreScopedAdminMixin, BackgroundExportAdminMixin, ModelAdmin):
    """导购业绩: the report for a range up to two months on the page; longer ranges (a year) as
    an export built in the background, with its progress and a download link."""

    scope_store_path = "store"
    list_display = ("period", "store_shown", "progress", "rows", "requested_by", "created_at_shown", "download")
    readonly_fields = ("status", "months_done", "months_total", "rows", "error", "finished_at")
    change_list_template = "admin/performance/reportexport_changelist.html"
    download_url_name = "performance_reportexport_download"
    progress_unit = "月"

    def export_filename(self, obj: ReportExport) -> str:
        return f"performance-{obj.start}-{obj.end}.xlsx"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # One line per export at 1440 px: short cells that do not wrap (performance.css).
    @admin.display(description=_("区间"), ordering="start")
    def period(self, obj: ReportExport) -> str:
        return format_html('<span class="perf-nowrap">{} 至 {}</span>', obj.start, obj.end)

    @admin.display(description=_("门店"))
    def store_shown(self, obj: ReportExport) -> str:
        return format_html('<span class="perf-nowrap">{}</span>', obj.store.name if obj.store else "全部门店")

    @admin.display(description=_("状态"))
    def progress(self, obj: ReportExport) -> str:
        return format_html('<span class="perf-nowrap">{}</span>', self.progress_words(obj))

    @admin.display(description=_("申请时间"), ordering="created_at")
    def created_at_shown(self, obj: ReportExport) -> str:
        return format_html('<span class="perf-nowrap">{}</span>', brand_time_shown(obj.created_at))

    @admin.display(description=_("下载"))
    def download(self, obj: ReportExport) -> str:
        return self.download_cell(obj, "下载 XLSX")

    def rerun_url(self, obj: ReportExport) -> str:
        query = {"start": obj.start, "end": obj.end, **({"store": obj.store_id} if obj.store_id else {})}
        return f"{reverse('admin:performance_report')}?{urlencode(query)}"

    def get_urls(self) -> list[URLPattern]:
        return [
            path("report/", self.admin_site.admin_view(self.report_view), name="performance_report"),
            *self.download_urls(),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:performance_report"))

    def report_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        scope = user_scope(request.user)
        start, end = _last_month(timezone.localdate())
        form = ReportForm(request.POST or request.GET or None, initial={"start": start, "end": end})
        if not scope.all_stores:
            store_field = form.fields["store"]
            assert isinstance(store_field, forms.ModelChoiceField)
            store_field.queryset = Store.objects.filter(pk=scope.store_id or 0)
            store_field.empty_label = None
        rows = None
        if form.is_bound and form.is_valid():
            start, end, store = form.cleaned_data["start"], form.cleaned_data["end"], form.cleaned_data["store"]
            store_id = store.pk if store else None
            try:
                if request.method == "POST" and "_export" in request.POST:
                    if not self.has_add_permission(request):
                        raise PermissionDenied
                    report_export_request(
                        scope=scope, start=start, end=end, store_id=store_id, actor=request.user.get_username()
                    )
                    messages.success(request, "已开始在后台生成，完成后可在下方列表下载。")
                    return HttpResponseRedirect(reverse("admin:performance_reportexport_changelist"))
                rows = performance_report(scope=scope, start=start, end=end, store_id=store_id)
            except AppError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "导购业绩报表",
            "form": form,
            "rows": [
                {
                    "staff": f.staff_name,
                    "store": f.store_name or "—",
                    "orders": f.orders,
                    "gmv": yuan(f.gmv_fen),
                    "refunded": yuan(f.refunded_fen),
                    "net": yuan(f.net_fen),
                    "enrolled": f.members_enrolled,
                    "served": f.members_served,
                    "coupons": f.coupons_redeemed,
                    "member_day": f.member_day_orders,
                }
                for f in rows
            ]
            if rows is not None
            else None,
        }
        return TemplateResponse(request, "admin/performance/report.html", context)
