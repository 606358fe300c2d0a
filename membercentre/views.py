"""The member centre (会员中心) on the brand's host under /m/: sign-in (SMS code or WeChat web
authorisation), enrolment with consent for someone who is not a member yet, the member card
with the rotating member code, points, history, and the way to preferences / data copy /
deletion (the consent app's pages). Thin: read the session, call one service or selector, render.
Every page but sign-in needs a signed-in member (or a valid signed link, which signs in)."""

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from consent import error_codes as consent_codes
from consent.services import agreement_versions_current, preference_link_path
from consent.services.records import membership_version_for_enrolment
from consent.types import GuardianConsent
from crm.errors import AppError
from engagement import error_codes as engagement_codes
from engagement.member_views import birthday_page, invite_poster, invite_touch_read, invites_page
from members.models import Member
from members.selectors import member_survivor

from . import auth, error_codes
from .checkin import calendar_weeks, checkin_calendar_for, month_label, month_parse, month_shift
from .coupons import coupon_tabs
from .presentation import local_text, mobile_masked
from .render import barcode_svg, qr_svg
from .sections import sections_for
from .selectors import member_card, member_history
from .services.binding import wechat_mobile_bind
from .services.codes import member_code_issue
from .services.enrol import member_centre_enrol
from .services.links import member_centre_link_read
from .services.signin import (
    otp_send,
    otp_verify,
    signin_member,
    wechat_authorize_url,
    wechat_code_exchange,
    wechat_config,
    wechat_state_check,
)

WECHAT_NONCE_KEY = "membercentre_wechat_nonce"
# Refresh the code this long before it expires, so the screen never shows a dead code.
CODE_REFRESH_MARGIN_SECONDS = 10


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _error(request: HttpRequest, error: AppError) -> HttpResponse:
    return render(request, "consent/error.html", {"message": error.message}, status=error.status)


def member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = auth.current_member(request)
        if member is None:
            if auth.pending_get(request) is not None:
                return redirect("membercentre:join")
            return redirect(f"{reverse('membercentre:login')}?next={request.path}")
        if member.status != Member.Status.ACTIVE:
            return _error(
                request, AppError(error_codes.MEMBER_FROZEN, "您的会员账户已冻结，请联系门店或客服。", status=403)
            )
        request.member = member  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper


def _signed_in(request: HttpRequest, identity: Any) -> HttpResponse:
    member = signin_member(identity)
    if member is None:
        auth.pending_set(request, identity)
        if identity.method == "wechat" and not identity.mobile:
            return redirect("membercentre:bind")  # perhaps a member by mobile already: bind first
        return redirect("membercentre:join")
    auth.member_sign_in(request, member)
    return redirect("membercentre:home")


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if auth.current_member(request) is not None:
        return redirect("membercentre:home")
    context: dict[str, Any] = {"wechat": wechat_config() is not None, "mobile": "", "sent": False}
    status = 200
    if request.method == "POST":
        mobile = request.POST.get("mobile", "").strip()
        context["mobile"] = mobile
        try:
            if request.POST.get("action") == "send":
                otp_send(mobile=mobile, ip=_client_ip(request), brand_name=request.tenant.name)  # type: ignore[attr-defined]
                context["sent"] = True
                context["notice"] = "验证码已发送，5 分钟内有效。"
            else:
                identity = otp_verify(mobile=mobile, code=request.POST.get("code", ""))
                return _signed_in(request, identity)
        except AppError as error:
            context["form_error"] = error.message
            context["sent"] = request.POST.get("action") != "send"
            status = error.status if error.status in (400, 429) else 400
    return render(request, "membercentre/login.html", context, status=status)


@never_cache
def wechat_start(request: HttpRequest) -> HttpResponse:
    nonce = secrets.token_urlsafe(16)
    request.session[WECHAT_NONCE_KEY] = nonce
    try:
        url = wechat_authorize_url(
            redirect_uri=request.build_absolute_uri(reverse("membercentre:wechat-callback")), nonce=nonce
        )
    except AppError as error:
        return _error(request, error)
    return HttpResponseRedirect(url)


@never_cache
def wechat_callback(request: HttpRequest) -> HttpResponse:
    try:
        wechat_state_check(state=request.GET.get("state", ""), nonce=request.session.pop(WECHAT_NONCE_KEY, ""))
        if not request.GET.get("code"):  # the person refused (snsapi_userinfo)
            return redirect("membercentre:login")
        identity = wechat_code_exchange(code=request.GET["code"])
    except AppError as error:
        return _error(request, error)
    return _signed_in(request, identity)


