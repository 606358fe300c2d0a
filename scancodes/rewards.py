"""Reward kinds a scan campaign can grant, pluggable (`reward_kind_register`): points through
members' ledger, growth value through engagement's growth ledger, a coupon through the coupons
app's issue. Every grant and reversal runs inside the claim's (or the approval's / the void's)
transaction and is idempotent per claim (the reference `scan:<serial>`), so a retried request
writes nothing twice. Locks: the member row first (members' step 1), then the member's own rows
(growth account and activity month), then shared stock (the coupon template) — crm/db/locks.py.

Growth value from a scan is activity growth: it counts against the brand month's activity cap
(engagement's settings), like check-in, so codes collected from bins never buy a tier. A claim
past the cap is still granted, with 0 growth value, and says so."""

from collections.abc import Callable
from dataclasses import dataclass

from coupons.models import Coupon
from coupons.services import coupon_issue, coupon_void
from crm.errors import AppError
from engagement.models import GrowthEntry
from engagement.services.growth import growth_activity_credit_locked, growth_activity_reverse_locked
from members.models import Member
from members.services.points import member_lock, points_award_bonus, points_bonus_reverse

from . import error_codes
from .models import Claim, ScanCampaign


@dataclass(frozen=True)
class Granted:
    """What a claim got: one of points, growth value or a coupon."""

    points: int = 0
    growth: int = 0
    coupon: Coupon | None = None


@dataclass(frozen=True)
class RewardKind:
    # grant(claim, member, reason) -> Granted; reverse(claim, reason, actor) -> words for the
    # person who voided (empty when all was taken back). Both idempotent per claim, both in the
    # caller's transaction.
    grant: Callable[[Claim, Member, str], Granted]
    reverse: Callable[[Claim, str, str], str]
    # Why a campaign of this kind cannot be saved as it is ("" when it can).
    invalid: Callable[[ScanCampaign], str]


_KINDS: dict[str, RewardKind] = {}


def reward_kind_register(kind: str, reward: RewardKind) -> None:
    _KINDS[kind] = reward


def reward_kind_available(kind: str) -> bool:
    return kind in _KINDS


def reward_kind_get(kind: str) -> RewardKind:
    try:
        return _KINDS[kind]
    except KeyError:
        raise AppError(error_codes.REWARD_UNAVAILABLE, f"未知的奖励类型：{kind}", status=422) from None


def reference_of(claim: Claim) -> str:
    return f"scan:{claim.code_id}"


# --- points -------------------------------------------------------------------------------------


def _points_grant(claim: Claim, member: Member, reason: str) -> Granted:
    if claim.points > 0:
        points_award_bonus(
            member=member, points=claim.points, reference=reference_of(claim), reason=reason, actor="scancodes"
        )
    return Granted(points=claim.points)


def _points_reverse(claim: Claim, reason: str, actor: str) -> str:
    points_bonus_reverse(member=claim.member, reference=reference_of(claim), reason=reason, actor=actor)
    return ""


def _points_invalid(campaign: ScanCampaign) -> str:
    return "" if campaign.points > 0 or campaign.sku_points else "积分奖励的活动须设置每码奖励积分或按 SKU 的积分。"


# --- growth value -------------------------------------------------------------------------------


def _growth_grant(claim: Claim, member: Member, reason: str) -> Granted:
    if claim.growth <= 0:
        return Granted()
    locked = member_lock(member_id=member.pk)
    granted = growth_activity_credit_locked(
        member=locked, kind=GrowthEntry.Kind.SCAN, value=claim.growth, reference=reference_of(claim), reason=reason
    )
    if granted == 0:
        # Granted before (a retry) or the month's cap already reached: the ledger says which.
        entry = GrowthEntry.objects.filter(
            member_id=member.pk, kind=GrowthEntry.Kind.SCAN, reference=reference_of(claim)
        ).first()
        granted = entry.value if entry is not None else 0
    return Granted(growth=granted)


def _growth_reverse(claim: Claim, reason: str, actor: str) -> str:
    if claim.growth <= 0:
        return ""
    locked = member_lock(member_id=claim.member_id)
    taken = growth_activity_reverse_locked(
        member=locked, kind=GrowthEntry.Kind.SCAN, reference=reference_of(claim), reason=reason
    )
    return "" if taken >= claim.growth else f"成长值只扣回 {taken}（余额不足）"


def _growth_invalid(campaign: ScanCampaign) -> str:
    return "" if campaign.growth_value > 0 else "成长值奖励的活动须设置每码奖励成长值。"


# --- coupons ------------------------------------------------------------------------------------


def _coupon_grant(claim: Claim, member: Member, reason: str) -> Granted:
    campaign = claim.campaign
    if campaign is None or campaign.coupon_template_id is None:
        return Granted()
    member_lock(member_id=member.pk)  # step 1 before the template (step 4): crm/db/locks.py
    coupon = coupon_issue(
        template_id=campaign.coupon_template_id,
        member_id=member.pk,
        source=Coupon.Source.SCAN,
        source_key=reference_of(claim),
        actor="scancodes",
    )
    return Granted(coupon=coupon)


def _coupon_reverse(claim: Claim, reason: str, actor: str) -> str:
    if claim.coupon_id is None:
        return ""
    coupon = Coupon.objects.filter(pk=claim.coupon_id).only("state").first()
    if coupon is None or coupon.state == Coupon.State.VOIDED:
        return ""
    if coupon.state not in (Coupon.State.ISSUED, Coupon.State.LOCKED):
        return f"优惠券{coupon.get_state_display()}，未能撤回"
    coupon_void(coupon_id=coupon.pk, reason=reason, actor=actor)
    return ""


def _coupon_invalid(campaign: ScanCampaign) -> str:
    template = campaign.coupon_template if campaign.coupon_template_id is not None else None
    if template is None:
        return "优惠券奖励的活动须选择一张优惠券。"
    if not template.is_active:
        return f"优惠券「{template.name}」已停止发放，请选择其他券。"
    return ""


reward_kind_register(
    ScanCampaign.RewardKind.POINTS, RewardKind(grant=_points_grant, reverse=_points_reverse, invalid=_points_invalid)
)
reward_kind_register(
    ScanCampaign.RewardKind.GROWTH, RewardKind(grant=_growth_grant, reverse=_growth_reverse, invalid=_growth_invalid)
)
reward_kind_register(
    ScanCampaign.RewardKind.COUPON, RewardKind(grant=_coupon_grant, reverse=_coupon_reverse, invalid=_coupon_invalid)
)
