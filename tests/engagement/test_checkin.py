"""Check-in: one record per member per brand day, streaks across month and year ends, a ladder
claimable once per cycle, 补签 with window, cost and cap, every reward through the ledgers."""

import datetime as dt

import pytest

from crm.errors import AppError
from engagement import error_codes
from engagement.models import Checkin, CheckinLadderStep, CheckinMilestone, EngagementSettings, GrowthEntry
from engagement.rewards import coupon_issuer_register, coupon_issuer_unregister
from engagement.selectors import checkin_calendar
from engagement.services.checkin import checkin_make_up, checkin_perform
from engagement.services.growth import growth_audit
from members.models import Member, PointsEntry
from members.services.points import ledger_audit, points_award_bonus
from tests.factories import MemberFactory
from tests.members.loyalty_scene import program

from .scene import COUPON, GROWTH, POINTS, clock, ladder, rules


def sign(member: Member, when: str) -> Checkin:
    with clock(when):
        return checkin_perform(member=member).checkin


def test_a_double_tap_returns_the_existing_record_and_grants_once(in_brand_a):
    program()
    rules()
    member = MemberFactory()
    with clock("2027-03-08 10:03:00"):
        first = checkin_perform(member=member)
        again = checkin_perform(member=member)
    assert first.created and not again.created and again.checkin.pk == first.checkin.pk
    assert first.checkin.points == 5 and first.checkin.growth == 1
    assert first.checkin.rewards == [
        {"kind": "points", "amount": 5, "label": "签到奖励（2027-03-08）：5 积分"},
        {"kind": "growth", "amount": 1, "label": "签到奖励（2027-03-08）：1 成长值"},
    ]
    entry = PointsEntry.objects.get(member=member)
    assert (entry.points, entry.reason) == (5, "签到奖励（2027-03-08）")
    assert GrowthEntry.objects.get(member_id=member.pk).reason == "签到奖励（2027-03-08）"
    assert ledger_audit() == [] and growth_audit() == []


def test_the_day_is_the_brand_day_across_midnight_and_the_streak_crosses_month_and_year_ends(in_brand_a):
    program()
    rules()
    member = MemberFactory()
    late = sign(member, "2027-12-30 23:59:59")
    early = sign(member, "2027-12-31 00:00:00")  # still 30 Dec in UTC
    new_year = sign(member, "2028-01-01 00:30:00")
    assert (late.biz_date, early.biz_date, new_year.biz_date) == (
        dt.date(2027, 12, 30),
        dt.date(2027, 12, 31),
        dt.date(2028, 1, 1),
    )
    assert [late.streak, early.streak, new_year.streak] == [1, 2, 3]
    assert new_year.cycle_start == dt.date(2028, 1, 1)  # a calendar-month cycle starts again
    with clock("2028-01-01 12:00:00"):
        calendar = checkin_calendar(member=member)
    assert calendar.streak == 3 and calendar.checked_in_today
    assert [d.date.day for d in calendar.days if d.checked_in] == [1]


def test_the_ladder_is_claimed_once_per_cycle_so_ladder_farming_earns_nothing(in_brand_a):
    program()
    rules(checkin_cycle=EngagementSettings.CheckinCycle.ROLLING, checkin_cycle_days=7, checkin_daily_growth=0)
    ladder((3, POINTS, 30), (6, GROWTH, 10))
    member = MemberFactory()
    got = {}
    for day in (1, 2, 3, 5, 6, 7):  # 4 missed: sign 3, skip, sign 3 again in the same cycle
        got[day] = sign(member, f"2027-02-0{day} 09:00:00")
    assert got[3].points == 5 + 30 and got[3].rewards[-1]["label"] == "连续签到 3 天奖励：30 积分"
    assert got[7].points == 5  # the 3-day step is not claimed twice in the cycle
    assert {c.cycle_start for c in got.values()} == {dt.date(2027, 2, 1)}
    eighth = [sign(member, f"2027-02-{day:02d} 09:00:00") for day in (8, 9, 10)]
    assert eighth[0].cycle_start == dt.date(2027, 2, 8)  # a new cycle: the ladder is open again
    assert eighth[2].points == 35
    assert CheckinMilestone.objects.filter(member_id=member.pk).count() == 2