@never_cache
@require_http_methods(["GET", "POST"])
def bind(request: HttpRequest) -> HttpResponse:
    """A WeChat sign-in without a membership binds a mobile (an SMS one-time code, with the
    sign-in's limits): the mobile's member is found and linked to this WeChat person, or the
    person enrols with both (services.binding)."""
    if auth.current_member(request) is not None:
        return redirect("membercentre:home")
    identity = auth.pending_get(request)
    if identity is None or not (identity.openid or identity.unionid):
        return redirect("membercentre:login")
    if identity.mobile:
        return redirect("membercentre:join")
    context: dict[str, Any] = {"mobile": "", "sent": False}
    status = 200
    if request.method == "POST":
        mobile = request.POST.get("mobile", "").strip()
        context["mobile"] = mobile
        try:
            if request.POST.get("action") == "send":
                otp_send(mobile=mobile, ip=_client_ip(request), brand_name=request.tenant.name)  # type: ignore[attr-defined]
                context["sent"] = True
                context["notice"] = "验证码已发送，5 分钟内有效。"
            else:
                verified = otp_verify(mobile=mobile, code=request.POST.get("code", ""))
                member, with_mobile = wechat_mobile_bind(identity=identity, mobile=verified.mobile)
                if member is None:
                    auth.pending_set(request, with_mobile)
                    return redirect("membercentre:join")
                auth.member_sign_in(request, member)
                return redirect("membercentre:home")
        except AppError as error:
            context["form_error"] = error.message
            context["sent"] = request.POST.get("action") != "send"
            status = error.status if error.status in (400, 409, 429) else 400
    return render(request, "membercentre/bind.html", context, status=status)


@never_cache
def link(request: HttpRequest, token: str) -> HttpResponse:
    """A signed member-centre link (minted by the partner API, or sent in a message)."""
    try:
        member_id = member_centre_link_read(token)
    except AppError as error:
        return _error(request, error)
    member = Member.objects.filter(pk=member_id).first()
    if member is not None and member.merged_into_id is not None:  # merged away: the link follows
        member = member_survivor(member)
    if member is None or member.status == Member.Status.ERASED:
        return _error(request, AppError(consent_codes.CONSENT_LINK_INVALID, "链接无效。", status=404))
    auth.member_sign_in(request, member)
    return redirect("membercentre:home")


@never_cache
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    """Enrolment with consent for a signed-in person who is not a member (the consent page's
    agreements and one unticked box per purpose)."""
    if auth.current_member(request) is not None:
        return redirect("membercentre:home")
    identity = auth.pending_get(request)
    if identity is None:
        return redirect("membercentre:login")
    try:
        membership_version_for_enrolment()
    except AppError as error:
        return _error(request, error)
    form_error = None
    if request.method == "POST":
        guardian = None
        if request.POST.get("minor"):
            guardian = GuardianConsent(
                name=request.POST.get("guardian_name", "").strip(),
                relation=request.POST.get("guardian_relation", "").strip(),
                mobile=request.POST.get("guardian_mobile", "").strip(),
            )
        try:
            member = member_centre_enrol(
                identity=identity,
                name=request.POST.get("name", ""),
                ticked=request.POST.getlist("purpose"),
                ip=_client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                guardian=guardian,
                invite=invite_touch_read(request),
            )
        except AppError as error:
            form_error = error.message
            if error.code == "member_already_enrolled":
                form_error = "您已是会员，请使用入会时的手机号登录。"
        else:
            auth.member_sign_in(request, member)
            return redirect("membercentre:home")
    return render(
        request,
        "membercentre/join.html",
        {
            "versions": agreement_versions_current(),
            "identity": identity,
            "mobile": mobile_masked(identity.mobile) if identity.mobile else "",
            "form_error": form_error,
            "ticked": request.POST.getlist("purpose"),
            "name": request.POST.get("name", ""),
            # The guardian's fields unfold only for someone who said they are under 14.
            "guardian_open": bool(request.POST.get("minor")),
            "guardian_post": request.POST,
        },
        status=400 if form_error else 200,
    )


def _code_context(member: Member) -> dict[str, Any]:
    issued = member_code_issue(member_id=member.pk)
    ttl = max(int((issued.expires_at - timezone.now()).total_seconds()), 1)
    return {
        "code": issued.code,
        "code_spaced": " ".join(issued.code[i : i + 4] for i in range(0, len(issued.code), 4)),
        "qr": qr_svg(issued.code),
        "barcode": barcode_svg(issued.code),
        "expires_at": local_text(issued.expires_at, "%H:%M:%S"),
        "refresh_in": max(ttl - CODE_REFRESH_MARGIN_SECONDS, 5),
    }


