"""Growth value: a non-spendable, append-only ledger fed by spend (reversed pro rata on refunds)
and by activities capped per brand month; tiers may qualify on it, never on the points balance."""

import pytest
from django.db import DatabaseError, transaction

from engagement.models import GrowthEntry
from engagement.services.checkin import checkin_perform
from engagement.services.growth import growth_audit, growth_balance
from members.models import Member, Tier, TierChange
from members.services.orders import order_post, order_refund
from members.services.points import ledger_audit
from members.services.tiers import tier_progress, tiers_reevaluate_due
from tests.factories import TierFactory
from tests.members.loyalty_scene import member_with_unionid, program

from .scene import clock, rules


def growth_tiers() -> dict[str, Tier]:
    return {
        "normal": TierFactory.create(code="normal", name="普通", rank=1, threshold=0, basis=Tier.Basis.GROWTH),
        "silver": TierFactory.create(code="silver", name="银卡", rank=2, threshold=1_000, basis=Tier.Basis.GROWTH),
    }


def clock_now():
    from django.utils import timezone

    return timezone.now()


def refund(no: str, refund_no: str, amount_fen: int) -> None:
    order_refund(
        channel="store", order_no=no, refund_no=refund_no, amount_fen=amount_fen, refunded_at=clock_now(), actor="pos"
    )


def buy(no: str, amount_fen: int, unionid: str = "u-g"):
    from django.utils import timezone

    return order_post(
        channel="store",
        order_no=no,
        paid_at=timezone.now(),
        amount_fen=amount_fen,
        buyer_kind="wechat_unionid",
        buyer_value=unionid,
        actor="pos",
    )


def test_spend_earns_growth_and_a_refund_takes_it_back_pro_rata(in_brand_a):
    program()
    rules(growth_per_yuan=2)
    member = member_with_unionid("u-g")
    with clock("2027-01-31 23:59:00"):
        buy("G1", 30_050)  # ¥300.50 → 601 growth
        assert growth_balance(member_id=member.pk) == 601
        order_refund(
            channel="store", order_no="G1", refund_no="R1", amount_fen=10_000, refunded_at=clock_now(), actor="pos"
        )
        order_refund(
            channel="store", order_no="G1", refund_no="R1", amount_fen=10_000, refunded_at=clock_now(), actor="pos"
        )
        order_refund(
            channel="store", order_no="G1", refund_no="R2", amount_fen=20_050, refunded_at=clock_now(), actor="pos"
        )
    kinds = list(GrowthEntry.objects.filter(member_id=member.pk).order_by("id").values_list("kind", "value"))
    assert kinds == [("spend", 601), ("refund", -200), ("refund", -401)]
    assert growth_balance(member_id=member.pk) == 0
    assert growth_audit() == [] and ledger_audit() == []


def test_the_ledger_is_append_only(in_brand_a):
    program()
    rules()
    member = member_with_unionid("u-g")
    buy("G1", 1_000)
    entry = GrowthEntry.objects.get(member_id=member.pk)
    with pytest.raises(DatabaseError), transaction.atomic():
        GrowthEntry.objects.filter(pk=entry.pk).update(value=99)
    with pytest.raises(DatabaseError), transaction.atomic():
        GrowthEntry.objects.filter(pk=entry.pk).delete()


def test_tier_on_growth_upgrades_on_an_order_and_never_on_the_points_balance(in_brand_a):
    program(base_points_per_yuan=100)  # a huge points balance, which must not matter
    rules(growth_per_yuan=1)
    t = growth_tiers()
    member = member_with_unionid("u-g", tier=t["normal"])
    buy("G1", 90_000)  # 900 growth, 90,000 points
    member.refresh_from_db()
    assert member.tier_id == t["normal"].pk and member.points_balance == 90_000
    assert tier_progress(member=member).needed == 100
    buy("G2", 10_000)  # 1,000 growth
    member.refresh_from_db()
    assert member.tier_id == t["silver"].pk
    # A refund of the order that lifted the member undoes that upgrade (growth is back below).
    refund("G2", "R", 10_000)
    member.refresh_from_db()
    assert member.tier_id == t["normal"].pk


def test_activity_growth_is_capped_per_brand_month_and_can_lift_a_tier(in_brand_a):
    program()
    rules(checkin_daily_points=0, checkin_daily_growth=40, growth_activity_cap_per_month=100, growth_per_yuan=1)
    t = growth_tiers()
    member = member_with_unionid("u-g", tier=t["normal"])
    buy("G1", 95_000)  # 950 from spend
    granted = []
    for day in ("2027-01-29", "2027-01-30", "2027-01-31"):
        with clock(f"{day} 23:59:30"):
            granted.append(checkin_perform(member=member).checkin.growth)
    assert granted == [40, 40, 20]  # the cap of 100 in January
    with clock("2027-02-01 00:00:10"):  # a new brand month, still January in UTC
        assert checkin_perform(member=member).checkin.growth == 40
    assert growth_balance(member_id=member.pk) == 950 + 140
    member.refresh_from_db()
    assert member.tier_id == t["silver"].pk  # 950 + 100 ≥ 1,000 on the third day
    change = TierChange.objects.filter(member=member).latest("id")
    assert change.note == "checkin:2027-01-30" or change.note.startswith("checkin:")
    assert growth_audit() == [] and ledger_audit() == []


def test_the_nightly_reevaluation_reads_growth(in_brand_a):
    import datetime as dt

    from django.utils import timezone

    program()
    rules(growth_per_yuan=1)
    t = growth_tiers()
    keeps = member_with_unionid("u-keep")
    drops = member_with_unionid("u-drop")
    buy("K", 200_000, unionid="u-keep")
    Member.objects.filter(pk__in=[keeps.pk, drops.pk]).update(
        tier=t["silver"], tier_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    summary = tiers_reevaluate_due()
    assert summary["renewal"] == 1 and summary["downgrade"] == 1


def test_every_page_speaks_the_next_tiers_measure(admin_client_a, in_brand_a):
    from members.tier_words import tier_amount, tier_measure, tier_needed_text
    from tests.factories import MemberFactory, TierFactory

    spend = TierFactory.create(code="s", name="银卡", rank=1, threshold=100_000)
    points = TierFactory.create(code="p", name="金卡", rank=2, threshold=500, basis="points")
    growth = TierFactory.create(code="g", name="黑金", rank=3, threshold=300, basis="growth")
    assert [tier_needed_text(t, 120) for t in (spend, points, growth)] == [
        "再消费 ¥1.20 升级为银卡",
        "再获得 120 积分升级为金卡",
        "再获得 120 成长值升级为黑金",
    ]
    assert (tier_measure(growth), tier_amount(growth, 1200)) == ("获得成长值", "1,200 成长值")
    member = MemberFactory(tier=points)
    page = admin_client_a.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert "下一等级：黑金" in page and "获得成长值 300 成长值" in page
    tiers_page = admin_client_a.get("/admin/members/tier/").content.decode()
    assert "300 成长值" in tiers_page and "¥1,000.00" in tiers_page