def test_make_up_within_window_costs_points_restores_the_run_and_stops_at_the_cap(in_brand_a):
    program()
    rules(checkin_daily_growth=0, makeup_cost_points=20, makeup_cap_per_cycle=1, makeup_window_days=3)
    ladder((4, POINTS, 100))
    member = MemberFactory()
    points_award_bonus(member=member, points=50, reference="seed", reason="初始积分")
    for day in (1, 2, 4):
        sign(member, f"2027-03-0{day} 09:00:00")
    with clock("2027-03-05 08:00:00"):
        with pytest.raises(AppError) as too_old:
            checkin_make_up(member=member, day=dt.date(2027, 3, 1))
        made = checkin_make_up(member=member, day=dt.date(2027, 3, 3))
        again = checkin_make_up(member=member, day=dt.date(2027, 3, 3))
        today = checkin_perform(member=member).checkin
    assert too_old.value.code == error_codes.MAKEUP_REFUSED
    assert made.created and not again.created and made.checkin.made_up and made.checkin.cost_points == 20
    # 1-2-3-4 is a run of 4 now: the step is granted on the make-up record
    assert made.checkin.rewards[-1]["label"] == "连续签到 4 天奖励：100 积分"
    assert Checkin.objects.get(member_id=member.pk, biz_date=dt.date(2027, 3, 4)).streak == 4
    assert today.streak == 5
    spent = PointsEntry.objects.get(member=member, kind=PointsEntry.Kind.REDEEM)
    assert (spent.points, spent.reason) == (-20, "补签 2027-03-03 消耗积分")
    with clock("2027-03-07 08:00:00"), pytest.raises(AppError) as capped:
        checkin_make_up(member=member, day=dt.date(2027, 3, 6))
    assert capped.value.code == error_codes.MAKEUP_CAP_REACHED
    assert ledger_audit() == [] and growth_audit() == []


def test_a_make_up_the_member_cannot_pay_writes_nothing(in_brand_a):
    program()
    rules(makeup_cost_points=20)
    member = MemberFactory()
    with clock("2027-01-31 23:59:59"):
        with pytest.raises(AppError) as short:
            checkin_make_up(member=member, day=dt.date(2027, 1, 30))
        calendar = checkin_calendar(member=member)
    assert short.value.code == "points_insufficient"
    assert not Checkin.objects.filter(member_id=member.pk).exists()
    assert calendar.makeups_left == 2  # the cap counter rolled back with the rest


def test_make_up_is_refused_outside_the_current_month_cycle(in_brand_a):
    program()
    rules()
    member = MemberFactory()
    points_award_bonus(member=member, points=50, reference="seed", reason="初始积分")
    with clock("2028-03-01 00:10:00"), pytest.raises(AppError) as other_cycle:
        checkin_make_up(member=member, day=dt.date(2028, 2, 29))
    assert other_cycle.value.code == error_codes.MAKEUP_REFUSED


def test_a_coupon_step_is_refused_until_a_coupon_issuer_registers(in_brand_a, without_coupon_issuer):
    program()
    rules(checkin_daily_points=0, checkin_daily_growth=0)
    ladder((1, COUPON, 1))
    member = MemberFactory()
    with clock("2027-03-08 10:00:00"), pytest.raises(AppError) as refused:
        checkin_perform(member=member)
    assert refused.value.code == error_codes.COUPON_UNAVAILABLE
    assert not Checkin.objects.filter(member_id=member.pk).exists()
    issued: list[str] = []

    def issuer(*, member: Member, template_code: str, reference: str, reason: str) -> str:
        issued.append(reference)
        return "满 100 减 10 优惠券 1 张"

    coupon_issuer_register(issuer)
    try:
        record = sign(member, "2027-03-08 10:00:00")
    finally:
        coupon_issuer_unregister()
    assert issued == ["checkin-ladder:2027-03-01:1"]
    assert record.rewards == [{"kind": "coupon", "amount": 1, "label": "连续签到 1 天奖励：满 100 减 10 优惠券 1 张"}]


def test_frozen_members_cannot_check_in(in_brand_a):
    rules()
    member = MemberFactory(status=Member.Status.FROZEN)
    with clock("2027-03-08 10:00:00"), pytest.raises(AppError) as refused:
        checkin_perform(member=member)
    assert refused.value.code == error_codes.MEMBER_NOT_ELIGIBLE


def test_a_coupon_step_issues_a_real_coupon_from_the_template_id(in_brand_a):
    """With engagement's own issuer (registered at start-up): the step's coupon_template holds the
    coupon template id; the coupon comes from coupons with source 签到奖励, once per reference."""
    from coupons.models import Coupon
    from tests.coupons.scene import template

    program()
    rules(checkin_daily_points=0, checkin_daily_growth=0)
    with clock("2027-03-08 10:00:00"):
        tpl = template(valid_until_date=dt.date(2027, 12, 31))
    CheckinLadderStep.objects.create(days=1, reward_kind=COUPON, amount=1, coupon_template=str(tpl.pk))
    member = MemberFactory()
    record = sign(member, "2027-03-08 10:00:00")
    again = sign(member, "2027-03-08 10:05:00")
    coupons = list(Coupon.objects.filter(member_id=member.pk))
    assert [(c.template_id, c.source) for c in coupons] == [(tpl.pk, Coupon.Source.CHECKIN)]
    assert record.rewards[0]["label"] == "连续签到 1 天奖励：满100减20（满 ¥100.00 减 ¥20.00）1 张"
    assert again.pk == record.pk
