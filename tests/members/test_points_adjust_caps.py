"""Limits on manual points adjustments that hold over a brand day (issue 21, finding 3): a store
staff limited to 500 per adjustment added 5,000 points in ten adjustments within seconds. Now the
running totals per member and per user per brand day are capped (brand settings, per role); what
goes past them is held for a brand admin, who approves it (applied once) or rejects it. The
admin pages are in test_points_adjust_admin.py, the races in test_points_adjust_concurrency.py.

Instants are passed as `now`, never taken from today's date."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import IntegrityError, InternalError, transaction

from crm.errors import AppError
from crm.tenancy.zones import brand_zone
from members import roles
from members.models import (
    LoyaltyProgram,
    Member,
    PointsAdjustMemberDay,
    PointsAdjustRequest,
    PointsAdjustUserDay,
    PointsEntry,
)
from members.services.points import ledger_audit, points_award_bonus
from members.services.points_adjustments import (
    points_adjust,
    points_adjust_request_approve,
    points_adjust_request_reject,
)
from tests.clock import SHANGHAI
from tests.factories import MemberFactory

from .loyalty_scene import program

# 10:00 brand time on an ordinary day; the boundary tests use 23:59 and 00:01.
MORNING = dt.datetime(2027, 3, 9, 10, 0, tzinfo=SHANGHAI)


def user_in(role: str, username: str) -> User:
    user = User.objects.create_user(username=username, password="x-Secret-2026", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def balance(member: Member) -> int:
    member.refresh_from_db()
    return member.points_balance


def held(member: Member) -> list[PointsAdjustRequest]:
    return list(PointsAdjustRequest.objects.filter(member=member).order_by("id"))


@pytest.fixture
def scene(in_brand_a):
    """Brand A's default limits: store staff 500 per adjustment, 1,000 per member and 3,000 per
    user per brand day."""
    program()
    return {
        "member": MemberFactory(),
        "staff": user_in(roles.STORE_STAFF, "staff@a"),
        "admin": user_in(roles.BRAND_ADMIN, "boss@a"),
    }


# --- the attack --------------------------------------------------------------------------------


def test_ten_split_adjustments_of_500_stop_at_the_members_daily_cap(scene):
    member, staff = scene["member"], scene["staff"]

    outcomes = [
        points_adjust(
            member=member, points=500, reason="补录线下消费", actor=staff, reference=f"split-{n}", now=MORNING
        )
        for n in range(10)
    ]

    assert [outcome.held for outcome in outcomes] == [False, False] + [True] * 8
    assert balance(member) == 1_000
    assert PointsEntry.objects.filter(member=member, kind=PointsEntry.Kind.ADJUST).count() == 2
    requests = held(member)
    assert [(r.points, r.status, r.exceeded, r.requested_by_id) for r in requests] == [
        (500, "pending", "member_day", staff.pk)
    ] * 8
    assert {r.biz_date for r in requests} == {dt.date(2027, 3, 9)}
    # The running totals count what was applied, not what was held.
    assert PointsAdjustMemberDay.objects.get(member=member, biz_date=dt.date(2027, 3, 9)).total == 1_000
    assert PointsAdjustUserDay.objects.get(user=staff, biz_date=dt.date(2027, 3, 9)).total == 1_000
    assert ledger_audit() == []


def test_the_staff_users_own_daily_cap_holds_across_members(scene):
    staff = scene["staff"]
    members = [MemberFactory() for _ in range(4)]

    outcomes = [
        points_adjust(member=m, points=500, reason="补录", actor=staff, now=MORNING) for m in members for _ in range(2)
    ]

    assert [o.held for o in outcomes] == [False] * 6 + [True] * 2  # 3,000 per user per day
    assert [balance(m) for m in members] == [1_000, 1_000, 1_000, 0]
    assert {r.exceeded for r in PointsAdjustRequest.objects.all()} == {"user_day"}
    # A held adjustment raised neither total: the member's stays where the user's cap stopped it.
    assert not PointsAdjustMemberDay.objects.filter(member=members[3], total__gt=0).exists()


def test_debits_count_toward_the_cap_by_their_size(scene):
    """Decision: |points| counts. Staff taking points away is an insider risk for the member."""
    member, staff = scene["member"], scene["staff"]
    points_award_bonus(member=member, points=2_000, reference="seed", reason="初始")

    first = points_adjust(member=member, points=-500, reason="扣回", actor=staff, now=MORNING)
    second = points_adjust(member=member, points=400, reason="补录", actor=staff, now=MORNING)
    third = points_adjust(member=member, points=-400, reason="扣回", actor=staff, now=MORNING)

    assert (first.held, second.held, third.held) == (False, False, True)
    assert balance(member) == 1_900
    assert third.request is not None and third.request.points == -400


def test_a_held_debit_the_member_cannot_cover_is_refused_not_queued(scene):
    member, staff = scene["member"], scene["staff"]
    points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING)
    points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING)
    points_adjust(member=member, points=-800, reason="扣回", actor=scene["admin"], now=MORNING)  # 200 left

    with pytest.raises(AppError) as refused:
        points_adjust(member=member, points=-300, reason="扣回", actor=staff, now=MORNING)
    points_adjust(member=member, points=-200, reason="扣回", actor=staff, now=MORNING)  # held: covered

    assert refused.value.code == "points_insufficient"
    assert [r.points for r in held(member)] == [-200]


def test_a_retried_held_adjustment_is_one_request(scene):
    member, staff = scene["member"], scene["staff"]
    points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING)
    points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING)

    first = points_adjust(member=member, points=500, reason="补录", actor=staff, reference="form-1", now=MORNING)
    again = points_adjust(member=member, points=500, reason="补录", actor=staff, reference="form-1", now=MORNING)

    assert first.request is not None and again.request is not None
    assert first.request.pk == again.request.pk and len(held(member)) == 1


def test_brand_admins_are_neither_limited_nor_counted(scene):
    member, admin, staff = scene["member"], scene["admin"], scene["staff"]

    for _ in range(5):
        assert not points_adjust(member=member, points=10_000, reason="客诉补偿", actor=admin, now=MORNING).held
    # The staff user's caps are untouched by the admin's 50,000.
    assert not points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING).held

    assert balance(member) == 50_500
    assert not PointsAdjustUserDay.objects.filter(user=admin).exists()


def test_the_caps_are_the_brands_settings_per_role(scene):
    member, staff = scene["member"], scene["staff"]
    manager = user_in(roles.STORE_MANAGER, "manager@a")
    LoyaltyProgram.objects.update(adjust_staff_per_member_day=None, adjust_staff_per_user_day=600)

    staff_outcomes = [
        points_adjust(member=member, points=300, reason="补录", actor=staff, now=MORNING) for _ in range(3)
    ]
    # The store manager's member cap (5,000) counts everyone's adjustments on this member: 600 so far.
    manager_outcomes = [
        points_adjust(member=member, points=2_000, reason="补录", actor=manager, now=MORNING) for _ in range(3)
    ]

    assert [o.held for o in staff_outcomes] == [False, False, True]  # 600 per staff user per day
    assert [o.held for o in manager_outcomes] == [False, False, True]  # 600 + 4,000 ≤ 5,000 < 6,600
    assert balance(member) == 4_600


# --- the brand's business day --------------------------------------------------------------------


def test_the_day_is_the_brands_business_day_and_a_new_one_starts_afresh(scene):
    member, staff = scene["member"], scene["staff"]
    assert brand_zone() == SHANGHAI
    late = dt.datetime(2027, 1, 31, 23, 59, tzinfo=SHANGHAI)
    early = dt.datetime(2027, 2, 1, 0, 1, tzinfo=SHANGHAI)
    # Both are 31 January in UTC: a cap counted by UTC date would still be full at 00:01.
    assert late.astimezone(dt.UTC).date() == early.astimezone(dt.UTC).date()

    before = [points_adjust(member=member, points=500, reason="补录", actor=staff, now=late) for _ in range(3)]
    after = [points_adjust(member=member, points=500, reason="补录", actor=staff, now=early) for _ in range(3)]

    assert [o.held for o in before] == [False, False, True]
    assert [o.held for o in after] == [False, False, True]
    assert balance(member) == 2_000
    assert [r.biz_date for r in held(member)] == [dt.date(2027, 1, 31), dt.date(2027, 2, 1)]
    assert sorted(PointsAdjustMemberDay.objects.filter(member=member).values_list("biz_date", "total")) == [
        (dt.date(2027, 1, 31), 1_000),
        (dt.date(2027, 2, 1), 1_000),
    ]


# --- approval ----------------------------------------------------------------------------------


@pytest.fixture
def waiting(scene) -> PointsAdjustRequest:
    """The staff user's third 500 on the member that day: held."""
    member, staff = scene["member"], scene["staff"]
    for _ in range(2):
        points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING)
    outcome = points_adjust(member=member, points=500, reason="客诉补偿", actor=staff, now=MORNING)
    assert outcome.request is not None
    return outcome.request


