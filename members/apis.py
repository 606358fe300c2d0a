"""Partner API endpoints of the members app: enrolment and OneID, orders and refunds, points,
tiers and rewards. Thin views on crm.api.views.BrandApiView (auth, scopes, throttle, one
transaction per write, Idempotency-Key): validate input, call one service or selector, render
output. Webhooks come from the services' hooks (webhooks/events.py), whatever the channel.

Members are addressed by member number. A number that was merged into another member resolves
to the survivor (OneID: every old reference keeps finding the same person).
"""

import datetime as dt
import re
from typing import Any

from django.db.models import Min, Sum
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers as drf_serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from consent.types import ConsentDecision, ConsentEvidence, GuardianConsent
from crm.api.compiled_input import validation_scope
from crm.api.error_codes import api_error, error_detail, field_message
from crm.api.exceptions import flatten_errors
from crm.api.models import Scope
from crm.api.views import BrandApiView, input_validator, represent, validation_errors
from crm.errors import AppError

from .models import Member, Order, PointsEntry, PointsLot, Reward, SalesChannel, Store
from .selectors import MEMBER_NO, member_lookup
from .serializers import (
    AdjustmentInSerializer,
    AdjustmentOutSerializer,
    IdentityInSerializer,
    MemberEnrolInSerializer,
    MemberLookupInSerializer,
    MemberMergeInSerializer,
    MemberMergeOutSerializer,
    MemberOutSerializer,
    MemberPatchInSerializer,
    OrderBatchInSerializer,
    OrderBatchOutSerializer,
    OrderInSerializer,
    OrderOutSerializer,
    PointsEntryOutSerializer,
    PointsEntryPageSerializer,
    PointsSummaryOutSerializer,
    RedemptionInSerializer,
    RedemptionOutSerializer,
    RefundInSerializer,
    RefundOutSerializer,
    RewardListSerializer,
    TierListSerializer,
)
from .services.members import IdentityInput, identity_bind, member_enroll, member_profile_update
from .services.merge import member_merge
from .services.orders import OrderInput, OrderItemResult, OrderLineInput, order_get, order_post, order_refund
from .services.orders import orders_post_batch as orders_ingest
from .services.points_adjustments import points_adjust
from .services.rewards import reward_redeem
from .services.tiers import tiers_ranked

# A member number or order number in a URL that cannot exist is a 404 before any query (and a
# NUL byte, which PostgreSQL refuses in text, never reaches the database).
MEMBER_NO_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
ORDER_NO_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
EXPIRING_WITHIN_DAYS = 30
ORDERS_BATCH_BODY_BYTES = 4 * 1024 * 1024

MEMBERS = ["members"]
ORDERS = ["orders"]
POINTS = ["points"]
CATALOGUE = ["catalogue"]

