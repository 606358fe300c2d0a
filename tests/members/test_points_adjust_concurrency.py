"""Daily adjustment caps under real concurrency: threads with their own database connections,
started at the same moment, never adjust past a cap together, and a request approved twice at
once is applied once. These tests commit, so they run in a throw-away brand."""

import datetime as dt
from collections.abc import Callable

from django.contrib.auth.models import Group, User
from django_tenants.utils import schema_context

from crm.errors import AppError
from members import roles
from members.models import Member, PointsAdjustMemberDay, PointsAdjustRequest, PointsAdjustUserDay, PointsEntry
from members.services.points import ledger_audit
from members.services.points_adjustments import points_adjust, points_adjust_request_approve
from tests.clock import SHANGHAI
from tests.factories import MemberFactory

from .loyalty_scene import program, throwaway_brand
from .test_ledger_concurrency import run_in_threads

race_brand = throwaway_brand

MORNING = dt.datetime(2027, 3, 9, 10, 0, tzinfo=SHANGHAI)
DAY = MORNING.date()


def user_in(role: str, username: str) -> User:
    user = User.objects.create_user(username=username, password="x-Secret-2026", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def test_concurrent_adjustments_never_pass_a_daily_cap(race_brand):
    """Staff A: 8 × 250 at once on one member (member cap 1,000). Staff B: 500 at once on each of
    8 members (own cap 3,000). Both at the same moment."""
    with schema_context(race_brand.schema_name):
        program()
        target = MemberFactory()
        spread = [MemberFactory() for _ in range(8)]
        staff_a = user_in(roles.STORE_STAFF, "staff-a")
        staff_b = user_in(roles.STORE_STAFF, "staff-b")

    def adjust(member: Member, user: User, points: int) -> Callable[[], None]:
        def job() -> None:
            points_adjust(member=member, points=points, reason="并发调整", actor=user, now=MORNING)

        return job

    jobs = [adjust(target, staff_a, 250) for _ in range(8)] + [adjust(m, staff_b, 500) for m in spread]
    errors = run_in_threads(race_brand, jobs)
    assert errors == []

    with schema_context(race_brand.schema_name):
        target.refresh_from_db()
        assert target.points_balance == 1_000
        assert PointsAdjustRequest.objects.filter(member=target, exceeded="member_day").count() == 4
        assert PointsAdjustMemberDay.objects.get(member=target, biz_date=DAY).total == 1_000
        assert PointsAdjustUserDay.objects.get(user=staff_a, biz_date=DAY).total == 1_000

        balances = sorted(Member.objects.filter(pk__in=[m.pk for m in spread]).values_list("points_balance", flat=True))
        assert balances == [0, 0] + [500] * 6
        assert PointsAdjustRequest.objects.filter(requested_by=staff_b, exceeded="user_day").count() == 2
        assert PointsAdjustUserDay.objects.get(user=staff_b, biz_date=DAY).total == 3_000
        assert ledger_audit() == []


def test_a_request_approved_twice_at_once_is_applied_once(race_brand):
    with schema_context(race_brand.schema_name):
        program()
        member = MemberFactory()
        staff = user_in(roles.STORE_STAFF, "staff")
        admins = [user_in(roles.BRAND_ADMIN, f"boss-{n}") for n in range(2)]
        for _ in range(3):
            outcome = points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING)
        waiting = outcome.request
        assert waiting is not None
    outcomes: list[str] = []

    def approve(admin: User) -> Callable[[], None]:
        def job() -> None:
            try:
                entry = points_adjust_request_approve(
                    adjust_request=PointsAdjustRequest.objects.get(pk=waiting.pk), actor=admin
                )
                outcomes.append(entry.reference)
            except AppError as exc:
                outcomes.append(exc.code)

        return job

    assert run_in_threads(race_brand, [approve(admin) for admin in admins + admins]) == []

    with schema_context(race_brand.schema_name):
        member.refresh_from_db()
        assert outcomes == [f"adjust-request:{waiting.pk}"] * 4
        assert member.points_balance == 1_500
        assert PointsEntry.objects.filter(member=member, reference=f"adjust-request:{waiting.pk}").count() == 1
        assert PointsAdjustRequest.objects.get(pk=waiting.pk).status == "approved"
        assert ledger_audit() == []
