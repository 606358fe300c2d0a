"""Member-facing pages (server-rendered, mobile-first, Chinese). Thin: read the signed link,
validate the form, call one service, render. Everything they change goes through the services,
the same rules as the admin and the API."""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from crm.errors import AppError
from members.models import Member

from . import error_codes
from .models import ConsentRecord, ConsentSession, ConsentState, DataRequest, Purpose
from .services import (
    agreement_versions_current,
    consent_grant,
    consent_withdraw,
    data_request_create,
    data_request_export_delivered,
    member_data_export_readable,
    member_data_export_readable_json,
    member_export_lock_check,
    member_export_mobile_confirm,
    preference_link_read,
)
from .services.records import membership_version_for_enrolment
from .services.sessions import consent_session_from_token, consent_session_submit
from .types import ConsentEvidence, GuardianConsent


def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR as seen by Django: the peer's address, never a header the client controls
    # (behind a proxy, the proxy's unless it speaks for the client at the network level:
    # docs/deploy.md).
    return request.META.get("REMOTE_ADDR", "")


def _device_evidence(request: HttpRequest, **extra: str) -> ConsentEvidence:
    return ConsentEvidence(
        channel=ConsentRecord.Channel.MEMBER_PAGE,
        ip=_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
        extra=extra,
    )


def _mobile_hint(mobile: str) -> str:
    """The last four digits only: the link may be forwarded, the page must not disclose more."""
    return f"尾号 {mobile[-4:]}" if len(mobile) >= 4 else ""


def _error(request: HttpRequest, error: AppError) -> HttpResponse:
    return render(request, "consent/error.html", {"message": error.message}, status=error.status)


@never_cache
@require_http_methods(["GET", "POST"])
def session_page(request: HttpRequest, token: str) -> HttpResponse:
    """The in-store consent page opened from the QR code on the customer's own phone."""
    try:
        session = consent_session_from_token(token)
    except AppError as error:
        return _error(request, error)
    if session.status != ConsentSession.Status.OPEN or session.is_expired():
        return render(request, "consent/session_done.html", {"session": session})
    try:
        # Never show the customer a template with blanks to consent to.
        membership_version_for_enrolment()
    except AppError as error:
        return _error(request, error)
    versions = agreement_versions_current()
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
            consent_session_submit(
                session_id=session.pk,
                ticked=request.POST.getlist("purpose"),
                ip=_client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                guardian=guardian,
            )
        except AppError as error:
            form_error = error.message
        else:
            return redirect(request.path)
    return render(
        request,
        "consent/session.html",
        {
            "versions": versions,
            "form_error": form_error,
            "ticked": request.POST.getlist("purpose"),
            # The guardian's fields unfold only for someone who said they are under 14.
            "guardian_open": bool(request.POST.get("minor")),
            "guardian_post": request.POST,
        },
        status=400 if form_error else 200,
    )


def _member_from_link(token: str) -> tuple[Member, str]:
    member_id, nonce = preference_link_read(token)
    member = Member.objects.filter(pk=member_id).first()
    if member is None or member.merged_into_id is not None:
        raise AppError(error_codes.CONSENT_LINK_INVALID, "链接无效。", status=404)
    if member.status == Member.Status.ERASED:
        raise AppError(error_codes.MEMBER_ERASED, "您的个人信息已按申请删除。", status=410)
    return member, nonce


@never_cache
@require_http_methods(["GET", "POST"])
def preferences_page(request: HttpRequest, token: str) -> HttpResponse:
    """What the member agreed to, one tap to withdraw or grant each purpose, and requests for a
    copy or deletion of their data."""
    try:
        member, nonce = _member_from_link(token)
        if request.method == "POST":
            _preferences_action(request, member=member, nonce=nonce)
            # The confirmation is shown after the redirect (a reload does not post again).
            done = urlencode({"done": request.POST.get("action", ""), "purpose": request.POST.get("purpose", "")})
            return redirect(f"{request.path}?{done}")
    except AppError as error:
        if error.status in (404, 410):
            return _error(request, error)
        return _preferences_render(request, member=member, error=error.message, status=400)
    return _preferences_render(request, member=member, confirmation=_confirmation(request))


CONFIRMATIONS = {
    "withdraw": "已撤回“{purpose}”授权，立即生效：我们不会再以此方式联系您。",
    "grant": "已同意“{purpose}”授权，您可以随时在本页撤回。",
    "access": "已收到您获取个人信息副本的申请，处理完成后可在本页下载。",
    "deletion": "已收到您删除个人信息的申请，我们将在期限内处理并在本页告知结果。",
}


