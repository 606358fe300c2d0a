"""The member pages of the brand admin: list, search, filters, the member page, actions, the
enrolment form, the merge confirmation and the import.

Personal information: lists and exports show mobile/name/birthday masked to everyone except in
a logged export; the member page shows them in full to holders of `members.view_full_pi`, and
every such view is written to the PI access log (consent.services.pi_access_log) before render.
Scoping: every queryset here goes through StoreScopedAdminMixin (members/scoping.py).
"""

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Value
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from consent.models import Agreement, ConsentSession, Purpose
from consent.services import (
    agreement_version_current,
    membership_version_for_enrolment,
    pi_access_log,
    pi_access_log_many,
)
from consent.types import ConsentDecision, ConsentEvidence, GuardianConsent
from crm.admin_sites import brand_admin
from crm.errors import AppError
from crm.spreadsheets.writing import csv_writer

from .. import imports
from ..hooks import source_code_name
from ..masking import birthday_shown, can_view_full_pi, mobile_shown, name_shown
from ..merge_words import merge_moved_words
from ..models import (
    Identity,
    IdentityKind,
    ImportJob,
    Member,
    MemberAssignment,
    MemberMerge,
    MemberTag,
    Staff,
    Store,
    Tag,
)
from ..phones import mobile_mask, mobile_normalize
from ..scoping import StoreScopedAdminMixin, scope_stores, user_scope
from ..selectors import members_search
from ..services.import_jobs import members_import_start
from ..services.members import (
    member_enroll,
    member_freeze,
    member_profile_update,
    member_unfreeze,
    members_tag,
    members_untag,
)
from ..services.merge import member_merge
from ..source_words import source_shown
from .consent_actions import MemberConsentActionsMixin
from .forms import EnrolForm, ImportForm, MemberActionForm, MergeForm
from .import_jobs import import_job_page, import_page_context
from .loyalty import MEMBER_PAGE_INLINES
from .loyalty_actions import MemberLoyaltyActionsMixin

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups
    from django_stubs_ext import StrOrPromise

PI_FIELDS = ["mobile", "name", "birthday"]


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


# --- list filters -----------------------------------------------------------------------------


class TagFilter(admin.SimpleListFilter):
    title = _("标签")
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Tag.objects.values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        tag_id = self.value()
        if tag_id:
            return queryset.filter(Exists(MemberTag.objects.filter(member_id=OuterRef("pk"), tag_id=tag_id)))
        return queryset


class MineFilter(admin.SimpleListFilter):
    title = _("我的会员")
    parameter_name = "mine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, "StrOrPromise"]]:
        return [("1", _("我负责的会员"))] if user_scope(request.user).staff_id else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "1":
            return queryset.filter(assigned_staff_id=user_scope(request.user).staff_id)
        return queryset


# --- inlines (the member page) ------------------------------------------------------------------


class ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IdentityInline(ReadOnlyInline):
    model = Identity
    fields = ("kind", "shown_value", "created_at")
    readonly_fields = fields
    verbose_name_plural = _("身份标识（OneID）")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(pi_full=Value(can_view_full_pi(request.user)))

    @admin.display(description=_("值"))
    def shown_value(self, obj: Identity) -> str:
        if obj.kind == IdentityKind.MOBILE:
            return mobile_shown(obj.value, full=getattr(obj, "pi_full", False))
        return obj.value


class AssignmentInline(ReadOnlyInline):
    model = MemberAssignment
    fields = ("created_at", "from_staff_shown", "to_staff_shown", "reason", "actor", "note")
    readonly_fields = fields
    verbose_name_plural = _("导购归属历史")

    @admin.display(description=_("原导购"))
    def from_staff_shown(self, obj: MemberAssignment) -> str:
        return str(obj.from_staff) if obj.from_staff else "-"

    @admin.display(description=_("新导购"))
    def to_staff_shown(self, obj: MemberAssignment) -> str:
        return str(obj.to_staff) if obj.to_staff else "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("from_staff", "to_staff")


class MergeInline(ReadOnlyInline):
    model = MemberMerge
    fk_name = "survivor"
    fields = ("created_at", "merged_shown", "actor", "reason", "moved_shown")
    readonly_fields = fields

    @admin.display(description=_("被合并会员"))
    def merged_shown(self, obj: MemberMerge) -> str:
        return str(obj.merged)

    @admin.display(description=_("迁移内容"))
    def moved_shown(self, obj: MemberMerge) -> str:
        return merge_moved_words(obj.moved)

    verbose_name_plural = _("合并记录（并入本会员）")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("merged")


