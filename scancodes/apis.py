"""Partner API of one item, one code, for a brand's mini-program: verify a code (authenticity)
and claim it for a member the mini-program has signed in (an anonymous scanner is enrolled first
through POST /api/v1/members with the brand's consent evidence, then claims).

A refused claim is answered as a problem but its scan is still logged: the view returns the
problem instead of raising, and the log row is committed (by the claim's own write of it, the claim
having no transaction of the view's around it; the claim's own savepoint was already rolled back by
the service)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.exceptions import problem_exception_handler
from crm.api.models import Scope
from crm.api.serializers import StrictSerializer
from crm.api.views import BrandApiView
from crm.errors import AppError
from crm.tenancy.zones import brand_time_shown

from .services import ScanContext, code_claim_by_number, code_verify, scan_context

TAGS = ["Scan codes"]


class ScanInSerializer(StrictSerializer):
    serial = serializers.IntegerField(min_value=1, max_value=2**62)
    secret = serializers.CharField(max_length=64)
    ip = serializers.IPAddressField(required=False, help_text="The scanner's IP as the mini-program saw it.")
    user_agent = serializers.CharField(max_length=500, required=False, allow_blank=True)
    precise_consent = serializers.BooleanField(required=False, default=False)
    latitude = serializers.FloatField(required=False, min_value=-90, max_value=90)
    longitude = serializers.FloatField(required=False, min_value=-180, max_value=180)


class ClaimInSerializer(ScanInSerializer):
    member_no = serializers.CharField(max_length=32)


def _ctx(data: dict[str, Any], request: Request) -> ScanContext:
    precise = bool(data.get("precise_consent"))
    return scan_context(
        ip=data.get("ip") or request.META.get("REMOTE_ADDR"),
        user_agent=data.get("user_agent", ""),
        channel="api",
        precise_consent=precise,
        latitude=data.get("latitude") if precise else None,
        longitude=data.get("longitude") if precise else None,
    )


class CodeVerifyApi(BrandApiView):
    required_scopes = {"POST": Scope.MEMBERS_READ}

    @extend_schema(
        operation_id="scancodes_verify",
        summary="Verify a code (authenticity)",
        tags=TAGS,
        request=ScanInSerializer,
        responses={200: dict},
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(ScanInSerializer)
        try:
            auth = code_verify(serial=data["serial"], secret=data["secret"], ctx=_ctx(data, request))
        except AppError as exc:
            return problem_exception_handler(exc, {})
        return Response(
            {
                "serial": auth.serial,
                "sku": auth.sku,
                "product_name": auth.product_name,
                "state": auth.state,
                "claimed": auth.claimed,
                "scan_count": auth.scan_count,
                "first_scanned_at": auth.first_scanned_at,
                "first_city": auth.first_city,
                "summary": auth.summary,
            }
        )


class CodeClaimApi(BrandApiView):
    required_scopes = {"POST": Scope.POINTS_WRITE}
    # The claim keeps its own transactions (services.py: the one statement, in autocommit when no
    # hook handler would write beside it; the ORM path's atomic block; each refusal's scan log one
    # INSERT). A retry by the same member returns their claim: safe to retry.
    own_transaction = True

    @extend_schema(
        operation_id="scancodes_claim",
        summary="Claim a code for a member",
        tags=TAGS,
        request=ClaimInSerializer,
        responses={201: dict, 200: dict},
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(ClaimInSerializer)
        try:
            member, result = code_claim_by_number(
                serial=data["serial"],
                secret=data["secret"],
                member_no=data["member_no"],
                ctx=_ctx(data, request),
                count_scan=True,
            )
        except AppError as exc:
            return problem_exception_handler(exc, {})
        claim = result.claim
        return Response(
            {
                "serial": claim.code_id,
                "member_no": member.member_no,
                "status": claim.status,
                "reward_kind": claim.reward_kind,
                "points": claim.points,
                "growth": claim.growth,
                "coupon_id": claim.coupon_id,
                "claimed_at": claim.at,
                "claimed_at_local": brand_time_shown(claim.at),
                "message": result.message,
            },
            status=201 if result.created else 200,
        )
