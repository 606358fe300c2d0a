"""Member tokens of the mini-program API: after the partner posts a mini-program sign-in
(code2session's openid/unionid with its evidence), it gets a token that scopes /api/v1/me/ calls
to that member. Signed with a salt naming the brand's schema and the partner, so a token is
worthless on another brand's host or with another partner's key; it expires after
MEMBER_TOKEN_MAX_AGE. A token of a member merged into another serves the surviving member."""

import datetime as dt

from django.core import signing
from django.utils import timezone

from crm.db import connection
from members.models import Member
from members.selectors import member_survivor

from .. import error_codes

MEMBER_TOKEN_MAX_AGE = dt.timedelta(hours=2)


def _salt(partner_id: int) -> str:
    return f"membercentre.member-token:{connection.schema_name}:{partner_id}"


def member_token_issue(*, member: Member, partner_id: int) -> tuple[str, dt.datetime]:
    token = signing.dumps({"m": member.pk}, salt=_salt(partner_id), compress=True)
    return token, timezone.now() + MEMBER_TOKEN_MAX_AGE


def member_token_read(*, token: str, partner_id: int) -> Member:
    try:
        payload = signing.loads(token, salt=_salt(partner_id), max_age=MEMBER_TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise error_codes.error(error_codes.MEMBER_TOKEN_INVALID, status=401) from None
    member_id = payload.get("m") if isinstance(payload, dict) else None
    if not isinstance(member_id, int):
        raise error_codes.error(error_codes.MEMBER_TOKEN_INVALID, status=401)
    member = Member.objects.select_related("tier").filter(pk=member_id).first()
    if member is not None and member.merged_into_id is not None:  # merged away: the token follows
        member = Member.objects.select_related("tier").get(pk=member_survivor(member).pk)
    if member is None or member.status == Member.Status.ERASED:
        raise error_codes.error(error_codes.MEMBER_TOKEN_INVALID, status=401)
    return member
