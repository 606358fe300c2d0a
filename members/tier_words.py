"""A tier's measure in words — one way to say it on every page (member centre, workbench, member
page, tier list). A tier qualifies on spend (fen, shown in yuan), on points earned, or on growth
value (成长值, kept by engagement through members.hooks.qualifying_basis_register) — never on the
spendable balance — and each page must speak the measure the next tier actually counts."""

from crm.money import yuan

from .models import Tier


def tier_amount(tier: Tier, value: int) -> str:
    """`value` in the tier's measure: ¥1,200.00 / 1,200 积分 / 1,200 成长值."""
    if tier.basis == Tier.Basis.SPEND:
        return yuan(value)
    if tier.basis == Tier.Basis.GROWTH:
        return f"{value:,} 成长值"
    return f"{value:,} 积分"


def tier_measure(tier: Tier) -> str:
    """What is counted: 消费 / 获得积分 / 获得成长值."""
    return {Tier.Basis.SPEND: "消费", Tier.Basis.GROWTH: "获得成长值"}.get(Tier.Basis(tier.basis), "获得积分")


def tier_needed_text(next_tier: Tier, needed: int) -> str:
    """再消费 ¥1,200.00 升级为金卡 / 再获得 300 积分升级为金卡 / 再获得 300 成长值升级为金卡."""
    if next_tier.basis == Tier.Basis.SPEND:
        return f"再消费 {yuan(needed)} 升级为{next_tier.name}"
    return f"再获得 {tier_amount(next_tier, needed)}升级为{next_tier.name}"