MEMBER_NO_PARAM = OpenApiParameter("member_no", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. M00000042")


def _not_found() -> AppError:
    return api_error("not_found", status=404)


def _store_by_code(code: str | None, *, field: str) -> Store | None:
    if code is None:
        return None
    store = Store.objects.filter(code=code).first()
    if store is None:
        raise api_error("invalid_input", status=400, fields={field: [field_message("门店不存在。", "Unknown store.")]})
    return store


def member_out(member: Member) -> dict[str, Any]:
    fresh = Member.objects.select_related("tier", "home_store").prefetch_related("identities").get(pk=member.pk)
    return MemberOutSerializer(fresh).data


def member_by_number(member_no: str, *, field: str | None = None, follow_merges: bool = True) -> Member:
    """The member a partner names by number, or 404 — with a field error when the number came in
    the body (`field`). Following merges, a merged number finds its survivor (what partners
    holding an old number expect); the merge endpoint wants the named member itself."""
    member_no = member_no.strip()
    member = None
    if MEMBER_NO_RE.match(member_no):
        if follow_merges:
            member = member_lookup(kind=MEMBER_NO, value=member_no)
        else:
            member = Member.objects.filter(member_no=member_no.upper()).first()
    if member is None:
        if field is None:
            raise _not_found()
        raise api_error("not_found", status=404, fields={field: [field_message("会员不存在。", "No such member.")]})
    return member


class MemberApiView(BrandApiView):
    """Endpoints under /api/v1/members/{member_no}/."""

    def member(self, member_no: str) -> Member:
        return member_by_number(member_no)


# --- members ------------------------------------------------------------------------------------


class MemberEnrolApi(BrandApiView):
    required_scopes = {"POST": Scope.MEMBERS_WRITE}

    @extend_schema(
        operation_id="members_enrol",
        summary="Enrol a member with the brand's own consent",
        request=MemberEnrolInSerializer,
        responses={201: MemberOutSerializer},
        tags=MEMBERS,
        examples=[
            OpenApiExample(
                "enrol",
                request_only=True,
                value={
                    "name": "李雷",
                    "mobile": "13812345678",
                    "gender": "male",
                    "birthday": "1990-05-01",
                    "channel": "mini_program",
                    "identities": [{"kind": "wechat_unionid", "value": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}],
                    "consents": [
                        {"purpose": "membership", "granted": True, "version_id": 1},
                        {"purpose": "marketing_sms", "granted": False, "version_id": 2},
                    ],
                    "consent_evidence": {"partner_reference": "mp-consent-20260108-0001", "ip": "203.0.113.7"},
                },
            )
        ],
        description=(
            "409 `member_already_enrolled` (with `member_no`) when one of the identities is bound "
            "already: a retried enrolment never creates a second member. 409 "
            "`consent_membership_agreement_incomplete` while the brand has not published a complete "
            "membership agreement (one naming the brand and its contacts): nothing is written; retry "
            "once the brand has published it."
        ),
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(MemberEnrolInSerializer)
        evidence = data["consent_evidence"]
        guardian = evidence.get("guardian")
        member = member_enroll(
            name=data["name"],
            mobile=data["mobile"],
            gender=data["gender"],
            birthday=data["birthday"],
            home_store=_store_by_code(data.get("home_store"), field="home_store"),
            identities=[IdentityInput(kind=i["kind"], value=i["value"]) for i in data["identities"]],
            decisions=[
                ConsentDecision(purpose=c["purpose"], granted=c["granted"], version_id=c["version_id"])
                for c in data["consents"]
            ],
            evidence=ConsentEvidence(
                channel="partner_api",
                partner_reference=evidence["partner_reference"],
                ip=evidence["ip"],
                user_agent=evidence["user_agent"],
                guardian=GuardianConsent(**guardian) if guardian else None,
                extra={"partner": self.partner.name},
            ),
            channel=data["channel"],
            actor=self.actor,
        )
        return Response(member_out(member), status=201, headers={"Location": f"/api/v1/members/{member.member_no}"})


# What /members/{member_no} answers to, for the literal paths beside it (see BrandApiView).
MEMBER_DETAIL_METHODS = frozenset({"get", "head", "patch"})


class MemberLookupApi(BrandApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ}
    shadowed_methods = MEMBER_DETAIL_METHODS

    @extend_schema(
        operation_id="members_lookup",
        summary="Find the member behind an identity (OneID)",
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, required=True, description="identity kind, or `member_no`"),
            OpenApiParameter("value", OpenApiTypes.STR, required=True),
        ],
        responses={200: MemberOutSerializer},
        tags=MEMBERS,
    )
    def get(self, request: Request) -> Response:
        query = self.validated_query(MemberLookupInSerializer)
        member = member_lookup(kind=query["kind"], value=query["value"])
        if member is None:
            raise _not_found()
        return Response(member_out(member))


