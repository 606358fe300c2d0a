"""Two admin sites, never the default one.

The platform site (public schema) is for platform operators: brands, domains, the beat schedule.
The brand site is each brand's own back office. Keeping them apart means a model registered for
brands can never show up on the platform host and vice versa.
"""

from typing import Any

from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.sites import UnfoldAdminSite

from crm.admin_nav import brand_navigation
from crm.logins.sessions import admin_session_limit


class LimitedSessionSite(UnfoldAdminSite):
    """An admin login lasts hours, not SESSION_COOKIE_AGE's 14 days (crm/logins/sessions.py)."""

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().login(request, extra_context)
        # Logged in just now (a refused POST answers 200 with the form, and must not extend the
        # session of a user already logged in).
        if request.method == "POST" and response.status_code == 302 and request.user.is_authenticated:
            admin_session_limit(request)
        return response


class PlatformAdminSite(LimitedSessionSite):
    site_header = _("会员运营平台 · 平台管理")
    site_title = _("平台管理")
    index_title = _("品牌与平台")


class BrandAdminSite(LimitedSessionSite):
    site_header = _("会员运营后台")
    site_title = _("会员运营后台")
    index_title = _("品牌会员运营")

    def each_context(self, request):
        context = super().each_context(request)
        brand = getattr(request, "tenant", None)
        if brand is not None:
            context["site_header"] = f"{brand.name} · {self.site_header}"
            context["site_title"] = brand.name
        return context

    def _get_config(self, key: str, *args: Any) -> Any:
        config = super()._get_config(key, *args)
        if key == "SIDEBAR":
            # The brand's pages grouped for the people who use them (crm/admin_nav.py); each
            # role sees only the pages it may view.
            registered = {model._meta.label_lower for model in self._registry}
            config = {**(config or {}), "navigation": brand_navigation(registered), "show_all_applications": True}
        return config


# Both sites use the "admin" namespace: each host's URLconf includes exactly one of them, so
# reverse("admin:...") resolves to the right back office wherever it is called.
platform_admin = PlatformAdminSite(name="admin")
brand_admin = BrandAdminSite(name="admin")


class UserAdmin(DjangoUserAdmin, ModelAdmin):
    # Django's user forms styled by the theme (django-unfold's own recipe).
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


class GroupAdmin(DjangoGroupAdmin, ModelAdmin):
    pass


for site in (platform_admin, brand_admin):
    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)
