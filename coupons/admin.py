"""Coupons in the brand admin (优惠券): templates with stock and validity in words and yuan, issue
to members, the coupons, the write-offs (核销记录) and the report (CSV/XLSX). Every write goes
through coupons.services; refusals are shown as the service's Chinese message."""

import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Value
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminTextInputWidget

from crm.admin_forms import ThemedForm, themed_widget
from crm.admin_nav import sidebar_entry_mark
from crm.admin_sites import brand_admin
from crm.errors import AppError
from crm.spreadsheets.reading import MB
from crm.spreadsheets.writing import csv_bytes, xlsx_bytes
from crm.tenancy.zones import brand_time_shown
from members.admin.store_picker import StorePicker
from members.masking import name_mask
from members.models import Member, SalesChannel, Staff, Tag
from members.scoping import StoreScopedAdminMixin, scope_members

from . import manual_issue, pool_jobs, rules, selectors, services
from .manual_issue import HELD_MESSAGE, coupon_issue_limits, coupons_issue_manual
from .models import Coupon, CouponCode, CouponPoolJob, CouponRedemption, CouponTemplate

POOL_PERMISSION = "coupons.add_couponpooljob"


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
    widget = UnfoldAdminTextInputWidget  # a ModelForm's extra field gets no theme widget by itself

    def clean(self, value: Any) -> int | None:
        value = super().clean(value)
        return _fen(value)


