"""Partner API endpoints of the consent app: the agreements partners show, a member's consent
history and per-purpose grant/withdraw, and data-subject requests. Thin views on
crm.api.views.BrandApiView: validate, call one service or selector, render.

consent.withdrawn webhooks are not emitted here: the consent app's on_withdraw hook does it for
every channel (webhooks/events.py)."""

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.error_codes import api_error
from crm.api.models import Scope
from crm.api.views import BrandApiView
from members.apis import MEMBER_NO_PARAM, MemberApiView, member_by_number

from .models import ConsentRecord, ConsentState, DataRequest
from .selectors import consent_state_at
from .serializers import (
    AgreementListSerializer,
    ConsentChangeInSerializer,
    ConsentHistoryOutSerializer,
    ConsentHistoryQuerySerializer,
    DataRequestInSerializer,
    DataRequestOutSerializer,
    PurposeStateOutSerializer,
)
from .services import (
    REQUESTER_ACTIONS,
    agreement_versions_current,
    consent_grant,
    consent_withdraw,
    data_request_submit,
)
from .types import ConsentEvidence, GuardianConsent

CONSENT = ["consent"]
DATA_REQUESTS = ["data-requests"]
DATA_REQUEST_ID_RE = re.compile(r"^[1-9][0-9]{0,8}$")


class AgreementListApi(BrandApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ}

    @extend_schema(
        operation_id="agreements_list",
        summary="Agreement versions in force, with their purposes",
        description=(
            "Show the consumer the text of each version, one decision per purpose (unticked by "
            "default), then send the decisions with the `version_id` to enrolment or consent calls."
        ),
        responses={200: AgreementListSerializer},
        tags=["catalogue"],
    )
    def get(self, request: Request) -> Response:
        return Response(AgreementListSerializer({"results": agreement_versions_current()}).data)


