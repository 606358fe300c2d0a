"""Member-facing referral pages (/m/ on the brand host). Engagement sits below the member centre,
so it owns no sign-in: the invite landing needs none (it only remembers the token, first touch,
in the session), and "my invites" is a function the member centre mounts behind its own
member_required (membercentre.views.invites → `invites_page(request, member=...)`).

At enrolment the member centre reads the remembered invitation with `invite_touch_read(request)`
and passes it to `engagement.services.referral.referral_bind` inside the enrolment transaction."""

import datetime as dt
import secrets
from dataclasses import dataclass

import segno
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache

from crm.errors import AppError
from crm.money import yuan
from crm.posters import Poster, poster_png
from crm.tenancy.zones import brand_date
from members.masking import name_mask
from members.models import Member

from .models import Referral, ReferralCampaign
from .selectors import birthday_benefit_words, referral_invitations
from .services.birthday_profile import birthday_set_by_member
from .services.referral import (
    referral_campaign_current,
    referral_link_get,
    referral_link_opened,
    referral_link_read,
)

INVITE_SESSION_KEY = "engagement_invite"
DEVICE_COOKIE = "crm_device"
DEVICE_COOKIE_AGE = 2 * 365 * 24 * 3600


@dataclass(frozen=True)
class InviteTouch:
    token: str
    touched_at: dt.datetime
    device: str
    ip: str


def _device(request: HttpRequest) -> str:
    value = request.COOKIES.get(DEVICE_COOKIE, "")
    return value if value.isalnum() and len(value) <= 64 else ""


def _with_device(request: HttpRequest, response: HttpResponse, device: str) -> HttpResponse:
    if _device(request) != device:
        response.set_cookie(
            DEVICE_COOKIE, device, max_age=DEVICE_COOKIE_AGE, httponly=True, samesite="Lax", secure=request.is_secure()
        )
    return response


def invite_touch_read(request: HttpRequest) -> InviteTouch | None:
    """The invitation this browser opened first (for referral_bind at enrolment), or None."""
    data = request.session.get(INVITE_SESSION_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        return None
    try:
        touched_at = dt.datetime.fromisoformat(str(data.get("at")))
    except ValueError:
        return None
    return InviteTouch(
        token=data["token"], touched_at=touched_at, device=_device(request), ip=request.META.get("REMOTE_ADDR", "")
    )


def _qr(url: str) -> SafeString:
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=True, svgclass="qr")
    return mark_safe(svg.replace("<svg ", '<svg role="img" aria-label="邀请二维码" ', 1))  # noqa: S308


@never_cache
def invite_landing(request: HttpRequest, token: str) -> HttpResponse:
    """/m/i/<token>/: who invites and what the newcomer gets; remembers the first invitation
    opened in this browser (first touch) until enrolment."""
    link = referral_link_read(token)
    campaign = referral_campaign_current()
    device = _device(request) or secrets.token_hex(16)
    if link is not None and request.session.get(INVITE_SESSION_KEY) is None:
        request.session[INVITE_SESSION_KEY] = {"token": link.token, "at": timezone.now().isoformat()}
        referral_link_opened(link=link)
    context = {
        "valid": link is not None and link.member.status == Member.Status.ACTIVE,
        "referrer": name_mask(link.member.name) if link else "",
        "campaign": campaign,
        "gift": _reward_words(campaign, side="invitee") if campaign else "",
        "min_order": yuan(campaign.min_order_fen) if campaign else "",
    }
    return _with_device(
        request, render(request, "engagement/invite_landing.html", context, status=200 if link else 404), device
    )


def _reward_words(campaign: object, *, side: str) -> str:
    kind = getattr(campaign, f"{side}_reward_kind")
    amount = getattr(campaign, f"{side}_reward_amount")
    if kind == "points" and amount:
        return f"{amount} 积分"
    if kind == "growth" and amount:
        return f"{amount} 成长值"
    if kind == "coupon" and getattr(campaign, f"{side}_coupon_template"):
        return "优惠券"
    return ""


