"""邀请有礼 on the member centre: the tile opens engagement's invitations page (engagement sits below
the member centre; the page is mounted at /m/invites/ behind the member centre's sign-in)."""

from django.urls import reverse

from engagement.models import Referral
from members.models import Member

from .sections import Section, section_register


def _badge(member: Member) -> str:
    joined = Referral.objects.filter(referrer_id=member.pk).count()
    return f"已邀请 {joined} 人" if joined else ""


def invites_section_register() -> None:
    section_register(
        Section(
            key="invite",
            title="邀请有礼",
            order=30,
            description="邀请好友入会，双方得奖励",
            url=lambda member: reverse("membercentre:invites"),
            badge=_badge,
        )
    )
