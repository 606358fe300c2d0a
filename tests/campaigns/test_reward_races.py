"""Real concurrency: members redeem the campaign's reward for points while an occurrence gives
it away. Stock is shared by both and never goes below zero, nothing deadlocks, and every unit
is accounted for. Commits, so it runs in a throw-away brand."""

import datetime as dt
from collections.abc import Callable

from django_tenants.utils import schema_context

from campaigns.models import Campaign, Occurrence
from campaigns.services import occurrence_ensure, occurrence_run
from crm.errors import AppError
from members.models import Member, Redemption, Reward
from members.services.points import ledger_audit, points_award_bonus
from members.services.rewards import reward_redeem
from tests.factories import MemberFactory
from tests.members.loyalty_scene import throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

race_brand = throwaway_brand


def test_gifts_and_redemptions_share_the_stock_without_going_negative(race_brand):
    with schema_context(race_brand.schema_name):
        MemberFactory.create_batch(20)
        redeemers = MemberFactory.create_batch(6)
        for member in redeemers:
            points_award_bonus(member=member, points=100, reference="seed", reason="初始积分")
        reward = Reward.objects.create(code="MUG", name="马克杯", points_cost=30, stock=15)
        campaign = Campaign.objects.create(name="送杯子", frequency="monthly", day_of_month=8, reward=reward)
        occurrence, _ = occurrence_ensure(campaign=campaign, slot=dt.datetime(2026, 11, 8, 2, tzinfo=dt.UTC))
    outcomes: list[str] = []

    def redeem(member: Member) -> Callable[[], None]:
        def job() -> None:
            try:
                reward_redeem(member=member, reward=reward, reference="buy", actor="app")
                outcomes.append("ok")
            except AppError as exc:
                outcomes.append(exc.code)

        return job

    def run() -> None:
        outcomes.append(occurrence_run(occurrence_id=occurrence.pk))

    errors = run_in_threads(race_brand, [run, *(redeem(m) for m in redeemers)])

    assert errors == []
    assert set(outcomes) <= {"done", "ok", "reward_out_of_stock"} and "done" in outcomes
    with schema_context(race_brand.schema_name):
        occurrence = Occurrence.objects.get(pk=occurrence.pk)
        paid = Redemption.objects.filter(reference="buy").count()
        given = Redemption.objects.filter(reference=f"campaign:{occurrence.pk}")
        assert Reward.objects.get(pk=reward.pk).stock == 0  # 26 wanted, 15 in stock: all gone, none owed
        assert paid + given.count() == 15
        assert paid == outcomes.count("ok")
        assert occurrence.summary["rewards"]["issued"] == given.count()
        assert occurrence.summary["rewards"]["not_issued"] == 26 - given.count()
        assert ledger_audit() == []
