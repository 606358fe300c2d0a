"""Partner API plumbing URLs on every brand host (included at the root of crm/urls_brand.py): the
schema, its docs, and the problem+json 404 for any other /api/v1/ path."""

from django.urls import URLPattern, URLResolver, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.views import APIView

from .error_codes import api_error


class ApiNotFound(APIView):
    """Any other /api/v1/ path: a problem+json 404 (not Django's HTML page), whatever the method."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    schema = None

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        raise api_error("not_found", status=404)


V1 = "api/v1/"

# The apps' endpoints live in their own URL modules (members/api_urls.py, consent/api_urls.py,
# webhooks/api_urls.py), included by crm/urls_brand.py before these: the plumbing imports no view.
urlpatterns: list[URLPattern | URLResolver] = [
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
