"""Scene builders shared by the loyalty tests (orders, points, tiers, rewards, capture rate)."""

import datetime as dt

from django.utils import timezone

from members.models import IdentityKind, LoyaltyProgram, Member, Tier
from tests.factories import IdentityFactory, MemberFactory, TierFactory


def program(**overrides: object) -> LoyaltyProgram:
    """The brand's program with test-friendly defaults: 1 point per yuan, never expires, no pending."""
    values = {"base_points_per_yuan": 1, "expiry": LoyaltyProgram.Expiry.NEVER, "pending_days": 0, **overrides}
    obj, _ = LoyaltyProgram.objects.update_or_create(singleton=True, defaults=values)
    return obj


def tiers() -> dict[str, Tier]:
    """普通 (0) / 银卡 (≥1,000 yuan, ×1.2) / 金卡 (≥5,000 yuan, ×1.5) within 365 days."""
    return {
        "normal": TierFactory(code="normal", name="普通", rank=1, threshold=0, points_multiplier_pct=100),
        "silver": TierFactory(code="silver", name="银卡", rank=2, threshold=100_000, points_multiplier_pct=120),
        "gold": TierFactory(code="gold", name="金卡", rank=3, threshold=500_000, points_multiplier_pct=150),
    }


def member_with_unionid(unionid: str, **fields: object) -> Member:
    member = MemberFactory(**fields)
    IdentityFactory(member=member, kind=IdentityKind.WECHAT_UNIONID, value=unionid)
    return member


def ago(**delta: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)
