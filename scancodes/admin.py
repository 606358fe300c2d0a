"""The brand back office of one item, one code: dealers, scan campaigns, batches (generate,
export for the printer, revoke), segments (activate, revoke), claims (approve, void), diversion
alerts with the daily digest, scans, and the report and fraud pages. Every change goes through
scancodes.services."""

import datetime as dt
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from coupons.models import CouponTemplate
from coupons.rules import benefit_words
from crm.admin_sites import brand_admin
from crm.errors import AppError
from crm.spreadsheets.writing import csv_bytes, xlsx_bytes
from crm.tenancy.zones import brand_date, brand_time_shown, brand_zone_shown
from members.masking import can_view_full_pi, member_label
from members.models import Member
from members.scoping import StoreScopedAdminMixin, scope_members, user_scope

from .admin_imports import CodeImportAdminMixin
from .digest import digest_text
from .models import (
    Claim,
    CodeBatch,
    CodeExport,
    CodeImport,
    Dealer,
    DigestSend,
    DiversionAlert,
    Scan,
    ScanCampaign,
    Segment,
)
from .selectors import (
    DIMENSIONS,
    FRAUD_KINDS,
    REPORT_COLUMNS,
    diversion_digest,
    fraud_signals,
    report_cells,
    report_totals,
    scan_report,
)
from .services import (
    batch_export,
    batch_generate,
    batch_revoke,
    campaign_validate,
    claim_approve,
    claim_void,
    segment_activate,
    segment_create,
    segment_revoke,
)


def _actor(request: HttpRequest) -> str:
    return getattr(request.user, "get_username", lambda: "admin")()