def test_approval_applies_the_adjustment_once_even_when_approved_twice(scene, waiting):
    member, admin = scene["member"], scene["admin"]
    decided_at = MORNING + dt.timedelta(hours=1)

    entry = points_adjust_request_approve(adjust_request=waiting, actor=admin, note="已核实小票", now=decided_at)
    again = points_adjust_request_approve(
        adjust_request=PointsAdjustRequest.objects.get(pk=waiting.pk), actor=admin, now=decided_at
    )

    assert again.pk == entry.pk
    assert (entry.points, entry.reason, entry.actor, entry.reference) == (
        500,
        "客诉补偿",
        "boss@a",
        f"adjust-request:{waiting.pk}",
    )
    assert balance(member) == 1_500
    assert PointsEntry.objects.filter(member=member, kind=PointsEntry.Kind.ADJUST).count() == 3
    waiting.refresh_from_db()
    assert (waiting.status, waiting.decided_by_id, waiting.decided_at, waiting.decision_reason) == (
        "approved",
        admin.pk,
        decided_at,
        "已核实小票",
    )
    # An approval is the override: it does not use up the staff user's cap.
    assert PointsAdjustUserDay.objects.get(user=scene["staff"]).total == 1_000
    assert ledger_audit() == []


def test_rejection_applies_nothing_and_records_why(scene, waiting):
    member, admin = scene["member"], scene["admin"]

    with pytest.raises(AppError) as no_reason:
        points_adjust_request_reject(adjust_request=waiting, actor=admin, reason=" ")
    points_adjust_request_reject(adjust_request=waiting, actor=admin, reason="无消费凭证", now=MORNING)
    points_adjust_request_reject(adjust_request=waiting, actor=admin, reason="再次点击", now=MORNING)  # no-op
    with pytest.raises(AppError) as approve_rejected:
        points_adjust_request_approve(adjust_request=waiting, actor=admin)

    assert no_reason.value.code == "points_invalid"
    assert approve_rejected.value.code == "points_adjust_request_decided"
    assert balance(member) == 1_000
    waiting.refresh_from_db()
    assert (waiting.status, waiting.decided_by_id, waiting.decision_reason) == ("rejected", admin.pk, "无消费凭证")


