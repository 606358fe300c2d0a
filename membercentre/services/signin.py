"""Signing a person in on the member centre: an SMS one-time code, or WeChat web authorisation.

Both end in a *sign-in identity* (a verified mobile, or an openid with its unionid when the
official account is bound to the open platform). The identity either finds a member (OneID:
unionid first, then openid, then mobile) or, for someone who is not a member yet, is kept in the
session for enrolment with consent (membercentre.views.join).

SMS codes (6 digits, OTP_TTL) go through the SMS provider interface (campaigns.sms). Limits:
one code per mobile per OTP_RESEND_SECONDS, OTP_PER_MOBILE_HOUR per mobile and OTP_PER_IP_HOUR
per client IP per hour (atomic cache counters), and a code is dead after OTP_MAX_ATTEMPTS wrong
answers (a conditional UPDATE counts each answer before it is compared).
"""

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.db import connection
from crm.egress import EgressError, egress_request
from crm.errors import AppError
from members.models import IdentityKind, Member
from members.phones import mobile_normalize
from members.selectors import member_lookup

from .. import error_codes
from ..models import OtpChallenge, WechatOAuthConfig

OTP_DIGITS = 6
OTP_TTL = dt.timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
OTP_RESEND_SECONDS = 60
OTP_PER_MOBILE_HOUR = 5
OTP_PER_IP_HOUR = 20
WECHAT_STATE_MAX_AGE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class SigninIdentity:
    """Who signed in: a verified mobile, or WeChat's openid (+ unionid when bound)."""

    method: str  # "sms" | "wechat" | "miniprogram" | "link"
    mobile: str = ""
    openid: str = ""
    unionid: str = ""

    def as_session(self) -> dict[str, str]:
        return {"method": self.method, "mobile": self.mobile, "openid": self.openid, "unionid": self.unionid}

    def identities(self) -> list[tuple[str, str]]:
        pairs = []
        if self.unionid:
            pairs.append((IdentityKind.WECHAT_UNIONID.value, self.unionid))
        if self.openid:
            pairs.append((IdentityKind.WECHAT_OPENID.value, self.openid))
        return pairs


def signin_member(identity: SigninIdentity) -> Member | None:
    """The member this identity belongs to (unionid, then openid, then mobile), or None."""
    for kind, value in (
        (IdentityKind.WECHAT_UNIONID, identity.unionid),
        (IdentityKind.WECHAT_OPENID, identity.openid),
        (IdentityKind.MOBILE, identity.mobile),
    ):
        if value:
            member = member_lookup(kind=kind, value=value)
            if member is not None:
                return member
    return None


# --- SMS one-time code ---------------------------------------------------------------------------


def _otp_digest(mobile: str, code: str) -> str:
    key = f"membercentre.otp:{connection.schema_name}:{settings.SECRET_KEY}".encode()
    return hmac.new(key, f"{mobile}:{code}".encode(), hashlib.sha256).hexdigest()


