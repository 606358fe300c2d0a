"""Loyalty part of the demo brand: tiers 普通/银卡/金卡/钻石, the loyalty program and a small
rewards catalogue. Idempotent (keyed by code / the program singleton); called by members/demo.py."""

from members.models import LoyaltyProgram, Reward, Tier

DEMO_TIERS = [
    # code, name, rank, threshold (fen of qualifying spend in 365 days), multiplier %, member-day %, birthday
    ("normal", "普通", 1, 0, 100, 200, 0),
    ("silver", "银卡", 2, 100_000, 120, 200, 100),
    ("gold", "金卡", 3, 500_000, 150, 300, 300),
    ("diamond", "钻石", 4, 2_000_000, 200, 300, 800),
]
DEMO_REWARDS = [
    ("TEA-CUP", "定制随行杯", 800, 200),
    ("TEA-GIFT", "季节茶礼盒", 2_000, 50),
    ("COUPON-10", "10 元无门槛券", 300, None),
]


def seed_loyalty() -> None:
    for code, name, rank, threshold, multiplier, member_day, birthday in DEMO_TIERS:
        Tier.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "rank": rank,
                "threshold": threshold,
                "points_multiplier_pct": multiplier,
                "member_day_multiplier_pct": member_day,
                "birthday_bonus_points": birthday,
                "window_days": 365,
                "validity_days": 365,
            },
        )
    LoyaltyProgram.objects.get_or_create(
        singleton=True,
        defaults={
            "base_points_per_yuan": 1,
            "expiry": LoyaltyProgram.Expiry.END_OF_YEAR,
            "pending_days": 7,
            "per_order_cap": 50_000,
            "excluded_skus": ["GIFT-CARD"],
        },
    )
    for code, name, cost, stock in DEMO_REWARDS:
        # Stock is set only when the reward is first created: re-seeding never undoes redemptions.
        Reward.objects.get_or_create(code=code, defaults={"name": name, "points_cost": cost, "stock": stock})
