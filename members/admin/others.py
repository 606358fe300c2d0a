"""Stores, staff, identities, tags and merge records in the brand admin (all store-scoped)."""

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_sites import brand_admin

from ..masking import mobile_shown
from ..merge_words import merge_moved_words
from ..models import Identity, IdentityKind, MemberMerge, Staff, Store, Tag
from ..phones import mobile_normalize_or_none
from ..scoping import StoreScopedAdminMixin


@admin.register(Store, site=brand_admin)
class StoreAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_store_path = ""
    list_display = ("code", "name", "city", "channel", "is_active")
    list_filter = ("city", "channel", "is_active")
    search_fields = ("code", "name", "city")


@admin.register(Staff, site=brand_admin)
class StaffAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_store_path = "store"
    list_display = ("name", "store", "wecom_userid", "status", "user", "member_count")
    list_select_related = ("store", "user")
    list_filter = ("status", "store")
    search_fields = ("name", "wecom_userid", "user__username")
    # The login is linked through members.services.stores.staff_login_link (it also sets the
    # role group); resignation and hand-over belong to the WeCom transfer flow (企业微信 › 导购交接),
    # so the status cannot be flipped here and leave the staff member's customers behind.
    readonly_fields = ("user", "status", "resigned_at")
    fields = ("store", "name", "wecom_userid", "status", "resigned_at", "user")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_members=Count("assigned_members"))

    @admin.display(description=_("负责会员数"), ordering="n_members")
    def member_count(self, obj: Staff) -> int:
        return obj.n_members  # type: ignore[attr-defined]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # staff rows carry assignment history; they resign, they are not deleted


@admin.register(Identity, site=brand_admin)
class IdentityAdmin(StoreScopedAdminMixin, ModelAdmin):
    """Read-only: identities are bound by enrolment, the API and merges (services), never typed in."""

    scope_member_path = "member"
    list_display = ("kind", "shown_value", "member", "created_at")
    list_select_related = ("member",)
    list_filter = ("kind",)
    search_fields = ("=value", "=member__member_no")
    # The change view (read-only) masks the value like the list does.
    fields = ("kind", "shown_value", "member", "created_at")
    readonly_fields = fields

    @admin.display(description=_("值"))
    def shown_value(self, obj: Identity) -> str:
        # Lists are masked for everyone; the full mobile is on the member page (logged).
        if obj.kind == IdentityKind.MOBILE:
            return mobile_shown(obj.value, full=False)
        return obj.value

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> Any:
        mobile = mobile_normalize_or_none(search_term)
        if mobile is not None:
            return queryset.filter(kind=IdentityKind.MOBILE, value=mobile), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Tag, site=brand_admin)
class TagAdmin(ModelAdmin):
    """Tags are the brand's catalogue (not personal data): every role may see them."""

    list_display = ("name", "group", "wecom_tag_id", "member_count")
    list_filter = ("group",)
    search_fields = ("name", "group")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_members=Count("member_tags"))

    @admin.display(description=_("会员数"), ordering="n_members")
    def member_count(self, obj: Tag) -> int:
        return obj.n_members  # type: ignore[attr-defined]


@admin.register(MemberMerge, site=brand_admin)
class MemberMergeAdmin(StoreScopedAdminMixin, ModelAdmin):
    scope_member_path = "survivor"
    list_display = ("created_at", "survivor", "merged", "actor", "reason")
    list_select_related = ("survivor", "merged")
    search_fields = ("=survivor__member_no", "=merged__member_no", "actor")
    fields = ("survivor", "merged", "actor", "reason", "moved_shown", "created_at")
    readonly_fields = fields

    @admin.display(description=_("迁移内容"))
    def moved_shown(self, obj: MemberMerge) -> str:
        return merge_moved_words(obj.moved)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # merges happen through the member list's merge action (the service)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
