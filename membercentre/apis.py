"""Partner API of the member centre: resolve and consume the member code (POS), mint a member's
signed member-centre link, and the mini-program's member-scoped endpoints under /api/v1/me/
(a member token from POST /api/v1/miniprogram/sessions in `X-Member-Token`)."""

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from consent.models import ConsentRecord
from consent.selectors import consent_state_at
from consent.serializers import ConsentChangeInSerializer, PurposeStateOutSerializer
from consent.services import consent_grant, consent_withdraw
from consent.types import ConsentEvidence
from crm.api.models import Scope
from crm.api.views import BrandApiView, represent
from members.apis import MEMBER_NO_PARAM, MemberApiView
from members.masking import name_mask
from members.models import Member, Order

from . import error_codes
from .models import MemberCodeResolution
from .presentation import yuan
from .render import barcode_svg, qr_svg
from .selectors import member_card
from .serializers import (
    CardOutSerializer,
    EmptyInSerializer,
    MemberBriefOutSerializer,
    MemberCentreLinkOutSerializer,
    MemberCodeConsumeInSerializer,
    MemberCodeInSerializer,
    MemberCodeOutSerializer,
    MiniProgramSessionInSerializer,
    MiniProgramSessionOutSerializer,
    OrderListOutSerializer,
)
from .services.binding import wechat_mobile_bind
from .services.codes import member_code_consume, member_code_issue, member_code_resolve
from .services.links import MEMBER_CENTRE_LINK_MAX_AGE, member_centre_link_path
from .services.member_tokens import member_token_issue, member_token_read
from .services.signin import SigninIdentity, miniprogram_phone_exchange, signin_member

MEMBER_CODES = ["member-codes"]
MINI_PROGRAM = ["mini-program"]
MEMBER_TOKEN_HEADER = OpenApiParameter(
    "X-Member-Token", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True, description="From miniprogram/sessions."
)
ORDERS_LIMIT = 50


def _brief(member: Member) -> dict[str, Any]:
    return {
        "member_no": member.member_no,
        "name": name_mask(member.name),
        "tier": member.tier.name if member.tier else None,
        "points_balance": member.points_balance,
        "status": member.status,
    }


