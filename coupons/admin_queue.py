"""发券审批, 优惠券设置 and 到期提醒 in the brand admin (imported by coupons/admin.py).

- 发券审批: the queue of manual issues held past a daily cap (coupons/manual_issue.py), pending
  first, oldest first. Brand admins get a 审批 page per request (approve / reject with a reason;
  the services issue exactly once, whoever clicks how often) and a bulk approve action. Others
  who may see the queue see all requests if they see all stores, else only their own, read-only.
- 优惠券设置: the brand's caps per role and the reminder's days and hour; the caps are set only by
  those who decide the held issues (brand admins).
- 到期提醒: the reminders written and what became of each, read-only, the member masked.
"""

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from crm.admin_forms import DecideForm
from crm.admin_forms import QueueStatusFilter as QueueStatusFilterBase
from crm.admin_sites import brand_admin
from crm.errors import AppError
from crm.tenancy.zones import brand_time_shown
from members.masking import name_mask
from members.models import Member
from members.scoping import StoreScopedAdminMixin, user_scope

from .manual_issue import (
    APPROVE_PERMISSION,
    coupon_issue_request_approve,
    coupon_issue_request_reject,
    coupon_settings_get,
)
from .models import CouponIssueRequest, CouponReminder, CouponSettings

MEMBERS_SHOWN = 5


class QueueStatusFilter(QueueStatusFilterBase):
    statuses = CouponIssueRequest.Status


def _can_decide(request: HttpRequest) -> bool:
    return request.user.has_perm(APPROVE_PERMISSION)


def _members_shown(ids: list[int]) -> str:
    """The first member numbers (numbers, not names: a list never shows personal information)."""
    numbers = list(Member.objects.filter(pk__in=ids[:MEMBERS_SHOWN]).order_by("pk").values_list("member_no", flat=True))
    more = f" 等 {len(ids)} 人" if len(ids) > MEMBERS_SHOWN else f"（{len(ids)} 人）"
    return "、".join(numbers) + more