@never_cache
@member_required
def home(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    return render(
        request,
        "membercentre/home.html",
        {
            "card": member_card(member=member),
            "sections": sections_for(member),
            "mobile": mobile_masked(member.mobile) if member.mobile else "",
            **_code_context(member),
        },
    )


@never_cache
@member_required
def code_fragment(request: HttpRequest) -> HttpResponse:
    """A fresh member code as an HTML fragment (static/membercentre/card.js swaps it in before
    the shown one expires)."""
    member: Member = request.member  # type: ignore[attr-defined]
    return render(request, "membercentre/_code.html", _code_context(member))


@never_cache
@member_required
def history(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    return render(request, "membercentre/history.html", {"items": member_history(member=member)})


@never_cache
@member_required
def coupons(request: HttpRequest) -> HttpResponse:
    """我的优惠券: only the signed-in member's own coupons (there is no id in the URL)."""
    member: Member = request.member  # type: ignore[attr-defined]
    tab = request.GET.get("tab", "usable")
    tabs = coupon_tabs(member_id=member.pk)
    if tab not in {key for key, _title, _cards in tabs}:
        tab = "usable"
    return render(request, "membercentre/coupons.html", {"tabs": tabs, "tab": tab})


@never_cache
@member_required
@require_http_methods(["GET", "POST"])
def checkin(request: HttpRequest) -> HttpResponse:
    """每日签到: check in today, make up a missed day (engagement's rules: window, cycle, cap,
    cost in points), and the month's calendar with the streak and the ladder."""
    import datetime as dt

    from crm.tenancy.zones import brand_date
    from engagement.selectors import checkin_reminder_state
    from engagement.services.checkin import checkin_make_up, checkin_perform
    from engagement.services.reminders import checkin_reminder_opt

    member: Member = request.member  # type: ignore[attr-defined]
    today = brand_date(timezone.now())
    month = month_parse(request.GET.get("month", ""), today=today)
    notice, form_error, status = "", "", 200
    if request.method == "POST":
        try:
            if request.POST.get("action") in ("reminder_on", "reminder_off"):
                on = checkin_reminder_opt(member=member, on=request.POST["action"] == "reminder_on")
                notice = "已开启签到提醒。" if on else "已关闭签到提醒，不会再收到签到短信。"
            elif request.POST.get("action") == "makeup":
                try:
                    day = dt.date.fromisoformat(request.POST.get("date", ""))
                except ValueError:
                    raise AppError(engagement_codes.MAKEUP_REFUSED, "请选择要补签的日期。") from None
                result = checkin_make_up(member=member, day=day, channel="member_centre")
                cost = (
                    f"，消耗 {result.checkin.cost_points} 积分" if result.created and result.checkin.cost_points else ""
                )
                notice = f"已补签 {day.month} 月 {day.day} 日{cost}。"
            else:
                result = checkin_perform(member=member, channel="member_centre")
                notice = "签到成功！" if result.created else "今天已经签到过了。"
                if result.created and result.checkin.points:
                    notice = f"签到成功，获得 {result.checkin.points} 积分！"
        except AppError as error:
            form_error, status = error.message, 400 if error.status not in (400, 409) else error.status
    cal = checkin_calendar_for(member=member, month=month)
    this_month = today.replace(day=1)
    return render(
        request,
        "membercentre/checkin.html",
        {
            "cal": cal,
            "weeks": calendar_weeks(cal),
            "ladder": [(step, max(step.days - cal.streak, 0)) for step in cal.ladder],
            "weekdays": ("一", "二", "三", "四", "五", "六", "日"),
            "month_label": month_label(cal.month),
            "previous": month_shift(cal.month, -1) if cal.month > month_shift(this_month, -12) else None,
            "next": month_shift(cal.month, 1) if cal.month < this_month else None,
            "notice": notice,
            "form_error": form_error,
            "reminder": checkin_reminder_state(member=member),
        },
        status=status,
    )


@never_cache
@member_required
def preferences(request: HttpRequest) -> HttpResponse:
    """The consent app's preferences page (consent per purpose, withdrawal, data copy, deletion)
    through a fresh signed link for the signed-in member."""
    member: Member = request.member  # type: ignore[attr-defined]
    return redirect(preference_link_path(member_id=member.pk))


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth.sign_out(request)
    return redirect("membercentre:login")


@never_cache
@member_required
def invites(request: HttpRequest) -> HttpResponse:
    """邀请好友 (engagement's page: the link, the QR and each invitation's status)."""
    return invites_page(request, member=request.member)  # type: ignore[attr-defined]


@never_cache
@member_required
def invite_poster_png(request: HttpRequest) -> HttpResponse:
    """The member's invite poster (PNG, engagement's drawing through crm.posters)."""
    return invite_poster(request, member=request.member)  # type: ignore[attr-defined]


@never_cache
@member_required
@require_http_methods(["GET", "POST"])
def birthday(request: HttpRequest) -> HttpResponse:
    """我的生日 (engagement's page: set once, then only in store)."""
    return birthday_page(request, member=request.member)  # type: ignore[attr-defined]
