"""The consumer's scan page at /s/<serial> on the brand host (mobile, server-rendered, no CDN):
authenticity first, then the claim — a signed-in member claims with one tap, an anonymous
scanner enrols on the same page (their own consent) and the claim completes in that transaction.

Who is signed in: the first resolver in MEMBER_RESOLVERS that knows the request: the member
signed in on the member centre (/m/, membercentre.auth), else the member this phone enrolled or
claimed as on a scan page (its session)."""

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from consent.models import ConsentRecord, Purpose
from consent.services.records import membership_version_for_enrolment
from consent.types import ConsentDecision, ConsentEvidence
from crm.errors import AppError
from membercentre.auth import current_member as centre_member
from members.error_codes import MEMBER_ALREADY_ENROLLED
from members.models import Member

from . import error_codes
from .services import Enrolment, ScanContext, code_claim, code_claim_enrol, code_verify, scan_context

SESSION_KEY = "scancodes_member_id"
MemberResolver = Callable[[HttpRequest], Member | None]


def _session_member(request: HttpRequest) -> Member | None:
    member_id = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not member_id:
        return None
    return Member.objects.filter(pk=member_id, status=Member.Status.ACTIVE, merged_into__isnull=True).first()


def _centre_member(request: HttpRequest) -> Member | None:
    member = centre_member(request) if hasattr(request, "session") else None
    return member if member is not None and member.status == Member.Status.ACTIVE else None


MEMBER_RESOLVERS: list[MemberResolver] = [_centre_member, _session_member]


def member_resolver_register(resolver: MemberResolver) -> None:
    MEMBER_RESOLVERS.insert(0, resolver)


def _member(request: HttpRequest) -> Member | None:
    for resolver in MEMBER_RESOLVERS:
        member = resolver(request)
        if member is not None:
            return member
    return None


def _ctx(request: HttpRequest, *, channel: str = "h5") -> ScanContext:
    # The page locates by IP only: asking the phone for its precise position (with its own
    # consent) is left to the mini-program, through the partner API's precise_consent fields.
    return scan_context(
        # REMOTE_ADDR as the WSGI server sets it (never a header the client controls).
        ip=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
        channel=channel,
    )


def _serial(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise Http404
    return int(text)


@never_cache
@require_http_methods(["GET", "POST"])
def scan_page(request: HttpRequest, serial: str) -> HttpResponse:
    number = _serial(serial)
    secret = (request.POST.get("k") if request.method == "POST" else request.GET.get("k")) or ""
    context: dict[str, object] = {"serial": number, "secret": secret, "member": _member(request)}
    if not secret:
        return render(request, "scancodes/scan.html", context)
    if request.method == "POST":
        return _claim(request, number, secret, context)
    try:
        context["auth"] = code_verify(serial=number, secret=secret, ctx=_ctx(request))
    except AppError as error:
        context["error"] = error.message
        return render(request, "scancodes/scan.html", context, status=error.status)
    try:
        context["version"] = membership_version_for_enrolment()
    except AppError:
        context["version"] = None
    return render(request, "scancodes/scan.html", context)


def _claim(request: HttpRequest, serial: int, secret: str, context: dict[str, object]) -> HttpResponse:
    member = context["member"]
    ctx = _ctx(request)
    try:
        if isinstance(member, Member):
            result = code_claim(serial=serial, secret=secret, member=member, ctx=ctx)
        else:
            version = membership_version_for_enrolment()
            if request.POST.get("consent_membership") != "on":
                raise AppError(error_codes.CONSENT_REQUIRED, "请阅读并勾选同意《会员协议与隐私政策》后再领取。")
            enrolment = Enrolment(
                name=request.POST.get("name", "").strip(),
                mobile=request.POST.get("mobile", "").strip(),
                decisions=[ConsentDecision(purpose=Purpose.MEMBERSHIP, granted=True, version_id=version.pk)],
                evidence=ConsentEvidence(
                    channel=ConsentRecord.Channel.MEMBER_PAGE,
                    ip=request.META.get("REMOTE_ADDR", ""),
                    user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
                    extra={"page": f"/s/{serial}"},
                ),
            )
            result = code_claim_enrol(serial=serial, secret=secret, enrolment=enrolment, ctx=ctx)
            request.session[SESSION_KEY] = result.claim.member_id
    except AppError as error:
        # An anonymous page must not tell who holds a mobile number (the service names the member).
        already = error.code == MEMBER_ALREADY_ENROLLED
        context["error"] = "该手机号已是会员，请登录会员中心后再扫码领取。" if already else error.message
        return render(request, "scancodes/scan.html", context, status=error.status)
    context["result"] = result
    return render(request, "scancodes/claimed.html", context)