class MemberDetailApi(MemberApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ, "PATCH": Scope.MEMBERS_WRITE}

    @extend_schema(
        operation_id="members_retrieve",
        parameters=[MEMBER_NO_PARAM],
        responses={200: MemberOutSerializer},
        tags=MEMBERS,
    )
    def get(self, request: Request, member_no: str) -> Response:
        return Response(member_out(self.member(member_no)))

    @extend_schema(
        operation_id="members_update",
        summary="Change profile fields (only those sent)",
        parameters=[MEMBER_NO_PARAM],
        request=MemberPatchInSerializer,
        responses={200: MemberOutSerializer},
        tags=MEMBERS,
        examples=[OpenApiExample("new mobile", request_only=True, value={"mobile": "13900001111"})],
    )
    def patch(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        changes = dict(self.validated_data(MemberPatchInSerializer))
        if "home_store" in changes:
            changes["home_store"] = _store_by_code(changes["home_store"], field="home_store")
        if changes.get("birthday", ...) is None:
            changes["birthday"] = None
        member = member_profile_update(member=member, actor=self.actor, **changes)
        return Response(member_out(member))


class MemberIdentityApi(MemberApiView):
    required_scopes = {"POST": Scope.MEMBERS_WRITE}

    @extend_schema(
        operation_id="members_identities_bind",
        summary="Bind an identity to the member",
        description=(
            "Binding what the member already has changes nothing (200). An identity bound to ANOTHER "
            "member is 409 `identity_conflict` naming it: resolve by POST /api/v1/members/merge."
        ),
        parameters=[MEMBER_NO_PARAM],
        request=IdentityInSerializer,
        responses={200: MemberOutSerializer},
        tags=MEMBERS,
    )
    def post(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        data = self.validated_data(IdentityInSerializer)
        identity_bind(member=member, kind=data["kind"], value=data["value"], actor=self.actor)
        return Response(member_out(member))


class MemberMergeApi(BrandApiView):
    required_scopes = {"POST": Scope.MEMBERS_WRITE}
    shadowed_methods = MEMBER_DETAIL_METHODS

    @extend_schema(
        operation_id="members_merge",
        summary="Merge two members who are the same person",
        request=MemberMergeInSerializer,
        responses={200: MemberMergeOutSerializer},
        tags=MEMBERS,
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(MemberMergeInSerializer)
        # Exact numbers, not followed to survivors: merging an already merged member is refused
        # by the service with its reason instead of silently merging someone else.
        survivor, merged = (
            member_by_number(data[field], field=field, follow_merges=False)
            for field in ("survivor_member_no", "merged_member_no")
        )
        record = member_merge(survivor=survivor, merged=merged, actor=self.actor, reason=data["reason"])
        # member_out is already rendered; `moved` is the JSON the merge service recorded.
        return Response(
            {
                "survivor": member_out(record.survivor),
                "merged_member_no": record.merged.member_no,
                "moved": record.moved,
            }
        )


# --- orders -------------------------------------------------------------------------------------


def _order_input(data: dict[str, Any], stores: dict[str, int]) -> OrderInput:
    buyer = data.get("buyer") or {}
    return OrderInput(
        channel=data["channel"],
        order_no=data["order_no"].strip(),
        paid_at=data["paid_at"],
        amount_fen=data["amount_fen"],
        store_id=stores[data["store"]] if data.get("store") else None,
        buyer_kind=buyer.get("kind", ""),
        buyer_value=buyer.get("value", ""),
        lines=_order_lines(data),
        points_redeemed=data["points_redeemed"],
    )


def _order_lines(data: dict[str, Any]) -> tuple[OrderLineInput, ...]:
    return tuple(
        OrderLineInput(sku=line["sku"], name=line["name"], quantity=line["quantity"], amount_fen=line["amount_fen"])
        for line in data["lines"]
    )


def _stores_by_code(codes: set[str]) -> dict[str, int]:
    return dict(Store.objects.filter(code__in=codes).values_list("code", "pk")) if codes else {}


ORDER_EXAMPLE = {
    "channel": "tmall",
    "order_no": "TM20260108000123",
    "paid_at": "2026-01-08T10:21:00+08:00",
    "amount_fen": 25900,
    "buyer": {"kind": "tmall_ouid", "value": "AAGk3xYz"},
    "lines": [{"sku": "SKU-001", "name": "拿铁咖啡豆 500g", "quantity": 1, "amount_fen": 25900}],
}


class OrderCreateApi(BrandApiView):
    required_scopes = {"POST": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="orders_create",
        summary="Post one order (idempotent per channel + order_no)",
        description=(
            "201 when recorded now, 200 when the same order was posted before (nothing changes). "
            "The same order number with a different amount is 409 `order_conflict`. A buyer who is "
            "not a member makes a tourist order (kept for the capture rate, earns nothing). "
            "`points_redeemed` pays part of the order with the member's points (points-as-cash), debited "
            "in the same transaction; if that is refused, nothing is recorded."
        ),
        request=OrderInSerializer,
        responses={201: OrderOutSerializer, 200: OrderOutSerializer},
        tags=ORDERS,
        examples=[OpenApiExample("member order", request_only=True, value=ORDER_EXAMPLE)],
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(OrderInSerializer)
        buyer = data.get("buyer") or {}
        result = order_post(
            channel=data["channel"],
            order_no=data["order_no"],
            paid_at=data["paid_at"],
            amount_fen=data["amount_fen"],
            store=_store_by_code(data.get("store"), field="store"),
            buyer_kind=buyer.get("kind"),
            buyer_value=buyer.get("value"),
            lines=_order_lines(data),
            points_redeemed=data["points_redeemed"],
            actor=self.actor,
        )
        return Response(represent(OrderOutSerializer, result.order), status=201 if result.created else 200)


class OrderBatchApi(BrandApiView):
    required_scopes = {"POST": Scope.ORDERS_WRITE}
    max_body_bytes = ORDERS_BATCH_BODY_BYTES

    @extend_schema(
        operation_id="orders_batch",
        summary="Post up to 500 orders; per-item results",
        description=(
            "Each item is validated and recorded on its own: a refused item (`status: rejected` with "
            "its error) writes nothing and does not stop the others. Items already posted are "
            "`duplicate`. More than 500 items is 400 `batch_too_large`."
        ),
        request=OrderBatchInSerializer,
        responses={200: OrderBatchOutSerializer},
        tags=ORDERS,
        examples=[OpenApiExample("batch", request_only=True, value={"orders": [ORDER_EXAMPLE]})],
    )
    def post(self, request: Request) -> Response:
        items = self.check_batch(self.validated_data(OrderBatchInSerializer)["orders"], field="orders")
        rejected: dict[int, dict[str, Any]] = {}
        valid: list[tuple[int, dict[str, Any]]] = []
        validator = input_validator(OrderInSerializer)  # one for every item (see input_validator)
        with validation_scope():
            for index, item in enumerate(items):
                try:
                    valid.append((index, validator.run_validation(item)))
                except drf_serializers.ValidationError as exc:
                    rejected[index] = self._error(
                        "invalid_input", error_detail("invalid_input"), flatten_errors(validation_errors(exc.detail))
                    )
        stores = _stores_by_code({data["store"] for _, data in valid if data.get("store")})
        for index in [i for i, d in valid if d.get("store") and d["store"] not in stores]:
            rejected[index] = self._error(
                "invalid_input",
                error_detail("invalid_input"),
                {"store": [field_message("门店不存在。", "Unknown store.")]},
            )
        valid = [(i, d) for i, d in valid if i not in rejected]
        results = orders_ingest(orders=[_order_input(d, stores) for _, d in valid], actor=self.actor)
        out: list[dict[str, Any]] = []
        by_index = {index: (data, result) for (index, data), result in zip(valid, results, strict=True)}
        for index, item in enumerate(items):
            if index in rejected:
                source = item if isinstance(item, dict) else {}
                out.append(self._item(index, source, "rejected", None, rejected[index]))
                continue
            data, result = by_index[index]
            if result.error_code:
                error = self._error(result.error_code, result.error_message, result.fields)
                out.append(self._item(index, data, "rejected", None, error))
            else:
                out.append(self._item(index, data, "created" if result.created else "duplicate", result, None))
        counts = {s: sum(1 for o in out if o["status"] == s) for s in ("created", "duplicate", "rejected")}
        body = {"created": counts["created"], "duplicates": counts["duplicate"], "rejected": counts["rejected"]}
        # Built in OrderBatchOutSerializer's shape already (documented by it, checked against the
        # schema by the schemathesis tests): a serializer pass over 500 items was ~4 % of the call.
        return Response({**body, "results": out})

    @staticmethod
    def _error(code: str, detail: str, fields: dict[str, list[str]]) -> dict[str, Any]:
        return {"code": code, "detail": detail, "fields": fields}

    @staticmethod
    def _item(
        index: int,
        data: dict[str, Any],
        status: str,
        result: OrderItemResult | None,
        error: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A rejected item (`result` None) names no member and moved no points."""
        channel, order_no = data.get("channel"), data.get("order_no")
        return {
            "index": index,
            "status": status,
            "channel": channel if isinstance(channel, str) else None,
            "order_no": order_no if isinstance(order_no, str) else None,
            "member_no": (result.member_no or None) if result else None,
            "points_earned": result.points_earned if result else 0,
            "points_redeemed": result.points_redeemed if result else 0,
            "points_cash_fen": result.points_cash_fen if result else 0,
            "error": error,
        }


class OrderRefundApi(BrandApiView):
    required_scopes = {"POST": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="orders_refund",
        summary="Refund an order in full or in part (idempotent per refund_no)",
        description=(
            "Reverses points pro rata (points already spent become debt) and gives back points-as-cash pro "
            "rata (all of it on a full refund). 201 when recorded now, 200 "
            "for a retry of the same refund_no and amount; the same refund_no with another amount "
            "is 409 `refund_conflict`; more than paid is 400 `refund_exceeds_paid`."
        ),
        parameters=[
            OpenApiParameter("channel", OpenApiTypes.STR, OpenApiParameter.PATH, enum=SalesChannel.values),
            OpenApiParameter("order_no", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        request=RefundInSerializer,
        responses={201: RefundOutSerializer, 200: RefundOutSerializer},
        tags=ORDERS,
    )
    def post(self, request: Request, channel: str, order_no: str) -> Response:
        if channel not in SalesChannel.values or not ORDER_NO_RE.match(order_no):
            raise _not_found()
        order = order_get(channel=channel, order_no=order_no)
        data = self.validated_data(RefundInSerializer)
        result = order_refund(
            channel=channel,
            order_no=order_no,
            refund_no=data["refund_no"],
            amount_fen=data["amount_fen"],
            refunded_at=data["refunded_at"],
            actor=self.actor,
        )
        refreshed: Order = Order.objects.select_related("member", "store").get(pk=order.pk)
        refund = result.refund
        body = {
            "refund_no": refund.refund_no,
            "amount_fen": refund.amount_fen,
            "refunded_at": refund.refunded_at,
            "points_reversed": refund.points_reversed,
            "points_returned": refund.points_returned,
            "order": refreshed,
        }
        return Response(RefundOutSerializer(body).data, status=201 if result.created else 200)


# --- points ---------------------------------------------------------------------------------------


class MemberPointsApi(MemberApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ}

    @extend_schema(
        operation_id="members_points_retrieve",
        summary="Balance, pending, expiring soon and debt",
        parameters=[MEMBER_NO_PARAM],
        responses={200: PointsSummaryOutSerializer},
        tags=POINTS,
    )
    def get(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        now = timezone.now()
        # A read of spendable lots by expiry (index points_lot_expiring). It belongs next to the
        # ledger in members/selectors.py; it lives here until the loyalty owner adopts it.
        expiring = PointsLot.objects.filter(
            member=member,
            remaining__gt=0,
            expired=False,
            pending=False,
            expires_at__gt=now,
            expires_at__lte=now + dt.timedelta(days=EXPIRING_WITHIN_DAYS),
        ).aggregate(points=Sum("remaining"), first=Min("expires_at"))
        body = {
            "member_no": member.member_no,
            "balance": member.points_balance,
            "pending": member.points_pending,
            "debt": member.points_debt,
            "expiring_soon": expiring["points"] or 0,
            "expiring_within_days": EXPIRING_WITHIN_DAYS,
            "next_expiry_at": expiring["first"],
        }
        return Response(PointsSummaryOutSerializer(body).data)


class EntryCursorPagination(CursorPagination):
    """Newest first by entry id: unique and increasing, so pages never skip or repeat an entry
    while new ones are written."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Any:
        cursor = super().decode_cursor(request)
        # DRF puts the position into the query unchecked; a forged non-numeric one would reach
        # the database as an id.
        if cursor is not None and cursor.position is not None and not str(cursor.position).isdigit():
            raise drf_exceptions.NotFound(self.invalid_cursor_message)
        return cursor

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        # isascii: str.isdigit() is also true of "²", which int() refuses.
        if raw is not None and not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise api_error(
                "invalid_input",
                status=400,
                fields={"limit": [field_message("须为 1–200 的整数。", "Must be an integer from 1 to 200.")]},
            )
        return int(raw) if raw is not None else self.page_size


class MemberPointsEntriesApi(MemberApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ}

    @extend_schema(
        operation_id="members_points_entries_list",
        summary="The member's points ledger, newest first (cursor pagination)",
        parameters=[
            MEMBER_NO_PARAM,
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From `next` / `previous`."),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": EntryCursorPagination.max_page_size},
                description="1–200 (else 400), default 50",
            ),
        ],
        responses={200: PointsEntryPageSerializer},
        tags=POINTS,
    )
    def get(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        paginator = EntryCursorPagination()
        page = paginator.paginate_queryset(PointsEntry.objects.filter(member=member), request, view=self)
        return Response(
            {
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": PointsEntryOutSerializer(page, many=True).data,
            }
        )


class MemberRedemptionApi(MemberApiView):
    required_scopes = {"POST": Scope.POINTS_WRITE}

    @extend_schema(
        operation_id="members_points_redemptions_create",
        summary="Redeem a reward with points (idempotent per reference)",
        description=(
            "Balance, stock and ledger change together or not at all. 400 `points_insufficient`, "
            "`reward_out_of_stock`, `reward_unavailable`, `member_not_eligible`; the same reference "
            "for another redemption is 409 `redemption_conflict`."
        ),
        parameters=[MEMBER_NO_PARAM],
        request=RedemptionInSerializer,
        responses={201: RedemptionOutSerializer},
        tags=POINTS,
    )
    def post(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        data = self.validated_data(RedemptionInSerializer)
        reward = Reward.objects.filter(code=data["reward"]).first()
        if reward is None:
            raise api_error(
                "invalid_input", status=400, fields={"reward": [field_message("礼品不存在。", "Unknown reward.")]}
            )
        redemption = reward_redeem(
            member=member, reward=reward, quantity=data["quantity"], reference=data["reference"], actor=self.actor
        )
        redemption.member = member
        return Response(RedemptionOutSerializer(redemption).data, status=201)


class _PartnerActor:
    """A partner as the `actor` of points_adjust, which is written for back-office users and
    limits them by role. A partner's limit is its key's points:write scope (granted by a brand
    admin) and the ±MAX_POINTS bound of the input; it holds no role group. It is an unlimited
    machine actor: the per-day caps and the approval queue of staff adjustments
    (members/services/points_adjustments.py) do not apply to it, so an adjustment is applied or
    refused, never held (a key has no user to count against)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def get_username(self) -> str:
        return self._name

    def has_perm(self, perm: str) -> bool:
        return perm == "members.adjust_points_unlimited"


class MemberAdjustmentApi(MemberApiView):
    required_scopes = {"POST": Scope.POINTS_WRITE}

    @extend_schema(
        operation_id="members_points_adjustments_create",
        summary="Adjust points (+ or −) with a reason (idempotent per reference)",
        description="A negative adjustment cannot take the member below zero (400 `points_insufficient`).",
        parameters=[MEMBER_NO_PARAM],
        request=AdjustmentInSerializer,
        responses={201: AdjustmentOutSerializer},
        tags=POINTS,
    )
    def post(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        data = self.validated_data(AdjustmentInSerializer)
        adjustment = points_adjust(
            member=member,
            points=data["points"],
            reason=data["reason"],
            reference=data["reference"],
            actor=_PartnerActor(self.actor),  # type: ignore[arg-type]
        )
        entry = adjustment.entry
        assert entry is not None  # an unlimited actor's adjustment is never held
        body = {
            "entry": entry,
            "balance": member.points_balance,
            "pending": member.points_pending,
            "debt": member.points_debt,
        }
        return Response(AdjustmentOutSerializer(body).data, status=201)


# --- catalogue ----------------------------------------------------------------------------------


class TierListApi(BrandApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ}

    @extend_schema(
        operation_id="tiers_list",
        summary="The brand's tiers, lowest first",
        responses={200: TierListSerializer},
        tags=CATALOGUE,
    )
    def get(self, request: Request) -> Response:
        return Response(TierListSerializer({"results": tiers_ranked()}).data)


class RewardListApi(BrandApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ}

    @extend_schema(
        operation_id="rewards_list",
        summary="Rewards on the shelf",
        responses={200: RewardListSerializer},
        tags=CATALOGUE,
    )
    def get(self, request: Request) -> Response:
        return Response(RewardListSerializer({"results": Reward.objects.filter(is_active=True)}).data)
