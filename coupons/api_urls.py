"""Coupons' partner API URLs (included by crm/urls_brand.py before the API's catch-all 404)."""

from django.urls import URLPattern, path

from crm.api.urls import V1

from .apis import CouponRedeemApi, CouponRollbackApi, CouponValidateApi, MemberCouponsApi

urlpatterns: list[URLPattern] = [
    path(V1 + "coupons/validate", CouponValidateApi.as_view(), name="api-coupons-validate"),
    path(V1 + "coupons/redemptions", CouponRedeemApi.as_view(), name="api-coupons-redemptions"),
    path(
        V1 + "coupons/redemptions/<int:redemption_id>/rollback",
        CouponRollbackApi.as_view(),
        name="api-coupons-redemption-rollback",
    ),
    path(V1 + "members/<str:member_no>/coupons", MemberCouponsApi.as_view(), name="api-member-coupons"),
]
