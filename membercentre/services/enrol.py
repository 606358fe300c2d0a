"""Enrolment from the member centre: the person who signed in (verified mobile, or WeChat
openid/unionid) decides each purpose on the brand's consent page and becomes a member through
members.member_enroll — the same service as the store, the admin and the API, with the same
consent gate (membership required, each purpose separately, guardian under 14)."""

from collections.abc import Collection

from django.db import transaction

from consent.models import ConsentRecord
from consent.services import consent_decisions_for
from consent.types import ConsentEvidence, GuardianConsent
from engagement.member_views import InviteTouch
from engagement.services.referral import referral_bind
from members.models import Member, SalesChannel
from members.services.members import member_enroll

from .signin import SigninIdentity


def member_centre_enrol(
    *,
    identity: SigninIdentity,
    name: str,
    ticked: Collection[str],
    ip: str,
    user_agent: str,
    guardian: GuardianConsent | None = None,
    invite: InviteTouch | None = None,
) -> Member:
    decisions = consent_decisions_for(ticked)
    evidence = ConsentEvidence(
        channel=ConsentRecord.Channel.MEMBER_PAGE,
        ip=ip,
        user_agent=user_agent[:500],
        guardian=guardian,
        extra={"signed_in_with": identity.method, "page": "member_centre_join"},
    )
    # The invitation (邀请有礼) is bound in the enrolment's transaction: both stand or neither.
    with transaction.atomic():
        member = member_enroll(
            name=name,
            mobile=identity.mobile,
            identities=identity.identities(),
            decisions=decisions,
            evidence=evidence,
            channel=SalesChannel.MINI_PROGRAM if identity.method == "miniprogram" else SalesChannel.OTHER,
            source="member_centre",
            actor="会员本人（会员中心自助入会）",
        )
        if invite is not None:
            referral_bind(
                invitee=member, token=invite.token, device=invite.device, ip=invite.ip, touched_at=invite.touched_at
            )
    return member
