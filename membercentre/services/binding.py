"""Binding a verified mobile to a WeChat sign-in (公众号网页授权 or the mini-program's
getPhoneNumber), so the person finds their membership, or enrols with both identities.

The mobile is verified first (an SMS one-time code through `signin.otp_verify`, with its limits;
or WeChat's phonenumber.getuserphonenumber for a mini-program). Then, under the mobile member's
row lock:

- the WeChat person is a member already: the mobile must be theirs or nobody's (bound to them
  if they have no mobile yet); the mobile of *another* member is refused (WECHAT_TAKEN);
- the mobile's member has no WeChat person of another unionid: the openid/unionid are bound to
  it (members.identity_bind, idempotent: binding twice changes nothing);
- the mobile's member is linked to another unionid: refused (MOBILE_TAKEN) — a verified code
  proves the handset, not that the membership is free to take over;
- nobody has the mobile: None, and the caller enrols with mobile + WeChat identities.

Nothing moves an identity between members; that is an explicit merge in the back office.
"""

from dataclasses import replace

from django.db import transaction

from crm.errors import AppError
from members.error_codes import IDENTITY_CONFLICT
from members.models import Identity, IdentityKind, Member
from members.selectors import member_lookup
from members.services.members import identity_bind

from .. import error_codes
from .signin import SigninIdentity, signin_member

BIND_ACTOR = "会员本人（会员中心绑定手机号）"


def _wechat_only(identity: SigninIdentity) -> SigninIdentity:
    return SigninIdentity(method=identity.method, openid=identity.openid, unionid=identity.unionid)


def wechat_mobile_bind(*, identity: SigninIdentity, mobile: str) -> tuple[Member | None, SigninIdentity]:
    """The member this WeChat person is, after binding the verified `mobile` (see the module);
    or None when nobody has the mobile (enrol with the returned identity: WeChat + mobile)."""
    if not identity.openid and not identity.unionid:
        raise error_codes.error(error_codes.BIND_NEEDS_WECHAT)
    with_mobile = replace(identity, mobile=mobile)
    try:
        with transaction.atomic():
            by_mobile = member_lookup(kind=IdentityKind.MOBILE, value=mobile)
            if by_mobile is not None:
                # Serialise binds to one membership: a second WeChat person waits here and then
                # sees the first one's unionid.
                by_mobile = Member.objects.select_for_update().get(pk=by_mobile.pk)
            by_wechat = signin_member(_wechat_only(identity))
            if by_wechat is not None:
                if by_mobile is not None and by_mobile.pk != by_wechat.pk:
                    raise error_codes.error(error_codes.WECHAT_TAKEN, status=409)
                if by_mobile is None and not by_wechat.mobile:
                    identity_bind(member=by_wechat, kind=IdentityKind.MOBILE, value=mobile, actor=BIND_ACTOR)
                return by_wechat, with_mobile
            if by_mobile is None:
                return None, with_mobile
            if identity.unionid:
                other = (
                    Identity.objects.filter(member=by_mobile, kind=IdentityKind.WECHAT_UNIONID)
                    .exclude(value=identity.unionid)
                    .exists()
                )
                if other:
                    raise error_codes.error(error_codes.MOBILE_TAKEN, status=409)
            for kind, value in identity.identities():
                identity_bind(member=by_mobile, kind=kind, value=value, actor=BIND_ACTOR)
            return by_mobile, with_mobile
    except AppError as error:
        if error.code == IDENTITY_CONFLICT:  # a concurrent bind of this WeChat person elsewhere won
            raise error_codes.error(error_codes.WECHAT_TAKEN, status=409) from error
        raise