def _count(key: str, timeout: int) -> int:
    if cache.add(key, 1, timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:
        cache.add(key, 1, timeout)
        return 1


def _mobile(mobile: str) -> str:
    try:
        return mobile_normalize(mobile)
    except AppError:
        raise error_codes.error(error_codes.MOBILE_INVALID) from None


def otp_send(*, mobile: str, ip: str, brand_name: str) -> OtpChallenge:
    """Send a sign-in code to `mobile`, within the limits (429 otp_throttled otherwise)."""
    mobile = _mobile(mobile)
    schema = connection.schema_name
    if not cache.add(f"membercentre:otp-cool:{schema}:{mobile}", 1, OTP_RESEND_SECONDS):
        raise error_codes.error(error_codes.OTP_THROTTLED, status=429, wait=OTP_RESEND_SECONDS)
    if _count(f"membercentre:otp-ip:{schema}:{ip}", 3600) > OTP_PER_IP_HOUR:
        raise error_codes.error(error_codes.OTP_THROTTLED, status=429, wait=3600)
    if _count(f"membercentre:otp-mobile:{schema}:{mobile}", 3600) > OTP_PER_MOBILE_HOUR:
        raise error_codes.error(error_codes.OTP_THROTTLED, status=429, wait=3600)
    code = f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"
    now = timezone.now()
    with transaction.atomic():
        # A new code replaces the earlier ones: only the latest can be answered.
        OtpChallenge.objects.filter(mobile=mobile, consumed_at__isnull=True).update(expires_at=now)
        challenge = OtpChallenge.objects.create(
            mobile=mobile, digest=_otp_digest(mobile, code), ip=ip[:45], created_at=now, expires_at=now + OTP_TTL
        )
        minutes = int(OTP_TTL.total_seconds() // 60)
        body = f"【{brand_name}】您的登录验证码为 {code}，{minutes} 分钟内有效。如非本人操作请忽略。"
        transaction.on_commit(lambda: _sms_send(reference=f"otp-{schema}-{challenge.pk}", mobile=mobile, body=body))
    return challenge


def _sms_send(*, reference: str, mobile: str, body: str) -> None:
    from campaigns.sms import SmsMessage, sms_provider

    sms_provider().send_batch([SmsMessage(reference=reference, mobile=mobile, body=body)])


def otp_verify(*, mobile: str, code: str) -> SigninIdentity:
    """The verified mobile if `code` is the latest live code sent to it. Every answer is counted
    first; after OTP_MAX_ATTEMPTS the code is dead (otp_locked) and a new one must be requested."""
    mobile = _mobile(mobile)
    now = timezone.now()
    challenge = OtpChallenge.objects.filter(mobile=mobile, consumed_at__isnull=True).order_by("-created_at").first()
    if challenge is None or challenge.expires_at <= now:
        raise error_codes.error(error_codes.OTP_EXPIRED)
    counted = OtpChallenge.objects.filter(
        pk=challenge.pk, consumed_at__isnull=True, expires_at__gt=now, attempts__lt=OTP_MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not counted:
        raise error_codes.error(error_codes.OTP_LOCKED, status=429)
    if not hmac.compare_digest(challenge.digest, _otp_digest(mobile, (code or "").strip())):
        if challenge.attempts + 1 >= OTP_MAX_ATTEMPTS:
            raise error_codes.error(error_codes.OTP_LOCKED, status=429)
        raise error_codes.error(error_codes.OTP_INVALID)
    used = OtpChallenge.objects.filter(pk=challenge.pk, consumed_at__isnull=True).update(consumed_at=now)
    if not used:  # answered twice at once: only one sign-in
        raise error_codes.error(error_codes.OTP_EXPIRED)
    return SigninIdentity(method="sms", mobile=mobile)


# --- WeChat web authorisation (网页授权) ----------------------------------------------------------


def wechat_config() -> WechatOAuthConfig | None:
    return WechatOAuthConfig.objects.filter(enabled=True).first()


def _state_salt() -> str:
    return f"membercentre.wechat-state:{connection.schema_name}"


def wechat_authorize_url(*, redirect_uri: str, nonce: str) -> str:
    """Where to send the browser: WeChat's authorisation page, returning to `redirect_uri` with a
    code and our signed `state` (bound to this brand and to the session's nonce)."""
    config = wechat_config()
    if config is None:
        raise error_codes.error(error_codes.WECHAT_NOT_CONFIGURED, status=404)
    state = signing.dumps({"n": nonce}, salt=_state_salt(), compress=True)
    query = urlencode(
        {
            "appid": config.app_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": config.scope,
            "state": state,
        }
    )
    return f"{config.authorize_url}?{query}#wechat_redirect"


def wechat_state_check(*, state: str, nonce: str) -> None:
    try:
        payload = signing.loads(state, salt=_state_salt(), max_age=WECHAT_STATE_MAX_AGE)
    except signing.BadSignature:
        raise error_codes.error(error_codes.SIGNIN_STATE_INVALID) from None
    if not isinstance(payload, dict) or not nonce or not hmac.compare_digest(str(payload.get("n", "")), nonce):
        raise error_codes.error(error_codes.SIGNIN_STATE_INVALID)


def _wechat_get(config: WechatOAuthConfig, path: str, params: dict[str, str]) -> dict[str, object]:
    url = config.api_base_url.rstrip("/") + "/" + path
    try:
        response = egress_request("GET", url, params=params, max_bytes=64 * 1024, deadline_seconds=5.0)
        body = json.loads(response.content)
    except (EgressError, ValueError, OSError) as exc:
        raise error_codes.error(error_codes.WECHAT_OAUTH_FAILED, status=502) from exc
    if not isinstance(body, dict) or body.get("errcode"):
        raise error_codes.error(error_codes.WECHAT_OAUTH_FAILED, status=400)
    return body


def wechat_code_exchange(*, code: str) -> SigninIdentity:
    """code → openid (+ unionid when the account is bound to the open platform; with
    snsapi_userinfo, asked of sns/userinfo when the token answer lacks it)."""
    config = wechat_config()
    if config is None:
        raise error_codes.error(error_codes.WECHAT_NOT_CONFIGURED, status=404)
    token = _wechat_get(
        config,
        "sns/oauth2/access_token",
        {"appid": config.app_id, "secret": config.secret(), "code": code, "grant_type": "authorization_code"},
    )
    openid, unionid = str(token.get("openid") or ""), str(token.get("unionid") or "")
    if not openid:
        raise error_codes.error(error_codes.WECHAT_OAUTH_FAILED, status=400)
    if not unionid and token.get("scope") == WechatOAuthConfig.Scope.USERINFO:
        info = _wechat_get(
            config,
            "sns/userinfo",
            {"access_token": str(token.get("access_token", "")), "openid": openid, "lang": "zh_CN"},
        )
        unionid = str(info.get("unionid") or "")
    return SigninIdentity(method="wechat", openid=openid, unionid=unionid)


def wechat_config_save(
    *,
    app_id: str,
    secret: str | None,
    scope: str = WechatOAuthConfig.Scope.BASE,
    authorize_url: str = "",
    api_base_url: str = "",
    enabled: bool = True,
) -> WechatOAuthConfig:
    """Create or replace the brand's official-account settings (the secret is encrypted at rest;
    None keeps the stored one)."""
    with transaction.atomic():
        config = WechatOAuthConfig.objects.select_for_update().first() or WechatOAuthConfig()
        config.app_id, config.scope, config.enabled = app_id.strip(), scope, enabled
        if authorize_url:
            config.authorize_url = authorize_url
        if api_base_url:
            config.api_base_url = api_base_url
        if secret:
            config.secret_set(secret)
        elif not config.secret_encrypted:
            raise AppError(
                error_codes.WECHAT_SECRET_REQUIRED, "请填写公众号 AppSecret。", fields={"secret": ["required"]}
            )
        config.full_clean()
        config.save()
    return config


# --- Mini-program getPhoneNumber (手机号快速验证) ------------------------------------------------

MINIPROGRAM_TOKEN_MARGIN = 300  # drop a cached access token this many seconds before WeChat does
_TOKEN_REFUSED = {40001, 40014, 42001}  # invalid / malformed / expired access token


def _miniprogram_config() -> WechatOAuthConfig:
    config = wechat_config()
    if config is None or not config.miniprogram_app_id or not config.miniprogram_secret_encrypted:
        raise error_codes.error(error_codes.MINIPROGRAM_NOT_CONFIGURED, status=404)
    return config


def _wechat_call(config: WechatOAuthConfig, method: str, path: str, **kwargs: object) -> dict[str, object]:
    url = config.api_base_url.rstrip("/") + "/" + path
    try:
        response = egress_request(method, url, max_bytes=64 * 1024, deadline_seconds=5.0, **kwargs)  # type: ignore[arg-type]
        body = json.loads(response.content)
    except (EgressError, ValueError, OSError) as exc:
        raise error_codes.error(error_codes.WECHAT_OAUTH_FAILED, status=502) from exc
    if not isinstance(body, dict):
        raise error_codes.error(error_codes.WECHAT_OAUTH_FAILED, status=502)
    return body


def _token_key(config: WechatOAuthConfig) -> str:
    return f"membercentre:mp-token:{connection.schema_name}:{config.miniprogram_app_id}"


def _miniprogram_access_token(config: WechatOAuthConfig) -> str:
    """The mini-program's interface token (cgi-bin/token, client_credential), cached until shortly
    before WeChat expires it."""
    cached = cache.get(_token_key(config))
    if cached:
        return str(cached)
    answer = _wechat_call(
        config,
        "GET",
        "cgi-bin/token",
        params={
            "grant_type": "client_credential",
            "appid": config.miniprogram_app_id,
            "secret": config.miniprogram_secret(),
        },
    )
    token = str(answer.get("access_token") or "")
    if answer.get("errcode") or not token:
        raise error_codes.error(error_codes.WECHAT_OAUTH_FAILED, status=502)
    expires_in = int(str(answer.get("expires_in") or 7200))
    cache.set(_token_key(config), token, max(expires_in - MINIPROGRAM_TOKEN_MARGIN, 60))
    return token


def miniprogram_phone_exchange(*, code: str) -> str:
    """The verified mobile behind a mini-program's getPhoneNumber `code` (WeChat's
    phonenumber.getuserphonenumber: POST wxa/business/getuserphonenumber), normalised. A code
    works once (WeChat refuses it again, 40029 → phone_code_invalid); the answer must carry our
    mini-program's appid in its watermark."""
    config = _miniprogram_config()
    code = (code or "").strip()
    if not code:
        raise error_codes.error(error_codes.PHONE_CODE_INVALID)
    for _attempt in range(2):
        token = _miniprogram_access_token(config)
        answer = _wechat_call(
            config, "POST", "wxa/business/getuserphonenumber", params={"access_token": token}, json={"code": code}
        )
        errcode = int(str(answer.get("errcode") or 0))
        if errcode in _TOKEN_REFUSED:  # the cached token died early (reset elsewhere): fetch once more
            cache.delete(_token_key(config))
            continue
        break
    if errcode:
        raise error_codes.error(error_codes.PHONE_CODE_INVALID)
    info = answer.get("phone_info")
    if not isinstance(info, dict):
        raise error_codes.error(error_codes.WECHAT_OAUTH_FAILED, status=502)
    watermark = info.get("watermark")
    if not isinstance(watermark, dict) or watermark.get("appid") != config.miniprogram_app_id:
        raise error_codes.error(error_codes.PHONE_CODE_INVALID)
    country, pure = str(info.get("countryCode") or "86"), str(info.get("purePhoneNumber") or "")
    return _mobile(pure if country == "86" else f"+{country}{pure}")


def miniprogram_config_save(*, app_id: str, secret: str | None) -> WechatOAuthConfig:
    """Set the brand's mini-program (AppID, AppSecret encrypted; None keeps the stored secret) on
    its WeChat settings row, which must exist."""
    with transaction.atomic():
        config = WechatOAuthConfig.objects.select_for_update().first()
        if config is None:
            raise error_codes.error(error_codes.WECHAT_NOT_CONFIGURED, status=404)
        config.miniprogram_app_id = app_id.strip()
        if secret:
            config.miniprogram_secret_set(secret)
        config.save(update_fields=["miniprogram_app_id", "miniprogram_secret_encrypted", "updated_at"])
        cache.delete(_token_key(config))
    return config
