"""Who is signed in on the member centre, kept in the brand's own session (sessions live in the
brand's schema and the cookie is host-only: a session of brand A is unknown on brand B's host;
the schema name is stored too and checked, as a second line)."""

from typing import Any

from django.http import HttpRequest

from crm.db import connection
from members.models import Member
from members.selectors import member_survivor

from .hooks import MemberSignedIn, member_signed_in_notify
from .services.signin import SigninIdentity

MEMBER_KEY = "membercentre_member"
PENDING_KEY = "membercentre_pending"


def member_sign_in(request: HttpRequest, member: Member) -> None:
    request.session.cycle_key()  # no session fixation across a sign-in
    request.session.pop(PENDING_KEY, None)
    request.session[MEMBER_KEY] = {"id": member.pk, "schema": connection.schema_name}
    member_signed_in_notify(MemberSignedIn(member_id=member.pk, session=request.session))


def pending_set(request: HttpRequest, identity: SigninIdentity) -> None:
    request.session.cycle_key()
    request.session.pop(MEMBER_KEY, None)
    request.session[PENDING_KEY] = {**identity.as_session(), "schema": connection.schema_name}


def pending_get(request: HttpRequest) -> SigninIdentity | None:
    data: Any = request.session.get(PENDING_KEY)
    if not isinstance(data, dict) or data.get("schema") != connection.schema_name:
        return None
    return SigninIdentity(
        method=str(data.get("method", "")),
        mobile=str(data.get("mobile", "")),
        openid=str(data.get("openid", "")),
        unionid=str(data.get("unionid", "")),
    )


def current_member(request: HttpRequest) -> Member | None:
    data: Any = request.session.get(MEMBER_KEY)
    if not isinstance(data, dict) or data.get("schema") != connection.schema_name:
        return None
    member_id = data.get("id")
    if not isinstance(member_id, int):
        return None
    member = Member.objects.select_related("tier").filter(pk=member_id).first()
    if member is not None and member.merged_into_id is not None:
        # Merged away (members.member_merge): the person is now the survivor; the session follows
        # it (no new sign-in, as the survivor holds every identity of the merged member).
        member = Member.objects.select_related("tier").get(pk=member_survivor(member).pk)
        request.session[MEMBER_KEY] = {"id": member.pk, "schema": connection.schema_name}
    if member is None or member.status == Member.Status.ERASED:
        return None
    return member


def sign_out(request: HttpRequest) -> None:
    request.session.pop(MEMBER_KEY, None)
    request.session.pop(PENDING_KEY, None)
    request.session.cycle_key()
