"""Member-facing URLs of staff performance (crm/urls_brand.py, under /m/)."""

from django.urls import URLPattern, path

from . import views

app_name = "performance"

urlpatterns: list[URLPattern] = [
    path("s/<str:token>/", views.share_open, name="share"),
]
