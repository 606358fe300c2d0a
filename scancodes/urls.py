"""The scan page on the brand host (crm/urls_brand.py includes it at the root: /s/<serial>)."""

from django.urls import URLPattern, path

from . import views

app_name = "scancodes"

urlpatterns: list[URLPattern] = [path("s/<str:serial>", views.scan_page, name="scan")]
