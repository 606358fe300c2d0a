"""One way to grant an engagement reward, whatever the programme: points through members' points
ledger, growth value through the growth ledger (capped as an activity), a coupon through the coupon
issuer registered here (engagement's own AppConfig.ready() registers engagement/coupon_issuer.py,
which calls coupons.services.coupon_issue; this module stays free of coupons so the refusal path
can be tested by unregistering). Until an issuer registers, a coupon reward is
refused with `engagement_coupon_unavailable` — at configuration and at grant.

Each grant returns what was granted, in words, as stored on the check-in or benefit record."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm.errors import AppError
from members.models import Member
from members.services.points import points_award_bonus

from . import error_codes
from .models import RewardKind

# fn(*, member: Member, template_code: str, reference: str, reason: str) -> str (what was issued,
# in words). Must be idempotent per (member, reference) and run in the caller's transaction.
CouponIssuer = Callable[..., str]
_coupon_issuer: list[CouponIssuer] = []


def coupon_issuer_register(issuer: CouponIssuer) -> None:
    _coupon_issuer[:] = [issuer]


def coupon_issuer_unregister() -> None:
    _coupon_issuer.clear()


def coupon_issuer_current() -> CouponIssuer | None:
    """The registered issuer (tests unregister it around themselves and put it back)."""
    return _coupon_issuer[0] if _coupon_issuer else None


def coupons_available() -> bool:
    return bool(_coupon_issuer)


def coupon_reward_refused() -> AppError:
    return AppError(
        error_codes.COUPON_UNAVAILABLE,
        "优惠券功能尚未启用（尚无优惠券模块），请改用积分或成长值奖励。",
        fields={"reward_kind": ["优惠券功能尚未启用。"]},
    )


@dataclass(frozen=True)
class Granted:
    kind: str
    amount: int
    label: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "amount": self.amount, "label": self.label}


def reward_grant_locked(
    *, member: Member, kind: str, amount: int, coupon_template: str, reference: str, reason: str, growth_kind: str
) -> Granted:
    """Grant one reward to a member whose row the caller holds locked, in the caller's transaction.
    Idempotent per (member, reference)."""
    from .services.growth import growth_activity_credit_locked

    if kind == RewardKind.POINTS:
        points_award_bonus(member=member, points=amount, reference=reference, reason=reason, actor="engagement")
        return Granted(kind, amount, f"{reason}：{amount} 积分")
    if kind == RewardKind.GROWTH:
        granted = growth_activity_credit_locked(
            member=member, kind=growth_kind, value=amount, reference=reference, reason=reason
        )
        if granted == amount:
            return Granted(kind, granted, f"{reason}：{granted} 成长值")
        return Granted(kind, granted, f"{reason}：{granted} 成长值（本月活动成长值已达上限）")
    if kind == RewardKind.COUPON:
        if not _coupon_issuer:
            raise coupon_reward_refused()
        issued = _coupon_issuer[0](member=member, template_code=coupon_template, reference=reference, reason=reason)
        return Granted(kind, max(amount, 1), f"{reason}：{issued}")
    raise ValueError(f"unknown reward kind {kind!r}")
