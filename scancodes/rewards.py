"""Reward kinds a scan campaign can grant, pluggable: points are granted through members' ledger
now; growth value (engagement app) and coupons (coupons app) register here when those apps
exist (`reward_kind_register`). Until then a campaign of those kinds cannot be saved or claimed
and says why (error scancodes_reward_unavailable)."""

from collections.abc import Callable
from dataclasses import dataclass

from crm.errors import AppError
from members.models import Member
from members.services.points import points_award_bonus, points_bonus_reverse

from . import error_codes


@dataclass(frozen=True)
class RewardKind:
    # grant(member, amount, reference, reason) and reverse(member, reference, reason, actor); both
    # idempotent per reference, both run inside the claim's transaction.
    grant: Callable[[Member, int, str, str], None]
    reverse: Callable[[Member, str, str, str], None]


_KINDS: dict[str, RewardKind] = {}

UNAVAILABLE = {
    "growth": "成长值奖励需要“成长值”功能（engagement）上线后才可用，目前请选择积分。",
    "coupon": "优惠券奖励需要“优惠券”功能（coupons）上线后才可用，目前请选择积分。",
}


def reward_kind_register(kind: str, reward: RewardKind) -> None:
    _KINDS[kind] = reward


def reward_kind_available(kind: str) -> bool:
    return kind in _KINDS


def reward_kind_get(kind: str) -> RewardKind:
    try:
        return _KINDS[kind]
    except KeyError:
        raise AppError(
            error_codes.REWARD_UNAVAILABLE, UNAVAILABLE.get(kind, f"未知的奖励类型：{kind}"), status=422
        ) from None


def _points_grant(member: Member, amount: int, reference: str, reason: str) -> None:
    if amount > 0:
        points_award_bonus(member=member, points=amount, reference=reference, reason=reason, actor="scancodes")


def _points_reverse(member: Member, reference: str, reason: str, actor: str) -> None:
    points_bonus_reverse(member=member, reference=reference, reason=reason, actor=actor)


reward_kind_register("points", RewardKind(grant=_points_grant, reverse=_points_reverse))
