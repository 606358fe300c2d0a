"""20 simultaneous check-ins of one member on one day (each on its own connection, committed):
one record, one reward; the ledgers stay consistent — through the ORM path (a ladder step reached)
and through the one-statement path."""

import pytest
from django_tenants.utils import schema_context

from engagement.models import Checkin, CheckinLadderStep, EngagementSettings, GrowthEntry, RewardKind
from engagement.services.checkin import checkin_perform
from engagement.services.growth import growth_audit
from members.models import Member, PointsEntry
from members.services.points import ledger_audit
from tests.factories import MemberFactory
from tests.members.loyalty_scene import program, throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

from .scene import clock

race_brand = throwaway_brand


@pytest.mark.parametrize("step", [True, False], ids=["ladder step: the ORM path", "the one-statement path"])
def test_twenty_simultaneous_check_ins_make_one_record_and_one_reward(race_brand, step):
    with schema_context(race_brand.schema_name):
        program()
        EngagementSettings.objects.update_or_create(
            singleton=True, defaults={"checkin_daily_points": 5, "checkin_daily_growth": 1}
        )
        if step:
            CheckinLadderStep.objects.create(days=1, reward_kind=RewardKind.POINTS, amount=50)
        member = MemberFactory()
    created: list[bool] = []

    def tap() -> None:
        created.append(checkin_perform(member=Member.objects.get(pk=member.pk)).created)

    with clock("2027-01-31 23:59:59"):
        errors = run_in_threads(race_brand, [tap] * 20)
    assert errors == []
    assert sorted(created) == [False] * 19 + [True]
    with schema_context(race_brand.schema_name):
        assert Checkin.objects.filter(member_id=member.pk).count() == 1
        assert list(
            PointsEntry.objects.filter(member_id=member.pk).values_list("points", flat=True).order_by("points")
        ) == ([5, 50] if step else [5])
        assert GrowthEntry.objects.filter(member_id=member.pk).count() == 1
        assert ledger_audit() == [] and growth_audit() == []