def test_an_approval_that_cannot_be_applied_now_leaves_the_request_waiting(scene, waiting):
    member = scene["member"]
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)

    with pytest.raises(AppError) as exc:
        points_adjust_request_approve(adjust_request=waiting, actor=scene["admin"])

    assert exc.value.code == "member_not_eligible"
    assert PointsAdjustRequest.objects.get(pk=waiting.pk).status == "pending"
    assert balance(member) == 1_000


def test_an_approved_request_cannot_be_rejected(scene, waiting):
    points_adjust_request_approve(adjust_request=waiting, actor=scene["admin"])
    with pytest.raises(AppError) as exc:
        points_adjust_request_reject(adjust_request=waiting, actor=scene["admin"], reason="改主意")
    assert exc.value.code == "points_adjust_request_decided"
    assert balance(scene["member"]) == 1_500


def test_store_roles_cannot_decide_and_nobody_decides_their_own(scene, waiting):
    manager = user_in(roles.STORE_MANAGER, "manager@a")
    for actor in (scene["staff"], manager):
        with pytest.raises(AppError) as exc:
            points_adjust_request_approve(adjust_request=waiting, actor=actor)
        assert exc.value.code == "points_adjust_approval_forbidden" and exc.value.status == 403
        with pytest.raises(AppError):
            points_adjust_request_reject(adjust_request=waiting, actor=actor, reason="x")
    # A limited user who was also given the right to decide still cannot decide their own request.
    hq = user_in(roles.HQ_MARKETER, "hq@a")
    hq.user_permissions.add(Permission.objects.get(codename="approve_pointsadjustrequest"))
    customer = MemberFactory()
    for _ in range(3):
        own = points_adjust(member=customer, points=5_000, reason="补录", actor=hq, now=MORNING)
    assert own.request is not None
    with pytest.raises(AppError) as self_approval:
        points_adjust_request_approve(adjust_request=own.request, actor=User.objects.get(pk=hq.pk))

    assert self_approval.value.code == "points_adjust_approval_forbidden"
    assert balance(scene["member"]) == 1_000
    assert PointsAdjustRequest.objects.get(pk=waiting.pk).status == "pending"


def test_a_decided_request_is_an_audit_record_the_database_keeps(scene, waiting):
    points_adjust_request_approve(adjust_request=waiting, actor=scene["admin"])
    for change in (
        lambda: PointsAdjustRequest.objects.filter(pk=waiting.pk).update(status="rejected", decision_reason="x"),
        lambda: PointsAdjustRequest.objects.filter(pk=waiting.pk).delete(),
    ):
        with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
            change()
    assert PointsAdjustRequest.objects.get(pk=waiting.pk).status == "approved"


def test_a_waiting_request_cannot_be_edited_only_decided(scene, waiting):
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        PointsAdjustRequest.objects.filter(pk=waiting.pk).update(points=5_000)
    assert PointsAdjustRequest.objects.get(pk=waiting.pk).points == 500


def test_the_ledger_audit_stays_clean_after_holds_approvals_and_rejections(scene, capsys):
    member, staff, admin = scene["member"], scene["staff"], scene["admin"]
    points_award_bonus(member=member, points=700, reference="seed", reason="初始")
    outcomes = [
        points_adjust(member=member, points=(500 if n % 2 else -300), reason="调整", actor=staff, now=MORNING)
        for n in range(8)
    ]
    requests = [o.request for o in outcomes if o.request is not None]
    for n, request in enumerate(requests):
        if n % 2:
            points_adjust_request_reject(adjust_request=request, actor=admin, reason="不符合")
        else:
            points_adjust_request_approve(adjust_request=request, actor=admin)

    assert ledger_audit() == []
    call_command("audit_ledger", "--schema", "alpha")
    assert "[alpha] OK" in capsys.readouterr().out
