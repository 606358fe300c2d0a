"""The member centre's partner API URLs (included by crm/urls_brand.py before the API's catch-all)."""

from django.urls import URLPattern, path

from crm.api.urls import V1

from .apis import (
    MeCardApi,
    MeConsentsApi,
    MemberCentreLinkApi,
    MemberCodeConsumeApi,
    MemberCodeResolveApi,
    MeMemberCodeApi,
    MeOrdersApi,
    MiniProgramSessionApi,
)

urlpatterns: list[URLPattern] = [
    path(V1 + "member-codes/resolve", MemberCodeResolveApi.as_view(), name="api-member-codes-resolve"),
    path(V1 + "member-codes/consume", MemberCodeConsumeApi.as_view(), name="api-member-codes-consume"),
    path(
        V1 + "members/<str:member_no>/member-centre-link", MemberCentreLinkApi.as_view(), name="api-member-centre-link"
    ),
    path(V1 + "miniprogram/sessions", MiniProgramSessionApi.as_view(), name="api-miniprogram-sessions"),
    path(V1 + "me/card", MeCardApi.as_view(), name="api-me-card"),
    path(V1 + "me/orders", MeOrdersApi.as_view(), name="api-me-orders"),
    path(V1 + "me/member-code", MeMemberCodeApi.as_view(), name="api-me-member-code"),
    path(V1 + "me/consents", MeConsentsApi.as_view(), name="api-me-consents"),
]
