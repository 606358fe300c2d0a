"""Birthday benefits: released by the daily job in brand time (on the day, N days before, a fixed
day of the birth month), once per benefit year, 29 February on 28 Feb or 1 Mar in non-leap years,
missed days caught up, recent birthday changes and frozen members excluded, the multiplier window
(reversed on refund), and two runs at once granting once."""

import datetime as dt

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from engagement.models import BirthdayBenefit, BirthdayGrant, BirthdayJobState, EngagementSettings, GrowthActivityMonth
from engagement.services.birthday import birthday_release_due
from members.models import Member, PointsEntry, Tier
from members.services.orders import order_post, order_refund
from members.services.points import ledger_audit
from tests.factories import TierFactory
from tests.members.loyalty_scene import member_with_unionid, program, throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

from .scene import at, clock, rules

race_brand = throwaway_brand


def gold(**benefit: object) -> Tier:
    tier = TierFactory.create(code="gold", name="金卡", rank=1, threshold=0)
    BirthdayBenefit.objects.create(tier=tier, **{"points": 88, **benefit})
    return tier


def born(birthday: str, tier: Tier, unionid: str, **fields: object) -> Member:
    return member_with_unionid(
        unionid, tier=tier, birthday=dt.date.fromisoformat(birthday), enrolled_at=at("2020-01-01 10:00:00"), **fields
    )


def run(when: str) -> dict[str, object]:
    with clock(when):
        return birthday_release_due()


def test_released_on_the_day_in_brand_time_once_per_year_with_the_tier_kept(in_brand_a):
    program()
    rules()
    tier = gold()
    member = born("1990-01-01", tier, "u1")
    assert run("2027-12-31 23:59:00")["granted"] == 0
    assert run("2028-01-01 00:30:00")["granted"] == 1  # brand new year, still 31 Dec in UTC
    assert run("2028-01-01 09:00:00")["granted"] == 0  # same day again
    grant = BirthdayGrant.objects.get(member_id=member.pk)
    assert (grant.benefit_year, grant.release_date, grant.tier_id) == (2028, dt.date(2028, 1, 1), tier.pk)
    entry = PointsEntry.objects.get(member=member)
    assert (entry.points, entry.reason) == (88, "2028 年生日礼")
    assert ledger_audit() == []


def test_days_before_crosses_the_year_end_and_fixed_day_clamps_to_the_month_end(in_brand_a):
    program()
    rules()
    tier = gold(release=BirthdayBenefit.Release.DAYS_BEFORE, days_before=3)
    jan2 = born("1991-01-02", tier, "u1")
    silver = TierFactory.create(code="s", name="银卡", rank=2, threshold=0)
    BirthdayBenefit.objects.create(tier=silver, release=BirthdayBenefit.Release.FIXED_DAY, fixed_day=31, points=10)
    feb = born("1992-02-10", silver, "u2")
    run("2027-02-27 08:00:00")
    assert not BirthdayGrant.objects.filter(member_id=feb.pk).exists()
    run("2027-02-28 08:00:00")
    assert BirthdayGrant.objects.get(member_id=feb.pk).release_date == dt.date(2027, 2, 28)
    BirthdayJobState.objects.all().delete()  # the next run starts on its own day, months later
    run("2027-12-29 08:00:00")
    assert not BirthdayGrant.objects.filter(member_id=jan2.pk).exists()
    run("2027-12-30 08:00:00")
    assert BirthdayGrant.objects.get(member_id=jan2.pk).benefit_year == 2028


@pytest.mark.parametrize(
    ("rule", "released"),
    [(EngagementSettings.Feb29.FEB28, "2027-02-28"), (EngagementSettings.Feb29.MAR1, "2027-03-01")],
)
def test_29_february_in_a_non_leap_year(in_brand_a, rule, released):
    program()
    rules(birthday_feb29=rule)
    leapling = born("2004-02-29", gold(), "u1")
    run("2027-02-27 12:00:00")
    for day in ("2027-02-28", "2027-03-01", "2027-03-02"):
        run(f"{day} 00:00:01")
    grant = BirthdayGrant.objects.get(member_id=leapling.pk)
    assert grant.release_date == dt.date.fromisoformat(released)
    run("2028-02-28 12:00:00")
    assert not BirthdayGrant.objects.filter(member_id=leapling.pk, benefit_year=2028).exists()
    run("2028-02-29 07:00:00")  # a leap year: on the day itself
    assert BirthdayGrant.objects.get(member_id=leapling.pk, benefit_year=2028).release_date == dt.date(2028, 2, 29)


def test_missed_days_are_caught_up(in_brand_a):
    program()
    rules()
    tier = gold()
    BirthdayJobState.objects.create(last_date=dt.date(2027, 1, 28))
    members = [born(f"1990-01-{d}", tier, f"u{d}") for d in (29, 30, 31)] + [born("1990-02-01", tier, "u4")]
    summary = run("2027-02-01 00:00:30")
    assert summary["days"] == 4 and summary["granted"] == 4
    assert BirthdayGrant.objects.filter(member_id__in=[m.pk for m in members]).count() == 4


