"""The consent back office (brand admin, Chinese): agreements and versions, consent records and
current states (read-only proof), in-store consent sessions with their QR code, data-subject
requests (overdue first) and the personal-information access log.

Every change goes through consent.services; AppError messages are shown as admin messages.
Members are shown by member number only: names and mobiles stay in the members admin, where
full views are permission-gated and logged.
"""

from typing import Any, cast

import segno
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.db.models.expressions import Combinable
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from crm.admin_readonly import ReadOnlyAdminMixin
from crm.admin_sites import brand_admin
from crm.errors import AppError
from members.models import Member, Staff
from members.scoping import StoreScopedAdminMixin, scope_stores

from .models import (
    Agreement,
    AgreementVersion,
    ConsentRecord,
    ConsentSession,
    ConsentState,
    DataRequest,
    DataRequestEvent,
    PIAccessLog,
    PIField,
    Purpose,
)
from .services import (
    agreement_create,
    agreement_version_draft_save,
    agreement_version_publish,
    consent_session_cancel,
    consent_session_open,
    consent_session_path,
    consent_session_record_paper,
    data_request_complete,
    data_request_create,
    data_request_export_delivered,
    data_request_refuse,
    member_data_export_json,
    membership_version_for_enrolment,
    pi_access_log,
)
from .services.agreements import agreement_version_validate
from .types import GuardianConsent


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _form_errors(form: forms.BaseForm, error: AppError) -> None:
    """Show a service's refusal on the form: field errors where the field exists, else on top."""
    placed = False
    for field, problems in error.fields.items():
        if field in form.fields:
            for problem in problems:
                form.add_error(field, problem)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def _membership_incomplete_warn(request: HttpRequest) -> None:
    """Tell the brand admin, where agreements are managed, that members cannot enrol yet and why."""
    try:
        membership_version_for_enrolment()
    except AppError as refusal:
        messages.warning(request, refusal.message)


def _adopt(obj: Any, saved: Any) -> None:
    """The admin keeps working with its own instance (logging, redirects): make it the row the
    service wrote."""
    obj.__dict__.update(saved.__dict__)


class ReadOnlyAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Proof and logs are looked at, never typed in, changed or deleted here."""


class MemberNoMixin:
    @admin.display(description=_("会员号"), ordering="member__member_no")
    def member_no(self, obj: Any) -> str:
        return obj.member.member_no


# --- Agreements -----------------------------------------------------------------------------


@admin.register(Agreement, site=brand_admin)
class AgreementAdmin(ModelAdmin):
    list_display = ("title", "code", "kind", "current_version")
    list_filter = ("kind",)

    @admin.display(description=_("当前版本"))
    def current_version(self, obj: Agreement) -> str:
        version = obj.versions.filter(published_at__isnull=False).order_by("-version").first()
        return f"v{version.version}" if version else "—"

    def get_readonly_fields(self, request: HttpRequest, obj: Agreement | None = None) -> tuple[str, ...]:
        # Kind and code decide which purposes an agreement may list; they are fixed at creation.
        return ("code", "kind", "title") if obj else ()

    def save_model(self, request: HttpRequest, obj: Agreement, form: Any, change: bool) -> None:
        if not change:
            _adopt(obj, agreement_create(code=obj.code, kind=obj.kind, title=obj.title))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "GET":
            _membership_incomplete_warn(request)
        return super().changelist_view(request, extra_context)


class AgreementVersionForm(forms.ModelForm):
    purposes = forms.MultipleChoiceField(
        label=_("处理目的"), choices=Purpose.choices, widget=forms.CheckboxSelectMultiple
    )
    data_categories = forms.CharField(
        label=_("个人信息种类"), required=False, help_text=_("向第三方提供时必填，用“、”或逗号分隔，如：姓名、手机号")
    )

    class Meta:
        model = AgreementVersion
        fields = (
            "agreement",
            "text",
            "purposes",
            "recipient",
            "recipient_purpose",
            "data_categories",
            "material_change",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["data_categories"] = "、".join(self.instance.data_categories)

    def clean_data_categories(self) -> list[str]:
        raw = self.cleaned_data.get("data_categories", "")
        return [part.strip() for part in raw.replace("，", ",").replace("、", ",").split(",") if part.strip()]

    def clean(self) -> dict[str, Any]:
        # ModelForm.clean() returns cleaned_data; the stubs type it as BaseForm's, which may be None.
        super().clean()
        data = self.cleaned_data
        if self.errors or not data.get("agreement"):
            return data
        try:
            agreement_version_validate(
                agreement_id=data["agreement"].pk,
                text=data.get("text", ""),
                purposes=data.get("purposes", []),
                recipient=data.get("recipient", ""),
                recipient_purpose=data.get("recipient_purpose", ""),
                data_categories=data.get("data_categories", []),
            )
        except AppError as error:
            _form_errors(self, error)
        return data

    def _post_clean(self) -> None:
        # The service owns the write (and its checks); skip the model's own full_clean.
        pass


@admin.register(AgreementVersion, site=brand_admin)
class AgreementVersionAdmin(ModelAdmin):
    form = AgreementVersionForm
    list_display = (
        "agreement",
        "version",
        "purpose_list",
        "is_published_display",
        "published_at",
        "material_change",
        "reconsent_list",
    )
    list_select_related = ("agreement",)
    list_filter = ("agreement", ("published_at", admin.EmptyFieldListFilter))
    actions = ["publish"]
    published_fields = (
        "agreement",
        "version",
        "text",
        "purposes",
        "recipient",
        "recipient_purpose",
        "data_categories",
        "material_change",
        "reconsent_purposes",
        "effective_at",
        "published_at",
        "published_by",
    )

    @admin.display(description=_("处理目的"))
    def purpose_list(self, obj: AgreementVersion) -> str:
        return "、".join(obj.purpose_labels())

    @admin.display(description=_("需重新同意"))
    def reconsent_list(self, obj: AgreementVersion) -> str:
        return "、".join(str(Purpose(p).label) for p in obj.reconsent_purposes) or "—"

    @admin.display(description=_("已发布"), boolean=True)
    def is_published_display(self, obj: AgreementVersion) -> bool:
        return obj.is_published

    def get_fields(self, request: HttpRequest, obj: AgreementVersion | None = None) -> Any:
        if obj is not None and obj.is_published:
            return self.published_fields
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: AgreementVersion | None = None) -> Any:
        if obj is not None and obj.is_published:
            return self.published_fields
        return ("agreement",) if obj else ()

    def has_change_permission(self, request: HttpRequest, obj: AgreementVersion | None = None) -> bool:
        # A published version is the text people consented to: view only (the database refuses
        # changes too). Drafts stay editable.
        if obj is not None and obj.is_published:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: AgreementVersion | None = None) -> bool:
        if obj is None or obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "GET":
            _membership_incomplete_warn(request)
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: AgreementVersion, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = agreement_version_draft_save(
            agreement_id=(obj.agreement_id if change else data["agreement"].pk),
            text=data["text"],
            purposes=data["purposes"],
            recipient=data.get("recipient", ""),
            recipient_purpose=data.get("recipient_purpose", ""),
            data_categories=data.get("data_categories", []),
            material_change=data.get("material_change", False),
            version_id=obj.pk if change else None,
        )
        _adopt(obj, saved)

    @admin.action(description=_("发布所选版本（发布后不可修改）"), permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[AgreementVersion]) -> None:
        for version in queryset.order_by("agreement_id", "version"):
            try:
                published = agreement_version_publish(version_id=version.pk, actor=_actor(request))
            except AppError as error:
                self.message_user(request, f"{version}：{error.message}", messages.ERROR)
                continue
            flagged = "、".join(str(Purpose(p).label) for p in published.reconsent_purposes)
            note = f"；已同意旧版本的会员需重新同意：{flagged}" if flagged else ""
            self.message_user(request, f"{published} 已发布{note}。", messages.SUCCESS)


# --- Consent records and states (read-only) ---------------------------------------------------


@admin.register(ConsentRecord, site=brand_admin)
class ConsentRecordAdmin(MemberNoMixin, ReadOnlyAdmin):
    list_display = ("recorded_at", "member_no", "purpose", "granted", "version", "channel", "actor")
    list_select_related = ("member", "version__agreement")
    list_filter = ("purpose", "granted", "channel")
    search_fields = ("=member__member_no",)
    date_hierarchy = "recorded_at"
    fields = ("member_no", "purpose", "granted", "version", "recorded_at", "channel", "evidence", "actor")
    readonly_fields = fields


@admin.register(ConsentState, site=brand_admin)
class ConsentStateAdmin(MemberNoMixin, ReadOnlyAdmin):
    list_display = ("member_no", "purpose", "granted", "needs_reconsent", "version", "updated_at")
    list_select_related = ("member", "version__agreement")
    list_filter = ("purpose", "granted", "needs_reconsent")
    search_fields = ("=member__member_no",)


# --- In-store consent sessions ----------------------------------------------------------------


class ConsentSessionForm(forms.ModelForm):
    mode = forms.ChoiceField(label=_("方式"), choices=ConsentSession.Mode.choices, initial=ConsentSession.Mode.DEVICE)
    staff = forms.ModelChoiceField(label=_("经办导购"), queryset=Staff.objects.filter(status=Staff.Status.ACTIVE))
    ticked = forms.MultipleChoiceField(
        label=_("纸质授权书上勾选的目的"),
        choices=Purpose.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("仅纸质授权书：按顾客签字的授权书逐项勾选，未勾选即为不同意。"),
    )
    paper_reference = forms.CharField(label=_("纸质授权书编号"), required=False, max_length=64)
    guardian_name = forms.CharField(label=_("监护人姓名（未满 14 周岁）"), required=False, max_length=50)
    guardian_relation = forms.CharField(label=_("监护人关系"), required=False, max_length=20)

    class Meta:
        model = ConsentSession
        fields = ("mode", "staff")

    def _post_clean(self) -> None:
        pass  # the services create the row


@admin.register(ConsentSession, site=brand_admin)
class ConsentSessionAdmin(StoreScopedAdminMixin, ModelAdmin):
    # Store staff open sessions for their customers in the shop: they see, and hand the QR code
    # of, their own store's sessions only.
    scope_store_path = "staff__store"
    form = ConsentSessionForm
    list_display = ("id", "mode", "status", "staff", "member_no", "created_at", "expires_at", "submitted_at")
    list_select_related = ("staff", "member")
    list_filter = ("mode", "status")
    actions = ["cancel"]
    change_form_template = "admin/consent/consentsession/change_form.html"
    readonly = (
        "mode",
        "status",
        "staff",
        "expires_at",
        "decisions_shown",
        "evidence_shown",
        "submitted_at",
        "member",
        "consumed_at",
        "actor",
    )

    @admin.display(description=_("授权决定"))
    def decisions_shown(self, obj: ConsentSession) -> str:
        # In words, one purpose a line: "短信营销：同意", not the stored JSON.
        labels = dict(Purpose.choices)
        lines = [
            f"{labels.get(d.get('purpose'), d.get('purpose'))}：{'同意' if d.get('granted') else '不同意'}"
            for d in obj.decisions or []
        ]
        return "；".join(lines) or "—"

    @admin.display(description=_("证据"))
    def evidence_shown(self, obj: ConsentSession) -> str:
        words = {"ip": "IP 地址", "user_agent": "设备", "channel": "渠道", "paper_reference": "纸质单编号"}
        evidence = obj.evidence or {}
        return "；".join(f"{words.get(k, k)}：{v}" for k, v in evidence.items() if k in words and v) or "—"

    @admin.display(description=_("会员号"))
    def member_no(self, obj: ConsentSession) -> str:
        return obj.member.member_no if obj.member else "—"

    def get_fields(self, request: HttpRequest, obj: ConsentSession | None = None) -> Any:
        if obj is not None:
            return self.readonly
        return ("mode", "staff", "ticked", "paper_reference", "guardian_name", "guardian_relation")

    def get_form(
        self, request: HttpRequest, obj: ConsentSession | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        if "staff" in form.base_fields:
            # The form declares the field itself, so the mixin's choice scoping must be applied here.
            cast(forms.ModelChoiceField, form.base_fields["staff"]).queryset = scope_stores(
                Staff.objects.filter(status=Staff.Status.ACTIVE), request.user, store_path="store"
            )
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: ConsentSession | None = None) -> Any:
        return self.readonly if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: ConsentSession, form: Any, change: bool) -> None:
        if change:
            return
        data = form.cleaned_data
        if data["mode"] == ConsentSession.Mode.PAPER:
            guardian = None
            if data.get("guardian_name") or data.get("guardian_relation"):
                guardian = GuardianConsent(
                    name=data.get("guardian_name", ""), relation=data.get("guardian_relation", "")
                )
            session = consent_session_record_paper(
                staff_id=data["staff"].pk,
                ticked=data.get("ticked", []),
                paper_reference=data.get("paper_reference", ""),
                actor=_actor(request),
                guardian=guardian,
            )
        else:
            session = consent_session_open(staff_id=data["staff"].pk, actor=_actor(request))
        _adopt(obj, session)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except AppError as error:
            # A refused paper form: nothing was saved; say why and show the form again.
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        session = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if session is not None and session.status == ConsentSession.Status.OPEN and not session.is_expired():
            link = request.build_absolute_uri(consent_session_path(session=session))
            extra_context["consent_link"] = link
            # Rendered inline (no request to any QR service: the link is a capability).
            extra_context["consent_qr"] = mark_safe(segno.make(link, error="m").svg_inline(scale=5))  # noqa: S308
        return super().change_view(request, object_id, form_url, extra_context)

    def response_add(self, request: HttpRequest, obj: ConsentSession, post_url_continue: str | None = None) -> Any:
        # Straight to the session's page, where the QR code is shown to the customer.
        return HttpResponseRedirect(reverse("admin:consent_consentsession_change", args=[obj.pk]))

    @admin.action(description=_("取消所选授权会话"), permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[ConsentSession]) -> None:
        for session in queryset:
            try:
                consent_session_cancel(session_id=session.pk, actor=_actor(request))
            except AppError as error:
                self.message_user(request, f"#{session.pk}：{error.message}", messages.ERROR)


# --- Data-subject requests --------------------------------------------------------------------


class DataRequestEventInline(TabularInline):
    model = DataRequestEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "actor", "detail")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DataRequestActionForm(ActionForm):
    reason = forms.CharField(label=_("拒绝理由"), required=False, max_length=500)


class DataRequestForm(forms.ModelForm):
    member_no = forms.CharField(label=_("会员号"), max_length=20)

    class Meta:
        model = DataRequest
        fields = ("kind", "note", "requested_changes")

    def clean_member_no(self) -> Member:
        member = Member.objects.filter(member_no=self.cleaned_data["member_no"].strip()).first()
        if member is None:
            raise forms.ValidationError(_("会员号不存在。"))
        return member

    def _post_clean(self) -> None:
        pass  # data_request_create owns the write and its checks


class OverdueFirst(admin.SimpleListFilter):
    title = _("是否逾期")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", str(_("已逾期")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(status=DataRequest.Status.PENDING, due_at__lt=timezone.now())
        return queryset


@admin.register(DataRequest, site=brand_admin)
class DataRequestAdmin(MemberNoMixin, ModelAdmin):
    form = DataRequestForm
    action_form = DataRequestActionForm
    list_display = ("id", "member_no", "kind", "status", "due_at", "overdue", "channel", "created_at", "closed_by")
    list_select_related = ("member",)
    list_filter = (OverdueFirst, "status", "kind", "channel")
    search_fields = ("=member__member_no",)
    inlines = [DataRequestEventInline]
    actions = ["complete", "refuse"]
    detail_fields = (
        "member_no",
        "kind",
        "status",
        "channel",
        "due_at",
        "note",
        "requested_changes",
        "refusal_reason",
        "closed_at",
        "closed_by",
        "export_link",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[DataRequest]:
        # Overdue first, then the rest of the open queue by due date, closed ones last.
        now = timezone.now()
        rank = Case(
            When(status=DataRequest.Status.PENDING, due_at__lt=now, then=Value(0)),
            When(status=DataRequest.Status.PENDING, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
        # Built here rather than from super(), which orders by get_ordering() before the annotation
        # it names exists.
        return self.model._default_manager.annotate(queue_rank=rank).order_by("queue_rank", "due_at", "id")

    def get_ordering(self, request: HttpRequest) -> list[str | Combinable]:
        return ["queue_rank", "due_at", "id"]

    @admin.display(description=_("逾期"), boolean=True)
    def overdue(self, obj: DataRequest) -> bool:
        return obj.is_overdue()

    @admin.display(description=_("数据副本"))
    def export_link(self, obj: DataRequest) -> str:
        if obj.kind != DataRequest.Kind.ACCESS or obj.status != DataRequest.Status.COMPLETED:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:consent_datarequest_export", args=[obj.pk]), _("下载 JSON")
        )

    def get_fields(self, request: HttpRequest, obj: DataRequest | None = None) -> Any:
        return self.detail_fields if obj is not None else ("member_no", "kind", "note", "requested_changes")

    def get_readonly_fields(self, request: HttpRequest, obj: DataRequest | None = None) -> Any:
        return self.detail_fields if obj is not None else ()

    def get_inlines(self, request: HttpRequest, obj: DataRequest | None = None) -> list[Any]:
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: DataRequest, form: Any, change: bool) -> None:
        if change:
            return
        data = form.cleaned_data
        created = data_request_create(
            member_id=data["member_no"].pk,
            kind=data["kind"],
            channel=DataRequest.Channel.ADMIN,
            actor=_actor(request),
            note=data.get("note", ""),
            requested_changes=data.get("requested_changes") or {},
        )
        _adopt(obj, created)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except AppError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @admin.action(description=_("办结所选申请（删除申请将立即删除会员个人信息）"), permissions=["change"])
    def complete(self, request: HttpRequest, queryset: QuerySet[DataRequest]) -> None:
        for item in queryset:
            try:
                data_request_complete(request_id=item.pk, actor=_actor(request))
            except AppError as error:
                self.message_user(request, f"#{item.pk}：{error.message}", messages.ERROR)
            else:
                self.message_user(request, f"#{item.pk} {item.get_kind_display()} 已办结。", messages.SUCCESS)

    @admin.action(description=_("拒绝所选申请（需填写拒绝理由）"), permissions=["change"])
    def refuse(self, request: HttpRequest, queryset: QuerySet[DataRequest]) -> None:
        reason = request.POST.get("reason", "")
        for item in queryset:
            try:
                data_request_refuse(request_id=item.pk, actor=_actor(request), reason=reason)
            except AppError as error:
                self.message_user(request, f"#{item.pk}：{error.message}", messages.ERROR)
            else:
                self.message_user(request, f"#{item.pk} 已拒绝。", messages.SUCCESS)

    def get_urls(self) -> list[Any]:
        export = self.admin_site.admin_view(self.export_view)
        return [path("<int:pk>/export/", export, name="consent_datarequest_export"), *super().get_urls()]

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Staff download the copy for the member; a full view of their data, so it is logged."""
        item = get_object_or_404(DataRequest, pk=pk, kind=DataRequest.Kind.ACCESS, status=DataRequest.Status.COMPLETED)
        if not self.has_view_permission(request, item):
            return HttpResponse(status=403)
        pi_access_log(
            user=request.user,
            member=item.member_id,
            fields=[PIField.EXPORT],
            context=f"admin:data_request_export:{item.pk}",
            ip=request.META.get("REMOTE_ADDR"),
        )
        data_request_export_delivered(request_id=item.pk, actor=_actor(request), via="admin")
        response = HttpResponse(member_data_export_json(member_id=item.member_id), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="data-request-{item.pk}.json"'
        return response


# --- Personal-information access log --------------------------------------------------------


@admin.register(PIAccessLog, site=brand_admin)
class PIAccessLogAdmin(MemberNoMixin, ReadOnlyAdmin):
    """Searchable by whoever holds `consent.view_piaccesslog` (brand admins)."""

    list_display = ("viewed_at", "username", "member_no", "field_list", "context", "ip")
    list_select_related = ("member",)
    search_fields = ("username", "=member__member_no", "context")
    date_hierarchy = "viewed_at"
    fields = ("viewed_at", "username", "member_no", "field_list", "context", "ip")
    readonly_fields = fields

    @admin.display(description=_("查看字段"))
    def field_list(self, obj: PIAccessLog) -> str:
        return "、".join(str(PIField(f).label) for f in obj.fields)
