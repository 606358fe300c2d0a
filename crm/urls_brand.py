"""URLs of a brand host (the brand's schema): the brand admin, health, and later the partner API
and the member-facing pages."""

from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.generic import RedirectView

from .admin_sites import brand_admin
from .api.routing import api_urlpatterns
from .health import healthz
from .server_error import server_error

urlpatterns: list[URLPattern | URLResolver] = [
    # The partner API first: each app's endpoints, then the plumbing (/api/schema/, /api/docs/ and
    # the problem+json 404 for any other /api/v1/ path, which must come last), grouped so that a
    # call is tried against its own endpoints only (crm/api/routing.py). Nothing below matches a
    # path under /api/.
    api_urlpatterns(
        "members.api_urls",
        "consent.api_urls",
        "coupons.api_urls",
        "engagement.api_urls",
        "membercentre.api_urls",
        "webhooks.api_urls",
        "scancodes.api_urls",
        "performance.api_urls",
        "crm.api.urls",
    ),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The webhook log's admin pages moved with their models (app label api -> webhooks): old
    # bookmarks still arrive.
    re_path(
        r"^admin/api/(?P<rest>webhook(?:subscription|delivery)/.*)$",
        RedirectView.as_view(url="/admin/webhooks/%(rest)s"),
    ),
    # The store workbench (its staff pages under /admin/workbench/, the customer's /m/join/ page).
    path("", include("workbench.urls")),
    path("admin/", brand_admin.urls),
    path("wecom/", include("wecom.urls")),  # WeCom callbacks
    path("sms/", include("campaigns.urls")),  # the SMS provider's reply callback (退订)
    path("m/", include("consent.urls")),  # member-facing pages
    path("", include("scancodes.urls")),  # the scan page /s/<serial> (one item, one code)
    path("m/", include("performance.urls")),  # a staff member's share link / poster, /m/s/<token>/
    path("m/", include("engagement.member_urls")),  # invite links /m/i/<token>/ (邀请有礼)
    path("m/", include("membercentre.urls")),  # the member centre (会员中心)
]

# JSON, not Django's HTML page, for /healthz and the partner API when a request fails outside a
# view (the database down: crm/server_error.py).
handler500 = server_error
