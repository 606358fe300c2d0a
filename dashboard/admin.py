from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path
from unfold.admin import ModelAdmin

from crm.admin_sites import brand_admin

from .models import DashboardSettings
from .views import dashboard_export, dashboard_refresh_now, dashboard_refresh_status


@admin.register(DashboardSettings, site=brand_admin)
class DashboardSettingsAdmin(ModelAdmin):
    """The brand's targets; its URLs also carry the dashboard exports, which every back-office
    user may download for their own scope (admin_view: logged-in staff only)."""

    list_display = ("__str__", "capture_target_pct", "capture_gmv_target_pct")

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export/<slug:key>.<slug:fmt>",
            self.admin_site.admin_view(dashboard_export),
            name="dashboard_export",
        )
        refresh = path("refresh/", self.admin_site.admin_view(dashboard_refresh_now), name="dashboard_refresh")
        status = path(
            "refresh/status/", self.admin_site.admin_view(dashboard_refresh_status), name="dashboard_refresh_status"
        )
        return [export, refresh, status, *super().get_urls()]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not DashboardSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