def invites_page(request: HttpRequest, *, member: Member) -> HttpResponse:
    """邀请好友: the member's link and QR, the rules, and each invitation with its status and the
    reason, the invitee masked. The member centre calls this behind its own sign-in."""
    device = _device(request) or secrets.token_hex(16)
    link = referral_link_get(member=member, device=device, ip=request.META.get("REMOTE_ADDR", ""))
    url = request.build_absolute_uri(f"/m/i/{link.token}/")
    campaign = referral_campaign_current()
    invitations = referral_invitations(member=member)
    counts: dict[str, int] = {}
    for invitation in invitations:
        counts[invitation.stage] = counts.get(invitation.stage, 0) + 1
    context = {
        "link": link,
        "url": url,
        "qr": _qr(url),
        "campaign": campaign,
        "referrer_gift": _reward_words(campaign, side="referrer") if campaign else "",
        "invitee_gift": _reward_words(campaign, side="invitee") if campaign else "",
        "invitations": invitations,
        "stages": [((stage.value, stage.label), counts.get(stage.value, 0)) for stage in Referral.Stage],
        # Opens are counted per browser session, joins per person: the difference is a hint.
        "waiting": max(link.opened - sum(1 for i in invitations if i.channel == Referral.Channel.LINK), 0),
    }
    return _with_device(request, render(request, "engagement/invites.html", context), device)


def invite_poster(request: HttpRequest, *, member: Member) -> HttpResponse:
    """The member's invite poster as a PNG to long-press and save in WeChat (crm.posters): the
    invite link as a QR code, its short token printed under it, what the friend gets, and the
    member's name masked. The member centre mounts it behind its sign-in (/m/invites/poster.png)."""
    link = referral_link_get(member=member, device=_device(request), ip=request.META.get("REMOTE_ADDR", ""))
    campaign = referral_campaign_current()
    gift = _reward_words(campaign, side="invitee") if campaign else ""
    lines = [f"受邀入会{_qualifying_words(campaign)}，即得 {gift}" if gift else "扫码加入会员，享会员专属权益"]
    png = poster_png(
        Poster(
            brand=request.tenant.name,  # type: ignore[attr-defined]
            headline=campaign.name if campaign else "邀请您加入会员",
            url=request.build_absolute_uri(f"/m/i/{link.token}/"),
            token=link.token,
            lines=lines,
            footer=f"{name_mask(member.name) or '您的好友'} 邀请您",
        )
    )
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="invite-{link.token}.png"'
    return response


def _qualifying_words(campaign: ReferralCampaign | None) -> str:
    if campaign is None or campaign.qualifying == ReferralCampaign.Qualifying.ENROLMENT:
        return ""
    return "并完成首次消费"


def birthday_page(request: HttpRequest, *, member: Member) -> HttpResponse:
    """我的生日: the member sets it once (birthday_set_by_member); after that it is shown with how
    to correct it in store. The member centre mounts it behind its sign-in (/m/birthday/)."""
    notice, form_error, status = "", "", 200
    if request.method == "POST":
        try:
            text = request.POST.get("birthday", "").strip()
            try:
                day = dt.date.fromisoformat(text)
            except ValueError:
                raise AppError("member_invalid", "请选择生日（年-月-日）。", fields={"birthday": ["必填。"]}) from None
            member = birthday_set_by_member(member=member, birthday=day)
            notice = "生日已保存。以后如需更正，请带上证件到门店办理。"
        except AppError as error:
            form_error, status = error.message, error.status if error.status in (400, 409) else 400
            member = Member.objects.get(pk=member.pk)
    context = {
        "member": member,
        "notice": notice,
        "form_error": form_error,
        "max_day": f"{brand_date(timezone.now()):%Y-%m-%d}",
        "benefit": birthday_benefit_words(member=member),
    }
    return render(request, "engagement/birthday.html", context, status=status)
