"""URLs of the platform host (public schema): the platform operators' admin and health."""

from django.urls import include, path

from .admin_sites import platform_admin
from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", platform_admin.urls),
]