def test_recent_birthday_changes_and_frozen_members_do_not_qualify(in_brand_a):
    program()
    rules(birthday_change_guard_days=30)
    tier = gold()
    changed = born("1990-03-08", tier, "u1", birthday_changed_at=at("2027-02-20 10:00:00"))
    old_change = born("1990-03-08", tier, "u2", birthday_changed_at=at("2027-01-01 10:00:00"))
    frozen = born("1990-03-08", tier, "u3", status=Member.Status.FROZEN)
    run("2027-03-08 10:03:00")
    assert list(BirthdayGrant.objects.values_list("member_id", flat=True)) == [old_change.pk]
    assert changed.pk != frozen.pk


def test_the_multiplier_raises_points_in_the_window_and_a_refund_reverses_them(in_brand_a):
    program()
    rules()
    tier = gold(points=0, multiplier_pct=200, window_days=7)
    born("1990-03-08", tier, "u1")
    run("2027-03-08 00:10:00")

    def buy(no: str, when: str) -> int:
        with clock(when):
            return order_post(
                channel="store",
                order_no=no,
                paid_at=timezone.now(),
                amount_fen=10_000,
                buyer_kind="wechat_unionid",
                buyer_value="u1",
                actor="pos",
            ).points_earned

    assert buy("IN", "2027-03-14 23:59:00") == 200
    assert buy("OUT", "2027-03-15 00:00:00") == 100  # the window is 7 brand days from the release
    with clock("2027-03-16 10:00:00"):
        order_refund(
            channel="store", order_no="IN", refund_no="R", amount_fen=10_000, refunded_at=timezone.now(), actor="pos"
        )
    member = Member.objects.get(mobile__isnull=False, identities__value="u1")
    assert member.points_balance == 100
    assert ledger_audit() == []


def test_two_runs_at_once_grant_once(race_brand):
    with schema_context(race_brand.schema_name):
        program()
        rules()
        tier = gold()
        members = [born("1990-01-31", tier, f"u{n}") for n in range(30)]

    with clock("2027-01-31 23:59:59"):
        errors = run_in_threads(race_brand, [birthday_release_due] * 4)
    assert errors == []
    with schema_context(race_brand.schema_name):
        assert BirthdayGrant.objects.count() == 30
        assert PointsEntry.objects.filter(member_id__in=[m.pk for m in members]).count() == 30
        assert ledger_audit() == []


def test_the_birthday_coupon_comes_from_coupons_once_per_year(in_brand_a):
    """With engagement's coupons issuer registered (start-up): the benefit's coupon_template holds
    the coupon template id; the release issues it set-based with source 生日礼, once a year."""
    from coupons.models import Coupon
    from tests.coupons.scene import template

    program()
    rules()
    with clock("2027-12-01 10:00:00"):
        tpl = template(valid_until_date=dt.date(2028, 12, 31))
    tier = gold(coupon_template=str(tpl.pk))
    member = born("1990-01-01", tier, "u-coupon")
    assert run("2028-01-01 00:30:00")["granted"] == 1
    assert run("2028-01-01 09:00:00")["granted"] == 0
    coupons = list(Coupon.objects.filter(member_id=member.pk).values_list("template_id", "source", "source_key"))
    assert coupons == [(tpl.pk, Coupon.Source.BIRTHDAY, "engagement:birthday:2028")]
    assert PointsEntry.objects.get(member=member).points == 88


def test_growth_value_as_a_birthday_gift_is_capped_once_a_year_and_lifts_the_tier(in_brand_a):
    from engagement.models import GrowthEntry
    from engagement.services.growth import growth_audit, growth_balance

    program()
    rules(growth_activity_cap_per_month=100)
    tier = gold(points=0, growth=80)
    top = TierFactory.create(code="black", name="黑金", rank=5, threshold=60, basis=Tier.Basis.GROWTH)
    member = born("1990-03-08", tier, "u1")
    capped = born("1990-03-08", tier, "u2")
    GrowthActivityMonth.objects.create(member_id=capped.pk, month=dt.date(2027, 3, 1), total=70)
    assert run("2027-03-08 08:00:00")["granted"] == 2
    entry = GrowthEntry.objects.get(member_id=member.pk)
    assert (entry.kind, entry.value, entry.reference, entry.reason) == (
        "birthday",
        80,
        "birthday:2027",
        "2027 年生日礼",
    )
    assert Member.objects.get(pk=member.pk).tier_id == top.pk  # lifted at once, as a check-in's growth does
    # The month's activity cap holds: activity helps, it cannot buy a tier.
    assert GrowthEntry.objects.get(member_id=capped.pk).value == 30
    assert Member.objects.get(pk=capped.pk).tier_id == tier.pk
    BirthdayJobState.objects.all().delete()
    run("2027-03-08 09:00:00")  # again: nothing more
    assert growth_balance(member_id=member.pk) == 80 and GrowthEntry.objects.filter(member_id=member.pk).count() == 1
    assert not PointsEntry.objects.filter(member=member).exists()  # no points in this gift
    assert growth_audit() == [] and ledger_audit() == []
