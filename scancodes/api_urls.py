"""Partner API URLs of one item, one code (included by crm/urls_brand.py before the catch-all)."""

from django.urls import URLPattern, path

from crm.api.urls import V1

from .apis import CodeClaimApi, CodeVerifyApi

urlpatterns: list[URLPattern] = [
    path(V1 + "scancodes/verify", CodeVerifyApi.as_view(), name="api-scancodes-verify"),
    path(V1 + "scancodes/claims", CodeClaimApi.as_view(), name="api-scancodes-claims"),
]
