"""Loyalty actions on the member page through the admin: adjust points (role limits, double
submit), redeem a reward, set or remove the manual tier floor, store scoping of the pages, and
the tier progress line."""

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm.db import connection
from members.models import Member, Order, PointsEntry, Redemption, Reward, TierChange
from members.roles import HQ_MARKETER, STORE_MANAGER, STORE_STAFF
from members.services.points import points_award_bonus
from tests.conftest import logged_in_client
from tests.factories import MemberFactory, StoreFactory

from .conftest import staff_user_create
from .loyalty_scene import ago, program, tiers


def _adjust_url(member: Member) -> str:
    return reverse("admin:members_member_adjust_points", args=[member.pk])


def _redeem_url(member: Member) -> str:
    return reverse("admin:members_member_redeem", args=[member.pk])


def _tier_url(member: Member) -> str:
    return reverse("admin:members_member_tier", args=[member.pk])


def _change_url(member: Member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def member(in_brand_a, store_a) -> Member:
    program()
    member = MemberFactory.create(home_store=store_a)
    points_award_bonus(member=member, points=300, reference="seed", reason="初始")
    return member


def _reload(brand, member: Member) -> Member:
    connection.set_tenant(brand)
    return Member.objects.get(pk=member.pk)


def test_brand_admin_adjusts_points_with_reason_and_actor(admin_client_a, brand_a, member):
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


def test_store_staff_over_their_limit_is_refused_with_the_service_message(brand_a, store_a, member):
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


def test_the_same_adjust_form_submitted_twice_adjusts_once(admin_client_a, brand_a, member):
    data = {"points": "100", "reason": "补录", "reference": str(uuid.uuid4())}
    assert admin_client_a.post(_adjust_url(member), data).status_code == 302
    assert admin_client_a.post(_adjust_url(member), data).status_code == 302
    assert _reload(brand_a, member).points_balance == 400
    assert PointsEntry.objects.filter(member=member, kind=PointsEntry.Kind.ADJUST).count() == 1


def test_redeem_takes_balance_stock_and_writes_the_ledger(admin_client_a, brand_a, member):
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


def test_redeem_without_enough_points_says_so_and_changes_nothing(admin_client_a, brand_a, member):
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


def test_store_user_gets_404_for_another_stores_member(brand_a, store_a, member):
    elsewhere = MemberFactory(home_store=StoreFactory(code="BJ001", name="北京国贸店"))
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    client = logged_in_client("alpha", "staff@alpha.example")

    assert client.get(_adjust_url(elsewhere)).status_code == 404
    assert client.get(_redeem_url(elsewhere)).status_code == 404
    data = {"points": "10", "reason": "x", "reference": str(uuid.uuid4())}
    assert client.post(_adjust_url(elsewhere), data).status_code == 404
    assert client.get(_adjust_url(member)).status_code == 200
    assert not PointsEntry.objects.filter(member=_reload(brand_a, elsewhere)).exists()


def test_member_page_shows_tier_progress_and_action_buttons(admin_client_a, brand_a, member):
    ranked = tiers()
    Member.objects.filter(pk=member.pk).update(tier=ranked["normal"])
    body = admin_client_a.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "等级进度" in body
    assert "当前等级：普通；下一等级：银卡" in body
    assert "还差 ¥1,000.00" in body
    assert _adjust_url(member) in body and _redeem_url(member) in body
    assert _tier_url(member) in body and "设置保底等级" in body


def test_member_page_names_the_source_the_product_wrote(admin_client_a, brand_a, member):
    """来源 in words for a source the product writes itself (an import), not its code."""
    Member.objects.filter(pk=member.pk).update(source="import")
    body = admin_client_a.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "批量导入" in body and ">import<" not in body


def test_member_page_names_the_channel_code_of_the_source(admin_client_a, brand_a, member):
    """A member who came through a channel QR code: 来源 is the code's name, as on the dashboard."""
    from wecom.models import ContactWay

    ContactWay.objects.create(
        name="徐汇店海报码", state="xh-poster", config_id="cfg-xh", qr_code="https://qr.example/xh"
    )
    Member.objects.filter(pk=member.pk).update(source="xh-poster")
    body = admin_client_a.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "徐汇店海报码" in body and ">xh-poster<" not in body


# --- the manual tier floor ---


def _tier_post(client, member: Member, tier, reason: str = "明星客户", reference: str | None = None, **kw):
    data = {"tier": tier.pk if tier else "", "reason": reason, "reference": reference or str(uuid.uuid4())}
    return client.post(_tier_url(member), data, **kw)


def _state(brand, member: Member) -> tuple[str | None, str | None]:
    fresh = _reload(brand, member)
    return (fresh.tier.code if fresh.tier else None, fresh.tier_floor.code if fresh.tier_floor else None)


@pytest.fixture
def ranked(member):
    ranked = tiers()
    Member.objects.filter(pk=member.pk).update(tier=ranked["normal"])
    return ranked


def test_tier_page_shows_the_current_tier_floor_and_tiers_by_rank(admin_client_a, member, ranked):
    Member.objects.filter(pk=member.pk).update(tier=ranked["gold"], tier_floor=ranked["silver"])

    response = admin_client_a.get(_tier_url(member))

    assert response.status_code == 200
    assert "当前等级：金卡；手动保底等级：银卡。" in response.content.decode()
    form = response.context["form"]
    choices = [label for _, label in form.fields["tier"].choices]
    assert choices == ["取消手动保底等级", "普通", "银卡", "金卡"]
    assert form["tier"].value() == ranked["silver"].pk  # the current floor is preselected
    assert form["reference"].value()


def test_grant_lifts_the_tier_and_records_reason_and_actor(admin_client_a, brand_a, member, ranked):
    response = _tier_post(admin_client_a, member, ranked["gold"], follow=True)

    assert response.redirect_chain[-1][0] == _change_url(member)
    assert f"已为会员 {member.member_no} 设置保底等级 金卡，当前等级 金卡。" in _messages(response)
    assert _state(brand_a, member) == ("gold", "gold")
    change = TierChange.objects.get(member=member)
    assert (change.reason, change.from_tier, change.to_tier) == ("manual_grant", ranked["normal"], ranked["gold"])
    assert change.note.startswith("明星客户 [ref:admin-tier:")
    assert change.actor == "admin@alpha.example"


def test_grant_below_the_current_tier_only_sets_the_floor(admin_client_a, brand_a, member, ranked):
    Member.objects.filter(pk=member.pk).update(tier=ranked["gold"])

    response = _tier_post(admin_client_a, member, ranked["silver"], reason="老客保级", follow=True)

    assert f"已为会员 {member.member_no} 设置保底等级 银卡，当前等级 金卡。" in _messages(response)
    assert _state(brand_a, member) == ("gold", "silver")
    change = TierChange.objects.get(member=member)
    assert (change.from_tier, change.to_tier) == (ranked["gold"], ranked["gold"])
    assert change.note.startswith("保底等级：银卡；老客保级")


def test_remove_re_evaluates_against_the_window(admin_client_a, brand_a, member, ranked):
    Member.objects.filter(pk=member.pk).update(tier=ranked["gold"], tier_floor=ranked["gold"])
    Order.objects.create(
        channel="store", order_no="T-1", paid_at=ago(days=10), amount_fen=150_000, member=member, is_member_order=True
    )

    response = _tier_post(admin_client_a, member, None, reason="合作结束", follow=True)

    assert f"已取消会员 {member.member_no} 的手动保底等级，当前等级 银卡。" in _messages(response)
    assert _state(brand_a, member) == ("silver", None)
    change = TierChange.objects.get(member=member)
    assert (change.reason, change.from_tier, change.to_tier) == ("manual_removal", ranked["gold"], ranked["silver"])
    assert change.note.startswith("合作结束") and change.actor == "admin@alpha.example"


def test_remove_without_a_floor_is_a_form_error(admin_client_a, brand_a, member, ranked):
    response = _tier_post(admin_client_a, member, None, reason="清理")

    assert response.status_code == 200
    assert response.context["form"].errors["tier"] == ["该会员没有手动保底等级。"]
    assert _state(brand_a, member) == ("normal", None)
    assert not TierChange.objects.filter(member=member).exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_grant_without_a_reason_is_a_form_error_and_changes_nothing(admin_client_a, brand_a, member, ranked, reason):
    response = _tier_post(admin_client_a, member, ranked["gold"], reason=reason)

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert _state(brand_a, member) == ("normal", None)
    assert not TierChange.objects.filter(member=member).exists()


def test_the_same_tier_form_submitted_twice_changes_the_tier_once(admin_client_a, brand_a, member, ranked):
    grant = str(uuid.uuid4())
    assert _tier_post(admin_client_a, member, ranked["gold"], reference=grant).status_code == 302
    # Even a resubmit with other values (back, edit, submit) is the same form: nothing changes.
    assert _tier_post(admin_client_a, member, ranked["silver"], reference=grant).status_code == 302
    assert _state(brand_a, member) == ("gold", "gold")
    assert TierChange.objects.filter(member=member).count() == 1

    remove = str(uuid.uuid4())
    assert _tier_post(admin_client_a, member, None, reference=remove).status_code == 302
    again = _tier_post(admin_client_a, member, None, reference=remove, follow=True)
    assert f"已取消会员 {member.member_no} 的手动保底等级，当前等级 普通。" in _messages(again)
    assert list(TierChange.objects.filter(member=member).order_by("id").values_list("reason", flat=True)) == [
        "manual_grant",
        "manual_removal",
    ]


@pytest.mark.parametrize("role", [STORE_STAFF, STORE_MANAGER, HQ_MARKETER])
def test_roles_without_tier_rights_get_no_button_and_403(brand_a, store_a, member, ranked, role):
    staff_user_create(store=None if role == HQ_MARKETER else store_a, role=role, username="user@alpha.example")
    client = logged_in_client("alpha", "user@alpha.example")

    body = client.get(_change_url(member)).content.decode()
    assert _tier_url(member) not in body
    assert client.get(_tier_url(member)).status_code == 403
    assert _tier_post(client, member, ranked["gold"]).status_code == 403
    assert _state(brand_a, member) == ("normal", None)
    assert not TierChange.objects.filter(member=member).exists()


def test_a_store_user_with_tier_rights_gets_404_for_another_stores_member(brand_a, store_a, member, ranked):
    elsewhere = MemberFactory(home_store=StoreFactory(code="BJ001", name="北京国贸店"), tier=ranked["normal"])
    user = staff_user_create(store=store_a, role=STORE_MANAGER, username="manager@alpha.example")
    # A brand admin may give a role more rights; the store scope still holds.
    user.user_permissions.add(Permission.objects.get(content_type__app_label="members", codename="add_tierchange"))
    client = logged_in_client("alpha", "manager@alpha.example")

    assert client.get(_tier_url(elsewhere)).status_code == 404
    assert _tier_post(client, elsewhere, ranked["gold"]).status_code == 404
    assert _state(brand_a, elsewhere) == ("normal", None)
    assert client.get(_tier_url(member)).status_code == 200
    assert _tier_url(member) in client.get(_change_url(member)).content.decode()


@pytest.mark.parametrize("status", [Member.Status.MERGED, Member.Status.ERASED])
def test_merged_or_erased_members_get_no_button_and_403(admin_client_a, brand_a, member, ranked, status):
    survivor = MemberFactory(home_store=member.home_store) if status == Member.Status.MERGED else None
    Member.objects.filter(pk=member.pk).update(status=status, merged_into=survivor)

    body = admin_client_a.get(_change_url(member)).content.decode()
    assert _tier_url(member) not in body
    assert admin_client_a.get(_tier_url(member)).status_code == 403
    assert _tier_post(admin_client_a, member, ranked["gold"]).status_code == 403
    assert _state(brand_a, member) == ("normal", None)
