"""The member-day tier multiplier: an order paid on a member day's local date by a non-hold-out
recipient earns the higher of the campaign's multiplier and the member's tier member-day
multiplier. Only member-day campaigns use the tier's; before and after that day, in the hold-out
and outside the audience nothing is multiplied."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import Campaign, Occurrence, Recipient
from campaigns.multiplier import campaign_multipliers_for_orders
from campaigns.services import campaign_publish, occurrence_for_trigger, occurrence_run
from members.models import Identity, Member, Tier
from members.services.orders import order_post
from tests.factories import MemberFactory, TierFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
SLOT = dt.datetime(2026, 3, 8, 10, 0, tzinfo=SHANGHAI)  # the member day, 8 March (past: orders cannot be future)
DAY_START, DAY_END = dt.datetime(2026, 3, 8, tzinfo=SHANGHAI), dt.datetime(2026, 3, 9, tzinfo=SHANGHAI)
NOON = DAY_START + dt.timedelta(hours=12)
TICK = dt.timedelta(microseconds=1)


@pytest.fixture
def tiers(in_brand_a) -> dict[str, Tier]:
    """On member days gold earns ×2.5, silver ×1.5, plain nothing extra. Gold ranks highest
    with no threshold, so no order moves a gold member to another tier."""
    return {
        "plain": TierFactory.create(code="plain", rank=1, threshold=10**12, member_day_multiplier_pct=100),
        "silver": TierFactory.create(code="silver", rank=2, threshold=10**12, member_day_multiplier_pct=150),
        "gold": TierFactory.create(code="gold", rank=3, threshold=0, member_day_multiplier_pct=250),
    }


def run_member_day(campaign: Campaign) -> Occurrence:
    campaign_publish(campaign_id=campaign.pk)
    occurrence = occurrence_for_trigger(
        campaign_id=campaign.pk, now=SLOT + dt.timedelta(minutes=5), grace=dt.timedelta(hours=6)
    )
    assert occurrence is not None and occurrence.slot == SLOT
    occurrence_run(occurrence_id=occurrence.pk)
    return occurrence


def multiplier(member: Member, paid_at: dt.datetime) -> int:
    [pct] = campaign_multipliers_for_orders(orders=[(member.pk, paid_at)])
    return pct


def test_on_a_member_day_the_higher_of_campaign_and_tier_multiplier_applies(tiers, make_campaign):
    gold, silver, plain = (MemberFactory(tier=tiers[code]) for code in ("gold", "silver", "plain"))
    untiered = MemberFactory(tier=None)
    run_member_day(make_campaign(type=Campaign.Type.MEMBER_DAY, bonus_points=0, multiplier_pct=200))

    assert [multiplier(m, NOON) for m in (gold, silver, plain, untiered)] == [250, 200, 200, 200]


def test_a_member_day_without_a_campaign_multiplier_still_gives_the_tiers(tiers, make_campaign):
    gold, silver, plain = (MemberFactory(tier=tiers[code]) for code in ("gold", "silver", "plain"))
    untiered = MemberFactory(tier=None)
    run_member_day(make_campaign(type=Campaign.Type.MEMBER_DAY, bonus_points=10, multiplier_pct=100))

    assert [multiplier(m, NOON) for m in (gold, silver, plain, untiered)] == [250, 150, 100, 100]


@pytest.mark.parametrize(
    ("kind", "campaign_pct", "expected"),
    [(Campaign.Type.POINTS_MULTIPLIER, 200, 200), (Campaign.Type.BONUS_POINTS, 100, 100)],
)
def test_other_campaigns_ignore_the_tiers_member_day_multiplier(tiers, make_campaign, kind, campaign_pct, expected):
    gold = MemberFactory(tier=tiers["gold"])
    run_member_day(make_campaign(type=kind, bonus_points=10, multiplier_pct=campaign_pct))

    assert multiplier(gold, NOON) == expected


def test_the_multiplier_covers_the_slots_local_day_and_nothing_either_side(tiers, make_campaign):
    gold = MemberFactory(tier=tiers["gold"])
    run_member_day(make_campaign(type=Campaign.Type.MEMBER_DAY, bonus_points=0, multiplier_pct=200))

    moments = [DAY_START - TICK, DAY_START, DAY_END - TICK, DAY_END]
    assert [multiplier(gold, paid_at) for paid_at in moments] == [100, 250, 250, 100]
    # And in one call for a batch, as order ingest makes it (the window is then found for all).
    assert campaign_multipliers_for_orders(orders=[(gold.pk, paid_at) for paid_at in moments]) == [100, 250, 250, 100]


def test_the_hold_out_and_members_outside_the_audience_get_no_multiplier(tiers, make_campaign):
    golds = MemberFactory.create_batch(20, tier=tiers["gold"])
    silver_outside = MemberFactory(tier=tiers["silver"])
    campaign = make_campaign(type=Campaign.Type.MEMBER_DAY, bonus_points=0, multiplier_pct=200, holdout_pct=50)
    campaign.tiers.set([tiers["gold"]])
    occurrence = run_member_day(campaign)
    holdout = set(Recipient.objects.filter(occurrence=occurrence, holdout=True).values_list("member_id", flat=True))
    assert 0 < len(holdout) < 20

    by_group = (
        {multiplier(m, NOON) for m in golds if m.pk in holdout},
        {multiplier(m, NOON) for m in golds if m.pk not in holdout},
    )
    assert by_group == ({100}, {250})
    assert multiplier(silver_outside, NOON) == 100  # silver's own ×1.5 needs the member day's audience


def test_an_order_on_the_member_day_earns_the_tier_multiplier(tiers, make_campaign):
    gold = MemberFactory(tier=tiers["gold"])
    Identity.objects.create(member=gold, kind="pos_card", value="CARD-GOLD")
    run_member_day(make_campaign(type=Campaign.Type.MEMBER_DAY, bonus_points=10, multiplier_pct=100))

    def earned(order_no: str, paid_at: dt.datetime) -> int:
        return order_post(
            channel="store",
            order_no=order_no,
            paid_at=paid_at,
            amount_fen=10_000,
            buyer_kind="pos_card",
            buyer_value="CARD-GOLD",
            actor="test",
        ).points_earned

    assert earned("MD-1", NOON) == 5 * earned("MD-0", DAY_START - TICK) // 2 > 0