class MemberCodeResolveApi(BrandApiView):
    required_scopes = {"POST": Scope.MEMBERS_READ}

    def run_handler(self, handler: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        # Identifying writes only its audit row (its own statement); a wrong code must still be
        # counted by the limiter when the answer is a refusal, so no request-wide transaction
        # (which would roll a database cache's count back) and no idempotency record.
        return handler(request, *args, **kwargs)

    @extend_schema(
        operation_id="member_codes_resolve",
        summary="Who is this member code? (identify at the POS; audited)",
        description=(
            "Identifies the member without using the code up. 404 `member_code_invalid` (unknown, or of "
            "another brand), 410 `member_code_expired`, 409 `member_code_used`, 403 "
            "`member_centre_member_not_active`; after 20 wrong codes within a minute this key gets 429 "
            "`member_code_throttled` for any code. Every resolution is recorded (who, which member, when)."
        ),
        request=MemberCodeInSerializer,
        responses={200: MemberBriefOutSerializer},
        tags=MEMBER_CODES,
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(MemberCodeInSerializer)
        member = member_code_resolve(code=data["code"], via=MemberCodeResolution.Via.API, actor=self.actor)
        return Response(represent(MemberBriefOutSerializer, _brief(member)))


class MemberCodeConsumeApi(BrandApiView):
    required_scopes = {"POST": Scope.POINTS_WRITE}

    @extend_schema(
        operation_id="member_codes_consume",
        summary="Use a member code once, for an operation that moves value (redeem, write-off)",
        description=(
            "One use per code: the same `reference` again returns the same member (a retry), anything "
            "else on a used code is 409 `member_code_used`. Errors as for resolve."
        ),
        request=MemberCodeConsumeInSerializer,
        responses={200: MemberBriefOutSerializer},
        tags=MEMBER_CODES,
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(MemberCodeConsumeInSerializer)
        member = member_code_consume(
            code=data["code"], via=MemberCodeResolution.Via.API, actor=self.actor, reference=data["reference"]
        )
        return Response(represent(MemberBriefOutSerializer, _brief(member)))


class MemberCentreLinkApi(MemberApiView):
    required_scopes = {"POST": Scope.MEMBERS_WRITE}

    @extend_schema(
        operation_id="members_member_centre_link",
        summary="Mint the member's signed member-centre link (for a mini-program web view or an e-mail)",
        description="Valid 24 hours, on this brand's host only; opening it signs the member in on that browser.",
        parameters=[MEMBER_NO_PARAM],
        request=EmptyInSerializer,
        responses={201: MemberCentreLinkOutSerializer},
        tags=MINI_PROGRAM,
    )
    def post(self, request: Request, member_no: str) -> Response:
        from django.utils import timezone

        self.validated_data(EmptyInSerializer)
        member = self.member(member_no)
        if member.status != Member.Status.ACTIVE:
            raise error_codes.error(error_codes.MEMBER_NOT_ACTIVE, status=403)
        url = request.build_absolute_uri(member_centre_link_path(member_id=member.pk))
        body = {"url": url, "expires_at": timezone.now() + MEMBER_CENTRE_LINK_MAX_AGE}
        return Response(MemberCentreLinkOutSerializer(body).data, status=201)


class MiniProgramSessionApi(BrandApiView):
    required_scopes = {"POST": Scope.MEMBERS_READ}

    @extend_schema(
        operation_id="miniprogram_sessions_create",
        summary="Sign a mini-program user in by unionid/openid (code2session's result, with its evidence)",
        description=(
            "201 with a member token for /api/v1/me/ when the unionid (then openid) belongs to a member; "
            "404 `not_a_member` otherwise (enrol with POST /api/v1/members and the brand's consent). "
            "With `phone_code` (getPhoneNumber) the mobile is verified with WeChat and bound: the mobile's "
            "member is linked to this openid/unionid (idempotent), or, when nobody has it, the 404 carries "
            "`fields.verified_mobile`. 409 `member_centre_mobile_taken` when the mobile's member is linked to another "
            "unionid, 409 `member_centre_wechat_taken` when this WeChat user is another member; 400 "
            "`miniprogram_phone_code_invalid` for a refused code, 404 `miniprogram_not_configured`."
        ),
        request=MiniProgramSessionInSerializer,
        responses={201: MiniProgramSessionOutSerializer},
        tags=MINI_PROGRAM,
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(MiniProgramSessionInSerializer)
        identity = SigninIdentity(method="miniprogram", openid=data["openid"], unionid=data["unionid"])
        if data["phone_code"]:
            mobile = miniprogram_phone_exchange(code=data["phone_code"])
            member, _ = wechat_mobile_bind(identity=identity, mobile=mobile)
            if member is None:
                # The code is spent: hand the verified mobile back for the enrolment that follows.
                refusal = error_codes.error(error_codes.NOT_A_MEMBER, status=404)
                refusal.fields = {"verified_mobile": [mobile]}
                raise refusal
        else:
            member = signin_member(identity)
        if member is None:
            raise error_codes.error(error_codes.NOT_A_MEMBER, status=404)
        if member.status != Member.Status.ACTIVE:
            raise error_codes.error(error_codes.MEMBER_NOT_ACTIVE, status=403)
        token, expires_at = member_token_issue(member=member, partner_id=self.partner.pk)
        body = {"member_no": member.member_no, "member_token": token, "expires_at": expires_at}
        return Response(MiniProgramSessionOutSerializer(body).data, status=201)


class MeApiView(BrandApiView):
    """Endpoints scoped to the member of the `X-Member-Token` (issued to this partner, on this
    brand): a member sees only their own data."""

    required_scopes: ClassVar[dict[str, str]] = {"GET": Scope.MEMBERS_READ}

    def me(self) -> Member:
        return member_token_read(token=self.request.headers.get("X-Member-Token", ""), partner_id=self.partner.pk)


class MeCardApi(MeApiView):
    @extend_schema(
        operation_id="me_card",
        summary="The member's card: tier, progress to the next tier, balance, expiring points",
        parameters=[MEMBER_TOKEN_HEADER],
        responses={200: CardOutSerializer},
        tags=MINI_PROGRAM,
    )
    def get(self, request: Request) -> Response:
        member = self.me()
        card = member_card(member=member)
        body = {
            "member_no": member.member_no,
            "name": member.name,
            "tier": card.tier_name,
            "next_tier": card.next_tier_name,
            "needed": card.needed,
            "needed_text": card.needed_text,
            "progress_pct": card.progress_pct,
            "tier_valid_until": card.tier_valid_until,
            "points_balance": card.balance,
            "points_pending": card.pending,
            "expiring": [{"points": e.points, "expires_at": e.expires_at, "text": e.text} for e in card.expiring],
        }
        return Response(CardOutSerializer(body).data)


def order_in_words(order: Order) -> str:
    where = order.store.name if order.store else order.get_channel_display()
    return f"在{where}消费 {yuan(order.amount_fen)}"


def _orders(member: Member) -> QuerySet[Order]:
    return Order.objects.filter(member=member).select_related("store").order_by("-paid_at", "-id")[:ORDERS_LIMIT]


class MeOrdersApi(MeApiView):
    @extend_schema(
        operation_id="me_orders",
        summary="The member's latest orders (50), newest first",
        parameters=[MEMBER_TOKEN_HEADER],
        responses={200: OrderListOutSerializer},
        tags=MINI_PROGRAM,
    )
    def get(self, request: Request) -> Response:
        results = [
            {
                "channel": order.channel,
                "order_no": order.order_no,
                "store": order.store.name if order.store else None,
                "paid_at": order.paid_at,
                "amount_fen": order.amount_fen,
                "refunded_fen": order.refunded_fen,
                "points_earned": order.points_earned,
                "text": order_in_words(order),
            }
            for order in _orders(self.me())
        ]
        return Response(OrderListOutSerializer({"results": results}).data)


class MeMemberCodeApi(MeApiView):
    required_scopes = {"POST": Scope.MEMBERS_READ}

    def run_handler(self, handler: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        return handler(request, *args, **kwargs)  # issuing is its own one-row write; no replay wanted

    @extend_schema(
        operation_id="me_member_code",
        summary="A fresh member code for the member (valid 60 s), with its QR code and barcode as SVG",
        parameters=[MEMBER_TOKEN_HEADER],
        request=EmptyInSerializer,
        responses={201: MemberCodeOutSerializer},
        tags=MINI_PROGRAM,
    )
    def post(self, request: Request) -> Response:
        self.validated_data(EmptyInSerializer)
        issued = member_code_issue(member_id=self.me().pk)
        body = {
            "code": issued.code,
            "expires_at": issued.expires_at,
            "qr_svg": str(qr_svg(issued.code)),
            "barcode_svg": str(barcode_svg(issued.code)),
        }
        return Response(MemberCodeOutSerializer(body).data, status=201)


def _state_body(state: Any) -> dict[str, Any]:
    return {
        "purpose": state.purpose,
        "granted": state.granted,
        "needs_reconsent": state.needs_reconsent,
        "effective": state.effective,
        "version_id": state.version_id,
        "recorded_at": state.recorded_at,
        "channel": state.channel,
    }


class MeConsentsApi(MeApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ, "POST": Scope.CONSENT_WRITE}

    @extend_schema(
        operation_id="me_consents",
        summary="The member's consent per purpose",
        parameters=[MEMBER_TOKEN_HEADER],
        responses={200: PurposeStateOutSerializer(many=True)},
        tags=MINI_PROGRAM,
    )
    def get(self, request: Request) -> Response:
        states = consent_state_at(member=self.me())
        bodies = [_state_body(state) for _, state in sorted(states.items())]
        return Response(PurposeStateOutSerializer(bodies, many=True).data)

    @extend_schema(
        operation_id="me_consents_change",
        summary="The member grants or withdraws one purpose in the mini-program",
        description="As POST /api/v1/members/{member_no}/consents, for the member of the token.",
        parameters=[MEMBER_TOKEN_HEADER],
        request=ConsentChangeInSerializer,
        responses={200: PurposeStateOutSerializer},
        tags=MINI_PROGRAM,
    )
    def post(self, request: Request) -> Response:
        member = self.me()
        data = self.validated_data(ConsentChangeInSerializer)
        evidence = ConsentEvidence(
            channel=ConsentRecord.Channel.PARTNER_API,
            partner_reference=data["partner_reference"],
            ip=data["ip"],
            user_agent=data["user_agent"],
            extra={"partner": self.partner.name, "via": "mini_program"},
        )
        if data["granted"]:
            consent_grant(
                member_id=member.pk,
                purpose=data["purpose"],
                evidence=evidence,
                actor=self.actor,
                version_id=data.get("version_id"),
            )
        else:
            consent_withdraw(member_id=member.pk, purpose=data["purpose"], evidence=evidence, actor=self.actor)
        state = consent_state_at(member=member)[data["purpose"]]
        return Response(PurposeStateOutSerializer(_state_body(state)).data)