class CouponTemplateForm(forms.ModelForm):
    threshold_yuan = YuanField(label="使用门槛（元）", required=False, help_text="0 或留空：无门槛")
    amount_off_yuan = YuanField(label="减免金额（元）", required=False)
    cap_yuan = YuanField(label="最高优惠（元）", required=False, help_text="折扣券的封顶金额，留空不封顶")
    weekdays = forms.TypedMultipleChoiceField(
        label="可用星期",
        choices=[(1, "周一"), (2, "周二"), (3, "周三"), (4, "周四"), (5, "周五"), (6, "周六"), (7, "周日")],
        coerce=int,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        required=False,
        help_text="不选表示每天可用",
    )

    class Meta:
        model = CouponTemplate
        widgets = {"stores": StorePicker}
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
        helps = {
            "percent_off": "减免的百分比：12 表示减 12%（即 8.8 折）",
            "stock_total": "留空表示不限；券码池方式的库存随券码增加",
            "per_member_limit": "留空表示不限",
            "points_price": "留空表示不能用积分兑换",
            "generic_code": "通用码方式必填，如 SUMMER20",
        }
        for name, text in helps.items():
            if name in self.fields:
                self.fields[name].help_text = text
        if "stores" in self.fields:  # not the admin's "hold down Control" line: the picker is select2
            self.fields["stores"].help_text = ""
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
    fieldsets = [
        ("基本信息", {"fields": ["name", "kind", "is_active"]}),
        (
            "优惠",
            {
                "fields": [
                    ("threshold_yuan", "amount_off_yuan"),
                    ("percent_off", "cap_yuan"),
                    ("gift_sku", "gift_name"),
                ],
                "description": "满减券填写减免金额；折扣券填写折扣比例和最高优惠；"
                "赠品券填写赠品编码和名称。金额单位为元。",
            },
        ),
        (
            "券码与库存",
            {
                "fields": ["code_mode", "generic_code", "stock_total", "per_member_limit", "points_price"],
                "description": "通用码：所有会员同一个券码，核销时需同时出示会员码。系统生成/导入券码：每张券一个券码，"
                "库存就是券码池的数量，保存后在列表中点“生成券码”或“导入券码”。",
            },
        ),
        (
            "有效期",
            {
                "fields": [
                    "validity_kind",
                    ("valid_from_date", "valid_until_date"),
                    ("valid_days", "wait_days"),
                    "weekdays",
                    ("time_from", "time_until"),
                ],
                "description": "结束日期当天 23:59:59（品牌时区）前有效；领取后 N 天的券与模板日期取交集。",
            },
        ),
        ("适用门店", {"fields": ["stores"], "description": "不选表示所有门店可用。"}),
    ]
    list_display = ["name", "kind", "benefit_shown", "validity_shown", "stock_shown", "is_active", "tools"]
    list_filter = ["kind", "is_active", "code_mode"]
    search_fields = ["name"]
    actions = ["deactivate"]

    @admin.display(description="优惠")
    def benefit_shown(self, obj: CouponTemplate) -> str:
        return rules.benefit_words(obj)

    @admin.display(description="有效期")
    def validity_shown(self, obj: CouponTemplate) -> str:
        return rules.validity_words(obj)

    @admin.display(description="库存（剩余 / 总数）")
    def stock_shown(self, obj: CouponTemplate) -> str:
        if obj.stock_total is None:
            return "不限"
        shown = f"{obj.stock_left:,} / {obj.stock_total:,}"
        return shown + (f"（审批中预留 {obj.stock_reserved:,}）" if obj.stock_reserved else "")

    @admin.display(description="操作")
    def tools(self, obj: CouponTemplate) -> str:
        issue = reverse("admin:coupons_coupontemplate_issue", args=[obj.pk])
        links = format_html('<a class="text-primary-600 whitespace-nowrap" href="{}">发放给会员</a>', issue)
        if obj.code_mode != CouponTemplate.CodeMode.GENERIC and getattr(obj, "can_fill_pool", False):
            pool = reverse("admin:coupons_coupontemplate_pool", args=[obj.pk])
            words = "生成券码" if obj.code_mode == CouponTemplate.CodeMode.GENERATED else "导入券码"
            links = format_html(
                '{} · <a class="text-primary-600 whitespace-nowrap" href="{}">{}</a>', links, pool, words
            )
        return links

    def get_queryset(self, request: HttpRequest) -> Any:
        # Whether the viewer may fill pools, on each row (one permission check per page).
        return super().get_queryset(request).annotate(can_fill_pool=Value(request.user.has_perm(POOL_PERMISSION)))

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
            path(
                "member/<int:member_id>/issue/",
                self.admin_site.admin_view(self.member_issue_view),
                name="coupons_coupontemplate_issue_member",
            ),
            path(
                "<int:template_id>/pool/",
                self.admin_site.admin_view(self.pool_view),
                name="coupons_coupontemplate_pool",
            ),
            path(
                "<int:template_id>/pool/<int:job_id>/",
                self.admin_site.admin_view(self.pool_job_view),
                name="coupons_coupontemplate_pool_job",
            ),
            *super().get_urls(),
        ]

    def issue_view(self, request: HttpRequest, template_id: int) -> HttpResponse:
        """发放给会员: one member number per line (a set: one statement whatever its size), to
        members in the user's store scope, within the user's daily caps (coupons/manual_issue.py):
        past them the whole issue waits for a brand admin's approval."""
        if not request.user.has_perm("coupons.add_coupon"):
            return HttpResponse(status=403)
        template = get_object_or_404(CouponTemplate, pk=template_id)
        limits = coupon_issue_limits(user=request.user)
        form = IssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            numbers, tag = form.cleaned_data["member_numbers"], form.cleaned_data["tag"]
            if tag is not None:  # a segment: every member with the tag, in the user's scope
                known = Member.objects.filter(member_tags__tag=tag)
                asked = known.count()
            else:
                known = Member.objects.filter(member_no__in=numbers)
                asked = len(numbers)
            ids = list(scope_members(known, request.user).order_by("pk").values_list("pk", flat=True)[: MAX_ISSUE + 1])
            unknown = asked - known.count()
            outside = asked - unknown - len(ids)
            if len(ids) > MAX_ISSUE:
                form.add_error("tag", f"该标签的会员超过单次 {MAX_ISSUE:,} 人上限，请通过会员日活动发券。")
        if request.method == "POST" and form.is_valid():
            try:
                outcome = coupons_issue_manual(
                    template_id=template.pk,
                    member_ids=ids,
                    batch=form.cleaned_data["batch"],
                    user=request.user,  # type: ignore[arg-type]  # admin_view: a logged-in user
                    staff_id=form.cleaned_data["staff"].pk if form.cleaned_data["staff"] else None,
                )
            except AppError as exc:
                self.message_user(request, exc.message + _fields_text(exc), messages.ERROR)
            else:
                notes = (f"会员号不存在 {unknown} 个" if tag is None else f"标签“{tag.name}”共 {asked} 人") + (
                    f"；不在您的门店范围内 {outside} 个" if outside else ""
                )
                if outcome.request is not None and outcome.result is None:
                    url = reverse("admin:coupons_couponissuerequest_decide", args=[outcome.request.pk])
                    self.message_user(
                        request,
                        format_html(
                            '{} 申请 <a href="{}">#{}</a>：{} 位会员，{}。',
                            HELD_MESSAGE,
                            url,
                            outcome.request.pk,
                            outcome.request.members_count,
                            notes,
                        ),
                        messages.WARNING,
                    )
                    return HttpResponseRedirect(reverse("admin:coupons_coupontemplate_changelist"))
                result = outcome.result
                assert result is not None
                self.message_user(
                    request,
                    f"已发放 {result.issued_now} 张；此前已发 {result.already} 张；"
                    f"超出每人限领 {result.over_limit} 人；"
                    f"库存不足未发 {result.out_of_stock} 人；{notes}；"
                    f"冻结/合并/删除的会员 {len(ids) - result.eligible} 人。",
                    messages.SUCCESS if result.issued_now else messages.WARNING,
                )
                return HttpResponseRedirect(reverse("admin:coupons_coupontemplate_changelist"))
        limits_text = _limits_text(limits)
        context = {
            **self.admin_site.each_context(request),
            "title": f"发放优惠券：{template.name}",
            "template_obj": template,
            "benefit": rules.benefit_words(template),
            "validity": rules.validity_words(template),
            "limits_text": limits_text,
            "form": form,
            "submit_label": "确认发放",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "coupons/admin/issue.html", context)

    def member_issue_view(self, request: HttpRequest, member_id: int) -> HttpResponse:
        """发券 from the member's page: one template, this member (in the user's store scope), one
        batch number per screen (a double submit issues once), within the user's daily caps; past
        them the issue waits in 发券审批 with its stock reserved. Back to the member with the result."""
        if not manual_issue.coupon_issue_allowed(user=request.user):
            return HttpResponse(status=403)
        member = scope_members(Member.objects.filter(pk=member_id), request.user).first()
        if member is None:
            raise Http404("会员不存在或不在您的门店范围内。")
        back = reverse("admin:members_member_change", args=[member.pk])
        sidebar_entry_mark(request, "members.member")  # opened from the member's page, it belongs there
        form = MemberIssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            template = form.cleaned_data["template"]
            try:
                outcome = manual_issue.coupons_issue_manual(
                    template_id=template.pk,
                    member_ids=[member.pk],
                    batch=form.cleaned_data["batch"],
                    user=request.user,  # type: ignore[arg-type]  # admin_view: a logged-in user
                    staff_id=form.cleaned_data["staff"].pk if form.cleaned_data["staff"] else None,
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                level, words = manual_issue.coupon_issue_outcome_words(
                    outcome, template=template, member_no=member.member_no
                )
                self.message_user(request, words, getattr(messages, level.upper()))
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": f"发券：会员 {member.member_no}",
            "member": member,
            "member_shown": f"{member.member_no} {name_mask(member.name)}".strip(),
            "limits_text": _limits_text(coupon_issue_limits(user=request.user)),
            "form": form,
            "submit_label": "确认发券",
            "cancel_url": back,
            "opts": Member._meta,
        }
        return TemplateResponse(request, "coupons/admin/member_issue.html", context)

    # --- code pools -----------------------------------------------------------------------------

    def pool_view(self, request: HttpRequest, template_id: int) -> HttpResponse:
        """券码池: generate N codes (generated pools) or upload a file of codes (imported pools);
        either is queued as a background job (coupons/pool_jobs.py) and the page goes to it."""
        if not request.user.has_perm(POOL_PERMISSION):
            return HttpResponse(status=403)
        template = get_object_or_404(CouponTemplate, pk=template_id)
        generated = template.code_mode == CouponTemplate.CodeMode.GENERATED
        if template.code_mode == CouponTemplate.CodeMode.GENERIC:
            self.message_user(request, "该券使用通用码，没有券码池。", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:coupons_coupontemplate_changelist"))
        form: forms.Form = (
            GenerateForm(request.POST or None)
            if generated
            else PoolImportForm(request.POST or None, request.FILES or None)
        )
        if request.method == "POST" and form.is_valid():
            try:
                if generated:
                    job = pool_jobs.coupon_pool_generate_start(
                        template_id=template.pk, count=form.cleaned_data["count"], user=request.user
                    )
                else:
                    upload = form.cleaned_data["file"]
                    job = pool_jobs.coupon_pool_import_start(
                        template_id=template.pk,
                        content=upload.read(pool_jobs.IMPORT_LIMITS.max_upload_bytes + 1),
                        filename=upload.name,
                        user=request.user,
                    )
            except AppError as exc:
                form.add_error(None, exc.message + _fields_text(exc))
            else:
                return HttpResponseRedirect(
                    reverse("admin:coupons_coupontemplate_pool_job", args=[template.pk, job.pk])
                )
        codes = CouponCode.objects.filter(template=template)
        total = codes.count()
        used = codes.filter(coupon__isnull=False).count()
        jobs = list(CouponPoolJob.objects.filter(template=template).order_by("-created_at")[:5])
        for job in jobs:
            job.created_shown = brand_time_shown(job.created_at)  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),
            "title": "生成券码" if generated else "导入券码",
            "template_obj": template,
            "generated": generated,
            "pool_total": f"{total:,}",
            "pool_used": f"{used:,}",
            "pool_free": f"{total - used:,}",
            "max_rows": f"{pool_jobs.IMPORT_LIMITS.max_rows:,}",
            "max_upload_mb": pool_jobs.IMPORT_LIMITS.max_upload_bytes // MB,
            "form": form,
            "submit_label": "开始生成" if generated else "上传并导入",
            "jobs": jobs,
            "job_headers": ["任务", "状态", "进度（券码）", "提交时间"],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "coupons/admin/pool.html", context)

    def pool_job_view(self, request: HttpRequest, template_id: int, job_id: int) -> HttpResponse:
        """A pool job's progress (the page refreshes itself until it ends), its row errors, and
        继续 for a job that stopped making progress."""
        if not request.user.has_perm("coupons.view_couponpooljob"):
            return HttpResponse(status=403)
        job = get_object_or_404(
            CouponPoolJob.objects.select_related("template", "user"), pk=job_id, template_id=template_id
        )
        if request.method == "POST":
            if pool_jobs.coupon_pool_job_resume(job=job):
                self.message_user(request, "已重新排队，将从中断处继续。", messages.INFO)
            return HttpResponseRedirect(request.path)
        importing = job.kind == CouponPoolJob.Kind.IMPORT
        if job.finished:
            percent = 100
        elif importing and not job.last_line:
            percent = round(50 * job.checked / job.count) if job.count else 0  # checking: the first half
        else:
            percent = min(99, round((50 if importing else 0) + (50 if importing else 100) * job.done / job.count))
        if job.status == CouponPoolJob.Status.SUCCEEDED:
            summary = f"已完成：券码池新增 {job.done:,} 个券码。"
        elif job.status == CouponPoolJob.Status.FAILED:
            summary = "未完成" + (f"（已新增 {job.done:,} 个券码）" if job.done else "，未新增券码")
        elif importing and not job.last_line:
            summary = "正在检查文件……"
        else:
            summary = "正在添加券码……" if job.status == CouponPoolJob.Status.RUNNING else "排队中……"
        progress = f"已新增 {job.done:,} / {job.count:,} 个券码"
        if importing:
            progress = f"已检查 {job.checked:,} / {job.count:,} 行；" + progress
        context = {
            **self.admin_site.each_context(request),
            "title": f"券码任务 #{job.pk}",
            "template_obj": job.template,
            "job": job,
            "created_shown": brand_time_shown(job.created_at),
            "summary": summary,
            "percent": percent,
            "progress_text": progress,
            "row_errors": job.row_errors,
            "stalled": pool_jobs.coupon_pool_job_stalled(job),
            "stalled_text": f"任务已超过 {int(pool_jobs.STALLED_AFTER.total_seconds() // 60)} 分钟没有进展"
            "（后台任务可能已中断）。可以从中断处继续，已添加的券码不会重复添加。",
            "refresh_seconds": 2,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "coupons/admin/pool_job.html", context)

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """报表: issued / used / expired / returned per template, store or campaign, with the
        discount and the GMV of the orders that used them; ?format=csv|xlsx downloads it."""
        by = request.GET.get("by", "template")
        if by not in selectors.REPORT_DIMENSIONS:
            by = "template"
        rows = selectors.coupons_report(by=by)
        key_header = {"template": "编号", "store": "门店编号", "campaign": "活动编号"}[by]
        header = [key_header, "名称", "发放", "已使用", "已过期", "已退回", "优惠金额（元）", "使用订单 GMV（元）"]
        table = [
            [r.key, r.label, r.issued, r.used, r.expired, r.returned, rules.yuan(r.discount_fen), rules.yuan(r.gmv_fen)]
            for r in rows
        ]
        fmt = request.GET.get("format")
        if fmt in ("csv", "xlsx"):
            plain = [
                [*r[:6], _yuan_number(row.discount_fen), _yuan_number(row.gmv_fen)]
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
            # On the page, a template or a campaign is its name (their ids mean nothing to people);
            # a store keeps its code. The downloads keep every column.
            "header": header if by == "store" else header[1:],
            "table": table if by == "store" else [row[1:] for row in table],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "coupons/admin/report.html", context)


