"""Coupons in the brand admin (优惠券): templates with stock and validity in words and yuan, issue
to members, the coupons, the write-offs (核销记录) and the report (CSV/XLSX). Every write goes
through coupons.services; refusals are shown as the service's Chinese message."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from crm.admin_sites import brand_admin
from crm.errors import AppError
from crm.spreadsheets.writing import csv_bytes, xlsx_bytes
from crm.tenancy.zones import brand_time_shown
from members.models import Member, Staff
from members.scoping import StoreScopedAdminMixin

from . import rules, selectors, services
from .models import Coupon, CouponRedemption, CouponTemplate


def _fen(value: Any) -> int | None:
    """Yuan typed by a person (1,258.00 / ¥20) → fen; None when empty."""
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).replace(",", "").replace("¥", "").replace("￥", "").strip())
    except InvalidOperation as exc:
        raise forms.ValidationError("请输入金额（元），如 20 或 12.50。") from exc
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise forms.ValidationError("金额须为非负数，最多两位小数。")
    return int(amount * 100)


class YuanField(forms.CharField):
    def clean(self, value: Any) -> int | None:
        value = super().clean(value)
        return _fen(value)


class CouponTemplateForm(forms.ModelForm):
    threshold_yuan = YuanField(label="使用门槛（元）", required=False, help_text="0 或留空：无门槛")
    amount_off_yuan = YuanField(label="减免金额（元）", required=False)
    cap_yuan = YuanField(label="最高优惠（元）", required=False, help_text="折扣券的封顶金额，留空不封顶")

    class Meta:
        model = CouponTemplate
        fields = [
            "name",
            "kind",
            "threshold_yuan",
            "amount_off_yuan",
            "percent_off",
            "cap_yuan",
            "gift_sku",
            "gift_name",
            "code_mode",
            "generic_code",
            "stock_total",
            "per_member_limit",
            "points_price",
            "validity_kind",
            "valid_from_date",
            "valid_until_date",
            "valid_days",
            "wait_days",
            "weekdays",
            "time_from",
            "time_until",
            "stores",
            "is_active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("percent_off", "wait_days"):
            if name in self.fields:
                self.fields[name].required = False
        instance = self.instance
        if instance.pk:
            for name in ("threshold", "amount_off", "cap"):
                fen = getattr(instance, f"{name}_fen")
                self.initial[f"{name}_yuan"] = "" if fen is None else f"{fen / 100:.2f}"

    def clean_percent_off(self) -> int:
        return self.cleaned_data.get("percent_off") or 0

    def clean_wait_days(self) -> int:
        return self.cleaned_data.get("wait_days") or 0


@admin.register(CouponTemplate, site=brand_admin)
class CouponTemplateAdmin(ModelAdmin):
    form = CouponTemplateForm
    list_display = ["name", "kind", "benefit_shown", "validity_shown", "stock_shown", "is_active", "issue_link"]
    list_filter = ["kind", "is_active", "code_mode"]
    search_fields = ["name"]
    filter_horizontal = ["stores"]
    actions = ["deactivate"]

    @admin.display(description="优惠")
    def benefit_shown(self, obj: CouponTemplate) -> str:
        return rules.benefit_words(obj)

    @admin.display(description="有效期")
    def validity_shown(self, obj: CouponTemplate) -> str:
        return rules.validity_words(obj)

    @admin.display(description="库存（剩余 / 总数）")
    def stock_shown(self, obj: CouponTemplate) -> str:
        return "不限" if obj.stock_total is None else f"{obj.stock_left:,} / {obj.stock_total:,}"

    @admin.display(description="发放")
    def issue_link(self, obj: CouponTemplate) -> str:
        url = reverse("admin:coupons_coupontemplate_issue", args=[obj.pk])
        return format_html('<a href="{}">发放给会员</a>', url)

    def save_model(self, request: HttpRequest, obj: CouponTemplate, form: Any, change: bool) -> None:
        # The services own the rules (immutability once issued, pools); the form's fields in yuan
        # become fen here.
        data = form.cleaned_data
        obj.threshold_fen = data.get("threshold_yuan") or 0
        obj.amount_off_fen = data.get("amount_off_yuan") or 0
        obj.cap_fen = data.get("cap_yuan")
        self._saved_stores = [s.pk for s in data.get("stores") or []]
        if not change:
            services.coupon_template_create(template=obj, store_ids=self._saved_stores)
            return
        fields = [
            f.name
            for f in CouponTemplate._meta.concrete_fields
            if f.name not in ("id", "created_at", "updated_at", "stock_left", "issued_once")
        ]
        changes = {name: getattr(obj, name) for name in fields}
        services.coupon_template_update(template_id=obj.pk, changes=changes, store_ids=self._saved_stores)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the stores were saved by the service

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except AppError as exc:
            self.message_user(request, exc.message + _fields_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.path)

    @admin.action(description="停止发放所选优惠券")
    def deactivate(self, request: HttpRequest, queryset: Any) -> None:
        for template in queryset:
            services.coupon_template_update(template_id=template.pk, changes={"is_active": False})
        self.message_user(request, f"已停止发放 {queryset.count()} 种优惠券。")

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:template_id>/issue/",
                self.admin_site.admin_view(self.issue_view),
                name="coupons_coupontemplate_issue",
            ),
            path("report/", self.admin_site.admin_view(self.report_view), name="coupons_coupontemplate_report"),
            *super().get_urls(),
        ]

    def issue_view(self, request: HttpRequest, template_id: int) -> HttpResponse:
        """发放给会员: one member number per line (a set: one statement whatever its size)."""
        if not request.user.has_perm("coupons.add_coupon"):
            return HttpResponse(status=403)
        template = get_object_or_404(CouponTemplate, pk=template_id)
        form = IssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            numbers = form.cleaned_data["member_numbers"]
            ids = list(Member.objects.filter(member_no__in=numbers).values_list("pk", flat=True))
            unknown = len(numbers) - len(ids)
            try:
                result = services.coupons_issue_bulk(
                    template_id=template.pk,
                    members=("SELECT unnest(%s::bigint[])", [ids]),
                    source=Coupon.Source.ADMIN,
                    source_key=f"admin:{form.cleaned_data['batch']}",
                    actor=request.user.get_username(),
                    staff_id=form.cleaned_data["staff"].pk if form.cleaned_data["staff"] else None,
                )
            except AppError as exc:
                self.message_user(request, exc.message + _fields_text(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"已发放 {result.issued_now} 张；此前已发 {result.already} 张；"
                    f"超出每人限领 {result.over_limit} 人；"
                    f"库存不足未发 {result.out_of_stock} 人；会员号不存在 {unknown} 个；"
                    f"冻结/合并/删除的会员 {len(ids) - result.eligible} 人。",
                    messages.SUCCESS if result.issued_now else messages.WARNING,
                )
                return HttpResponseRedirect(reverse("admin:coupons_coupontemplate_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"发放优惠券：{template.name}",
            "template_obj": template,
            "benefit": rules.benefit_words(template),
            "validity": rules.validity_words(template),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "coupons/admin/issue.html", context)

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """报表: issued / used / expired / returned per template, store or campaign, with the
        discount and the GMV of the orders that used them; ?format=csv|xlsx downloads it."""
        by = request.GET.get("by", "template")
        if by not in selectors.REPORT_DIMENSIONS:
            by = "template"
        rows = selectors.coupons_report(by=by)
        header = ["维度", "名称", "发放", "已使用", "已过期", "已退回", "优惠金额（元）", "使用订单 GMV（元）"]
        table = [
            [r.key, r.label, r.issued, r.used, r.expired, r.returned, rules.yuan(r.discount_fen), rules.yuan(r.gmv_fen)]
            for r in rows
        ]
        fmt = request.GET.get("format")
        if fmt in ("csv", "xlsx"):
            plain = [
                [*r[:6], Decimal(row.discount_fen) / 100, Decimal(row.gmv_fen) / 100]
                for r, row in zip(table, rows, strict=True)
            ]
            if fmt == "csv":
                body, kind = csv_bytes([header, *plain]), "text/csv; charset=utf-8"
            else:
                body = xlsx_bytes(title="优惠券报表", rows=[header, *plain])
                kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            response = HttpResponse(body, content_type=kind)
            response["Content-Disposition"] = f'attachment; filename="coupons-{by}.{fmt}"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": "优惠券报表",
            "by": by,
            "dimensions": [("template", "按券"), ("store", "按门店"), ("campaign", "按活动")],
            "header": header,
            "table": table,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "coupons/admin/report.html", context)


class IssueForm(forms.Form):
    member_numbers = forms.CharField(
        label="会员号", widget=forms.Textarea(attrs={"rows": 8}), help_text="每行一个会员号，最多 100,000 个"
    )
    batch = forms.SlugField(
        label="发放批次号", max_length=60, help_text="同一批次重复提交不会重复发放（如 2027-618-vip）"
    )
    staff = forms.ModelChoiceField(
        label="发券导购",
        queryset=Staff.objects.filter(status=Staff.Status.ACTIVE),
        required=False,
        empty_label="（品牌发放，无导购）",
        help_text="导购为自己的客户发券时选择：计为该导购对会员的触达（导购业绩）",
    )

    def clean_member_numbers(self) -> list[str]:
        numbers = sorted(
            {line.strip().upper() for line in self.cleaned_data["member_numbers"].splitlines() if line.strip()}
        )
        if not numbers:
            raise forms.ValidationError("请至少填写一个会员号。")
        if len(numbers) > 100_000:
            raise forms.ValidationError("一次最多 100,000 个会员号。")
        return numbers


def _fields_text(exc: AppError) -> str:
    return "".join(f" {' '.join(messages_)}" for messages_ in exc.fields.values())


@admin.register(Coupon, site=brand_admin)
class CouponAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_member_path = "member"
    list_display = ["id", "template", "member", "state", "code", "source", "valid_until_shown"]
    list_filter = ["state", "source", "template"]
    search_fields = ["member__member_no", "code"]
    list_select_related = ["template", "member"]
    readonly_fields = [f.name for f in Coupon._meta.concrete_fields]
    raw_id_fields = ["member"]

    @admin.display(description="失效时间")
    def valid_until_shown(self, obj: Coupon) -> str:
        return brand_time_shown(obj.valid_until)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # coupons are issued from a template (发放给会员), never typed in

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CouponRedemption, site=brand_admin)
class CouponRedemptionAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_member_path = "coupon__member"
    scope_store_path = "store"
    list_display = [
        "request_no",
        "template_name",
        "store",
        "order_shown",
        "payable_shown",
        "discount_shown",
        "status",
        "redeemed_shown",
    ]
    list_filter = ["status", "store"]
    search_fields = ["request_no", "order_no", "coupon__member__member_no"]
    list_select_related = ["coupon__template", "store"]
    readonly_fields = [f.name for f in CouponRedemption._meta.concrete_fields]
    actions = ["rollback"]

    @admin.display(description="优惠券")
    def template_name(self, obj: CouponRedemption) -> str:
        return obj.coupon.template.name

    @admin.display(description="订单")
    def order_shown(self, obj: CouponRedemption) -> str:
        return f"{obj.channel} / {obj.order_no}"

    @admin.display(description="订单应付")
    def payable_shown(self, obj: CouponRedemption) -> str:
        return rules.yuan(obj.order_amount_fen)

    @admin.display(description="优惠金额")
    def discount_shown(self, obj: CouponRedemption) -> str:
        refunded = f"（已退 {rules.yuan(obj.discount_refunded_fen)}）" if obj.discount_refunded_fen else ""
        return rules.yuan(obj.discount_fen) + refunded

    @admin.display(description="核销时间")
    def redeemed_shown(self, obj: CouponRedemption) -> str:
        return brand_time_shown(obj.redeemed_at)

    @admin.action(description="撤销所选核销（券退回会员）")
    def rollback(self, request: HttpRequest, queryset: Any) -> None:
        done, refused = 0, []
        for redemption in queryset:
            try:
                services.coupon_redemption_rollback(redemption_id=redemption.pk, actor=request.user.get_username())
                done += 1
            except AppError as exc:
                refused.append(f"{redemption.request_no}：{exc.message}")
        if done:
            self.message_user(request, f"已撤销 {done} 笔核销。")
        for text in refused:
            self.message_user(request, text, messages.ERROR)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
