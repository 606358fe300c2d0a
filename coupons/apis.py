"""Partner API of the coupons app: validate (dry run), redeem (write-off with a request number),
roll a write-off back, issue a coupon to a member, a member's coupons. Thin views on
BrandApiView: validate input, call one service or selector, render output.

Scopes: coupons have their own. Reads — validate (a dry run that changes nothing) and a member's
coupons — need `coupons:read`; writes — issue, redeem (write-off), roll a write-off back — need
`coupons:write`. A key without it is refused with 403 problem+json `scope_missing` (the partner
API's scope check, crm/api/permissions.py), so a brand grants handing out and spending coupons,
which is money, separately from posting orders or reading members."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.models import Scope
from crm.api.views import BrandApiView, represent
from members.apis import MEMBER_NO_PARAM, member_by_number
from members.models import Staff

from . import error_codes, selectors, services
from .models import Coupon
from .serializers import (
    CouponIssueInSerializer,
    CouponOutSerializer,
    CouponRedeemInSerializer,
    CouponRedemptionOutSerializer,
    CouponRollbackInSerializer,
    CouponValidateInSerializer,
    CouponValidateOutSerializer,
    MemberCouponOutSerializer,
    member_coupon_data,
)

COUPONS = ["coupons"]
REFUSALS = (
    "400 with `code` the first reason the coupon is not usable (`coupon_expired`, `coupon_not_yet_valid`, "
    "`coupon_used`, `coupon_below_threshold`, `coupon_wrong_store`, `coupon_wrong_day`, `coupon_wrong_time`, "
    "`coupon_locked`, `coupon_voided`, `coupon_member_mismatch`) and every reason in `fields.reasons`; "
    "404 `coupon_not_found` for an unknown code (another brand's codes are unknown here)."
)


def _member_id(member_no: str | None) -> int | None:
    return member_by_number(member_no, field="member_no").pk if member_no else None


class CouponValidateApi(BrandApiView):
    required_scopes = {"POST": Scope.COUPONS_READ}
    read_only_post = True  # a dry run: reads the coupon, changes nothing

    @extend_schema(
        operation_id="coupons_validate",
        summary="Would this coupon apply to this order? (dry run: discount and reasons; changes nothing)",
        description="Scope `coupons:read`. 404 `coupon_not_found` for an unknown code; a known coupon that "
        "cannot be used is a 200 with `usable: false` and the reasons.",
        request=CouponValidateInSerializer,
        responses={200: CouponValidateOutSerializer},
        tags=COUPONS,
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(CouponValidateInSerializer)
        result = selectors.coupon_validate(
            code=data["code"],
            member_id=_member_id(data.get("member_no")),
            store_code=data.get("store_code"),
            order_amount_fen=data["order_amount_fen"],
            shipping_fen=data["shipping_fen"],
            channel=data["channel"],
            order_no=data["order_no"],
        )
        return Response(
            {
                "usable": result.usable,
                "reasons": [{"code": r, "message": error_codes.reason_text(r)} for r in result.reasons],
                "discount_fen": result.discount_fen,
                "payable_after_fen": result.payable_after_fen,
                "coupon": represent(CouponOutSerializer, result.coupon),
            }
        )


class CouponRedeemApi(BrandApiView):
    required_scopes = {"POST": Scope.COUPONS_WRITE}

    @extend_schema(
        operation_id="coupons_redeem",
        summary="Write a coupon off against an order (idempotent per request_no)",
        description="Scope `coupons:write`. 201 the write-off; 200 the first write-off when request_no was "
        "seen before. "
        + REFUSALS
        + " 409 `coupon_request_conflict` when request_no was used for another coupon or order.",
        request=CouponRedeemInSerializer,
        responses={201: CouponRedemptionOutSerializer, 200: CouponRedemptionOutSerializer},
        tags=COUPONS,
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(CouponRedeemInSerializer)
        result = services.coupon_redeem(
            request_no=data["request_no"],
            code=data["code"],
            member_id=_member_id(data.get("member_no")),
            store_code=data.get("store_code"),
            channel=data["channel"],
            order_no=data["order_no"],
            order_amount_fen=data["order_amount_fen"],
            shipping_fen=data["shipping_fen"],
            actor=self.actor,
        )
        body = represent(CouponRedemptionOutSerializer, result.redemption)
        return Response(body, status=200 if result.replayed else 201)


class CouponRollbackApi(BrandApiView):
    required_scopes = {"POST": Scope.COUPONS_WRITE}

    @extend_schema(
        operation_id="coupons_redemption_rollback",
        summary="Roll back any write-off by its id (the coupon goes back to the member)",
        description="Scope `coupons:write`. Safe to retry: a rolled-back write-off is returned as it is. 404 "
        "`coupon_redemption_not_found`; 400 `coupon_redemption_not_live` for a refunded one.",
        request=CouponRollbackInSerializer,
        responses={200: CouponRedemptionOutSerializer, 404: OpenApiResponse(description="unknown write-off")},
        tags=COUPONS,
    )
    def post(self, request: Request, redemption_id: int) -> Response:
        data = self.validated_data(CouponRollbackInSerializer)
        redemption = services.coupon_redemption_rollback(
            redemption_id=redemption_id, actor=self.actor, reason=data["reason"]
        )
        return Response(represent(CouponRedemptionOutSerializer, redemption))


class MemberCouponsApi(BrandApiView):
    required_scopes = {"GET": Scope.COUPONS_READ, "POST": Scope.COUPONS_WRITE}

    @extend_schema(
        operation_id="members_coupons_list",
        summary="A member's coupons, usable first, each other one with the reasons it is not usable",
        description="Scope `coupons:read`.",
        parameters=[MEMBER_NO_PARAM],
        responses={200: MemberCouponOutSerializer(many=True)},
        tags=COUPONS,
    )
    def get(self, request: Request, member_no: str) -> Response:
        member = member_by_number(member_no)
        return Response([member_coupon_data(v) for v in selectors.member_coupons(member_id=member.pk)])

    @extend_schema(
        operation_id="members_coupons_issue",
        summary="Issue a coupon to a member (idempotent per source_key)",
        description="Scope `coupons:write`. A partner key issues as a machine actor: not held by the back "
        "office's daily caps (its limit is the scope a brand admin grants). 400 `coupon_over_member_limit`, "
        "`coupon_out_of_stock`, `coupon_codes_exhausted`, `coupon_template_inactive`, `coupon_member_not_eligible`.",
        parameters=[MEMBER_NO_PARAM],
        request=CouponIssueInSerializer,
        responses={201: CouponOutSerializer},
        tags=COUPONS,
    )
    def post(self, request: Request, member_no: str) -> Response:
        member = member_by_number(member_no)
        data = self.validated_data(CouponIssueInSerializer)
        if not services.CouponTemplate.objects.filter(pk=data["template_id"]).exists():
            raise error_codes.coupon_error(error_codes.TEMPLATE_INVALID, fields={"template_id": ["模板不存在。"]})
        staff_id = None
        if data["staff_userid"]:
            staff_id = Staff.objects.filter(wecom_userid=data["staff_userid"]).values_list("pk", flat=True).first()
            if staff_id is None:
                raise error_codes.coupon_error(
                    error_codes.ISSUE_INVALID, fields={"staff_userid": ["没有此企业微信账号的导购。"]}
                )
        coupon = services.coupon_issue(
            template_id=data["template_id"],
            member_id=member.pk,
            source=Coupon.Source.API,
            source_key=f"api:{data['source_key']}",
            actor=self.actor,
            staff_id=staff_id,
        )
        return Response(CouponOutSerializer(coupon).data, status=201)
