from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_forms import ThemedForm
from crm.admin_readonly import ReadOnlyAdminMixin
from crm.admin_sites import brand_admin
from crm.errors import AppError
from members.masking import name_shown
from members.models import Member, Staff
from members.phones import mobile_mask
from members.scoping import StoreScopedAdminMixin, scope_stores, user_scope

from . import assignment, channels, services
from .errors import WecomError
from .models import (
    AssignmentSettings,
    CallbackEvent,
    ContactWay,
    CustomerTransfer,
    FollowRelation,
    MyMember,
    OwnershipReview,
    StaffHandover,
    WecomConfig,
    WecomProspect,
)
from .selectors import Issue, WecomStatus, members_needing_attention, members_with_wecom_status, ownership_issue_q
from .transfers import members_reassign, staff_resign


class WecomConfigForm(forms.ModelForm):
    # Write-only: the stored secret is never rendered back, not even masked, so a screenshot or a
    # shared screen cannot leak it. Empty on edit means "keep the current secret".
    secret = forms.CharField(
        label=_("应用 Secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("保存后不再显示；留空表示不修改。"),
    )

    api_base_url = forms.URLField(label=_("API 地址"), assume_scheme="https", help_text=_("测试和演示时指向模拟服务器"))

    class Meta:
        model = WecomConfig
        fields = ["corp_id", "secret", "token", "encoding_aes_key", "api_base_url", "welcome_text"]

    def clean_api_base_url(self) -> str:
        url = str(self.cleaned_data["api_base_url"])
        error = services.wecom_api_base_url_error(url)
        if error:
            raise forms.ValidationError(error)
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("secret") and not (self.instance and self.instance.has_secret):
            self.add_error("secret", _("请填写应用 Secret。"))
        token = cleaned.get("token") or ""
        if token and not (token.isascii() and token.isalnum() and len(token) <= 32):
            self.add_error("token", _("Token 须为 1–32 位英文字母或数字。"))
        return cleaned


@admin.register(WecomConfig, site=brand_admin)
class WecomConfigAdmin(ModelAdmin):
    form = WecomConfigForm
    list_display = ["corp_id", "api_base_url", "secret_status", "callback_path", "updated_at"]
    readonly_fields = ["secret_status", "callback_path", "updated_at"]

    @admin.display(description=_("应用 Secret"))
    def secret_status(self, obj: WecomConfig) -> str:
        return str(_("已设置")) if obj.has_secret else str(_("未设置"))

    @admin.display(description=_("回调地址（路径）"))
    def callback_path(self, obj: WecomConfig) -> str:
        return "/wecom/callback/"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not WecomConfig.objects.exists()

    def save_model(self, request: HttpRequest, obj: WecomConfig, form: forms.ModelForm, change: bool) -> None:
        # The form validated what the service checks, so the service refusing here is a race
        # (another admin saved first); the service's own validation is the last word.
        data = form.cleaned_data
        saved = services.wecom_config_save(
            corp_id=data["corp_id"],
            token=data["token"],
            encoding_aes_key=data["encoding_aes_key"],
            secret=data.get("secret") or None,
            api_base_url=data["api_base_url"],
            welcome_text=data.get("welcome_text") or "",
        )
        obj.pk = saved.pk


@admin.register(CallbackEvent, site=brand_admin)
class CallbackEventAdmin(ModelAdmin):
    list_display = ["event_time", "change_type", "user_id", "external_user_id", "state", "status", "attempts"]
    list_filter = ["change_type", "status"]
    search_fields = ["external_user_id", "user_id"]
    date_hierarchy = "event_time"
    readonly_fields = [f.name for f in CallbackEvent._meta.fields]
    actions = ["retry_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CallbackEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CallbackEvent | None = None) -> bool:
        return False

    @admin.action(description=_("重新处理失败的事件"), permissions=["view"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[CallbackEvent]) -> None:
        retried = sum(services.callback_event_retry(event_id=pk) for pk in queryset.values_list("pk", flat=True))
        messages.info(request, _("已重新排队 %(count)d 个事件。") % {"count": retried})


class ActiveFilter(admin.SimpleListFilter):
    title = _("关系状态")
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [("yes", _("有效")), ("no", _("已删除"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[FollowRelation]) -> QuerySet[FollowRelation]:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(FollowRelation, site=brand_admin)
class FollowRelationAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ["external_userid", "name", "staff_userid", "state", "added_at", "deleted_at", "deleted_by"]
    list_filter = [ActiveFilter, "deleted_by", "add_way"]
    search_fields = ["external_userid", "staff_userid", "unionid", "state", "name"]
    readonly_fields = [f.name for f in FollowRelation._meta.fields]


# --- assignment: policy, prospects, transfers, QR codes, my members, ownership review -----------


@admin.register(AssignmentSettings, site=brand_admin)
class AssignmentSettingsAdmin(ModelAdmin):
    list_display = ["policy", "transfer_message", "updated_at"]
    fields = ["policy", "transfer_message"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not AssignmentSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: AssignmentSettings, form: forms.ModelForm, change: bool) -> None:
        saved = assignment.assignment_settings_save(policy=obj.policy, transfer_message=obj.transfer_message)
        obj.pk = saved.pk


@admin.register(WecomProspect, site=brand_admin)
class WecomProspectAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ["external_userid", "name", "unionid", "first_staff_userid", "state", "linked_member", "linked_at"]
    list_filter = [("linked_member", admin.EmptyFieldListFilter), "state"]
    search_fields = ["=external_userid", "=unionid", "name"]
    list_select_related = ["linked_member"]


class StoreScopedReadOnly(StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Read-only and store-scoped; visible to whoever may view members."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("members.view_member")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.view_member")


@admin.register(CustomerTransfer, site=brand_admin)
class CustomerTransferAdmin(StoreScopedReadOnly):
    scope_member_path = "member"
    list_display = [
        "created_at",
        "member",
        "external_userid",
        "handover",
        "takeover",
        "kind",
        "status",
        "errcode",
        "detail",
        "attempts",
        "settled_at",
    ]
    list_filter = ["status", "kind", ("handover", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=external_userid", "=member__member_no"]
    list_select_related = ["member", "handover", "takeover"]


class ContactWayForm(forms.ModelForm):
    class Meta:
        model = ContactWay
        fields = ["name", "state", "store", "staff", "campaign", "skip_verify"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        errors = channels.contact_way_errors(
            name=(cleaned.get("name") or "").strip(),
            state=(cleaned.get("state") or "").strip(),
            staff=list(cleaned.get("staff") or []),
            campaign=(cleaned.get("campaign") or "").strip(),
        )
        for field, field_errors in errors.items():
            if field not in self.errors:
                for error in field_errors:
                    self.add_error(field if field in self.fields else None, error)
        return cleaned


@admin.register(ContactWay, site=brand_admin)
class ContactWayAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_store_path = "store"
    form = ContactWayForm
    list_display = ["name", "state", "store", "campaign", "type", "qr_link", "created_by", "created_at"]
    list_filter = ["store", "type"]
    search_fields = ["name", "state", "campaign"]
    list_select_related = ["store"]
    filter_horizontal = ["staff"]

    @admin.display(description=_("二维码"))
    def qr_link(self, obj: ContactWay) -> str:
        # The URL is whatever the configured WeCom API answered: a link only when it is https:
        # (a javascript: or data: "QR code" would run in the admin's session), else plain text.
        if not obj.qr_code.lower().startswith("https://"):
            return obj.qr_code or "-"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', obj.qr_code, _("查看"))

    def get_readonly_fields(self, request: HttpRequest, obj: ContactWay | None = None) -> list[str]:
        # A QR code is printed and handed out: its state and staff never change under it. The
        # URL is shown through qr_link: Django renders a read-only URLField as a link, any scheme.
        if obj is not None:
            return [*ContactWayForm.Meta.fields, "config_id", "qr_link", "created_by"]
        return []

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "staff":
            kwargs["queryset"] = scope_stores(
                Staff.objects.filter(status=Staff.Status.ACTIVE).exclude(wecom_userid=""),
                request.user,
                store_path="store",
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: ContactWay, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        try:
            way = channels.contact_way_create(
                name=data["name"],
                state=data["state"],
                staff=list(data["staff"]),
                store=data.get("store"),
                campaign=data.get("campaign") or "",
                skip_verify=data.get("skip_verify", True),
                actor=request.user.get_username(),
            )
        except (AppError, WecomError) as exc:
            # The form checked the input; what is left is WeCom refusing (or a race on the state).
            # The admin cannot return to the form from save_model: the add view turns this into
            # a message (the surrounding transaction rolls back, WeCom created nothing).
            raise forms.ValidationError(getattr(exc, "message", str(exc))) from exc
        obj.pk, obj.config_id, obj.qr_code = way.pk, way.config_id, way.qr_code

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        pass  # contact_way_create set the staff; they never change afterwards

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        try:
            return super().add_view(request, form_url, extra_context)
        except forms.ValidationError as exc:
            messages.error(request, "；".join(exc.messages))
            return HttpResponseRedirect(request.get_full_path())

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)


class WecomStatusFilter(admin.SimpleListFilter):
    title = _("企业微信关系")
    parameter_name = "wecom"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(WecomStatus.LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(wecom_status=self.value()) if self.value() else queryset


class _MemberListAdmin(StoreScopedReadOnly):
    scope_member_path = ""
    list_per_page = 50
    list_select_related = ["assigned_staff", "home_store"]
    search_fields = ["=member_no"]
    ordering = ["-enrolled_at"]
    # The read-only member view of these lists: masked like the lists (the full view, logged, is
    # the member page's).
    readonly_fields = ["masked_name", "masked_mobile"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            "member_no",
            "masked_name",
            "masked_mobile",
            "gender",
            "home_store",
            "assigned_staff",
            "tier",
            "status",
            "lifecycle_stage",
            "points_balance",
            "enrolled_at",
            "source",
            "last_purchase_at",
        ]

    @admin.display(description=_("姓名"))
    def masked_name(self, obj: Member) -> str:
        return name_shown(obj.name, full=False)

    @admin.display(description=_("手机号"))
    def masked_mobile(self, obj: Member) -> str:
        return mobile_mask(obj.mobile)

    @admin.display(description=_("企业微信关系"), ordering="wecom_status")
    def wecom_relation(self, obj: Member) -> str:
        return str(WecomStatus.LABELS.get(getattr(obj, "wecom_status", ""), "-"))

    @admin.display(description=_("会员"))
    def member_link(self, obj: Member) -> str:
        url = reverse("admin:members_member_change", args=[obj.pk], current_app=brand_admin.name)
        return format_html('<a href="{}">{}</a>', url, obj.member_no)


@admin.register(MyMember, site=brand_admin)
class MyMemberAdmin(_MemberListAdmin):
    """The logged-in staff member's own members (专属导购 = me), on top of the store scope."""

    list_display = ["member_link", "masked_name", "masked_mobile", "home_store", "wecom_relation", "source"]
    list_filter = [WecomStatusFilter]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        staff_id = user_scope(request.user).staff_id
        queryset = super().get_queryset(request)
        queryset = queryset.filter(assigned_staff_id=staff_id) if staff_id else queryset.none()
        return members_with_wecom_status(queryset)


class IssueFilter(admin.SimpleListFilter):
    title = _("待处理原因")
    parameter_name = "issue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(Issue.LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        issue = self.value()
        return queryset.filter(ownership_issue_q(issue)) if issue in Issue.LABELS else queryset


@admin.register(OwnershipReview, site=brand_admin)
class OwnershipReviewAdmin(_MemberListAdmin):
    """The dashboard: members without an owner, with a resigned owner, a pending or failed
    transfer, or an owner who lost the WeCom relation. Each row says why and shows the latest
    transfer's WeCom outcome."""

    list_display = ["member_link", "masked_name", "home_store", "assigned_staff", "owner_status", "latest_transfer"]
    list_filter = [IssueFilter, ("home_store", admin.RelatedOnlyFieldListFilter)]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        latest = CustomerTransfer.objects.filter(member_id=OuterRef("pk")).order_by("-pk")
        return members_needing_attention(super().get_queryset(request)).annotate(
            transfer_status=Subquery(latest.values("status")[:1]),
            transfer_errcode=Subquery(latest.values("errcode")[:1]),
            transfer_detail=Subquery(latest.values("detail")[:1]),
        )

    @admin.display(description=_("导购状态"))
    def owner_status(self, obj: Member) -> str:
        if obj.assigned_staff is None:
            return str(Issue.LABELS[Issue.NO_OWNER])
        return obj.assigned_staff.get_status_display()

    @admin.display(description=_("最近转接"))
    def latest_transfer(self, obj: Member) -> str:
        status = getattr(obj, "transfer_status", None)
        if not status:
            return "-"
        label = str(CustomerTransfer.Status(status).label)
        errcode = getattr(obj, "transfer_errcode", None)
        detail = getattr(obj, "transfer_detail", "") or ""
        return " ".join(part for part in (label, f"errcode {errcode}" if errcode else "", detail) if part)


class HandoverForm(ThemedForm):
    takeover = forms.ModelChoiceField(
        label=_("接替导购"), queryset=Staff.objects.filter(status=Staff.Status.ACTIVE).select_related("store")
    )
    message = forms.CharField(
        label=_("转接提示语（仅在职转接）"), required=False, max_length=200, widget=forms.Textarea(attrs={"rows": 2})
    )


@admin.register(StaffHandover, site=brand_admin)
class StaffHandoverAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Offboarding and reassignment go through here (and the services), never by editing a
    staff member's status: a status flipped by hand would leave their customers without a
    WeCom transfer."""

    scope_store_path = "store"
    list_display = ["name", "store", "wecom_userid", "status", "members"]
    list_filter = ["status", "store"]
    list_select_related = ["store"]
    search_fields = ["name", "wecom_userid"]
    actions = ["resign_and_transfer", "reassign_members"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StaffHandover]:
        return super().get_queryset(request).annotate(n_members=Count("assigned_members"))

    @admin.display(description=_("负责会员数"), ordering="n_members")
    def members(self, staff: StaffHandover) -> int:
        return staff.n_members  # type: ignore[attr-defined]

    def _handover(self, request, queryset, *, action: str, title: str, explanation: str, run):
        form = HandoverForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            takeover = form.cleaned_data["takeover"]
            for staff in queryset:
                try:
                    plan = run(staff=staff, takeover=takeover, message=form.cleaned_data["message"])
                except AppError as exc:
                    self.message_user(request, f"{staff.name}：{exc.message}", messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"{staff.name}：{plan.transfers} 位客户经企业微信转接给 {takeover.name}（等待结果），"
                        f"{plan.reassigned} 位直接改派，{plan.flagged} 位因企业微信限制需人工处理。",
                        messages.SUCCESS,
                    )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "queryset": queryset,
            "form": form,
            "action": action,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/wecom/staffhandover/handover.html", context)

    @admin.action(description=_("办理离职并转接会员"))
    def resign_and_transfer(self, request: HttpRequest, queryset: QuerySet[StaffHandover]):
        actor = request.user.get_username()
        return self._handover(
            request,
            queryset,
            action="resign_and_transfer",
            title=str(_("办理离职并转接会员")),
            explanation=str(
                _("所选导购将标记为离职、停用后台账号；其企业微信客户通过离职继承转给接替导购，其余会员直接改派。")
            ),
            run=lambda staff, takeover, message: staff_resign(staff=staff, takeover=takeover, actor=actor),
        )

    @admin.action(description=_("在职转接全部会员"))
    def reassign_members(self, request: HttpRequest, queryset: QuerySet[StaffHandover]):
        actor = request.user.get_username()
        return self._handover(
            request,
            queryset,
            action="reassign_members",
            title=str(_("在职转接全部会员")),
            explanation=str(_("所选导购的会员转给接替导购；已添加企业微信的客户会收到转接提示，可在 24 小时内拒绝。")),
            run=lambda staff, takeover, message: members_reassign(
                members=Member.objects.filter(assigned_staff=staff),
                takeover=takeover,
                actor=actor,
                message=message or None,
            ),
        )
