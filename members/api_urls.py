"""Members' partner API URLs (included by crm/urls_brand.py before the API's catch-all 404)."""

from django.urls import URLPattern, path

from crm.api.urls import V1

from .apis import (
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

MEMBER = V1 + "members/<str:member_no>"

urlpatterns: list[URLPattern] = [
    # Fixed paths before the member-number ones: "lookup" and "merge" are not member numbers.
    path(V1 + "members", MemberEnrolApi.as_view(), name="api-members"),
    path(V1 + "members/lookup", MemberLookupApi.as_view(), name="api-members-lookup"),
    path(V1 + "members/merge", MemberMergeApi.as_view(), name="api-members-merge"),
    path(MEMBER, MemberDetailApi.as_view(), name="api-member"),
    path(MEMBER + "/identities", MemberIdentityApi.as_view(), name="api-member-identities"),
    path(MEMBER + "/points", MemberPointsApi.as_view(), name="api-member-points"),
    path(MEMBER + "/points/entries", MemberPointsEntriesApi.as_view(), name="api-member-points-entries"),
    path(MEMBER + "/points/redemptions", MemberRedemptionApi.as_view(), name="api-member-redemptions"),
    path(MEMBER + "/points/adjustments", MemberAdjustmentApi.as_view(), name="api-member-adjustments"),
    path(V1 + "orders", OrderCreateApi.as_view(), name="api-orders"),
    path(V1 + "orders/batch", OrderBatchApi.as_view(), name="api-orders-batch"),
    path(V1 + "orders/<str:channel>/<str:order_no>/refunds", OrderRefundApi.as_view(), name="api-order-refunds"),
    path(V1 + "tiers", TierListApi.as_view(), name="api-tiers"),
    path(V1 + "rewards", RewardListApi.as_view(), name="api-rewards"),
]
