"""Tiers: validity-end re-evaluation (keep, drop, never below the manual floor), manual floors,
progress to the next tier, every change recorded with its reason."""

import datetime as dt

from django.utils import timezone

from members.models import Member, Order, TierChange
from members.services.tiers import tier_grant_manual, tier_progress, tier_remove_manual, tiers_reevaluate_due
from tests.factories import MemberFactory

from .loyalty_scene import ago, program, tiers


def spend(member: Member, amount_fen: int, days_ago: float) -> None:
    Order.objects.create(
        channel="store",
        order_no=f"{member.pk}-{Order.objects.count()}",
        paid_at=ago(days=days_ago),
        amount_fen=amount_fen,
        member=member,
        is_member_order=True,
    )


def test_validity_end_keeps_drops_or_respects_the_floor(in_brand_a):
    program()
    t = tiers()
    expired = ago(days=1)
    keeps = MemberFactory(tier=t["gold"], tier_expires_at=expired)
    spend(keeps, 600_000, days_ago=100)
    drops = MemberFactory(tier=t["gold"], tier_expires_at=expired)
    spend(drops, 150_000, days_ago=100)
    spend(drops, 900_000, days_ago=400)  # outside the 365-day window
    floored = MemberFactory(tier=t["gold"], tier_expires_at=expired, tier_floor=t["silver"])
    not_due = MemberFactory(tier=t["gold"], tier_expires_at=timezone.now() + dt.timedelta(days=30))

    summary = tiers_reevaluate_due()

    assert summary == {"renewal": 1, "downgrade": 2, "upgrade": 0, "members": 3}
    for member in (keeps, drops, floored, not_due):
        member.refresh_from_db()
    assert keeps.tier == t["gold"] and keeps.tier_expires_at > timezone.now() + dt.timedelta(days=360)
    assert drops.tier == t["silver"]
    assert floored.tier == t["silver"]
    assert not_due.tier == t["gold"]
    reasons = dict(TierChange.objects.values_list("member_id", "reason"))
    assert reasons == {keeps.pk: "renewal", drops.pk: "downgrade", floored.pk: "downgrade"}
    assert tiers_reevaluate_due()["members"] == 0  # the renewed and moved are not due again


def test_dropping_to_the_entry_tier_ends_validity_checks(in_brand_a):
    program()
    t = tiers()
    member = MemberFactory(tier=t["silver"], tier_expires_at=ago(days=1))
    tiers_reevaluate_due()
    member.refresh_from_db()
    assert member.tier == t["normal"] and member.tier_expires_at is None


def test_manual_grant_is_a_floor_until_removed(in_brand_a):
    program()
    t = tiers()
    member = MemberFactory(tier=t["normal"])

    tier_grant_manual(member=member, tier=t["gold"], reason="明星客户", actor="boss")
    member.refresh_from_db()
    assert (member.tier, member.tier_floor) == (t["gold"], t["gold"])

    Member.objects.filter(pk=member.pk).update(tier_expires_at=ago(days=1))
    tiers_reevaluate_due()
    member.refresh_from_db()
    assert member.tier == t["gold"]  # no spend, but the floor holds

    tier_remove_manual(member=member, reason="合作结束", actor="boss")
    member.refresh_from_db()
    assert (member.tier, member.tier_floor) == (t["normal"], None)
    assert list(TierChange.objects.filter(member=member).order_by("id").values_list("reason", flat=True)) == [
        "manual_grant",
        "renewal",
        "manual_removal",
    ]


def test_manual_changes_with_a_reference_happen_once(in_brand_a):
    program()
    t = tiers()
    member = MemberFactory(tier=t["normal"])

    first = tier_grant_manual(member=member, tier=t["gold"], reason="明星客户", actor="boss", reference="r1")
    again = tier_grant_manual(member=member, tier=t["silver"], reason="改主意", actor="boss", reference="r1")
    assert again.pk == first.pk and first.note == "明星客户 [ref:r1]"
    assert (member.tier_id, member.tier_floor_id) == (t["gold"].pk, t["gold"].pk)  # the first grant's state

    removed = tier_remove_manual(member=member, reason="合作结束", actor="boss", reference="r2")
    assert removed is not None
    assert tier_remove_manual(member=member, reason="合作结束", actor="boss", reference="r2") == removed
    # A new reference is a new request: there is no floor left to remove.
    assert tier_remove_manual(member=member, reason="合作结束", actor="boss", reference="r3") is None
    assert TierChange.objects.filter(member=member).count() == 2


def test_a_long_floor_note_is_shortened_but_keeps_its_reference(in_brand_a):
    program()
    t = tiers()
    member = MemberFactory(tier=t["gold"])
    t["silver"].name = "银" * 50
    t["silver"].save()

    change = tier_grant_manual(member=member, tier=t["silver"], reason="原" * 200, actor="boss", reference="x" * 64)

    change.refresh_from_db()
    assert len(change.note) == 255
    assert change.note.startswith(f"保底等级：{'银' * 50}；原") and change.note.endswith(f"… [ref:{'x' * 64}]")


def test_progress_to_the_next_tier(in_brand_a):
    program()
    t = tiers()
    member = MemberFactory(tier=t["silver"])
    spend(member, 320_000, days_ago=10)

    progress = tier_progress(member=member)

    assert (progress.current, progress.next) == (t["silver"], t["gold"])
    assert (progress.qualifying, progress.needed) == (320_000, 180_000)
    top = tier_progress(member=MemberFactory(tier=t["gold"]))
    assert top.next is None and top.needed == 0


def test_demo_loyalty_seed_is_idempotent(in_brand_a):
    from members.demo_loyalty import seed_loyalty
    from members.models import LoyaltyProgram, Reward, Tier

    seed_loyalty()
    Reward.objects.filter(code="TEA-CUP").update(stock=199)
    seed_loyalty()
    assert list(Tier.objects.values_list("name", flat=True)) == ["普通", "银卡", "金卡", "钻石"]
    assert LoyaltyProgram.objects.count() == 1
    assert Reward.objects.get(code="TEA-CUP").stock == 199