def _yuan_number(fen: int) -> Decimal:
    """Fen as a yuan number for the downloads: 35.00, not 35 (a spreadsheet's money column)."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _limits_text(limits: manual_issue.IssueLimits) -> str:
    """The user's daily caps in words (nothing for the unlimited)."""
    if limits.unlimited:
        return ""
    caps = [
        f"每位会员每日 {limits.per_member_day} 张" if limits.per_member_day is not None else "",
        f"您本人每日 {limits.per_user_day} 张" if limits.per_user_day is not None else "",
    ]
    if not any(caps):
        return ""
    return (
        "手工发券额度（营业日内累计）："
        + "，".join(c for c in caps if c)
        + "；超出额度的发放需品牌管理员审批后才发出。"
    )


def _staff_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label="发券导购",
        queryset=Staff.objects.filter(status=Staff.Status.ACTIVE),
        required=False,
        empty_label="（品牌发放，无导购）",
        help_text="导购为自己的客户发券时选择：计为该导购对会员的触达（导购业绩）",
    )


class MemberIssueForm(ThemedForm):
    template = forms.ModelChoiceField(
        label="优惠券",
        queryset=CouponTemplate.objects.none(),
        empty_label="请选择要发放的优惠券",
        error_messages={
            "required": "请选择要发放的优惠券。",
            "invalid_choice": "该券已停止发放或库存不足，请重新选择。",
        },
    )
    batch = forms.CharField(widget=forms.HiddenInput, max_length=60)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["template"]
        field.queryset = CouponTemplate.objects.filter(  # type: ignore[attr-defined]
            pk__in=[t.pk for t in manual_issue.coupon_templates_issuable()]
        ).order_by("name", "id")
        field.label_from_instance = manual_issue.coupon_template_choice_words  # type: ignore[attr-defined]
        self.fields["staff"] = _staff_field()
        self.fields["staff"].widget = themed_widget(self.fields["staff"].widget)
        # One batch number per screen: a double submit is the same issue, a new screen a new one.
        self.fields["batch"].initial = f"m{secrets.token_hex(8)}"


