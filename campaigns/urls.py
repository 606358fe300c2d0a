"""Campaigns' inbound endpoints on the brand host (crm/urls_brand.py mounts them under sms/)."""

from django.urls import URLPattern, path

from . import views

app_name = "campaigns"

urlpatterns: list[URLPattern] = [
    path("replies/", views.sms_replies, name="sms-replies"),
]
