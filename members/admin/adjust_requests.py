"""积分调整审批: the queue of manual adjustments held past a daily cap
(members/services/points_adjustments.py), for brand admins to approve or reject.

The list shows what waits by default, oldest first, with the member's name masked (lists never
show full personal information), the requester, the reason and the time in brand time. Holders of
`members.approve_pointsadjustrequest` (brand admins) get a 审批 page per request and a bulk
approve action; both call the services, which apply an approval exactly once and record who
decided, when and why. Store roles see their own store's requests (store-scoped), read-only.
"""

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Value
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_forms import DecideForm
from crm.admin_forms import QueueStatusFilter as QueueStatusFilterBase
from crm.admin_sites import brand_admin
from crm.errors import AppError
from crm.tenancy.zones import brand_time_shown

from ..masking import name_mask
from ..models import PointsAdjustRequest
from ..scoping import StoreScopedAdminMixin
from ..services.points_adjustments import (
    APPROVE_PERMISSION,
    points_adjust_request_approve,
    points_adjust_request_reject,
)


class QueueStatusFilter(QueueStatusFilterBase):
    statuses = PointsAdjustRequest.Status


def _staff_user(request: HttpRequest) -> User:
    """The user of an admin page: admin_view lets only logged-in staff in, never AnonymousUser."""
    return cast(User, request.user)


@admin.register(PointsAdjustRequest, site=brand_admin)
class PointsAdjustRequestAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_member_path = "member"
    list_display = (
        "id",
        "member_shown",
        "points_shown",
        "reason",
        "requested_shown",
        "exceeded",
        "status_shown",
        "decide_link",
    )
    list_display_links = None
    list_filter = (QueueStatusFilter, "exceeded")
    list_select_related = ("member", "requested_by", "decided_by")
    search_fields = ("=member__member_no", "=requested_by__username")
    search_help_text = _("会员号或申请人登录名")
    ordering = ("requested_at",)  # the queue: oldest first (the admin breaks ties by id)
    actions = ["approve_selected"]
    show_full_result_count = False

    # --- read-only rows: requests are written and decided only by the services ---

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _can_decide(self, request: HttpRequest) -> bool:
        return request.user.has_perm(APPROVE_PERMISSION)

    def get_list_display(self, request: HttpRequest) -> Any:
        display = super().get_list_display(request)
        return display if self._can_decide(request) else [name for name in display if name != "decide_link"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not self._can_decide(request):
            actions.pop("approve_selected", None)
        return actions

    # --- columns ---

    @admin.display(description=_("会员"), ordering="member__member_no")
    def member_shown(self, obj: PointsAdjustRequest) -> str:
        return f"{obj.member.member_no} {name_mask(obj.member.name)}".strip()

    @admin.display(description=_("调整积分"), ordering="points")
    def points_shown(self, obj: PointsAdjustRequest) -> str:
        return f"{obj.points:+,d}"

    @admin.display(description=_("申请人 / 申请时间"), ordering="requested_at")
    def requested_shown(self, obj: PointsAdjustRequest) -> str:
        return format_html("{}<br>{}", obj.requested_by.get_username(), brand_time_shown(obj.requested_at))

    @admin.display(description=_("状态"), ordering="status")
    def status_shown(self, obj: PointsAdjustRequest) -> str:
        if obj.status == PointsAdjustRequest.Status.PENDING:
            return obj.get_status_display()
        decider = obj.decided_by.get_username() if obj.decided_by else ""
        return format_html(
            "{}<br>{} {}<br>{}",
            obj.get_status_display(),
            decider,
            brand_time_shown(obj.decided_at),
            obj.decision_reason,
        )

    def decision_shown(self, obj: PointsAdjustRequest) -> str:
        """Who decided, when (brand time) and why, on one line (the decide page)."""
        decider = obj.decided_by.get_username() if obj.decided_by else ""
        note = f"：{obj.decision_reason}" if obj.decision_reason else ""
        return f"{decider} {brand_time_shown(obj.decided_at)}{note}"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Each row carries whether the viewer may decide (one permission check per page, not per
        # row, and no per-request state on this shared ModelAdmin).
        return super().get_queryset(request).annotate(can_decide=Value(self._can_decide(request)))

    @admin.display(description=_("操作"))
    def decide_link(self, obj: PointsAdjustRequest) -> str:
        if not getattr(obj, "can_decide", False):
            return ""
        url = reverse("admin:members_pointsadjustrequest_decide", args=[obj.pk])
        pending = obj.status == PointsAdjustRequest.Status.PENDING
        return format_html('<a href="{}">{}</a>', url, _("审批") if pending else _("查看"))

    # --- deciding ---

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/decide/", wrap(self.decide_view), name="members_pointsadjustrequest_decide"),
            *super().get_urls(),
        ]

    def _changelist(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:members_pointsadjustrequest_changelist"))

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self._can_decide(request):
            raise PermissionDenied
        adjust_request = self.get_object(request, unquote(object_id))  # store-scoped queryset
        if adjust_request is None:
            raise Http404
        form = DecideForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            note = form.cleaned_data["note"]
            try:
                if "_reject" in request.POST:
                    points_adjust_request_reject(adjust_request=adjust_request, actor=_staff_user(request), reason=note)
                    done = f"已驳回申请 #{adjust_request.pk}，积分未变动。"
                else:
                    entry = points_adjust_request_approve(
                        adjust_request=adjust_request, actor=_staff_user(request), note=note
                    )
                    done = (
                        f"已批准申请 #{adjust_request.pk}：会员 {adjust_request.member.member_no} "
                        f"{entry.points:+d} 积分，变动后 {entry.balance_after} 积分。"
                    )
            except AppError as exc:
                form.add_error("note" if "reason" in exc.fields else None, exc.message)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return self._changelist()
        context = {
            **self.admin_site.each_context(request),
            "title": _("审批积分调整申请"),
            "opts": self.model._meta,
            "adjust_request": adjust_request,
            "member_shown": self.member_shown(adjust_request),
            "requested_at": brand_time_shown(adjust_request.requested_at),
            "decided": self.decision_shown(adjust_request),
            "form": form,
        }
        return TemplateResponse(request, "admin/members/pointsadjustrequest/decide.html", context)

    @admin.action(description=_("批准所选申请"))
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        if not self._can_decide(request):
            raise PermissionDenied
        approved, refused = 0, []
        for adjust_request in queryset.filter(status=PointsAdjustRequest.Status.PENDING).select_related("member"):
            try:
                points_adjust_request_approve(adjust_request=adjust_request, actor=_staff_user(request))
            except AppError as exc:
                refused.append(f"#{adjust_request.pk}：{exc.message}")
            else:
                approved += 1
        if approved:
            self.message_user(request, f"已批准 {approved} 个申请，积分已调整。", messages.SUCCESS)
        if refused:
            self.message_user(request, "未批准：" + "；".join(refused), messages.ERROR)
