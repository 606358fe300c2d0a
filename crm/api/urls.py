"""Partner API URLs on every brand host (included at the root of crm/urls_brand.py)."""

from django.urls import URLPattern, URLResolver, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.views import APIView

from .apis import WebhookDetailApi, WebhookListApi
from .error_codes import api_error


class ApiNotFound(APIView):
    """Any other /api/v1/ path: a problem+json 404 (not Django's HTML page), whatever the method."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    schema = None

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        raise api_error("not_found", status=404)


urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/webhooks", WebhookListApi.as_view(), name="api-webhooks"),
    path("api/v1/webhooks/<str:subscription_id>", WebhookDetailApi.as_view(), name="api-webhook"),
    # The schema is built on the brand host that asks for it (same for every brand).
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    re_path(r"^api/v1/", ApiNotFound.as_view()),
]
