"""URLs of the platform host (public schema): the platform operators' admin and health."""

from django.urls import include, path

from .admin_sites import platform_admin
from .health import healthz
from .server_error import server_error

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", platform_admin.urls),
]

# JSON, not Django's HTML page, for /healthz and the partner API when a request fails outside a
# view (the database down: crm/server_error.py).
handler500 = server_error
