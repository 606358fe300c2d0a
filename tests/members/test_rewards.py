"""Reward redemption is atomic (balance, lots, stock, ledger together) and idempotent per reference."""

import pytest

from crm.errors import AppError
from members.models import Member, PointsEntry, Redemption, Reward
from members.services.points import ledger_audit, points_award_bonus
from members.services.rewards import reward_redeem
from tests.factories import MemberFactory

from .loyalty_scene import program


@pytest.fixture
def rich_member(in_brand_a) -> Member:
    program()
    member = MemberFactory.create()
    points_award_bonus(member=member, points=300, reference="seed", reason="初始")
    return member


def test_redeem_takes_points_and_stock_together(rich_member):
    reward = Reward.objects.create(code="CUP", name="杯子", points_cost=100, stock=5)

    redemption = reward_redeem(member=rich_member, reward=reward, quantity=2, reference="app-1", actor="app")

    rich_member.refresh_from_db()
    reward.refresh_from_db()
    assert (rich_member.points_balance, reward.stock, redemption.points) == (100, 3, 200)
    assert redemption.entry.kind == "redeem" and redemption.entry.points == -200
    assert ledger_audit() == []


def test_retry_with_the_same_reference_returns_the_first(rich_member):
    reward = Reward.objects.create(code="CUP", name="杯子", points_cost=100, stock=5)
    first = reward_redeem(member=rich_member, reward=reward, reference="app-1", actor="app")
    again = reward_redeem(member=rich_member, reward=reward, reference="app-1", actor="app")
    with pytest.raises(AppError) as other:
        reward_redeem(member=rich_member, reward=reward, quantity=2, reference="app-1", actor="app")
    assert first.pk == again.pk and other.value.code == "redemption_conflict"
    assert Redemption.objects.count() == 1
    rich_member.refresh_from_db()
    assert rich_member.points_balance == 200


@pytest.mark.parametrize(
    ("reward_kwargs", "quantity", "code"),
    [
        ({"points_cost": 301}, 1, "points_insufficient"),
        ({"points_cost": 10, "stock": 1}, 2, "reward_out_of_stock"),
        ({"points_cost": 10, "is_active": False}, 1, "reward_unavailable"),
        ({"points_cost": 10}, 0, "reward_invalid"),
    ],
)
def test_refusals_change_nothing(rich_member, reward_kwargs, quantity, code):
    reward = Reward.objects.create(code="X", name="礼品", **reward_kwargs)
    with pytest.raises(AppError) as exc:
        reward_redeem(member=rich_member, reward=reward, quantity=quantity, reference="r", actor="app")
    assert exc.value.code == code
    rich_member.refresh_from_db()
    reward.refresh_from_db()
    assert rich_member.points_balance == 300
    assert reward.stock == reward_kwargs.get("stock")
    assert not PointsEntry.objects.filter(kind="redeem").exists() and not Redemption.objects.exists()


def test_frozen_member_cannot_redeem(rich_member):
    Member.objects.filter(pk=rich_member.pk).update(status=Member.Status.FROZEN)
    reward = Reward.objects.create(code="CUP", name="杯子", points_cost=10)
    with pytest.raises(AppError) as exc:
        reward_redeem(member=rich_member, reward=reward, reference="r", actor="app")
    assert exc.value.code == "member_not_eligible"


def test_a_redemption_costs_points_with_a_debit_or_is_a_gift_with_neither(rich_member):
    from django.db import IntegrityError, transaction

    reward = Reward.objects.create(code="PEN", name="笔", points_cost=10)
    gift = Redemption.objects.create(member=rich_member, reward=reward, points=0, reference="campaign:1")
    assert gift.is_gift

    with pytest.raises(IntegrityError), transaction.atomic():
        Redemption.objects.create(member=rich_member, reward=reward, points=10, reference="no-debit")