# --- the member admin ---------------------------------------------------------------------------


class MemberChangeForm(forms.ModelForm):
    """Profile edits; the service writes them. Mobile is validated and checked for a conflict
    here so the person editing sees a field error, not a failure after submit."""

    class Meta:
        model = Member
        fields = ("name", "mobile", "gender", "birthday", "home_store")

    def clean_mobile(self) -> str:
        value = self.cleaned_data.get("mobile", "")
        if not value:
            return ""
        try:
            value = mobile_normalize(value)
        except AppError as exc:
            raise forms.ValidationError(exc.message) from exc
        holder = Identity.objects.filter(kind=IdentityKind.MOBILE, value=value).exclude(member=self.instance).first()
        if holder is not None:
            raise forms.ValidationError(f"该手机号已绑定会员 {holder.member.member_no}，如为同一人请合并会员。")
        return value


@admin.register(Member, site=brand_admin)
class MemberAdmin(MemberConsentActionsMixin, MemberLoyaltyActionsMixin, StoreScopedAdminMixin, ModelAdmin):
    scope_member_path = ""
    form = MemberChangeForm
    action_form = MemberActionForm
    change_list_template = "admin/members/member/change_list.html"
    list_per_page = 50
    list_select_related = ("tier", "home_store", "assigned_staff")
    list_filter = (
        "status",
        "tier",
        "lifecycle_stage",
        ("home_store", RelatedOnlyFieldListFilter),
        "enrolled_channel",
        TagFilter,
        MineFilter,
    )
    # Only to enable autocomplete; get_search_results does the real matching.
    search_fields = ("member_no",)
    search_help_text = _("会员号、手机号、任一身份标识（unionid、天猫 OUID、POS 卡号…）或姓名")
    ordering = ("-enrolled_at",)
    actions = ["freeze_members", "unfreeze_members", "tag_members", "untag_members", "merge_members", "export_csv"]
    info_fields = (
        "member_no",
        "status",
        "merged_into",
        "lifecycle_stage",
        "tier",
        "tier_expires_at",
        "tier_floor",
        "points_balance",
        "points_pending",
        "points_debt",
        "assigned_staff",
        "tags_shown",
        "enrolled_at",
        "enrolled_channel",
        "enrolled_by",
        "source_shown",
        "last_purchase_at",
    )

    # --- queryset, search ---

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).annotate(pi_full=Value(can_view_full_pi(request.user)))
        return queryset.prefetch_related(Prefetch("member_tags", queryset=MemberTag.objects.select_related("tag")))

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        return members_search(queryset, search_term), False

    # --- list columns: masked for everyone (a list is not a reason to see 50 people's mobiles) ---

    def get_list_display(self, request: HttpRequest) -> tuple[Any, ...]:
        return (
            "member_no",
            "masked_name",
            "masked_mobile",
            "tier",
            "status",
            "lifecycle_stage",
            "home_store",
            "assigned_staff",
            "points_balance",
            "tags_shown",
            "enrolled_at",
        )

    @admin.display(description=_("姓名"))
    def masked_name(self, obj: Member) -> str:
        return name_shown(obj.name, full=False)

    @admin.display(description=_("手机号"))
    def masked_mobile(self, obj: Member) -> str:
        return mobile_mask(obj.mobile)

    @admin.display(description=_("标签"))
    def tags_shown(self, obj: Member) -> str:
        return "、".join(member_tag.tag.name for member_tag in obj.member_tags.all())

    @admin.display(description=_("来源"))
    def source_shown(self, obj: Member) -> str:
        return source_shown(obj.source, source_code_name(obj.source))

    # --- the member page ---

    @admin.display(description=_("姓名"))
    def shown_name(self, obj: Member) -> str:
        return name_shown(obj.name, full=getattr(obj, "pi_full", False))

    @admin.display(description=_("手机号"))
    def shown_mobile(self, obj: Member) -> str:
        return mobile_shown(obj.mobile, full=getattr(obj, "pi_full", False))

    @admin.display(description=_("生日"))
    def shown_birthday(self, obj: Member) -> str:
        shown = birthday_shown(obj.birthday, full=getattr(obj, "pi_full", False))
        if obj.birthday is None:
            return shown
        return format_html('{} <span class="help">（已设置，只能由门店在工作台更正）</span>', shown)

    def _editable(self, request: HttpRequest, obj: Member | None) -> list[str]:
        if obj is None or not self.has_change_permission(request, obj) or obj.status in ("merged", "erased"):
            return []
        if can_view_full_pi(request.user):
            # A set birthday changes only in store (the workbench's 更正生日, with a reason and an
            # audit row); here it may only be filled in while empty. member_profile_update refuses
            # the rest whatever the form says.
            birthday = ["birthday"] if obj.birthday is None else []
            return ["name", "mobile", "gender", *birthday, "home_store"]
        return ["gender", "home_store"]

    def get_fields(self, request: HttpRequest, obj: Member | None = None) -> "_FieldGroups":
        editable = self._editable(request, obj)
        profile = [
            field if field in editable else shown
            for field, shown in (("name", "shown_name"), ("mobile", "shown_mobile"), ("birthday", "shown_birthday"))
        ]
        rest = [field for field in ("gender", "home_store") if field in editable]
        return [*profile, *rest, *self.info_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Member | None = None) -> list[str]:
        editable = self._editable(request, obj)
        fields = cast(list[str], self.get_fields(request, obj))  # plain names, no groups: see get_fields
        return [field for field in fields if field not in editable]

    def get_inlines(self, request: HttpRequest, obj: Member | None) -> list[Any]:
        return [IdentityInline, *MEMBER_PAGE_INLINES, AssignmentInline, MergeInline]

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        obj = kwargs.get("obj") or context.get("original")
        if obj is not None and getattr(obj, "pi_full", False) and request.method == "GET":
            # Logged before the values are rendered: no log, no full view.
            pi_access_log(
                user=request.user,
                member=obj,
                fields=PI_FIELDS,
                context="admin:member_change",
                ip=request.META.get("REMOTE_ADDR"),
            )
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request: HttpRequest, obj: Member, form: Any, change: bool) -> None:
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in form.cleaned_data}
        member_profile_update(member=Member.objects.get(pk=obj.pk), actor=_actor(request), **changes)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        # Members come to exist only through enrolment (with consent), never a bare add form.
        return HttpResponseRedirect(reverse("admin:members_member_enrol"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a member is a data-subject erasure (consent app), never a row delete.
        return False

    def has_freeze_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.freeze_member")

    def has_merge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.merge_member")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.export_members")

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.import_members") and request.user.has_perm("members.add_member")

    # --- actions ---

    def _each(self, request: HttpRequest, queryset: QuerySet, service: Any, done: str) -> None:
        ok, failed = 0, []
        for member in queryset:
            try:
                service(member=member, actor=_actor(request))
                ok += 1
            except AppError as exc:
                failed.append(f"{member.member_no}：{exc.message}")
        if ok:
            self.message_user(request, _("已%(done)s %(n)d 位会员。") % {"done": done, "n": ok}, messages.SUCCESS)
        for message in failed:
            self.message_user(request, message, messages.ERROR)

    @admin.action(description=_("冻结所选会员"), permissions=["freeze"])
    def freeze_members(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, member_freeze, "冻结")

    @admin.action(description=_("解冻所选会员"), permissions=["freeze"])
    def unfreeze_members(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, member_unfreeze, "解冻")

    def _action_tag(self, request: HttpRequest) -> Tag | None:
        tag_id = request.POST.get("tag")
        tag = Tag.objects.filter(pk=tag_id).first() if tag_id else None
        if tag is None:
            self.message_user(request, _("请先在操作栏选择一个标签。"), messages.ERROR)
        return tag

    @admin.action(description=_("给所选会员打标签"), permissions=["change"])
    def tag_members(self, request: HttpRequest, queryset: QuerySet) -> None:
        tag = self._action_tag(request)
        if tag is not None:
            ids = list(queryset.values_list("pk", flat=True))
            added = members_tag(member_ids=ids, tag=tag, actor=_actor(request))
            self.message_user(request, f"已为 {added} 位会员添加标签“{tag}”（其余已有该标签）。", messages.SUCCESS)

    @admin.action(description=_("移除所选会员的标签"), permissions=["change"])
    def untag_members(self, request: HttpRequest, queryset: QuerySet) -> None:
        tag = self._action_tag(request)
        if tag is not None:
            removed = members_untag(
                member_ids=list(queryset.values_list("pk", flat=True)), tag=tag, actor=_actor(request)
            )
            self.message_user(request, f"已移除 {removed} 位会员的标签“{tag}”。", messages.SUCCESS)

    @admin.action(description=_("合并所选的两位会员…"), permissions=["merge"])
    def merge_members(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        members = list(queryset.select_related("home_store", "tier").order_by("pk"))
        if len(members) != 2:
            self.message_user(request, _("合并时请恰好选择两位会员。"), messages.ERROR)
            return None
        full = can_view_full_pi(request.user)
        labels = {
            m.pk: f"{m.member_no} {name_shown(m.name, full=full)} {mobile_shown(m.mobile, full=full)} "
            f"· {m.tier or '无等级'} · {m.points_balance} 积分 · {m.get_status_display()}"
            for m in members
        }
        form = MergeForm(request.POST if "confirm" in request.POST else None, members=members, labels=labels)
        if "confirm" in request.POST and form.is_valid():
            survivor = next(m for m in members if str(m.pk) == form.cleaned_data["survivor"])
            merged = next(m for m in members if m.pk != survivor.pk)
            try:
                member_merge(
                    survivor=survivor, merged=merged, actor=_actor(request), reason=form.cleaned_data["reason"]
                )
            except AppError as exc:
                self.message_user(request, f"合并失败：{exc.message}", messages.ERROR)
                return None
            self.message_user(request, f"已将会员 {merged.member_no} 合并至 {survivor.member_no}。", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("合并会员"),
            "opts": self.model._meta,
            "form": form,
            "members": members,
            "action": "merge_members",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/members/member/merge.html", context)

    @admin.action(description=_("导出所选会员（CSV）"), permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        full = can_view_full_pi(request.user)
        members = list(queryset)
        if full:
            pi_access_log_many(
                user=request.user,
                member_ids=[member.pk for member in members],
                fields=["export"],
                context="admin:member_export",
                ip=request.META.get("REMOTE_ADDR"),
            )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="members-{timezone.localdate():%Y%m%d}.csv"'
        # Names (the member's, the staff's) are typed by people: no cell of theirs may become a formula.
        writer = csv_writer(response)
        writer.writerow(
            [
                "会员号",
                "姓名",
                "手机号",
                "性别",
                "生日",
                "等级",
                "状态",
                "生命周期",
                "归属门店",
                "专属导购",
                "可用积分",
                "入会时间",
            ]
        )
        for m in members:
            writer.writerow(
                [
                    m.member_no,
                    name_shown(m.name, full=full),
                    mobile_shown(m.mobile, full=full),
                    m.get_gender_display(),
                    birthday_shown(m.birthday, full=full),
                    m.tier or "",
                    m.get_status_display(),
                    m.get_lifecycle_stage_display(),
                    m.home_store or "",
                    m.assigned_staff or "",
                    m.points_balance,
                    timezone.localtime(m.enrolled_at).strftime("%Y-%m-%d %H:%M"),
                ]
            )
        return response

    # --- enrolment and import pages ---

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("enrol/", wrap(self.enrol_view), name="members_member_enrol"),
            path("import/", wrap(self.import_view), name="members_member_import"),
            path("import/<int:job_id>/", wrap(self.import_job_view), name="members_member_import_job"),
            *super().get_urls(),
        ]

    def _store_choices(self, request: HttpRequest) -> tuple[QuerySet, QuerySet]:
        stores = scope_stores(Store.objects.filter(is_active=True), request.user)
        staff = scope_stores(Staff.objects.filter(status=Staff.Status.ACTIVE), request.user, store_path="store")
        return stores, staff.select_related("store")

    def enrol_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        stores, staff = self._store_choices(request)
        scope = user_scope(request.user)
        if request.method == "GET":
            try:
                membership_version_for_enrolment()
            except AppError as refusal:
                # Said before the staff member types anything in: enrolment would be refused.
                self.message_user(request, refusal.message, messages.ERROR)
        versions = [
            version
            for agreement in Agreement.objects.order_by("kind", "id")
            if (version := agreement_version_current(agreement_id=agreement.pk)) is not None
        ]
        initial = {"staff": scope.staff_id, "home_store": scope.store_id}
        # Only sessions the customer has confirmed and nobody has enrolled with yet (submitted:
        # open ones are not decided, consumed/cancelled ones cannot enrol), of this user's store.
        consent_sessions = scope_stores(
            ConsentSession.objects.filter(status=ConsentSession.Status.SUBMITTED).select_related("staff"),
            request.user,
            store_path="staff__store",
        )
        form = EnrolForm(
            request.POST or None,
            initial=initial,
            stores=stores,
            staff=staff,
            versions=versions,
            consent_sessions=consent_sessions,
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            enrolling_staff = data["staff"]
            consent_session = data["consent_session"]
            guardian = (
                GuardianConsent(
                    name=data["guardian_name"], relation=data["guardian_relation"], mobile=data["guardian_mobile"]
                )
                if data["guardian_name"] or data["guardian_relation"]
                else None
            )
            evidence = ConsentEvidence(
                channel="store" if enrolling_staff else "admin",
                staff_id=enrolling_staff.pk if enrolling_staff else None,
                ip=request.META.get("REMOTE_ADDR", ""),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:200],
                paper=bool(data["paper_reference"]),
                partner_reference=data["paper_reference"],
                guardian=guardian,
                extra={"admin_user": _actor(request)},
            )
            decisions = [
                ConsentDecision(purpose=purpose, granted=bool(data[field]), version_id=version.pk)
                for field, version, purpose in form.consent_fields
            ]
            home_store = data["home_store"] or (enrolling_staff.store if enrolling_staff else None)
            if not scope.all_stores and (home_store is None or home_store.pk != scope.store_id):
                form.add_error("home_store", _("只能为本门店登记会员。"))
            else:
                # With a session, the customer's own decisions and device evidence are recorded
                # (and the session consumed in the enrolment's transaction); the boxes are ignored.
                consent: dict[str, Any] = (
                    {"consent_session_id": consent_session.pk}
                    if consent_session is not None
                    else {"decisions": decisions, "evidence": evidence}
                )
                try:
                    member = member_enroll(
                        name=data["name"],
                        mobile=data["mobile"],
                        gender=data["gender"],
                        birthday=data["birthday"],
                        home_store=home_store,
                        identities=form.identities(),
                        **consent,
                        channel="store",
                        staff=enrolling_staff,
                        source="admin",
                        actor=_actor(request),
                    )
                except AppError as exc:
                    for field, errors in exc.fields.items():
                        target = field if field in form.fields else None
                        form.add_error(
                            target, f"{exc.message}（{'、'.join(errors)}）" if target is None else exc.message
                        )
                    if not exc.fields:
                        form.add_error(None, exc.message)
                else:
                    self.message_user(request, f"入会成功，会员号 {member.member_no}。", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("登记入会"),
            "opts": self.model._meta,
            "form": form,
            "purposes": dict(Purpose.choices),
        }
        return TemplateResponse(request, "admin/members/member/enrol.html", context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        _stores, staff = self._store_choices(request)
        form = ImportForm(request.POST or None, request.FILES or None, staff=staff)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = members_import_start(
                    content=upload.read(),
                    filename=upload.name,
                    user=request.user,
                    staff=form.cleaned_data["staff"],
                    actor=_actor(request),
                )
            except AppError as exc:
                form.add_error("file", exc.message)
            else:
                self.message_user(request, f"文件已上传（{job.rows_total} 行），正在后台导入。", messages.INFO)
                return HttpResponseRedirect(reverse("admin:members_member_import_job", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("导入会员"),
            "opts": self.model._meta,
            "form": form,
            "columns": imports.COLUMNS_HELP,
            **import_page_context(request, kind=ImportJob.Kind.MEMBERS, max_rows=imports.MAX_ROWS),
        }
        return TemplateResponse(request, "admin/members/member/import.html", context)

    def import_job_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        return import_job_page(
            self,
            request,
            kind=ImportJob.Kind.MEMBERS,
            job_id=job_id,
            title=str(_("导入会员")),
            back_url=reverse("admin:members_member_import"),
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_enrol": self.has_add_permission(request),
            "can_import": self.has_import_permission(request),
        }
        return super().changelist_view(request, extra_context)
