"""Engagement's partner API URLs (included by crm/urls_brand.py before the API's catch-all 404)."""

from django.urls import URLPattern, path

from crm.api.urls import V1

from .apis import CheckinApi, CheckinMakeUpApi, ReferralLinkApi, ReferralListApi

MEMBER = V1 + "members/<str:member_no>"

urlpatterns: list[URLPattern] = [
    path(MEMBER + "/checkins", CheckinApi.as_view(), name="api-member-checkins"),
    path(MEMBER + "/checkins/makeups", CheckinMakeUpApi.as_view(), name="api-member-checkin-makeups"),
    path(MEMBER + "/referral-link", ReferralLinkApi.as_view(), name="api-member-referral-link"),
    path(MEMBER + "/referrals", ReferralListApi.as_view(), name="api-member-referrals"),
]
