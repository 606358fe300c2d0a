"""Real concurrency: several threads, each with its own database connection, hammer one member
with earn / duplicate posts / redeem / refund / adjust / bonus at once. Afterwards nothing is lost
or duplicated and the ledger audit is clean. Also: two redemptions race for the last unit.

These tests commit, so they run in a throw-away brand provisioned for the module and dropped after.
"""

import threading
import time
from collections.abc import Callable

from django.contrib.auth.models import Group, User
from django.db import connections, transaction
from django_tenants.utils import schema_context

from crm.db import connection
from crm.errors import AppError
from crm.tenancy.models import Brand
from members import roles
from members.models import Member, Order, PointsEntry, Refund, Reward
from members.services.merge import member_merge
from members.services.orders import order_post, order_refund
from members.services.points import ledger_audit, points_award_bonus
from members.services.points_adjustments import points_adjust
from members.services.rewards import reward_redeem
from tests.factories import MemberFactory

from .loyalty_scene import ago, member_with_unionid, program, throwaway_brand

race_brand = throwaway_brand


def run_in_threads(brand: Brand, jobs: list[Callable[[], None]]) -> list[BaseException]:
    """Start every job at the same moment, each on its own connection in the brand's schema."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def runner(job: Callable[[], None]) -> None:
        try:
            connection.set_tenant(brand)
            barrier.wait()
            job()
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return errors


def test_concurrent_earn_redeem_refund_adjust_lose_and_duplicate_nothing(race_brand):
    with schema_context(race_brand.schema_name):
        program()
        member = member_with_unionid("u-race")
        admin = User.objects.create_user(username="boss", password="x-Secret-2026")
        admin.groups.add(Group.objects.get_or_create(name=roles.BRAND_ADMIN)[0])
        points_award_bonus(member=member, points=1_000, reference="seed", reason="初始积分")
        reward = Reward.objects.create(code="CUP", name="杯子", points_cost=7)
        # Orders that the refund thread will partially refund while the others run.
        for n in range(10):
            order_post(
                channel="store",
                order_no=f"PRE{n}",
                paid_at=ago(hours=1),
                amount_fen=3_000,
                buyer_kind="wechat_unionid",
                buyer_value="u-race",
                actor="pos",
            )
    member_id = member.pk

    def earn() -> None:
        for n in range(15):
            order_post(
                channel="tmall",
                order_no=f"NEW{n}",
                paid_at=ago(minutes=5),
                amount_fen=1_050,
                buyer_kind="wechat_unionid",
                buyer_value="u-race",
                actor="t",
            )

    def redeem() -> None:
        m = Member.objects.get(pk=member_id)
        for n in range(15):
            reward_redeem(member=m, reward=reward, reference=f"r{n}", actor="staff")

    def refund() -> None:
        for n in range(10):
            order_refund(
                channel="store",
                order_no=f"PRE{n}",
                refund_no="rf",
                amount_fen=1_001,
                refunded_at=ago(minutes=1),
                actor="pos",
            )

    def adjust() -> None:
        m = Member.objects.get(pk=member_id)
        boss = User.objects.get(username="boss")
        for n in range(10):
            points_adjust(member=m, points=(3 if n % 2 else -2), reason="并发调整", actor=boss, reference=f"a{n}")

    def bonus() -> None:
        m = Member.objects.get(pk=member_id)
        for n in range(10):
            points_award_bonus(member=m, points=4, reference=f"b{n}", reason="活动")

    errors = run_in_threads(race_brand, [earn, earn, redeem, redeem, refund, adjust, bonus])
    assert errors == []

    with schema_context(race_brand.schema_name):
        member = Member.objects.get(pk=member_id)
        # Each order, redemption and refund exactly once despite the duplicate threads.
        assert Order.objects.filter(order_no__startswith="NEW").count() == 15
        assert PointsEntry.objects.filter(kind="earn", order__order_no__startswith="NEW").count() == 15
        assert PointsEntry.objects.filter(kind="redeem").count() == 15
        assert Refund.objects.count() == 10
        earned_new = sum(Order.objects.filter(order_no__startswith="NEW").values_list("points_earned", flat=True))
        earned_pre = sum(Order.objects.filter(order_no__startswith="PRE").values_list("points_earned", flat=True))
        reversed_ = sum(Refund.objects.values_list("points_reversed", flat=True))
        expected = 1_000 + earned_pre + earned_new - 15 * 7 - reversed_ + (5 * 3 - 5 * 2) + 10 * 4
        assert (earned_new, earned_pre, reversed_) == (15 * 10, 10 * 30, 10 * 10)
        assert member.points_balance + member.points_pending - member.points_debt == expected
        assert member.points_balance == expected  # no pending period, nothing owed
        assert ledger_audit() == []


def test_two_redemptions_race_for_the_last_unit(race_brand):
    with schema_context(race_brand.schema_name):
        first, second = MemberFactory(), MemberFactory()
        for member in (first, second):
            points_award_bonus(member=member, points=100, reference="seed", reason="初始积分")
        reward = Reward.objects.create(code="LAST", name="限量款", points_cost=60, stock=1)
    outcomes: list[str] = []

    def attempt(member: Member) -> Callable[[], None]:
        def job() -> None:
            try:
                reward_redeem(member=member, reward=reward, reference="go", actor="app")
                outcomes.append("ok")
            except AppError as exc:
                outcomes.append(exc.code)

        return job

    errors = run_in_threads(race_brand, [attempt(first), attempt(second)])

    assert errors == []
    assert sorted(outcomes) == ["ok", "reward_out_of_stock"]
    with schema_context(race_brand.schema_name):
        assert Reward.objects.get(pk=reward.pk).stock == 0
        balances = sorted(Member.objects.filter(pk__in=[first.pk, second.pk]).values_list("points_balance", flat=True))
        assert balances == [40, 100]  # the loser's debit was rolled back with the stock check
        assert ledger_audit() == []


def test_an_order_waiting_on_a_merge_lands_on_the_survivor(race_brand):
    """A merge holds the merged member's lock; an order for that member's unionid, resolved on the
    snapshot from before the merge, waits for the lock. Once the merge commits the order must be
    credited to the survivor — never to the account that was just merged away."""
    with schema_context(race_brand.schema_name):
        program()
        survivor = member_with_unionid("u-keep")
        merged = member_with_unionid("u-gone")
    merging = threading.Event()

    def merge() -> None:
        with transaction.atomic():
            member_merge(
                survivor=Member.objects.get(pk=survivor.pk),
                merged=Member.objects.get(pk=merged.pk),
                actor="客服",
                reason="同一人",
            )
            merging.set()
            time.sleep(1.0)  # the order below is now waiting on the merged member's row

    def order() -> None:
        assert merging.wait(timeout=30)
        order_post(
            channel="store",
            order_no="RACE-MERGE",
            paid_at=ago(minutes=1),
            amount_fen=10_000,
            buyer_kind="wechat_unionid",
            buyer_value="u-gone",
            actor="pos",
        )

    assert run_in_threads(race_brand, [merge, order]) == []
    with schema_context(race_brand.schema_name):
        placed = Order.objects.get(order_no="RACE-MERGE")
        assert placed.member_id == survivor.pk
        assert not PointsEntry.objects.filter(member_id=merged.pk, kind=PointsEntry.Kind.EARN).exists()
        assert PointsEntry.objects.get(member_id=survivor.pk, kind=PointsEntry.Kind.EARN).points == 100
        assert ledger_audit() == []