def _spreadsheet(fmt: str, name: str, title: str, rows: list[list[Any]]) -> HttpResponse:
    """A report as CSV (UTF-8 with BOM, for Excel) or XLSX; cells made inert (crm.spreadsheets)."""
    if fmt == "xlsx":
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        response = HttpResponse(xlsx_bytes(title=title, rows=rows), content_type=content_type)
    else:
        response = HttpResponse(csv_bytes(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}.{fmt}"
    return response


def _nowrap(text: object) -> str:
    return format_html('<span class="whitespace-nowrap">{}</span>', text)


class ChineseDatesMixin:
    """The theme's date-and-time widget says "Date" (its catalogue has no Chinese for it)."""

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
        for widget in getattr(getattr(field, "widget", None), "widgets", []):
            if str(widget.attrs.get("placeholder", "")) == "Date":
                widget.attrs["placeholder"] = "日期"
        return field


@admin.register(Dealer, site=brand_admin)
class DealerAdmin(CodeImportAdminMixin, ModelAdmin):
    import_kind = CodeImport.Kind.DEALERS
    change_list_template = "admin/scancodes/dealer/change_list.html"
    list_display = ["code", "name", "region_name", "store", "assign_owner", "is_active"]
    search_fields = ["code", "name", "region_name"]
    list_filter = ["is_active", "assign_owner"]


class SkuPointsField(forms.CharField):
    """按 SKU 的奖励积分 as people type it: one SKU and its points per line ("SKU-001 20"; a space,
    tab, comma or colon between them), stored as {sku: points}."""

    widget = UnfoldAdminTextareaWidget(attrs={"rows": 4, "placeholder": "SKU-001 20\nSKU-002 50"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return "\n".join(f"{sku} {points}" for sku, points in value.items())
        return value

    def to_python(self, value: Any) -> dict[str, int]:  # type: ignore[override]
        text = super().to_python(value) or ""
        points: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            parts = line.replace("，", " ").replace(",", " ").replace("：", " ").replace(":", " ").split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) <= 0:
                raise forms.ValidationError(f"第 {number} 行应为“SKU 积分”，积分为正整数，如 SKU-001 20")
            if parts[0] in points:
                raise forms.ValidationError(f"第 {number} 行：SKU {parts[0]} 重复")
            points[parts[0]] = int(parts[1])
        return points


class CouponTemplateChoice(forms.ModelChoiceField):
    """The coupon a claim earns, chosen by its name and what it gives (only templates that may
    still be issued are offered)."""

    def label_from_instance(self, obj: CouponTemplate) -> str:
        stock = "不限库存" if obj.stock_left is None else f"剩余 {obj.stock_left:,} 张"
        return f"{obj.name}（{benefit_words(obj)}，{stock}）"


class ScanCampaignForm(forms.ModelForm):
    sku_points = SkuPointsField(
        label="按 SKU 的奖励积分",
        required=False,
        help_text="每行一个 SKU 和积分，如 SKU-001 20；未列出的 SKU 用每码奖励积分",
    )
    growth_value = forms.IntegerField(
        label="每码奖励成长值",
        required=False,
        min_value=0,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text="奖励类型为成长值时填写；计入会员每月活动成长值上限，超出部分不发放",
    )
    coupon_template = CouponTemplateChoice(
        queryset=CouponTemplate.objects.filter(is_active=True).order_by("name"),
        label="奖励优惠券",
        required=False,
        empty_label="（不发优惠券）",
        widget=UnfoldAdminSelectWidget,
        help_text="奖励类型为优惠券时必选：每次领取发一张，受该券的库存和每人限领约束",
    )

    class Meta:
        model = ScanCampaign
        fields = [
            "name",
            "reward_kind",
            "points",
            "sku_points",
            "growth_value",
            "coupon_template",
            "starts_at",
            "ends_at",
            "cap_member_day",
            "cap_member_month",
            "budget_points",
            "risky_claims_per_hour",
        ]

    def clean_growth_value(self) -> int:
        return self.cleaned_data.get("growth_value") or 0

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # the instance now carries the form's values
        if not self.errors:
            try:
                campaign_validate(campaign=self.instance)
            except AppError as error:
                self.add_error(None, error.message)


@admin.register(ScanCampaign, site=brand_admin)
class ScanCampaignAdmin(ChineseDatesMixin, ModelAdmin):
    form = ScanCampaignForm
    list_display = [
        "name",
        "reward_kind",
        "reward_shown",
        "starts_shown",
        "ends_shown",
        "spent_points",
        "budget_points",
    ]
    list_filter = ["reward_kind"]
    list_select_related = ["coupon_template"]

    @admin.display(description="每码奖励")
    def reward_shown(self, obj: ScanCampaign) -> str:
        if obj.reward_kind == ScanCampaign.RewardKind.GROWTH:
            return f"{obj.growth_value} 成长值"
        if obj.reward_kind == ScanCampaign.RewardKind.COUPON:
            return f"优惠券「{obj.coupon_template.name}」" if obj.coupon_template else "—"
        extra = f"（另有 {len(obj.sku_points)} 个 SKU 单独设置）" if obj.sku_points else ""
        return f"{obj.points} 积分{extra}"

    @admin.display(description="开始时间")
    def starts_shown(self, obj: ScanCampaign) -> str:
        return brand_time_shown(obj.starts_at)

    @admin.display(description="结束时间")
    def ends_shown(self, obj: ScanCampaign) -> str:
        return brand_time_shown(obj.ends_at)


class BatchForm(forms.ModelForm):
    class Meta:
        model = CodeBatch
        fields = ["sku", "product_name", "category", "quantity", "exports_allowed", "expires_at"]


class ExportInline(TabularInline):
    model = CodeExport
    extra = 0
    can_delete = False
    fields = ["seq", "fmt", "actor", "ip", "at"]
    readonly_fields = ["seq", "fmt", "actor", "ip", "at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CodeBatch, site=brand_admin)
class CodeBatchAdmin(ChineseDatesMixin, CodeImportAdminMixin, ModelAdmin):
    import_kind = CodeImport.Kind.CODES
    change_list_template = "admin/scancodes/codebatch/change_list.html"
    form = BatchForm
    list_display = ["batch_no", "product_name", "sku", "quantity_shown", "serials", "origin", "status", "exports_shown"]

    @admin.display(description="数量", ordering="quantity")
    def quantity_shown(self, obj: CodeBatch) -> str:
        return f"{obj.quantity:,}"

    list_filter = ["status", "origin"]
    search_fields = ["batch_no", "sku", "product_name"]
    inlines = [ExportInline]
    actions = ["export_csv", "export_zip", "revoke"]

    @admin.display(description="序列号范围")
    def serials(self, obj: CodeBatch) -> str:
        return _nowrap(f"{obj.first_serial}–{obj.last_serial}")

    @admin.display(description="导出次数")
    def exports_shown(self, obj: CodeBatch) -> str:
        return f"{obj.exports_used}/{obj.exports_allowed}"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["sku", "product_name", "category", "quantity", "exports_allowed"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Codes carry no foreign-key constraint to their batch (generation speed, models.py):
        # deleting a batch would leave its codes behind. A batch is revoked (作废) instead.
        return False

    def save_model(self, request: HttpRequest, obj: CodeBatch, form: Any, change: bool) -> None:
        if change:
            CodeBatch.objects.filter(pk=obj.pk).update(expires_at=obj.expires_at)
            return
        batch = batch_generate(
            sku=obj.sku,
            product_name=obj.product_name,
            category=obj.category,
            quantity=obj.quantity,
            exports_allowed=obj.exports_allowed,
            expires_at=obj.expires_at,
            actor=_actor(request),
        )
        obj.pk = batch.pk
        obj.__dict__.update({k: v for k, v in batch.__dict__.items() if not k.startswith("_")})

    def _export(self, request: HttpRequest, queryset: Any, fmt: str) -> HttpResponseBase | None:
        if queryset.count() != 1:
            self.message_user(request, "请一次只选择一个批次导出。", messages.ERROR)
            return None
        try:
            export = batch_export(
                batch=queryset.get(),
                fmt=fmt,
                actor=_actor(request),
                ip=request.META.get("REMOTE_ADDR"),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                base_url=request.build_absolute_uri("/").rstrip("/"),
            )
        except AppError as error:
            self.message_user(request, error.message, messages.ERROR)
            return None
        response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response

    @admin.action(description="导出给印刷厂（CSV）")
    def export_csv(self, request: HttpRequest, queryset: Any) -> HttpResponseBase | None:
        return self._export(request, queryset, "csv")

    @admin.action(description="导出给印刷厂（ZIP）")
    def export_zip(self, request: HttpRequest, queryset: Any) -> HttpResponseBase | None:
        return self._export(request, queryset, "zip")

    @admin.action(description="作废所选批次（所有码不再发放奖励）")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for batch in queryset:
            batch_revoke(batch=batch, actor=_actor(request))
        self.message_user(request, f"已作废 {queryset.count()} 个批次。")


@admin.register(Segment, site=brand_admin)
class SegmentAdmin(ChineseDatesMixin, ModelAdmin):
    list_display = [
        "product",
        "first_serial",
        "last_serial",
        "lot",
        "region_name",
        "dealer_shown",
        "campaign",
        "status_shown",
        "active_from_shown",
    ]
    list_select_related = ["batch", "dealer", "campaign"]

    @admin.display(description="商品（批次）", ordering="batch__product_name")
    def product(self, obj: Segment) -> str:
        return format_html(
            "{}<br><span class='text-font-subtle-light'>{}</span>", obj.batch.product_name, obj.batch.batch_no
        )

    @admin.display(description="经销商", ordering="dealer__name")
    def dealer_shown(self, obj: Segment) -> str:
        return obj.dealer.name if obj.dealer else "—"

    @admin.display(description="状态", ordering="status")
    def status_shown(self, obj: Segment) -> str:
        return _nowrap(obj.get_status_display())

    @admin.display(description="生效时间", ordering="active_from")
    def active_from_shown(self, obj: Segment) -> str:
        return _nowrap(brand_time_shown(obj.active_from)) if obj.active_from else "—"

    list_filter = ["status", "dealer", "campaign"]
    fields = [
        "batch",
        "first_serial",
        "last_serial",
        "lot",
        "production_date",
        "region_name",
        "dealer",
        "campaign",
        "active_from",
    ]
    actions = ["activate", "revoke"]

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        segment = segment_create(
            batch=obj.batch,
            first_serial=obj.first_serial,
            last_serial=obj.last_serial,
            lot=obj.lot,
            production_date=obj.production_date,
            region_name=obj.region_name,
            dealer=obj.dealer,
            campaign=obj.campaign,
            actor=_actor(request),
            activate=obj.active_from is not None,
            active_from=obj.active_from,
        )
        obj.pk = segment.pk

    @admin.action(description="激活所选码段")
    def activate(self, request: HttpRequest, queryset: Any) -> None:
        for segment in queryset.filter(status=Segment.Status.INACTIVE):
            segment_activate(segment=segment, actor=_actor(request))
        self.message_user(request, "已激活。")

    @admin.action(description="作废所选码段")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for segment in queryset:
            segment_revoke(segment=segment, actor=_actor(request))
        self.message_user(request, "已作废。")


@admin.register(Claim, site=brand_admin)
class ClaimAdmin(StoreScopedAdminMixin, ModelAdmin):
    # Only brand-wide roles open 一物一码 today (members/roles.py); a store role given it later
    # sees its own store's members' claims, here and on the report and fraud pages.
    scope_member_path = "member"
    list_display = ["code", "member", "sku", "status", "points", "city", "diverted", "new_member", "at_shown"]
    list_filter = ["status", "diverted", "new_member", "reward_kind"]
    search_fields = ["code__serial", "member__member_no", "sku"]
    actions = ["approve", "void"]
    change_list_template = "admin/scancodes/claim/change_list.html"

    @admin.display(description="领取时间")
    def at_shown(self, obj: Claim) -> str:
        return brand_time_shown(obj.at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="审核通过（发放奖励）")
    def approve(self, request: HttpRequest, queryset: Any) -> None:
        done = 0
        for claim in queryset.filter(status=Claim.Status.PENDING):
            claim_approve(claim=claim, actor=_actor(request))
            done += 1
        self.message_user(request, f"已通过 {done} 条领取。")

    @admin.action(description="作废（冲回奖励）")
    def void(self, request: HttpRequest, queryset: Any) -> None:
        done = 0
        for claim in queryset.exclude(status=Claim.Status.VOID):
            claim_void(claim=claim, actor=_actor(request), reason="后台风控作废")
            done += 1
        self.message_user(request, f"已作废 {done} 条领取，奖励已冲回。")

    def get_urls(self) -> list[Any]:
        return [
            path("reports/", self.admin_site.admin_view(self.reports_view), name="scancodes_reports"),
            path("fraud/", self.admin_site.admin_view(self.fraud_view), name="scancodes_fraud"),
            *super().get_urls(),
        ]

    def _days(self, request: HttpRequest) -> tuple[dt.date, dt.date]:
        today = brand_date(timezone.now())
        try:
            start = dt.date.fromisoformat(request.GET.get("start", ""))
            end = dt.date.fromisoformat(request.GET.get("end", ""))
        except ValueError:
            start, end = today - dt.timedelta(days=29), today
        return start, end

    def _members(self, request: HttpRequest) -> QuerySet[Member] | None:
        """The members a store user may see (members/scoping.py); None for a brand-wide user."""
        return None if user_scope(request.user).all_stores else scope_members(Member.objects.all(), request.user)

    def reports_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_view_permission(request):  # admin_view only asks for a staff login
            raise PermissionDenied
        start, end = self._days(request)
        by = request.GET.get("by", "sku")
        by = by if by in DIMENSIONS else "sku"
        members = self._members(request)
        rows = scan_report(by=by, start=start, end=end, members=members)
        fmt = request.GET.get("format", "")
        if fmt in ("csv", "xlsx"):
            table: list[list[Any]] = [
                [DIMENSIONS[by], *REPORT_COLUMNS],
                *([row.key, *report_cells(row)] for row in rows),
            ]
            return _spreadsheet(fmt, f"扫码报表-{DIMENSIONS[by]}-{start:%Y%m%d}-{end:%Y%m%d}", "扫码报表", table)
        context = {
            **self.admin_site.each_context(request),
            "title": "扫码报表",
            "rows": [(row, report_cells(row)) for row in rows],
            "columns": REPORT_COLUMNS,
            "totals": report_totals(start=start, end=end, members=members),
            "by": by,
            "dimensions": DIMENSIONS,
            "start": start,
            "end": end,
            "query": f"by={by}&start={start:%Y-%m-%d}&end={end:%Y-%m-%d}",
        }
        return TemplateResponse(request, "admin/scancodes/reports.html", context)

    def fraud_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        start, end = self._days(request)
        signals = fraud_signals(start=start, end=end, members=self._members(request))
        # Members by name as the viewer may see it (members/masking.py), not by database id.
        full = can_view_full_pi(request.user)
        names = {
            member.pk: member_label(member.member_no, member.name, full=full)
            for member in Member.objects.filter(pk__in={s.member_id for s in signals}).only("member_no", "name")
        }
        fmt = request.GET.get("format", "")
        if fmt in ("csv", "xlsx"):
            table: list[list[Any]] = [
                ["类型", "会员", "说明", "领取数"],
                *([FRAUD_KINDS[s.kind], names.get(s.member_id, ""), s.detail, s.claims] for s in signals),
            ]
            return _spreadsheet(fmt, f"扫码风控-{start:%Y%m%d}-{end:%Y%m%d}", "扫码风控", table)
        context = {
            **self.admin_site.each_context(request),
            "title": "扫码风控",
            "signals": [(FRAUD_KINDS[s.kind], s, names.get(s.member_id, "")) for s in signals],
            "start": start,
            "end": end,
            "query": f"start={start:%Y-%m-%d}&end={end:%Y-%m-%d}",
        }
        return TemplateResponse(request, "admin/scancodes/fraud.html", context)


@admin.register(DiversionAlert, site=brand_admin)
class DiversionAlertAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_member_path = "claim__member"
    list_display = ["dealer", "expected_region", "province", "city", "at_shown", "status"]
    list_filter = ["status", "dealer", "biz_date"]
    change_list_template = "admin/scancodes/diversionalert/change_list.html"

    @admin.display(description="时间")
    def at_shown(self, obj: DiversionAlert) -> str:
        return brand_time_shown(obj.at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        yesterday = brand_date(timezone.now()) - dt.timedelta(days=1)
        extra = {"digest_day": yesterday, "digest": diversion_digest(day=yesterday), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_urls(self) -> list[Any]:
        return [
            path("digest/", self.admin_site.admin_view(self.digest_view), name="scancodes_digest"),
            *super().get_urls(),
        ]

    def digest_view(self, request: HttpRequest) -> HttpResponse:
        """窜货日报: one brand day's digest as the brand's people get it by mail (the same lines and
        words), whether and to whom it was sent, and that day's alerts — all in brand-local time."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = brand_date(timezone.now())
        try:
            day = dt.date.fromisoformat(request.GET.get("day", ""))
        except ValueError:
            day = today - dt.timedelta(days=1)
        day = min(day, today)
        lines = diversion_digest(day=day)
        subject, body = digest_text(day=day, lines=lines)
        send = DigestSend.objects.filter(day=day).first()
        alerts = DiversionAlert.objects.filter(biz_date=day).select_related("dealer", "claim__batch").order_by("at")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"窜货日报 · {day:%Y-%m-%d}",
            "day": day,
            "previous": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1) if day < today else None,
            "lines": lines,
            "total": sum(line.alerts for line in lines),
            "subject": subject,
            "body": body,
            "send": send,
            "sent_at": brand_time_shown(send.sent_at) if send and send.sent_at else "",
            "alerts": [(brand_time_shown(a.at), a) for a in alerts[:500]],
            "zone": brand_zone_shown(),
        }
        return TemplateResponse(request, "admin/scancodes/digest.html", context)


@admin.register(Scan, site=brand_admin)
class ScanAdmin(ModelAdmin):
    list_display = ["serial", "outcome", "province", "city", "at_shown", "channel"]
    list_filter = ["outcome", "channel", "biz_date"]
    search_fields = ["serial"]

    @admin.display(description="扫码时间")
    def at_shown(self, obj: Scan) -> str:
        return brand_time_shown(obj.at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DigestSend, site=brand_admin)
class DigestSendAdmin(ModelAdmin):
    list_display = ["day", "status", "alerts", "recipients_shown", "sent_shown", "attempts", "last_error", "page"]
    list_filter = ["status"]

    @admin.display(description="日报")
    def page(self, obj: DigestSend) -> str:
        url = reverse("admin:scancodes_digest")
        return format_html('<a class="text-primary-600 underline" href="{}?day={}">查看日报</a>', url, obj.day)

    @admin.display(description="收件人")
    def recipients_shown(self, obj: DigestSend) -> str:
        return "、".join(obj.recipients)

    @admin.display(description="发送时间")
    def sent_shown(self, obj: DigestSend) -> str:
        return brand_time_shown(obj.sent_at) if obj.sent_at else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