def _confirmation(request: HttpRequest) -> str:
    template = CONFIRMATIONS.get(request.GET.get("done", ""))
    if template is None:
        return ""
    purpose = request.GET.get("purpose", "")
    label = Purpose(purpose).label if purpose in Purpose.values else ""
    return template.format(purpose=label)


def _preferences_action(request: HttpRequest, *, member: Member, nonce: str) -> None:
    action = request.POST.get("action", "")
    actor = f"会员本人（{member.member_no}）"
    if action in ("grant", "withdraw"):
        purpose = request.POST.get("purpose", "")
        if action == "grant":
            version_id = request.POST.get("version", "")
            consent_grant(
                member_id=member.pk,
                purpose=purpose,
                evidence=_device_evidence(request),
                actor=actor,
                version_id=int(version_id) if version_id.isdigit() else None,
            )
        else:
            consent_withdraw(member_id=member.pk, purpose=purpose, evidence=_device_evidence(request), actor=actor)
    elif action in ("access", "deletion"):
        if action == "deletion" and not request.POST.get("confirm"):
            raise AppError(error_codes.DATA_REQUEST_INVALID, "请勾选确认后再提交删除申请。")
        data_request_create(
            member_id=member.pk,
            kind=action,
            channel=DataRequest.Channel.MEMBER_PAGE,
            actor=actor,
            source_nonce=nonce,
        )
    else:
        raise AppError(error_codes.CONSENT_ACTION_INVALID, "无效的操作。")


def _preferences_render(
    request: HttpRequest, *, member: Member, error: str | None = None, status: int = 200, confirmation: str = ""
) -> HttpResponse:
    states = {s.purpose: s for s in ConsentState.objects.filter(member=member)}
    rows = []
    for version in agreement_versions_current():
        for purpose in version.purposes:
            state = states.get(purpose)
            rows.append(
                {
                    "purpose": purpose,
                    "label": Purpose(purpose).label,
                    "version": version,
                    "state": state,
                    "effective": bool(state and state.effective and state.version.agreement_id == version.agreement_id),
                    "needs_reconsent": bool(state and state.granted and not state.effective),
                }
            )
    return render(
        request,
        "consent/preferences.html",
        {
            "member": member,
            "mobile": _mobile_hint(member.mobile),
            "rows": rows,
            "requests": DataRequest.objects.filter(member=member).order_by("-created_at")[:10],
            "error": error,
            "confirmation": confirmation,
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def preferences_export(request: HttpRequest, token: str, request_id: int) -> HttpResponse:
    """The member's copy of their data (completed access request), as JSON, after they confirm
    their mobile number."""
    try:
        member, _ = _member_from_link(token)
    except AppError as error:
        return _error(request, error)
    data_request = DataRequest.objects.filter(
        pk=request_id, member=member, kind=DataRequest.Kind.ACCESS, status=DataRequest.Status.COMPLETED
    ).first()
    if data_request is None:
        return _error(request, AppError(error_codes.DATA_REQUEST_NOT_FOUND, "没有可下载的数据副本。", status=404))
    if not member.mobile:
        return _error(request, AppError(error_codes.EXPORT_NEEDS_STORE, "请到门店或联系客服领取数据副本。", status=403))
    try:
        member_export_lock_check(member_id=member.pk)
    except AppError as error:
        return _error(request, error)
    form_error = None
    if request.method == "POST":
        try:
            member_export_mobile_confirm(member_id=member.pk, mobile=request.POST.get("mobile", ""))
        except AppError as error:
            if error.status == 429:
                return _error(request, error)
            form_error = error.message
        else:
            data_request_export_delivered(
                request_id=data_request.pk, actor=f"会员本人（{member.member_no}）", via="member_page"
            )
            if request.POST.get("format") == "page":
                return render(
                    request, "consent/export_page.html", {"copy": member_data_export_readable(member_id=member.pk)}
                )
            response = HttpResponse(
                member_data_export_readable_json(member_id=member.pk), content_type="application/json; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="member-{member.member_no}.json"'
            return response
    return render(
        request,
        "consent/export_confirm.html",
        {"mobile": _mobile_hint(member.mobile), "form_error": form_error},
        status=400 if form_error else 200,
    )
