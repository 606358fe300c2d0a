"""Two admin sites, never the default one.

The platform site (public schema) is for platform operators: brands, domains, the beat schedule.
The brand site is each brand's own back office. Keeping them apart means a model registered for
brands can never show up on the platform host and vice versa.
"""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.utils.translation import gettext_lazy as _


class PlatformAdminSite(admin.AdminSite):
    site_header = _("会员运营平台 · 平台管理")
    site_title = _("平台管理")
    index_title = _("品牌与平台")


class BrandAdminSite(admin.AdminSite):
    site_header = _("会员运营后台")
    site_title = _("会员运营后台")
    index_title = _("品牌会员运营")

    def each_context(self, request):
        context = super().each_context(request)
        brand = getattr(request, "tenant", None)
        if brand is not None:
            context["site_header"] = f"{brand.name} · {self.site_header}"
        return context


# Both sites use the "admin" namespace: each host's URLconf includes exactly one of them, so
# reverse("admin:...") resolves to the right back office wherever it is called.
platform_admin = PlatformAdminSite(name="admin")
brand_admin = BrandAdminSite(name="admin")

for site in (platform_admin, brand_admin):
    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)
