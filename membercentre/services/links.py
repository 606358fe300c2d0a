"""Signed member-centre links (a mini-program's web view, an e-mail, a message): the consent
app's signed links (salt names the brand's schema, so a link of brand A fails on brand B's host),
with kind "membercentre". Opening one signs the member in for that browser session."""

import datetime as dt
import secrets

from django.urls import reverse

from consent import error_codes as consent_codes
from consent.services.links import link_read, link_sign
from crm.errors import AppError

MEMBER_CENTRE_LINK_MAX_AGE = dt.timedelta(hours=24)


def member_centre_link_path(*, member_id: int) -> str:
    token = link_sign(kind="membercentre", payload={"m": member_id, "n": secrets.token_hex(8)})
    return reverse("membercentre:link", args=[token])


def member_centre_link_read(token: str) -> int:
    payload = link_read(kind="membercentre", token=token, max_age=MEMBER_CENTRE_LINK_MAX_AGE)
    member_id = payload.get("m")
    if not isinstance(member_id, int):
        raise AppError(consent_codes.CONSENT_LINK_INVALID, "链接无效。", status=404)
    return member_id