MAX_ISSUE = 100_000  # members per manual issue (a bigger audience is a campaign's)


class IssueForm(ThemedForm):
    member_numbers = forms.CharField(
        label="会员号",
        widget=forms.Textarea(attrs={"rows": 8}),
        required=False,
        help_text="每行一个会员号，最多 100,000 个",
    )
    tag = forms.ModelChoiceField(
        label="或：按会员标签发放",
        queryset=Tag.objects.order_by("name"),
        required=False,
        empty_label="（不按标签）",
        help_text="发给带该标签的全部会员（您门店范围内的），最多 100,000 人",
    )
    batch = forms.SlugField(
        label="发放批次号",
        max_length=60,
        help_text="同一批次重复提交不会重复发放（如 2027-618-vip）；每次打开本页会给出一个新的批次号",
    )
    staff = _staff_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A new batch number per screen: a double submit is the same batch, a new issue is not.
        self.fields["batch"].initial = f"b{secrets.token_hex(4)}"

    def clean_member_numbers(self) -> list[str]:
        numbers = sorted(
            {line.strip().upper() for line in self.cleaned_data["member_numbers"].splitlines() if line.strip()}
        )
        if len(numbers) > MAX_ISSUE:
            raise forms.ValidationError("一次最多 100,000 个会员号。")
        return numbers

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "member_numbers" in data and bool(data["member_numbers"]) == bool(data.get("tag")):
            raise forms.ValidationError("请填写会员号，或选择一个会员标签（二选一）。")
        return data


