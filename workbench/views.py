"""The store workbench's pages, inside the brand admin (its login, session limit, look and
`admin_view` guard). Thin: read the form, call one service or selector, render; a refusal is the
service's Chinese message on the page and changes nothing. Every member is fetched through
`selectors.member_for_user` (store scope), so another store's member is a 404 by URL too.

The customer's phone page (`customer_enrol`) and the password page are outside the admin: the
first is opened by a signed QR link, the second by a one-time token.
"""

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse, reverse_lazy
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from consent.error_codes import CONSENT_GUARDIAN_REQUIRED
from consent.models import ConsentSession, Purpose
from consent.services import agreement_versions_current
from consent.services.links import link_sign
from consent.services.pi_log import pi_access_log
from consent.services.sessions import consent_session_cancel, consent_session_from_token
from consent.types import GuardianConsent
from coupons import error_codes as coupon_codes
from coupons.error_codes import reason_text as coupon_reason_text
from coupons.manual_issue import (
    coupon_issue_allowed,
    coupon_issue_outcome_words,
    coupon_template_choice_words,
    coupon_templates_issuable,
    coupons_issue_manual,
)
from coupons.models import Coupon, CouponTemplate
from coupons.rules import validity_words
from coupons.selectors import coupon_by_code, member_coupons
from coupons.services import coupon_redeem
from crm.admin_sites import brand_admin
from crm.errors import AppError
from engagement import error_codes as engagement_codes
from engagement.selectors import referral_of
from engagement.services.birthday_profile import birthday_change_in_store
from engagement.services.referral import referral_record_in_store, referrer_find
from membercentre.services.codes import MEMBER_CODE_RE, member_code_consume, member_code_resolve
from members import error_codes as members_codes
from members import roles
from members.masking import can_view_full_pi, member_label
from members.models import Member, Reward, Staff, Store, Tier
from members.scoping import member_in_scope, scope_stores, user_scope
from members.services.actors import actor_name
from members.services.orders import OrderLineInput
from members.services.points_adjustments import points_adjust, points_adjust_limit
from members.services.rewards import reward_redeem
from members.services.tiers import tier_grant_manual, tier_remove_manual

from . import selectors, services
from .words import fen_from_yuan, points_signed, time_shown, yuan_shown

# --- plumbing ----------------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    """admin_view lets only logged-in staff in, never AnonymousUser."""
    assert isinstance(request.user, User)
    return request.user


