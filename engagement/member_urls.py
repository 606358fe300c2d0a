"""Member-facing referral URLs under /m/ (crm/urls_brand.py, before the member centre's)."""

from django.urls import URLPattern, path

from . import member_views

app_name = "engagement"

urlpatterns: list[URLPattern] = [
    path("i/<str:token>/", member_views.invite_landing, name="invite"),
]