class MemberConsentApi(MemberApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ, "POST": Scope.CONSENT_WRITE}

    @extend_schema(
        operation_id="members_consents_list",
        summary="Current consent per purpose (optionally as of a time) and the full history",
        parameters=[MEMBER_NO_PARAM, OpenApiParameter("at", OpenApiTypes.DATETIME, required=False)],
        responses={200: ConsentHistoryOutSerializer},
        tags=CONSENT,
    )
    def get(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        at = self.validated_query(ConsentHistoryQuerySerializer).get("at")
        states = consent_state_at(member=member, at=at)
        history = ConsentRecord.objects.filter(member=member).order_by("recorded_at", "id")
        if at is not None:
            history = history.filter(recorded_at__lte=at)
        body = {
            "member_no": member.member_no,
            "current": [_state_out(state) for _, state in sorted(states.items())],
            "history": history,
        }
        return Response(ConsentHistoryOutSerializer(body).data)

    @extend_schema(
        operation_id="members_consents_change",
        summary="Grant or withdraw one purpose",
        description=(
            "Grant needs `partner_reference` (the brand's own consent evidence) and is refused with "
            "400 `consent_version_not_current` when `version_id` is not the version in force. "
            "Withdrawal takes effect at once and needs no more proof than the request itself. "
            "Repeating a grant or a withdrawal records nothing new."
        ),
        parameters=[MEMBER_NO_PARAM],
        request=ConsentChangeInSerializer,
        responses={200: PurposeStateOutSerializer},
        tags=CONSENT,
        examples=[
            OpenApiExample(
                "grant",
                request_only=True,
                value={"purpose": "marketing_sms", "granted": True, "version_id": 2, "partner_reference": "mp-77"},
            ),
            OpenApiExample("withdraw", request_only=True, value={"purpose": "marketing_sms", "granted": False}),
        ],
    )
    def post(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        data = self.validated_data(ConsentChangeInSerializer)
        guardian = data.get("guardian")
        evidence = ConsentEvidence(
            channel=ConsentRecord.Channel.PARTNER_API,
            partner_reference=data["partner_reference"],
            ip=data["ip"],
            user_agent=data["user_agent"],
            guardian=GuardianConsent(**guardian) if guardian else None,
            extra={"partner": self.partner.name},
        )
        state: ConsentState | None
        if data["granted"]:
            state = consent_grant(
                member_id=member.pk,
                purpose=data["purpose"],
                evidence=evidence,
                actor=self.actor,
                version_id=data.get("version_id"),
            )
        else:
            state = consent_withdraw(member_id=member.pk, purpose=data["purpose"], evidence=evidence, actor=self.actor)
        if state is None:
            body: dict[str, Any] = {
                "purpose": data["purpose"],
                "granted": False,
                "needs_reconsent": False,
                "effective": False,
                "version_id": None,
                "recorded_at": None,
                "channel": None,
            }
        else:
            body = {
                "purpose": state.purpose,
                "granted": state.granted,
                "needs_reconsent": state.needs_reconsent,
                "effective": state.effective,
                "version_id": state.version_id,
                "recorded_at": state.record.recorded_at,
                "channel": state.record.channel,
            }
        return Response(PurposeStateOutSerializer(body).data)


def _state_out(state: Any) -> dict[str, Any]:
    return {
        "purpose": state.purpose,
        "granted": state.granted,
        "needs_reconsent": state.needs_reconsent,
        "effective": state.effective,
        "version_id": state.version_id,
        "recorded_at": state.recorded_at,
        "channel": state.channel,
    }


class DataRequestCreateApi(BrandApiView):
    required_scopes = {"POST": Scope.DATA_REQUESTS_WRITE}

    @extend_schema(
        operation_id="data_requests_create",
        summary="Queue a data-subject request (access, correction, deletion)",
        description=(
            "Due in 15 days; the brand handles it in its admin. Asking again while a request of the "
            "same kind is pending returns that request with 200 (201 when this call queued it); if "
            "the member, the brand or another partner asked first, this partner joins that request "
            "and may follow it up."
        ),
        request=DataRequestInSerializer,
        responses={201: DataRequestOutSerializer, 200: DataRequestOutSerializer},
        tags=DATA_REQUESTS,
        examples=[
            OpenApiExample(
                "correction",
                request_only=True,
                value={"member_no": "M00000042", "kind": "correction", "requested_changes": {"name": "李蕾"}},
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(DataRequestInSerializer)
        member = member_by_number(data["member_no"], field="member_no")
        created, is_new = data_request_submit(
            member_id=member.pk,
            kind=data["kind"],
            channel=DataRequest.Channel.PARTNER_API,
            actor=self.actor,
            note=data["note"],
            requested_changes=data.get("requested_changes"),
        )
        created = DataRequest.objects.select_related("member").get(pk=created.pk)
        # 201 only for a request this call queued; 200 for one already pending (asked by the
        # member, staff or another partner — this partner has joined it and may follow it up).
        return Response(
            DataRequestOutSerializer(created).data,
            status=201 if is_new else 200,
            headers={"Location": f"/api/v1/data-requests/{created.pk}"},
        )


class DataRequestDetailApi(BrandApiView):
    required_scopes = {"GET": Scope.DATA_REQUESTS_WRITE}

    @extend_schema(
        operation_id="data_requests_retrieve",
        summary="Status of a request this partner submitted",
        parameters=[OpenApiParameter("request_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: DataRequestOutSerializer},
        tags=DATA_REQUESTS,
    )
    def get(self, request: Request, request_id: str) -> Response:
        # Requests this partner neither submitted nor joined are as absent as a made-up id: a
        # partner follows up on its own requests only.
        found = (
            DataRequest.objects.filter(
                pk=int(request_id), events__action__in=REQUESTER_ACTIONS, events__actor=self.actor
            )
            .select_related("member")
            .distinct()
            .first()
            if DATA_REQUEST_ID_RE.match(request_id)
            else None
        )
        if found is None:
            raise api_error("not_found", status=404)
        return Response(DataRequestOutSerializer(found).data)
