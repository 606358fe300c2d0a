"""Member-facing pages, on the brand's host under /m/ (crm/urls_brand.py)."""

from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "consent"

urlpatterns: list[URLPattern | URLResolver] = [
    path("consent/<str:token>/", views.session_page, name="session"),
    path("preferences/<str:token>/", views.preferences_page, name="preferences"),
    path("preferences/<str:token>/export/<int:request_id>.json", views.preferences_export, name="export"),
]
