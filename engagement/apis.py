"""Partner API of the engagement programme: check in, make up a day, read the calendar; a member's
invite link and invitations (邀请有礼). Thin views:
validate, call one service or selector, render. Errors are problem+json with the codes of
engagement/error_codes.py (and members' for points_insufficient)."""

import dataclasses
import datetime as dt
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.models import Scope
from crm.api.views import represent
from members.apis import MEMBER_NO_PARAM, MEMBER_NO_RE, MemberApiView

from .selectors import checkin_calendar, growth_value_of, referral_invitations
from .serializers import (
    CalendarOutSerializer,
    CalendarQuerySerializer,
    CheckinInSerializer,
    CheckinOutSerializer,
    InvitationsOutSerializer,
    MakeUpInSerializer,
    ReferralLinkInSerializer,
    ReferralLinkOutSerializer,
)
from .services.checkin import CheckinResult, checkin_make_up, checkin_perform, checkin_perform_by_number
from .services.referral import referral_link_get

CHECKIN = ["check-in"]
REFERRAL = ["referral"]


def _checkin_out(result: CheckinResult) -> Response:
    body: dict[str, Any] = {
        **{f: getattr(result.checkin, f) for f in ("biz_date", "streak", "cycle_start", "made_up", "points", "growth")},
        "cost_points": result.checkin.cost_points,
        "rewards": result.checkin.rewards,
        "created": result.created,
    }
    return Response(represent(CheckinOutSerializer, body), status=201 if result.created else 200)


class CheckinApi(MemberApiView):
    required_scopes = {"POST": Scope.POINTS_WRITE, "GET": Scope.MEMBERS_READ}
    # The check-in keeps its own transactions: the one statement (atomic alone; in autocommit when
    # no webhook wants the points change), else the ORM path's atomic block. A repeat returns the
    # day's record: safe to retry.
    own_transaction = True

    @extend_schema(
        operation_id="members_checkins_create",
        summary="Check the member in for today (brand business day)",
        description=(
            "One check-in per member per brand day: a repeat (double tap, retry) returns the same record with 200 "
            "and grants nothing. 201 with the rewards granted (daily points and growth value, ladder steps). "
            "409 `checkin_disabled`, 409 `engagement_member_not_eligible`."
        ),
        parameters=[MEMBER_NO_PARAM],
        request=CheckinInSerializer,
        responses={200: CheckinOutSerializer, 201: CheckinOutSerializer},
        tags=CHECKIN,
    )
    def post(self, request: Request, member_no: str) -> Response:
        number = member_no.strip().upper()
        try:
            data = self.validated_data(CheckinInSerializer)
        except Exception:
            self.member(member_no)  # an unknown member is told first (404), as on every member endpoint
            raise
        # The member found by the check-in's own statement; by the member services when the
        # number is unknown (404), a merged member's, or the ORM path decides.
        result = (
            checkin_perform_by_number(member_no=number, channel=data["channel"]) if MEMBER_NO_RE.match(number) else None
        )
        if result is None:
            result = checkin_perform(member=self.member(member_no), channel=data["channel"])
        return _checkin_out(result)

    @extend_schema(
        operation_id="members_checkins_calendar",
        summary="The member's check-in calendar for a brand month",
        parameters=[MEMBER_NO_PARAM, CalendarQuerySerializer],
        responses={200: CalendarOutSerializer},
        tags=CHECKIN,
    )
    def get(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        query = self.validated_query(CalendarQuerySerializer)
        month = dt.date.fromisoformat(query["month"] + "-01") if query.get("month") else None
        calendar = checkin_calendar(member=member, month=month)
        body = {**dataclasses.asdict(calendar), "growth": growth_value_of(member=member)}
        return Response(CalendarOutSerializer(body).data)


class CheckinMakeUpApi(MemberApiView):
    required_scopes = {"POST": Scope.POINTS_WRITE}

    @extend_schema(
        operation_id="members_checkins_makeups_create",
        summary="Make up a missed day (补签), paying the brand's cost in points",
        description=(
            "Within the brand's window and the current cycle, up to the cycle's cap. 400 `checkin_makeup_refused`, "
            "409 `checkin_makeup_cap_reached`, 400 `points_insufficient` (nothing written). A day already checked "
            "in returns its record with 200."
        ),
        parameters=[MEMBER_NO_PARAM],
        request=MakeUpInSerializer,
        responses={200: CheckinOutSerializer, 201: CheckinOutSerializer},
        tags=CHECKIN,
    )
    def post(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        data = self.validated_data(MakeUpInSerializer)
        return _checkin_out(checkin_make_up(member=member, day=data["date"], channel=data["channel"]))


class ReferralLinkApi(MemberApiView):
    required_scopes = {"POST": Scope.MEMBERS_WRITE}

    @extend_schema(
        operation_id="members_referral_link_create",
        summary="The member's invite link (邀请有礼), made on first use",
        description=(
            "Idempotent: the member has one link; calling again returns it. The token fits a mini-program scene "
            "(≤ 32 characters). 409 `engagement_member_not_eligible`."
        ),
        parameters=[MEMBER_NO_PARAM],
        request=ReferralLinkInSerializer,
        responses={200: ReferralLinkOutSerializer},
        tags=REFERRAL,
    )
    def post(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        data = self.validated_data(ReferralLinkInSerializer)
        link = referral_link_get(member=member, device=data["device"], ip=data["ip"] or "")
        return Response(ReferralLinkOutSerializer({"token": link.token, "path": f"/m/i/{link.token}/"}).data)


class ReferralListApi(MemberApiView):
    required_scopes = {"GET": Scope.MEMBERS_READ}

    @extend_schema(
        operation_id="members_referrals_list",
        summary="The member's invitations with their status and the reason, invitees masked",
        parameters=[MEMBER_NO_PARAM],
        responses={200: InvitationsOutSerializer},
        tags=REFERRAL,
    )
    def get(self, request: Request, member_no: str) -> Response:
        member = self.member(member_no)
        rows = [dataclasses.asdict(i) for i in referral_invitations(member=member)]
        return Response(InvitationsOutSerializer({"results": rows}).data)
