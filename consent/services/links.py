"""Signed links to the member-facing pages.

A link is `django.core.signing` data whose salt names the brand's schema: a link made for one
brand fails the signature check on every other brand's host, a tampered link fails it anywhere,
and `max_age` makes an old link useless. Links carry a random nonce: the actions where a replay
would matter (asking for a copy or deletion of one's data) are unique per nonce in the database,
so re-posting a captured form finds the first request instead of queuing another.
"""

import datetime as dt
import secrets
from typing import Any

from django.core import signing
from django.urls import reverse

from crm.db import connection
from crm.errors import AppError

from .. import error_codes

PREFERENCES_LINK_MAX_AGE = dt.timedelta(days=7)
SESSION_LINK_MAX_AGE = dt.timedelta(minutes=30)


def _salt(kind: str) -> str:
    return f"consent.{kind}:{connection.schema_name}"


def link_sign(*, kind: str, payload: dict[str, Any]) -> str:
    return signing.dumps(payload, salt=_salt(kind), compress=True)


def link_read(*, kind: str, token: str, max_age: dt.timedelta) -> dict[str, Any]:
    """The payload of a link made in this brand for `kind`, or a clear refusal."""
    try:
        payload = signing.loads(token, salt=_salt(kind), max_age=max_age)
    except signing.SignatureExpired:
        raise AppError(error_codes.CONSENT_LINK_EXPIRED, "链接已过期，请向门店或客服重新获取。", status=410) from None
    except signing.BadSignature:
        raise AppError(error_codes.CONSENT_LINK_INVALID, "链接无效。", status=404) from None
    if not isinstance(payload, dict):
        raise AppError(error_codes.CONSENT_LINK_INVALID, "链接无效。", status=404)
    return payload


def preference_link_token(*, member_id: int) -> str:
    return link_sign(kind="preferences", payload={"m": member_id, "n": secrets.token_hex(8)})


def preference_link_path(*, member_id: int) -> str:
    """The path (on the brand's host) of a member's preferences page, valid for 7 days. Send it
    by SMS / WeCom; prefix with the brand's domain."""
    return reverse("consent:preferences", args=[preference_link_token(member_id=member_id)])


def preference_link_read(token: str) -> tuple[int, str]:
    """(member id, nonce) of a valid preferences link of this brand."""
    payload = link_read(kind="preferences", token=token, max_age=PREFERENCES_LINK_MAX_AGE)
    member_id, nonce = payload.get("m"), payload.get("n")
    if not isinstance(member_id, int) or not isinstance(nonce, str):
        raise AppError(error_codes.CONSENT_LINK_INVALID, "链接无效。", status=404)
    return member_id, nonce


def brand_url(path: str) -> str:
    """An absolute URL on the current brand's primary domain, for links that leave a request (an
    SMS, a WeCom message, an e-mail): MEMBER_LINK_SCHEME (https; http in development) and
    MEMBER_LINK_PORT (empty; 8000 in development, where `serve` listens)."""
    from django.conf import settings

    tenant = getattr(connection, "tenant", None)
    domain = ""
    if tenant is not None and hasattr(tenant, "get_primary_domain"):
        primary = tenant.get_primary_domain()
        domain = primary.domain if primary is not None else ""
    scheme = getattr(settings, "MEMBER_LINK_SCHEME", "https")
    port = getattr(settings, "MEMBER_LINK_PORT", "")
    return f"{scheme}://{domain}{':' + port if port else ''}{path}"


def preference_link_url(*, member_id: int) -> str:
    """The member's preferences page (consent per purpose, withdrawal, data copy, deletion) as
    an absolute link, valid 7 days: the footer of every marketing message."""
    return brand_url(preference_link_path(member_id=member_id))


# The footers every marketing message carries (campaigns.messaging adds them at send time). An SMS
# also names the reply keyword, which the SMS provider's inbound hook turns into a withdrawal
# (campaigns.messaging.sms_reply_receive).
SMS_UNSUBSCRIBE_KEYWORD = "T"


def marketing_footer(*, member_id: int, channel: str) -> str:
    """The footer of a personal marketing message (SMS, e-mail) to `member_id`."""
    url = preference_link_url(member_id=member_id)
    if channel == "sms":
        return f" 回{SMS_UNSUBSCRIBE_KEYWORD}退订，或点击 {url} 管理授权"
    return f"\n\n不想再收到此类消息？点击管理授权或退订：{url}"
