"""Webhook subscription URLs of the partner API (included by crm/urls_brand.py before the API's
catch-all 404)."""

from django.urls import URLPattern, path

from crm.api.urls import V1

from .apis import WebhookDetailApi, WebhookListApi

urlpatterns: list[URLPattern] = [
    path(V1 + "webhooks", WebhookListApi.as_view(), name="api-webhooks"),
    path(V1 + "webhooks/<str:subscription_id>", WebhookDetailApi.as_view(), name="api-webhook"),
]