def _page(request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
    return TemplateResponse(
        request, template, {**brand_admin.each_context(request), "title": title, "wb": _actions(request), **context}
    )


def _require(request: HttpRequest, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied


def _actions(request: HttpRequest) -> dict[str, bool]:
    """The quick actions this login may take (the links shown; each view checks again). Worked
    out once per request (the caps read the brand's settings)."""
    cached = getattr(request, "_workbench_actions", None)
    if cached is None:
        cached = _actions_of(request)
        request._workbench_actions = cached  # type: ignore[attr-defined]
    return cached


def _actions_of(request: HttpRequest) -> dict[str, bool]:
    user = request.user
    return {
        "enrol": user.has_perms(["members.add_member", "consent.add_consentsession"]),
        "order": user.has_perm("members.add_order"),
        "redeem": user.has_perms(["members.change_member", "members.add_redemption"]),
        "adjust": user.has_perm("members.change_member") and points_adjust_limit(user=user) != 0,
        "tier": user.has_perms(["members.change_member", "members.add_tierchange"]),
        "coupons": user.has_perms(["members.view_member", "coupons.view_coupon", "coupons.add_couponredemption"]),
        "issue": coupon_issue_allowed(user=user),
        "logins": user.has_perms(["auth.add_user", "auth.change_user", "members.change_staff"]),
        # A set birthday is corrected only in store (DOMAIN "Birthday"): store logins, not HQ.
        "birthday": user.has_perm("members.change_member") and not user_scope(user).all_stores,
    }


def _member_or_404(request: HttpRequest, member_id: int) -> Member:
    member = selectors.member_for_user(user=request.user, member_id=member_id)
    if member is None:
        raise Http404("会员不存在或不在您的门店范围内。")
    return member


def _member_url(member: Member) -> str:
    return reverse("workbench:member", args=[member.pk])


def _refused(request: HttpRequest, error: AppError) -> None:
    messages.error(request, error.message)


def _reference(request: HttpRequest) -> str:
    """The form's one-time request number (a double submit sends the same one: the services then
    return the first outcome instead of acting twice)."""
    reference = (request.POST.get("reference") or "").strip()[:64]
    return reference or f"wb-{uuid.uuid4().hex}"


def workbench_index(original: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The brand site's index for store roles is the workbench; everyone else keeps the dashboard.
    Store roles still reach their store's dashboard through 门店看板 (`/admin/?view=dashboard`)."""

    def index(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        wants_dashboard = request.GET.get("view") == "dashboard"
        if request.user.is_authenticated and not wants_dashboard and not user_scope(request.user).all_stores:
            return HttpResponseRedirect(reverse("workbench:home"))
        return original(request, extra_context=extra_context)

    return index


# --- the workbench -----------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    _require(request, "members.view_member")
    query = request.GET.get("q", "")
    result = selectors.members_find(user=request.user, query=query)
    desk = services.desk_for(request.user)
    return _page(
        request,
        "workbench/home.html",
        "门店工作台",
        desk=desk,
        # A staff member's own figures this month (导购业绩, performance.selectors), not on a search.
        mine=None if result.query or desk.staff is None else selectors.own_figures(staff=desk.staff),
        result=result,
        rows=[(member, selectors.profile_for(member, full=False)) for member in result.members],
        # Today's tasks on the plain workbench; a search shows its results only (what staff at the
        # counter are waiting for).
        tasks=[]
        if result.query
        else [
            (task, [(m, selectors.profile_for(m, full=False)) for m in task.rows])
            for task in selectors.today_tasks(user=request.user)
        ],
    )


# --- the member 360° page ---------------------------------------------------------------------------


def _member_page(request: HttpRequest, member: Member, *, full: bool) -> TemplateResponse:
    page = selectors.member_page(user=request.user, member=member, full=full)
    tiers = list(Tier.objects.order_by("rank")) if _actions(request)["tier"] else []
    return _page(
        request,
        "workbench/member.html",
        f"会员 {member.member_no}",
        page=page,
        tiers=tiers,
        can_reveal=can_view_full_pi(request.user) and not full,
        adjust_limit=points_adjust_limit(user=_user(request)),
        reference=uuid.uuid4().hex,
        staff_name=member.assigned_staff.name if member.assigned_staff else "",
        balance=member.points_balance,
        yuan=yuan_shown,
        coupons=[
            (v, validity_words(v.coupon.template))
            for v in _coupon_views(member, store=services.desk_for(request.user).store, amount_fen=None)[:10]
        ],
        issuable=[(t.pk, coupon_template_choice_words(t)) for t in coupon_templates_issuable()]
        if _actions(request)["issue"]
        else [],
    )


def member(request: HttpRequest, member_id: int) -> HttpResponse:
    _require(request, "members.view_member")
    return _member_page(request, _member_or_404(request, member_id), full=False)


@require_POST
def member_reveal(request: HttpRequest, member_id: int) -> HttpResponse:
    """ "查看完整信息": logged first (PIPL art. 51), shown only then; a POST, so the full view is
    never a link that can be shared or prefetched."""
    target = _member_or_404(request, member_id)
    if not can_view_full_pi(request.user):
        raise PermissionDenied
    pi_access_log(
        user=request.user,
        member=target,
        fields=["mobile", "name", "birthday"],
        context="workbench:member",
        ip=request.META.get("REMOTE_ADDR"),
    )
    return _member_page(request, target, full=True)


@require_POST
def member_adjust(request: HttpRequest, member_id: int) -> HttpResponse:
    _require(request, "members.change_member")
    target = _member_or_404(request, member_id)
    try:
        points = int((request.POST.get("points") or "").strip())
    except ValueError:
        messages.error(request, "调整积分必须是非零整数。")
        return redirect(_member_url(target))
    try:
        outcome = points_adjust(
            member=target,
            points=points,
            reason=request.POST.get("reason", ""),
            actor=_user(request),
            reference=_reference(request),
        )
    except AppError as error:
        _refused(request, error)
    else:
        if outcome.held:
            messages.warning(request, f"{points_signed(points)} 积分超出今日额度，已提交品牌管理员审批。")
        else:
            messages.success(request, f"已调整 {points_signed(points)} 积分。")
    return redirect(_member_url(target))


@require_POST
def member_coupon_issue(request: HttpRequest, member_id: int) -> HttpResponse:
    """发券 from the 360° page: one template to this member, within the login's daily caps (past
    them it waits in 发券审批 with the stock reserved); the form's one-time reference is the batch
    number, so a double submit issues once. The login's staff member counts the touch."""
    if not coupon_issue_allowed(user=request.user):
        raise PermissionDenied
    target = _member_or_404(request, member_id)
    template = CouponTemplate.objects.filter(pk=request.POST.get("template") or 0).first()
    if template is None:
        messages.error(request, "请选择要发放的优惠券。")
        return redirect(_member_url(target))
    desk = services.desk_for(request.user)
    try:
        outcome = coupons_issue_manual(
            template_id=template.pk,
            member_ids=[target.pk],
            batch=_reference(request),
            user=_user(request),
            staff_id=desk.staff.pk if desk.staff else None,
        )
    except AppError as error:
        _refused(request, error)
    else:
        level, words = coupon_issue_outcome_words(outcome, template=template, member_no=target.member_no)
        getattr(messages, level)(request, words)
    return redirect(_member_url(target))


@require_POST
def member_redeem(request: HttpRequest, member_id: int) -> HttpResponse:
    _require(request, "members.change_member", "members.add_redemption")
    target = _member_or_404(request, member_id)
    reward = Reward.objects.filter(pk=request.POST.get("reward") or 0).first()
    if reward is None:
        messages.error(request, "请选择要兑换的礼品。")
        return redirect(_member_url(target))
    try:
        redemption = reward_redeem(member=target, reward=reward, reference=_reference(request), actor=_user(request))
    except AppError as error:
        _refused(request, error)
    else:
        messages.success(request, f"已兑换「{reward.name}」，使用 {redemption.points} 积分。")
    return redirect(_member_url(target))


@require_POST
def member_tier(request: HttpRequest, member_id: int) -> HttpResponse:
    _require(request, "members.change_member", "members.add_tierchange")
    target = _member_or_404(request, member_id)
    reason = request.POST.get("reason", "")
    reference = _reference(request)
    try:
        if request.POST.get("tier"):
            tier = Tier.objects.filter(pk=request.POST["tier"]).first()
            if tier is None:
                raise AppError(members_codes.TIER_INVALID, "请选择保底等级。")
            tier_grant_manual(member=target, tier=tier, reason=reason, actor=_user(request), reference=reference)
            messages.success(request, f"已设置保底等级：{tier.name}。")
        else:
            change = tier_remove_manual(member=target, reason=reason, actor=_user(request), reference=reference)
            messages.success(request, "已取消保底等级。" if change else "该会员没有保底等级。")
    except AppError as error:
        _refused(request, error)
    return redirect(_member_url(target))


@require_POST
def member_birthday(request: HttpRequest, member_id: int) -> HttpResponse:
    """更正生日: staff at the counter, having checked the member's ID, set or correct the birthday
    with the reason (engagement's birthday_change_in_store: audited in BirthdayChange, and the
    birthday job's guard sees the change)."""
    _require(request, "members.change_member")
    if not _actions(request)["birthday"]:
        raise PermissionDenied
    target = _member_or_404(request, member_id)
    try:
        text = (request.POST.get("birthday") or "").strip()
        try:
            birthday = dt.date.fromisoformat(text)
        except ValueError:
            raise AppError(members_codes.MEMBER_INVALID, "请选择正确的生日（年-月-日）。") from None
        birthday_change_in_store(
            member=target, birthday=birthday, actor=actor_name(_user(request)), reason=request.POST.get("reason", "")
        )
    except AppError as error:
        _refused(request, error)
    else:
        messages.success(request, "生日已更正，已记录原因。")
    return redirect(_member_url(target))


# --- offline orders ------------------------------------------------------------------------------------


class OfflineOrderForm(forms.Form):
    order_no = forms.CharField(label="小票/订单号", max_length=64)
    amount = forms.CharField(label="实付金额（元）", max_length=20)
    mobile = forms.CharField(label="顾客手机号（选填）", max_length=20, required=False)
    sku = forms.CharField(label="商品编码（选填）", max_length=64, required=False)
    sku_name = forms.CharField(label="商品名称（选填）", max_length=200, required=False)
    quantity = forms.IntegerField(label="数量", min_value=1, max_value=999, required=False, initial=1)

    def clean_amount(self) -> int:
        try:
            return fen_from_yuan(self.cleaned_data["amount"])
        except AppError as error:
            raise forms.ValidationError(error.message) from error


def order_new(request: HttpRequest) -> HttpResponse:
    """门店补录订单: the store is the login's, the amount in yuan, the buyer by mobile (or the member
    whose page this came from), one line optional."""
    _require(request, "members.add_order")
    desk = services.desk_for(request.user)
    buyer = None
    member_id = request.GET.get("member") or request.POST.get("member")
    if member_id and str(member_id).isdigit():
        buyer = _member_or_404(request, int(member_id))
    form = OfflineOrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        lines: tuple[OrderLineInput, ...] = ()
        if data["sku"]:
            lines = (
                OrderLineInput(
                    sku=data["sku"], name=data["sku_name"], amount_fen=data["amount"], quantity=data["quantity"] or 1
                ),
            )
        try:
            recorded = services.offline_order_record(
                user=request.user,
                order_no=data["order_no"],
                amount_fen=data["amount"],
                mobile=data["mobile"],
                member=buyer,
                lines=lines,
            )
        except AppError as error:
            form.add_error(None, error.message)
        else:
            order = recorded.result.order
            if recorded.duplicate:
                messages.warning(request, f"订单号 {order.order_no} 已录入过，本次未重复记账。")
            elif recorded.result.member is not None:
                messages.success(
                    request,
                    f"已录入订单 {order.order_no}：{yuan_shown(order.amount_fen)}，"
                    f"会员获得 {order.points_earned} 积分。",
                )
            else:
                messages.success(
                    request, f"已录入订单 {order.order_no}：{yuan_shown(order.amount_fen)}（非会员订单）。"
                )
            member = recorded.result.member
            if member is not None and member_in_scope(member, request.user):
                return redirect(_member_url(member))
            return redirect(reverse("workbench:order_new"))
    return _page(
        request,
        "workbench/order.html",
        "门店补录订单",
        form=form,
        desk=desk,
        buyer=buyer,
        buyer_profile=selectors.profile_for(buyer, full=False) if buyer else None,
    )


# --- enrolment: the staff screen and the customer's phone ------------------------------------------


@require_POST
def enrol_start(request: HttpRequest) -> HttpResponse:
    """Staff action 1: open a consent session preset with this login's staff member and store."""
    _require(request, "members.add_member", "consent.add_consentsession")
    try:
        session = services.enrol_session_start(user=request.user)
    except AppError as error:
        _refused(request, error)
        return redirect(reverse("workbench:home"))
    return redirect(reverse("workbench:enrol", args=[session.pk]))


def _own_session(request: HttpRequest, session_id: int) -> ConsentSession:
    """A session the login's own staff member opened (brand-wide users: any)."""
    session = ConsentSession.objects.select_related("member", "staff").filter(pk=session_id).first()
    scope = user_scope(request.user)
    if session is None or (not scope.all_stores and session.staff_id != scope.staff_id):
        raise Http404("授权会话不存在。")
    return session


def enrol(request: HttpRequest, session_id: int) -> HttpResponse:
    """The staff screen: the QR code until the customer has enrolled on their phone, then the new
    member. It polls its own status fragment (htmx), so staff never reload."""
    _require(request, "members.add_member", "consent.add_consentsession")
    session = _own_session(request, session_id)
    link = request.build_absolute_uri(reverse("workbench:join", args=[_token(session)]))
    return _page(
        request,
        "workbench/enrol.html",
        "扫码入会",
        link=link,
        # Rendered inline (no request to any QR service: the link is a capability).
        qr=mark_safe(segno.make(link, error="m").svg_inline(scale=6)),  # noqa: S308
        **_enrol_status(request, session),
    )


def _token(session: ConsentSession) -> str:
    # The consent app's signed session link (same salt, same 30 minutes), opened on our own page.
    return link_sign(kind="session", payload={"s": session.pk, "n": session.nonce})


def _enrol_status(request: HttpRequest, session: ConsentSession) -> dict[str, Any]:
    member = session.member if session.status == ConsentSession.Status.CONSUMED else None
    refusal = services.enrol_refusal_read(session=session) if member is None else None
    return {
        "referral": referral_of(invitee=member) if member else None,
        "refusal": refusal[0] if refusal else "",
        "refusal_at": time_shown(refusal[1]) if refusal else "",
        "session": session,
        "new_member": member,
        "new_profile": selectors.profile_for(member, full=False) if member else None,
        "expired": session.status == ConsentSession.Status.OPEN and session.is_expired(),
    }


@never_cache
def enrol_status(request: HttpRequest, session_id: int) -> HttpResponse:
    _require(request, "members.add_member", "consent.add_consentsession")
    session = _own_session(request, session_id)
    context = _enrol_status(request, session)
    # 286 tells htmx to stop polling: once the member exists, the 推荐人 form must not be
    # replaced under the staff member's fingers.
    done = context["new_member"] is not None
    return render(request, "workbench/_enrol_status.html", context, status=286 if done else 200)


@require_POST
def enrol_referrer(request: HttpRequest, session_id: int) -> HttpResponse:
    """推荐人: the customer just enrolled names the member who brought them (mobile or member
    number). engagement's binding decides — a new person only, self-referral and collusion checks,
    the reason stored and shown to the referrer — and the staff member sees the outcome."""
    _require(request, "members.add_member", "consent.add_consentsession")
    session = _own_session(request, session_id)
    back = redirect(reverse("workbench:enrol", args=[session.pk]))
    if session.status != ConsentSession.Status.CONSUMED or session.member is None:
        messages.error(request, "顾客尚未完成入会，不能登记推荐人。")
        return back
    try:
        referrer = referrer_find(request.POST.get("referrer", ""))
        if referrer is None:
            raise AppError(engagement_codes.REFERRAL_REFUSED, "找不到该推荐人：请核对手机号或会员号。")
        desk = services.desk_for(request.user)
        referral = referral_record_in_store(
            invitee=session.member,
            referrer_member_no=referrer.member_no,
            staff_id=desk.staff.pk if desk.staff else None,
        )
    except AppError as error:
        _refused(request, error)
        return back
    who = member_label(referrer.member_no, referrer.name, full=False)
    if referral.referrer_id != referrer.pk:
        messages.warning(request, "该会员已登记过推荐人（首次登记为准），本次未更改。")
    elif referral.status == referral.Status.REFUSED:
        messages.warning(request, f"已登记推荐人 {who}，但不发放奖励：{referral.reason}。")
    else:
        messages.success(request, f"已登记推荐人 {who}（{referral.get_status_display()}）。")
    return back


@require_POST
def enrol_cancel(request: HttpRequest, session_id: int) -> HttpResponse:
    _require(request, "members.add_member", "consent.change_consentsession")
    session = _own_session(request, session_id)
    try:
        consent_session_cancel(session_id=session.pk, actor=_user(request).get_username())
    except AppError as error:
        _refused(request, error)
    return redirect(reverse("workbench:home"))


@never_cache
@require_http_methods(["GET", "POST"])
def customer_enrol(request: HttpRequest, token: str) -> HttpResponse:
    """The customer's own phone (opened from the QR code): mobile, name and birthday, one unticked
    box per purpose; on success, their member card (not "hand the phone back")."""
    try:
        session = consent_session_from_token(token)
    except AppError as error:
        return render(request, "workbench/join_error.html", {"message": error.message}, status=error.status)
    if session.status == ConsentSession.Status.CONSUMED and session.member_id:
        return render(request, "workbench/join_card.html", _card(session))
    if session.status != ConsentSession.Status.OPEN or session.is_expired():
        message = (
            "二维码已过期，请导购重新生成。" if session.status == ConsentSession.Status.OPEN else "本次入会已结束。"
        )
        return render(request, "workbench/join_error.html", {"message": message}, status=410)
    form_error = ""
    guardian_open = bool(request.POST.get("minor"))
    if request.method == "POST":
        try:
            services.enrol_by_customer(
                session=session,
                mobile=request.POST.get("mobile", ""),
                name=request.POST.get("name", "").strip(),
                birthday=_birthday(session, request.POST.get("birthday", "")),
                ticked=request.POST.getlist("purpose"),
                ip=request.META.get("REMOTE_ADDR", ""),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                guardian=_guardian(request) if guardian_open else None,
            )
        except AppError as error:
            form_error = error.message
            # A birthday under 14 without a guardian: the page comes back with the guardian's
            # fields open (an adult never sees them).
            guardian_open = guardian_open or error.code == CONSENT_GUARDIAN_REQUIRED
        else:
            return redirect(request.path)
    try:
        versions = agreement_versions_current()
    except AppError as error:
        return render(request, "workbench/join_error.html", {"message": error.message}, status=error.status)
    return render(
        request,
        "workbench/join.html",
        {
            "versions": versions,
            "form_error": form_error,
            "post": request.POST,
            "ticked": request.POST.getlist("purpose"),
            "purpose_labels": dict(Purpose.choices),
            "guardian_open": guardian_open,
            "guardian_post": request.POST,
        },
        status=400 if form_error else 200,
    )


def _birthday(session: ConsentSession, text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError as exc:
        error = AppError(members_codes.MEMBER_INVALID, "生日格式不正确，请按 1990-05-12 填写。")
        services.enrol_refusal_note(session=session, error=error)
        raise error from exc


def _guardian(request: HttpRequest) -> GuardianConsent:
    return GuardianConsent(
        name=request.POST.get("guardian_name", "").strip(),
        relation=request.POST.get("guardian_relation", "").strip(),
        mobile=request.POST.get("guardian_mobile", "").strip(),
    )


def _card(session: ConsentSession) -> dict[str, Any]:
    assert session.member_id is not None  # a consumed session names its member
    member = Member.objects.select_related("tier", "home_store").get(pk=session.member_id)
    return {
        "member": member,
        "profile": selectors.profile_for(member, full=False),
        "points": member.points_balance,
        "enrolled": time_shown(member.enrolled_at),
    }


# --- staff logins ------------------------------------------------------------------------------------


class StaffLoginForm(forms.Form):
    staff = forms.ModelChoiceField(
        label="已有员工", queryset=Staff.objects.none(), required=False, empty_label="（新员工，填写下方姓名）"
    )
    staff_name = forms.CharField(label="新员工姓名", max_length=50, required=False)
    store = forms.ModelChoiceField(
        label="所属门店", queryset=Store.objects.none(), required=False, empty_label="（总部）"
    )
    # No default: a brand-admin login must never be created because nobody changed the first option.
    role = forms.ChoiceField(label="角色", choices=[("", "请选择角色"), *((role, role) for role in roles.ALL_ROLES)])
    username = forms.EmailField(label="登录账号（邮箱）")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = Staff.objects.filter(status=Staff.Status.ACTIVE).select_related("store")
        self.fields["staff"].queryset = scope_stores(staff, user, store_path="store")  # type: ignore[attr-defined]
        self.fields["staff"].label_from_instance = lambda s: f"{s.name}（{s.store.name if s.store else '总部'}）"  # type: ignore[attr-defined]
        self.fields["store"].queryset = scope_stores(Store.objects.filter(is_active=True), user)  # type: ignore[attr-defined]


def staff_logins(request: HttpRequest) -> HttpResponse:
    """A brand admin gives a staff member a login (role + store) in one form, or turns one off."""
    _require(request, "auth.add_user", "auth.change_user", "members.change_staff")
    form = StaffLoginForm(request.POST or None, user=request.user)
    created = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.staff_login_create(
                username=data["username"],
                role=data["role"],
                staff=data["staff"],
                staff_name=data["staff_name"],
                store=data["store"],
                actor=request.user,
            )
        except AppError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"已为 {created.staff.name} 开通账号 {created.user.get_username()}。")
            form = StaffLoginForm(user=request.user)
    staff = (
        Staff.objects.filter(user__isnull=False)
        .select_related("store", "user")
        .prefetch_related("user__groups")
        .order_by("store__code", "name")
    )
    return _page(
        request,
        "workbench/staff_logins.html",
        "员工账号",
        form=form,
        created=created,
        password_link=request.build_absolute_uri(created.password_path) if created and created.password_path else "",
        staff_rows=scope_stores(staff, request.user, store_path="store"),
    )


@require_POST
def staff_login_disable(request: HttpRequest, staff_id: int) -> HttpResponse:
    _require(request, "auth.change_user", "members.change_staff")
    staff = scope_stores(Staff.objects.all(), request.user, store_path="store").filter(pk=staff_id).first()
    if staff is None:
        raise Http404("员工不存在。")
    with transaction.atomic():
        changed = services.staff_login_disable(staff=staff, actor=request.user)
    messages.success(request, f"已停用 {staff.name} 的账号。" if changed else f"{staff.name} 的账号已是停用状态。")
    return redirect(reverse("workbench:staff_logins"))


class PasswordSetForm(SetPasswordForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].label = "新密码"
        self.fields["new_password1"].help_text = "至少 8 位，不能是常见密码或纯数字，不能与账号相似。"
        self.fields["new_password2"].label = "再次输入新密码"


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The one-time link of a new login: Django's password-reset token, so it works once (it is
    bound to the password hash) and expires after PASSWORD_RESET_TIMEOUT."""

    template_name = "workbench/password_set.html"
    form_class = PasswordSetForm
    success_url = reverse_lazy("admin:login")
    post_reset_login = False
    title = "设置登录密码"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        brand = getattr(self.request, "tenant", None)
        context["site_header"] = f"{brand.name} · 会员运营后台" if brand is not None else "会员运营后台"
        context["site_title"] = "会员运营后台"
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        messages.success(self.request, "密码已设置，请用新密码登录。")
        return super().form_valid(form)


# --- coupon write-off (核销) ----------------------------------------------------------------------------


def _coupon_views(member: Member, *, store: Store | None, amount_fen: int | None) -> list[Any]:
    return member_coupons(member_id=member.pk, store_id=store.pk if store else None, order_amount_fen=amount_fen)


def _writeoff_lookup(request: HttpRequest, query: str) -> tuple[Member | None, Coupon | None, str]:
    """The member (and the coupon, for a coupon code) behind what staff scanned or typed, inside
    the user's store scope; or why nobody, in Chinese. A member code is only *resolved* here
    (audited); it is consumed by the write-off itself."""
    user = _user(request)
    if MEMBER_CODE_RE.match(query):
        try:
            member = member_code_resolve(code=query, via="workbench", actor=user.get_username())
        except AppError as refused:
            return None, None, refused.message
        coupon = None
    else:
        coupon = coupon_by_code(code=query)
        if coupon is None:
            return None, None, "券码不存在（通用券码请先扫顾客的会员码）。"
        holder = Member.objects.filter(pk=coupon.member_id).first()
        if holder is None:
            return None, None, "券码不存在。"
        member = holder
    if not member_in_scope(member, user):
        return None, None, "该会员不在您的门店范围内，不能在此核销。"
    return member, coupon, ""


def coupon_writeoff(request: HttpRequest) -> HttpResponse:
    """核销优惠券: scan or type the member code (会员码) or a coupon code, see the member's coupons
    (usable ones first, each other one with why not, for this store and amount), write one off
    against an order number and amount in yuan. The form's request number makes a double submit a
    replay; a member code is consumed in the same transaction as the write-off."""
    _require(request, "members.view_member", "coupons.view_coupon", "coupons.add_couponredemption")
    desk = services.desk_for(request.user)
    if request.method == "POST":
        return _coupon_writeoff_post(request, desk.store)
    query = (request.GET.get("q") or "").strip()[:64]
    amount_text = (request.GET.get("amount") or "").strip()
    amount_fen, refusal = None, ""
    if amount_text:
        try:
            amount_fen = fen_from_yuan(amount_text)
        except AppError as error:
            refusal = error.message
    member: Member | None = None
    coupon: Coupon | None = None
    member_code = ""
    if request.GET.get("member", "").isdigit():
        member = _member_or_404(request, int(request.GET["member"]))
    elif query and not refusal:
        member, coupon, refusal = _writeoff_lookup(request, query)
        member_code = query if member is not None and MEMBER_CODE_RE.match(query) else ""
    views = _coupon_views(member, store=desk.store, amount_fen=amount_fen) if member else []
    if coupon is not None:  # the scanned coupon first
        views.sort(key=lambda v: v.coupon.pk != coupon.pk)
    return _page(
        request,
        "workbench/coupons.html",
        "核销优惠券",
        desk=desk,
        query=query,
        amount_text=amount_text,
        amount_fen=amount_fen,
        refusal=refusal,
        member=member,
        profile=selectors.profile_for(member, full=False) if member else None,
        member_code=member_code,
        amount_shown=yuan_shown(amount_fen) if amount_fen else "",
        coupons=[
            (
                v,
                _code_for_counter(v.coupon)[-4:],
                validity_words(v.coupon.template),
                yuan_shown(v.discount_fen) if v.discount_fen else "",
            )
            for v in views
        ],
        reference=uuid.uuid4().hex,
        yuan=yuan_shown,
    )


def _code_for_counter(coupon: Coupon) -> str:
    return coupon.code or coupon.template.generic_code


def _coupon_writeoff_post(request: HttpRequest, store: Store | None) -> HttpResponse:
    user = _user(request)
    target = _member_or_404(request, int(request.POST.get("member") or 0))
    back = f"{reverse('workbench:coupon_writeoff')}?member={target.pk}"
    coupon = Coupon.objects.filter(pk=request.POST.get("coupon") or 0, member_id=target.pk).first()
    if coupon is None:
        messages.error(request, "请选择该会员的一张优惠券。")
        return redirect(back)
    order_no = (request.POST.get("order_no") or "").strip()
    if not order_no:
        messages.error(request, "请填写小票/订单号。")
        return redirect(back)
    reference = f"wb-coupon-{_reference(request)}"[:64]
    member_code = (request.POST.get("member_code") or "").strip()
    try:
        amount_fen = fen_from_yuan(request.POST.get("amount", ""))
        with transaction.atomic():
            if member_code:
                # The code on the customer's phone moves value here: used once, for this write-off.
                holder = member_code_consume(
                    code=member_code, via="workbench", actor=user.get_username(), reference=reference
                )
                if holder.pk != target.pk:
                    raise AppError(coupon_codes.MEMBER_MISMATCH, "会员码与该会员不符。")
            result = coupon_redeem(
                request_no=reference,
                code=_code_for_counter(coupon),
                member_id=target.pk,
                store_code=store.code if store else None,
                channel="store",
                order_no=order_no,
                order_amount_fen=amount_fen,
                actor=user.get_username(),
            )
    except AppError as error:
        reasons = [coupon_reason_text(r) for r in error.extra.get("reasons", [])]
        messages.error(request, "；".join(reasons) if len(reasons) > 1 else error.message)
        return redirect(back)
    redemption = result.redemption
    paid = yuan_shown(redemption.order_amount_fen - redemption.discount_fen)
    done = (
        f"已核销「{coupon.template.name}」：订单 {redemption.order_no}，"
        f"优惠 {yuan_shown(redemption.discount_fen)}，实付 {paid}。"
    )
    messages.success(request, ("（重复提交，未再次核销）" if result.replayed else "") + done)
    return redirect(back)
