"""Partner API URLs on every brand host (included at the root of crm/urls_brand.py)."""

from django.urls import URLPattern, URLResolver, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.views import APIView

from consent.apis import (
    AgreementListApi,
    DataRequestCreateApi,
    DataRequestDetailApi,
    MemberConsentApi,
)
from members.apis import (
    MemberAdjustmentApi,
    MemberDetailApi,
    MemberEnrolApi,
    MemberIdentityApi,
    MemberLookupApi,
    MemberMergeApi,
    MemberPointsApi,
    MemberPointsEntriesApi,
    MemberRedemptionApi,
    OrderBatchApi,
    OrderCreateApi,
    OrderRefundApi,
    RewardListApi,
    TierListApi,
)

from .apis import WebhookDetailApi, WebhookListApi
from .error_codes import api_error


class ApiNotFound(APIView):
    """Any other /api/v1/ path: a problem+json 404 (not Django's HTML page), whatever the method."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    schema = None

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        raise api_error("not_found", status=404)


V1 = "api/v1/"
MEMBER = V1 + "members/<str:member_no>"

urlpatterns: list[URLPattern | URLResolver] = [
    # Fixed paths before the member-number ones: "lookup" and "merge" are not member numbers.
    path(V1 + "members", MemberEnrolApi.as_view(), name="api-members"),
    path(V1 + "members/lookup", MemberLookupApi.as_view(), name="api-members-lookup"),
    path(V1 + "members/merge", MemberMergeApi.as_view(), name="api-members-merge"),
    path(MEMBER, MemberDetailApi.as_view(), name="api-member"),
    path(MEMBER + "/identities", MemberIdentityApi.as_view(), name="api-member-identities"),
    path(MEMBER + "/consents", MemberConsentApi.as_view(), name="api-member-consents"),
    path(MEMBER + "/points", MemberPointsApi.as_view(), name="api-member-points"),
    path(MEMBER + "/points/entries", MemberPointsEntriesApi.as_view(), name="api-member-points-entries"),
    path(MEMBER + "/points/redemptions", MemberRedemptionApi.as_view(), name="api-member-redemptions"),
    path(MEMBER + "/points/adjustments", MemberAdjustmentApi.as_view(), name="api-member-adjustments"),
    path(V1 + "orders", OrderCreateApi.as_view(), name="api-orders"),
    path(V1 + "orders/batch", OrderBatchApi.as_view(), name="api-orders-batch"),
    path(V1 + "orders/<str:channel>/<str:order_no>/refunds", OrderRefundApi.as_view(), name="api-order-refunds"),
    path(V1 + "agreements", AgreementListApi.as_view(), name="api-agreements"),
    path(V1 + "tiers", TierListApi.as_view(), name="api-tiers"),
    path(V1 + "rewards", RewardListApi.as_view(), name="api-rewards"),
    path(V1 + "data-requests", DataRequestCreateApi.as_view(), name="api-data-requests"),
    path(V1 + "data-requests/<str:request_id>", DataRequestDetailApi.as_view(), name="api-data-request"),
    path("api/v1/webhooks", WebhookListApi.as_view(), name="api-webhooks"),
    path("api/v1/webhooks/<str:subscription_id>", WebhookDetailApi.as_view(), name="api-webhook"),
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
