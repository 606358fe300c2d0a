"""Who a campaign reaches, criterion by criterion: each one with members on both sides of its
boundary, evaluated at a fixed instant passed in (the slot), never at today's date. Criteria
combine with AND; a criterion's choices (tiers, tags, ...) with OR. Enrolment dates are the
brand's days, in the brand's time zone."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import Campaign, Occurrence, Recipient
from campaigns.selectors import campaign_audience, campaign_preview
from campaigns.services import campaign_publish, occurrence_for_trigger, occurrence_run
from crm.db import connection
from members.models import Member
from tests.factories import MemberFactory, StaffFactory, StoreFactory, TagFactory, TierFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The instant the audience is evaluated at: a member-day slot, 8 March 2027 10:00 brand time.
AT = dt.datetime(2027, 3, 8, 10, 0, tzinfo=SHANGHAI)
SECOND = dt.timedelta(seconds=1)
GRACE = dt.timedelta(hours=6)


def audience(campaign: Campaign, *, at: dt.datetime = AT) -> set[Member]:
    reached = list(campaign_audience(campaign, at=at))
    assert len(reached) == len(set(reached)), "a member reached twice"
    return set(reached)


def test_without_criteria_every_processable_member_is_reached(in_brand_a, make_campaign):
    active = MemberFactory.create_batch(2)
    MemberFactory(status=Member.Status.FROZEN)
    MemberFactory(merged_into=active[0])

    assert audience(make_campaign()) == set(active)


def test_tiers_any_of_those_chosen(in_brand_a, make_campaign):
    gold, silver, platinum = TierFactory(name="金卡"), TierFactory(name="银卡"), TierFactory(name="白金卡")
    in_gold, in_silver = MemberFactory(tier=gold), MemberFactory(tier=silver)
    MemberFactory(tier=platinum)
    MemberFactory(tier=None)
    campaign = make_campaign()
    campaign.tiers.set([gold, silver])

    assert audience(campaign) == {in_gold, in_silver}


def test_stores_the_members_home_store(in_brand_a, make_campaign):
    shanghai, hangzhou, beijing = StoreFactory(code="SH1"), StoreFactory(code="HZ1"), StoreFactory(code="BJ1")
    in_shanghai, in_hangzhou = MemberFactory(home_store=shanghai), MemberFactory(home_store=hangzhou)
    MemberFactory(home_store=beijing)
    MemberFactory(home_store=None)
    campaign = make_campaign()
    campaign.stores.set([shanghai, hangzhou])

    assert audience(campaign) == {in_shanghai, in_hangzhou}


def test_staff_the_members_own_staff(in_brand_a, make_campaign):
    zhang, li, wang = StaffFactory(name="张"), StaffFactory(name="李"), StaffFactory(name="王")
    owned_by_zhang, owned_by_li = MemberFactory(assigned_staff=zhang), MemberFactory(assigned_staff=li)
    MemberFactory(assigned_staff=wang)
    MemberFactory(assigned_staff=None)
    campaign = make_campaign()
    campaign.assigned_staff.set([zhang, li])

    assert audience(campaign) == {owned_by_zhang, owned_by_li}


def test_tags_any_of_those_chosen_and_each_member_once(in_brand_a, make_campaign):
    coffee, tea, other = TagFactory(name="咖啡"), TagFactory(name="茶"), TagFactory(name="其他")
    coffee_only, tea_only, both = MemberFactory(), MemberFactory(), MemberFactory()
    elsewhere, untagged = MemberFactory(), MemberFactory()
    for member, tags in ((coffee_only, [coffee]), (tea_only, [tea]), (both, [coffee, tea]), (elsewhere, [other])):
        for tag in tags:
            member.member_tags.create(tag=tag)
    campaign = make_campaign()
    campaign.tags.set([coffee, tea])

    assert audience(campaign) == {coffee_only, tea_only, both}  # `audience` also checks nobody twice
    assert untagged not in audience(campaign)


def test_lifecycle_stages_any_of_those_chosen(in_brand_a, make_campaign):
    stage = Member.Lifecycle
    members = {value: MemberFactory(lifecycle_stage=value) for value in stage.values}

    campaign = make_campaign(lifecycle_stages=[stage.INTEREST, stage.PURCHASE])

    assert audience(campaign) == {members[stage.INTEREST], members[stage.PURCHASE]}


def test_enrolled_after_counts_from_the_first_second_of_that_day(in_brand_a, make_campaign):
    day_start = dt.datetime(2027, 1, 1, tzinfo=SHANGHAI)
    first_second = MemberFactory(enrolled_at=day_start)
    later = MemberFactory(enrolled_at=AT)
    MemberFactory(enrolled_at=day_start - SECOND)  # 31 Dec 23:59:59

    assert audience(make_campaign(enrolled_after=dt.date(2027, 1, 1))) == {first_second, later}


def test_enrolled_before_counts_to_the_last_second_of_that_day(in_brand_a, make_campaign):
    next_day = dt.datetime(2027, 1, 1, tzinfo=SHANGHAI)
    earlier = MemberFactory(enrolled_at=next_day - dt.timedelta(days=40))
    last_second = MemberFactory(enrolled_at=next_day - SECOND)  # 31 Dec 23:59:59
    MemberFactory(enrolled_at=next_day)

    assert audience(make_campaign(enrolled_before=dt.date(2026, 12, 31))) == {earlier, last_second}


def test_enrolment_days_are_the_brands_days_in_its_time_zone(in_brand_a, make_campaign):
    connection.tenant.time_zone = "America/Los_Angeles"  # a brand selling on the US west coast
    la = ZoneInfo("America/Los_Angeles")
    # 1 March 00:00 in Los Angeles is 16:00 in Shanghai; 28 Feb 23:59:59 there is already 1 March here.
    first_second = MemberFactory(enrolled_at=dt.datetime(2027, 3, 1, tzinfo=la))
    day_before = MemberFactory(enrolled_at=dt.datetime(2027, 3, 1, tzinfo=la) - SECOND)

    assert audience(make_campaign(enrolled_after=dt.date(2027, 3, 1))) == {first_second}
    assert audience(make_campaign(enrolled_before=dt.date(2027, 2, 28))) == {day_before}


def test_purchased_within_n_days_of_the_slot_includes_exactly_n_days_before(in_brand_a, make_campaign):
    exactly_30_days = MemberFactory(last_purchase_at=AT - dt.timedelta(days=30))
    after_the_slot = MemberFactory(last_purchase_at=AT + dt.timedelta(hours=1))  # a late run sees it
    MemberFactory(last_purchase_at=AT - dt.timedelta(days=30) - SECOND)
    MemberFactory(last_purchase_at=None)
    campaign = make_campaign(purchased_within_days=30)

    assert audience(campaign) == {exactly_30_days, after_the_slot}
    # Relative to the instant passed in, not to the clock: a day later, the first has aged out.
    assert audience(campaign, at=AT + dt.timedelta(days=1)) == {after_the_slot}


def test_not_purchased_within_n_days_of_the_slot_includes_members_who_never_bought(in_brand_a, make_campaign):
    never = MemberFactory(last_purchase_at=None)
    just_over_90_days = MemberFactory(last_purchase_at=AT - dt.timedelta(days=90) - SECOND)
    MemberFactory(last_purchase_at=AT - dt.timedelta(days=90))
    MemberFactory(last_purchase_at=AT - dt.timedelta(days=1))
    campaign = make_campaign(not_purchased_within_days=90)

    assert audience(campaign) == {never, just_over_90_days}
    assert audience(campaign, at=AT - dt.timedelta(days=1)) == {never}


def test_points_range_includes_both_ends(in_brand_a, make_campaign):
    members = {points: MemberFactory(points_balance=points) for points in (99, 100, 500, 501)}

    assert audience(make_campaign(points_min=100, points_max=500)) == {members[100], members[500]}
    assert audience(make_campaign(points_min=100)) == {members[100], members[500], members[501]}
    assert audience(make_campaign(points_max=500)) == {members[99], members[100], members[500]}


def test_criteria_combine_with_and(in_brand_a, make_campaign):
    gold, silver = TierFactory(name="金卡"), TierFactory(name="银卡")
    shanghai = StoreFactory(code="SH1")
    fits = MemberFactory(tier=gold, home_store=shanghai, points_balance=100, last_purchase_at=AT)
    MemberFactory(tier=silver, home_store=shanghai, points_balance=100, last_purchase_at=AT)
    MemberFactory(tier=gold, home_store=StoreFactory(code="HZ1"), points_balance=100, last_purchase_at=AT)
    MemberFactory(tier=gold, home_store=shanghai, points_balance=99, last_purchase_at=AT)
    MemberFactory(tier=gold, home_store=shanghai, points_balance=100, last_purchase_at=AT - dt.timedelta(days=8))
    campaign = make_campaign(points_min=100, purchased_within_days=7)
    campaign.tiers.set([gold])
    campaign.stores.set([shanghai])

    assert audience(campaign) == {fits}
    assert campaign_preview(campaign, at=AT).matching == 1


def test_the_run_evaluates_purchase_recency_at_its_slot(in_brand_a, make_campaign):
    """The snapshot is taken for the slot (8 March 10:00), whenever the run happens."""
    bought_in_time = MemberFactory(last_purchase_at=AT - dt.timedelta(days=7))
    MemberFactory(last_purchase_at=AT - dt.timedelta(days=7) - SECOND)
    campaign = make_campaign(purchased_within_days=7)
    campaign_publish(campaign_id=campaign.pk)

    occurrence = occurrence_for_trigger(campaign_id=campaign.pk, now=AT + dt.timedelta(hours=5), grace=GRACE)
    assert occurrence is not None and occurrence.slot == AT
    occurrence_run(occurrence_id=occurrence.pk)

    assert Occurrence.objects.get(pk=occurrence.pk).status == Occurrence.Status.DONE
    assert list(Recipient.objects.filter(occurrence=occurrence).values_list("member_id", flat=True)) == [
        bought_in_time.pk
    ]
