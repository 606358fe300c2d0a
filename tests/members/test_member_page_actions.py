"""Loyalty actions on the member page through the admin: adjust points (role limits, double
submit), redeem a reward, store scoping of both pages, and the tier progress line."""

import uuid

import pytest
from django.db import connection
from django.urls import reverse

from members.models import Member, PointsEntry, Redemption, Reward
from members.roles import STORE_STAFF
from members.services.points import points_award_bonus
from tests.conftest import logged_in_client
from tests.factories import MemberFactory, StoreFactory

from .conftest import staff_user_create
from .loyalty_scene import program, tiers


def _adjust_url(member: Member) -> str:
    return reverse("admin:members_member_adjust_points", args=[member.pk])


def _redeem_url(member: Member) -> str:
    return reverse("admin:members_member_redeem", args=[member.pk])


def _messages(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def member(in_brand_a, store_a) -> Member:  # type: ignore[no-untyped-def]
    program()
    member = MemberFactory(home_store=store_a)
    points_award_bonus(member=member, points=300, reference="seed", reason="初始")
    return member


def _reload(brand, member: Member) -> Member:  # type: ignore[no-untyped-def]
    connection.set_tenant(brand)
    return Member.objects.get(pk=member.pk)


def test_brand_admin_adjusts_points_with_reason_and_actor(admin_client_a, brand_a, member):  # type: ignore[no-untyped-def]
    form = admin_client_a.get(_adjust_url(member))
    assert form.status_code == 200
    reference = form.context["form"]["reference"].value()
    assert reference

    response = admin_client_a.post(
        _adjust_url(member), {"points": "100", "reason": "客诉补偿", "reference": reference}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("admin:members_member_change", args=[member.pk])
    assert any("+100" in message for message in _messages(response))
    assert _reload(brand_a, member).points_balance == 400
    entry = PointsEntry.objects.get(member=member, kind=PointsEntry.Kind.ADJUST)
    assert (entry.points, entry.reason, entry.actor) == (100, "客诉补偿", "admin@alpha.example")


def test_store_staff_over_their_limit_is_refused_with_the_service_message(brand_a, store_a, member):  # type: ignore[no-untyped-def]
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    client = logged_in_client("alpha", "staff@alpha.example")
    data = {"points": "600", "reason": "活动补发", "reference": str(uuid.uuid4())}

    response = client.post(_adjust_url(member), data)
    assert response.status_code == 200
    assert "单次调整不能超过 500 积分" in response.content.decode()
    assert _reload(brand_a, member).points_balance == 300
    assert not PointsEntry.objects.filter(member=member, kind=PointsEntry.Kind.ADJUST).exists()

    # Within the limit the same role can adjust.
    data["points"] = "-50"
    assert client.post(_adjust_url(member), data).status_code == 302
    assert _reload(brand_a, member).points_balance == 250


def test_the_same_adjust_form_submitted_twice_adjusts_once(admin_client_a, brand_a, member):  # type: ignore[no-untyped-def]
    data = {"points": "100", "reason": "补录", "reference": str(uuid.uuid4())}
    assert admin_client_a.post(_adjust_url(member), data).status_code == 302
    assert admin_client_a.post(_adjust_url(member), data).status_code == 302
    assert _reload(brand_a, member).points_balance == 400
    assert PointsEntry.objects.filter(member=member, kind=PointsEntry.Kind.ADJUST).count() == 1


def test_redeem_takes_balance_stock_and_writes_the_ledger(admin_client_a, brand_a, member):  # type: ignore[no-untyped-def]
    reward = Reward.objects.create(code="CUP", name="杯子", points_cost=100, stock=5)
    Reward.objects.create(code="OFF", name="下架礼品", points_cost=10, stock=5, is_active=False)
    Reward.objects.create(code="NONE", name="无库存礼品", points_cost=10, stock=0)
    form = admin_client_a.get(_redeem_url(member))
    assert list(form.context["form"].fields["reward"].queryset) == [reward]
    data = {"reward": reward.pk, "quantity": "2", "reference": form.context["form"]["reference"].value()}

    response = admin_client_a.post(_redeem_url(member), data, follow=True)
    assert any("杯子 ×2" in message for message in _messages(response))
    assert admin_client_a.post(_redeem_url(member), data).status_code == 302  # double submit
    assert _reload(brand_a, member).points_balance == 100
    reward.refresh_from_db()
    assert reward.stock == 3
    assert Redemption.objects.filter(member=member).count() == 1
    entry = PointsEntry.objects.get(member=member, kind=PointsEntry.Kind.REDEEM)
    assert (entry.points, entry.actor) == (-200, "admin@alpha.example")


def test_redeem_without_enough_points_says_so_and_changes_nothing(admin_client_a, brand_a, member):  # type: ignore[no-untyped-def]
    reward = Reward.objects.create(code="BAG", name="托特包", points_cost=500, stock=5)
    data = {"reward": reward.pk, "quantity": "1", "reference": str(uuid.uuid4())}

    response = admin_client_a.post(_redeem_url(member), data)
    assert response.status_code == 200
    assert "积分不足：需要 500，可用 300。" in response.content.decode()
    assert _reload(brand_a, member).points_balance == 300
    reward.refresh_from_db()
    assert reward.stock == 5
    assert not Redemption.objects.filter(member=member).exists()
    assert not PointsEntry.objects.filter(member=member, kind=PointsEntry.Kind.REDEEM).exists()


def test_store_user_gets_404_for_another_stores_member(brand_a, store_a, member):  # type: ignore[no-untyped-def]
    elsewhere = MemberFactory(home_store=StoreFactory(code="BJ001", name="北京国贸店"))
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    client = logged_in_client("alpha", "staff@alpha.example")

    assert client.get(_adjust_url(elsewhere)).status_code == 404
    assert client.get(_redeem_url(elsewhere)).status_code == 404
    data = {"points": "10", "reason": "x", "reference": str(uuid.uuid4())}
    assert client.post(_adjust_url(elsewhere), data).status_code == 404
    assert client.get(_adjust_url(member)).status_code == 200
    assert not PointsEntry.objects.filter(member=_reload(brand_a, elsewhere)).exists()


def test_member_page_shows_tier_progress_and_action_buttons(admin_client_a, brand_a, member):  # type: ignore[no-untyped-def]
    ranked = tiers()
    Member.objects.filter(pk=member.pk).update(tier=ranked["normal"])
    body = admin_client_a.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "等级进度" in body
    assert "当前等级：普通；下一等级：银卡" in body
    assert "还差 ¥1,000.00" in body
    assert _adjust_url(member) in body and _redeem_url(member) in body