class GenerateForm(ThemedForm):
    count = forms.IntegerField(
        label="生成数量",
        min_value=1,
        max_value=pool_jobs.GENERATE_MAX,
        help_text=f"1–{pool_jobs.GENERATE_MAX:,} 个；券码池的库存随之增加",
        error_messages={"min_value": "数量至少为 1。", "max_value": "一次最多生成 2,000,000 个。"},
    )


class PoolImportForm(ThemedForm):
    file = forms.FileField(label="券码文件（CSV 或 XLSX）", help_text="第一行表头写“券码”，以下每行一个券码")


def _fields_text(exc: AppError) -> str:
    return "".join(f" {' '.join(messages_)}" for messages_ in exc.fields.values())


@admin.register(Coupon, site=brand_admin)
class CouponAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_member_path = "member"
    list_display = ["id", "template", "member", "state", "code_shown", "source", "valid_until_shown"]
    list_filter = ["state", "source", "template"]
    search_fields = ["member__member_no"]
    search_help_text = "会员号"
    list_select_related = ["template", "member"]
    # In words and brand time: not the code's hash, not UTC instants, not the batch key's codes.
    fields = [
        "template",
        "member",
        "state",
        "code_shown",
        "source",
        "source_key",
        "issued_shown",
        "valid_from_shown",
        "valid_until_shown",
        "used_shown",
        "void_reason",
        "locked_order",
    ]
    readonly_fields = fields
    raw_id_fields = ["member"]

    @admin.display(description="券码")
    def code_shown(self, obj: Coupon) -> str:
        # A code is what the member shows at the counter: lists show its last 4 only.
        return f"…{obj.code[-4:]}" if obj.code else "通用码"

    @admin.display(description="领取时间", ordering="issued_at")
    def issued_shown(self, obj: Coupon) -> str:
        return brand_time_shown(obj.issued_at)

    @admin.display(description="生效时间")
    def valid_from_shown(self, obj: Coupon) -> str:
        return brand_time_shown(obj.valid_from)

    @admin.display(description="失效时间", ordering="valid_until")
    def valid_until_shown(self, obj: Coupon) -> str:
        return brand_time_shown(obj.valid_until)

    @admin.display(description="使用时间")
    def used_shown(self, obj: Coupon) -> str:
        return brand_time_shown(obj.used_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # coupons are issued from a template (发放给会员), never typed in

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # every change is a service (write-off, void, refund)

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
        channel = SalesChannel(obj.channel).label if obj.channel in SalesChannel.values else obj.channel
        return f"{channel} / {obj.order_no}"

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


from . import admin_queue  # noqa: E402, F401  (发券审批, 优惠券设置, 到期提醒: registered there)