@admin.register(CouponIssueRequest, site=brand_admin)
class CouponIssueRequestAdmin(ModelAdmin):
    list_display = ("id", "template", "members_shown", "requested_shown", "exceeded", "status_shown", "decide_link")
    list_display_links = None
    list_filter = (QueueStatusFilter, "exceeded")
    list_select_related = ("template", "requested_by", "decided_by")
    search_fields = ("=requested_by__username", "template__name")
    search_help_text = "申请人登录名或券名称"
    ordering = ("requested_at",)
    actions = ["approve_selected"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        # A store user sees their own requests; HQ and brand admins see every store's.
        return queryset if user_scope(request.user).all_stores else queryset.filter(requested_by=request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_list_display(self, request: HttpRequest) -> Any:
        display = super().get_list_display(request)
        return display if _can_decide(request) else [name for name in display if name != "decide_link"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not _can_decide(request):
            actions.pop("approve_selected", None)
        return actions

    @admin.display(description="会员")
    def members_shown(self, obj: CouponIssueRequest) -> str:
        return _members_shown(list(obj.member_ids))

    @admin.display(description="申请人 / 申请时间", ordering="requested_at")
    def requested_shown(self, obj: CouponIssueRequest) -> str:
        return format_html("{}<br>{}", obj.requested_by.get_username(), brand_time_shown(obj.requested_at))

    @admin.display(description="状态", ordering="status")
    def status_shown(self, obj: CouponIssueRequest) -> str:
        if obj.status == CouponIssueRequest.Status.PENDING:
            return obj.get_status_display()
        decider = obj.decided_by.get_username() if obj.decided_by else ""
        return format_html(
            "{}<br>{} {}<br>{}",
            obj.get_status_display(),
            decider,
            brand_time_shown(obj.decided_at),
            obj.result or obj.decision_reason,
        )

    @admin.display(description="操作")
    def decide_link(self, obj: CouponIssueRequest) -> str:
        url = reverse("admin:coupons_couponissuerequest_decide", args=[obj.pk])
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>', url, "审批" if obj.status == "pending" else "查看"
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="coupons_couponissuerequest_decide",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        issue_request = self.get_object(request, unquote(object_id))
        if issue_request is None:
            raise Http404
        can_decide = _can_decide(request)
        form = DecideForm(request.POST or None)
        if request.method == "POST":
            if not can_decide:
                raise PermissionDenied
            if form.is_valid():
                actor = cast(User, request.user)
                note = form.cleaned_data["note"]
                try:
                    if "_reject" in request.POST:
                        coupon_issue_request_reject(issue_request=issue_request, actor=actor, reason=note)
                        done = f"已驳回申请 #{issue_request.pk}，未发放优惠券。"
                    else:
                        decided = coupon_issue_request_approve(issue_request=issue_request, actor=actor, note=note)
                        done = f"已批准申请 #{issue_request.pk}：{decided.result}"
                except AppError as exc:
                    form.add_error("note" if "reason" in (exc.fields or {}) else None, exc.message)
                else:
                    self.message_user(request, done, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:coupons_couponissuerequest_changelist"))
        decided_text = ""
        if issue_request.status != CouponIssueRequest.Status.PENDING:
            decider = issue_request.decided_by.get_username() if issue_request.decided_by else ""
            decided_text = (
                f"{issue_request.get_status_display()}：{decider} {brand_time_shown(issue_request.decided_at)}"
            )
            if issue_request.decision_reason:
                decided_text += f"，意见：{issue_request.decision_reason}"
        rows = [
            ("优惠券", issue_request.template.name),
            ("会员", _members_shown(list(issue_request.member_ids))),
            ("发放批次", issue_request.source_key.removeprefix("admin:")),
            ("申请人", issue_request.requested_by.get_username()),
            (
                "申请时间",
                f"{brand_time_shown(issue_request.requested_at)}（营业日 {issue_request.biz_date:%Y-%m-%d}）",
            ),
            ("超出额度", issue_request.get_exceeded_display()),
            (
                "预留库存",
                "券不限库存，无需预留"
                if issue_request.template.stock_total is None and not issue_request.reserved
                else f"{issue_request.reserved:,} 张"
                + (
                    "（审批期间为本申请保留）"
                    if issue_request.status == CouponIssueRequest.Status.PENDING
                    else "（已退回）"
                ),
            ),
            ("状态", decided_text or issue_request.get_status_display()),
        ]
        if issue_request.result:
            rows.append(("发放结果", issue_request.result))
        context = {
            **self.admin_site.each_context(request),
            "title": f"发券申请 #{issue_request.pk}",
            "opts": self.model._meta,
            "issue_request": issue_request,
            "can_decide": can_decide,
            "rows": rows,
            "form": form,
        }
        return TemplateResponse(request, "coupons/admin/decide.html", context)

    @admin.action(description="批准所选申请并发放")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        if not _can_decide(request):
            raise PermissionDenied
        approved, refused = 0, []
        for issue_request in queryset.filter(status=CouponIssueRequest.Status.PENDING).select_related("requested_by"):
            try:
                coupon_issue_request_approve(issue_request=issue_request, actor=cast(User, request.user))
            except AppError as exc:
                refused.append(f"#{issue_request.pk}：{exc.message}")
            else:
                approved += 1
        if approved:
            self.message_user(request, f"已批准 {approved} 个申请，优惠券已发放。", messages.SUCCESS)
        if refused:
            self.message_user(request, "未批准：" + "；".join(refused), messages.ERROR)


CAP_FIELDS = (
    "issue_staff_per_member_day",
    "issue_staff_per_user_day",
    "issue_manager_per_member_day",
    "issue_manager_per_user_day",
    "issue_hq_per_member_day",
    "issue_hq_per_user_day",
    "issue_request_days",
)


@admin.register(CouponSettings, site=brand_admin)
class CouponSettingsAdmin(ModelAdmin):
    fieldsets = (
        (
            "手工发券额度",
            {
                "fields": (
                    ("issue_staff_per_member_day", "issue_staff_per_user_day"),
                    ("issue_manager_per_member_day", "issue_manager_per_user_day"),
                    ("issue_hq_per_member_day", "issue_hq_per_user_day"),
                ),
                "description": (
                    "按角色限制员工在“发放给会员”中手工发券的张数（营业日内累计，按品牌时区）。"
                    "每位会员每日累计：同一会员在一个营业日内被员工手工发放的合计；本人每日累计：同一员工在一个营业日内发放的合计。"
                    "超过任一额度的发放不会发出，而是整批提交品牌管理员在“发券审批”中批准或驳回。"
                    "留空表示不限；本人每日累计为 0 表示该角色不能手工发券。"
                    "品牌管理员不受限制；开放接口（需 coupons:write 权限）不受每日累计限制。"
                    "提交审批时即为申请预留库存（库存不足则不能提交）；批准时发放，驳回或过期时退回。"
                ),
            },
        ),
        ("发券审批", {"fields": ("issue_request_days",)}),
        (
            "到期提醒",
            {
                "fields": ("reminder_days", "reminder_hour"),
                "description": (
                    "券到期前几天，通过短信提醒尚未使用的会员：同一会员、同一张券、同一到期日只提醒一次。"
                    "只发给已授权短信营销且有手机号的会员，发送前再次核对授权。"
                ),
            },
        ),
    )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # One row per brand: the list is its page.
        settings = coupon_settings_get()
        return HttpResponseRedirect(reverse("admin:coupons_couponsettings_change", args=[settings.pk]))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The caps are the brand admins' control over everyone else's issuing.
        return () if _can_decide(request) else CAP_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CouponReminder, site=brand_admin)
class CouponReminderAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_member_path = "member"
    list_display = ("member_shown", "template", "expires_on", "coupons", "status", "sent_shown", "error")
    list_filter = ("status", "expires_on")
    list_select_related = ("template", "member")
    search_fields = ("=member__member_no",)
    search_help_text = "会员号"
    show_full_result_count = False

    @admin.display(description="会员", ordering="member__member_no")
    def member_shown(self, obj: CouponReminder) -> str:
        return f"{obj.member.member_no} {name_mask(obj.member.name)}".strip()

    @admin.display(description="发送时间", ordering="sent_at")
    def sent_shown(self, obj: CouponReminder) -> str:
        return brand_time_shown(obj.sent_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
