"""Scan-to-earn on the member centre (/m/): the tile on the card page shows the member's latest
claim and what it earned, and links to 我的扫码 (/m/scans/), the member's own claims with what
each earned. The member centre sits below this app: it knows nothing of scans, this module
registers its tile in membercentre.sections (replacing the placeholder under the key "scan") and
mounts its page behind the member centre's own sign-in (membercentre.views.member_required)."""

from dataclasses import dataclass

from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from crm.tenancy.zones import brand_time_shown
from membercentre.sections import Section, section_register
from membercentre.views import member_required
from members.models import Member

from .models import Claim, ScanCampaign

PAGE_SIZE = 50


@dataclass(frozen=True)
class ScanLine:
    product: str
    when: str
    earned: str
    status: str  # "" when granted, else 待审核 / 已作废
    place: str


def earned_words(claim: Claim) -> str:
    """What a claim earned, in the member's words."""
    if claim.status == Claim.Status.VOID:
        return "奖励已撤回"
    if claim.reward_kind == ScanCampaign.RewardKind.POINTS and claim.points:
        return f"+{claim.points} 积分"
    if claim.reward_kind == ScanCampaign.RewardKind.GROWTH:
        return f"+{claim.growth} 成长值" if claim.growth else "成长值已达本月上限"
    if claim.reward_kind == ScanCampaign.RewardKind.COUPON:
        if claim.coupon_id is not None and claim.coupon is not None:
            return f"优惠券「{claim.coupon.template.name}」"
        return "优惠券"
    return "已验证"


def _line(claim: Claim) -> ScanLine:
    status = "" if claim.status == Claim.Status.GRANTED else claim.get_status_display()
    return ScanLine(
        product=claim.batch.product_name,
        when=brand_time_shown(claim.at),
        earned=earned_words(claim) if claim.status != Claim.Status.PENDING else "审核通过后到账",
        status=status,
        place=claim.city or claim.province,
    )


def member_scans(*, member_id: int, limit: int = PAGE_SIZE) -> list[ScanLine]:
    """The member's latest claims, newest first (the claim_member_at index)."""
    claims = (
        Claim.objects.filter(member_id=member_id)
        .select_related("batch", "coupon__template")
        .only(
            "at",
            "status",
            "reward_kind",
            "points",
            "growth",
            "coupon",
            "city",
            "province",
            "batch__product_name",
            "coupon__template__name",
        )
        .order_by("-at", "-id")[:limit]
    )
    return [_line(claim) for claim in claims]


def member_scan_totals(*, member_id: int) -> dict[str, int]:
    """Granted claims and what they brought in total (points, growth value, coupons)."""
    row = Claim.objects.filter(member_id=member_id, status=Claim.Status.GRANTED).aggregate(
        claims=Count("id"), points=Sum("points"), growth=Sum("growth"), coupons=Count("coupon")
    )
    return {key: int(value or 0) for key, value in row.items()}


def _badge(member: Member) -> str:
    latest = member_scans(member_id=member.pk, limit=1)
    if not latest:
        return "扫商品上的码领奖励"
    return f"最近：{latest[0].product} {latest[0].earned}"


def scan_section_register() -> None:
    section_register(
        Section(
            key="scan",
            title="扫码领奖",
            order=40,
            description="扫商品上的码领奖励",
            url=lambda member: reverse("scancodes:my-scans"),
            badge=_badge,
        )
    )


@never_cache
@member_required
def my_scans(request: HttpRequest) -> HttpResponse:
    """我的扫码: only the signed-in member's own claims (there is no id in the URL)."""
    member: Member = request.member  # type: ignore[attr-defined]
    return render(
        request,
        "scancodes/my_scans.html",
        {"lines": member_scans(member_id=member.pk), "totals": member_scan_totals(member_id=member.pk)},
    )
