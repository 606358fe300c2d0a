"""登录锁定: the usernames axes refuses now, on both back offices (each shows its own schema's:
a brand's users on the brand host, the operators on the platform host), with an action that
unlocks them through `login_unlock`. Only users who manage users may open it (UNLOCK_PERMISSION)."""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_sites import brand_admin, platform_admin
from crm.errors import AppError
from crm.tenancy.zones import brand_time_shown

from .models import LockedLogin
from .selectors import logins_locked_out
from .services import UNLOCK_PERMISSION, login_unlock


class LockedLoginAdmin(ModelAdmin):
    list_display = ("username", "failures_since_start", "last_failure_shown", "unlocks_at_shown", "ip_address")
    list_display_links = None
    search_fields = ("username",)
    search_help_text = _("登录名")
    ordering = ("-attempt_time",)
    actions = ["unlock_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LockedLogin]:
        return logins_locked_out()

    # --- who may see and unlock: those who manage users; nobody adds or edits axes' records ---

    def _may_unlock(self, request: HttpRequest) -> bool:
        return request.user.has_perm(UNLOCK_PERMISSION)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_unlock(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_unlock(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- columns, in the brand's time ---

    @admin.display(description=_("最近一次失败"), ordering="attempt_time")
    def last_failure_shown(self, obj: LockedLogin) -> str:
        return brand_time_shown(obj.attempt_time)

    @admin.display(description=_("自动解锁时间"))
    def unlocks_at_shown(self, obj: LockedLogin) -> str:
        return brand_time_shown(obj.attempt_time + settings.AXES_COOLOFF_TIME)

    @admin.action(description=_("解锁所选账号"))
    def unlock_selected(self, request: HttpRequest, queryset: QuerySet[LockedLogin]) -> None:
        actor = request.user
        assert isinstance(actor, User)  # admin_view lets only logged-in staff in
        usernames = sorted({username for username in queryset.values_list("username", flat=True) if username})
        try:
            for username in usernames:
                login_unlock(username=username, actor=actor)
        except AppError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        self.message_user(request, f"已解锁：{'、'.join(usernames)}，可立即重新登录。", level=messages.SUCCESS)


for site in (brand_admin, platform_admin):
    site.register(LockedLogin, LockedLoginAdmin)
