"""Consent's partner API URLs (included by crm/urls_brand.py before the API's catch-all 404)."""

from django.urls import URLPattern, path

from crm.api.urls import V1

from .apis import AgreementListApi, DataRequestCreateApi, DataRequestDetailApi, MemberConsentApi

urlpatterns: list[URLPattern] = [
    path(V1 + "members/<str:member_no>/consents", MemberConsentApi.as_view(), name="api-member-consents"),
    path(V1 + "agreements", AgreementListApi.as_view(), name="api-agreements"),
    path(V1 + "data-requests", DataRequestCreateApi.as_view(), name="api-data-requests"),
    path(V1 + "data-requests/<str:request_id>", DataRequestDetailApi.as_view(), name="api-data-request"),
]
