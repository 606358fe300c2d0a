"""URLs of a brand host (the brand's schema): the brand admin, health, and later the partner API
and the member-facing pages."""

from django.urls import include, path
from django.views.generic import RedirectView

from .admin_sites import brand_admin
from .health import healthz
from .server_error import server_error

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", brand_admin.urls),
    path("", include("crm.api.urls")),  # /api/v1/..., /api/schema/, /api/docs/
    path("wecom/", include("wecom.urls")),  # WeCom callbacks
    path("m/", include("consent.urls")),  # member-facing pages
]

# JSON, not Django's HTML page, for /healthz and the partner API when a request fails outside a
# view (the database down: crm/server_error.py).
handler500 = server_error
