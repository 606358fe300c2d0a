"""The member 360° page: cards (masked profile, tier progress in yuan, points and next expiry,
consent per purpose, staff, tags), the timeline in words, the logged full view, and the actions —
each a service call, a double submit changes nothing, a refusal says why in Chinese — all store
scoped by URL and by action."""

import uuid

from django.urls import reverse
from django.utils import timezone

from consent.models import PIAccessLog
from members.models import Member, MemberTag, PointsEntry, Redemption, Reward, Tag, TierChange
from members.services.orders import order_post
from members.services.points import points_award_bonus
from workbench.words import fen_from_yuan, yuan_shown

from .conftest import reload


def _page(client, member: Member) -> str:
    response = client.get(reverse("workbench:member", args=[member.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _pos_order(scene, order_no: str, amount_fen: int) -> None:
    """An order of 林小雨 (by her mobile) at 上海静安店, as the POS posts it."""
    order_post(
        channel="store",
        order_no=order_no,
        paid_at=timezone.now(),
        amount_fen=amount_fen,
        store=scene["store_a"],
        buyer_kind="mobile",
        buyer_value="+8613900001234",
        actor="pos",
    )


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_cards_and_timeline_in_words(staff_client, scene):
    lin = scene["lin"]
    tag = Tag.objects.create(name="咖啡爱好者")
    MemberTag.objects.create(member=lin, tag=tag)
    points_award_bonus(member=lin, points=20, reference="memberday-1", reason="会员日活动")
    _pos_order(scene, "POS-1", 125800)
    body = _page(staff_client, lin)
    assert "林*" in body and "139****1234" in body and "林小雨" not in body
    assert "会员日活动赠送 20 积分" in body
    assert "消费 ¥1,258.00（订单 POS-1）" in body
    # ¥1,258 lifted her to 银卡 (≥ ¥1,000); 金卡 needs ¥5,000 in the window.
    assert "再消费 ¥3,742.00 升级为金卡" in body
    assert "咖啡爱好者" in body
    assert "会员服务（必需）" in body and "已同意" in body
    assert "王导购" in body  # exclusive staff


def test_other_store_member_page_is_404_by_url(staff_client, scene):
    zhou = scene["zhou"]
    assert staff_client.get(reverse("workbench:member", args=[zhou.pk])).status_code == 404
    for name in ("member_reveal", "member_adjust", "member_redeem", "member_tier"):
        response = staff_client.post(
            reverse(f"workbench:{name}", args=[zhou.pk]), {"points": "10", "reason": "x", "reference": "r"}
        )
        assert response.status_code in (403, 404), name
    assert not PointsEntry.objects.filter(member=zhou, kind=PointsEntry.Kind.ADJUST).exists()


def test_order_form_for_other_store_member_is_404(staff_client, scene):
    url = reverse("workbench:order_new")
    assert staff_client.get(url, {"member": scene["zhou"].pk}).status_code == 404
    response = staff_client.post(url, {"member": scene["zhou"].pk, "order_no": "X1", "amount": "10"})
    assert response.status_code == 404


def test_staff_cannot_reveal_and_manager_reveal_is_logged(staff_client, manager_client, scene):
    lin = scene["lin"]
    assert staff_client.post(reverse("workbench:member_reveal", args=[lin.pk])).status_code == 403
    assert "查看完整个人信息" in _page(manager_client, lin)
    assert not PIAccessLog.objects.filter(member=lin).exists()
    body = manager_client.post(reverse("workbench:member_reveal", args=[lin.pk])).content.decode()
    assert "林小雨" in body and "13900001234" in body
    log = PIAccessLog.objects.get(member=lin)
    assert log.username == "manager@alpha.example" and log.context == "workbench:member"


def test_adjust_points_double_submit_changes_once(staff_client, scene):
    lin = scene["lin"]
    data = {"points": "100", "reason": "客诉补偿", "reference": uuid.uuid4().hex}
    url = reverse("workbench:member_adjust", args=[lin.pk])
    first = staff_client.post(url, data, follow=True)
    staff_client.post(url, data)
    assert "已调整 +100 积分。" in _messages(first)
    assert reload(lin).points_balance == 100
    assert PointsEntry.objects.filter(member=lin, kind=PointsEntry.Kind.ADJUST).count() == 1


def test_adjust_over_the_roles_limit_is_refused_in_chinese(staff_client, scene):
    lin = scene["lin"]
    response = staff_client.post(
        reverse("workbench:member_adjust", args=[lin.pk]),
        {"points": "600", "reason": "活动补发", "reference": "r1"},
        follow=True,
    )
    assert any("单次调整不能超过 500 积分" in m for m in _messages(response))
    assert reload(lin).points_balance == 0


def test_redeem_lists_only_affordable_and_double_submit_redeems_once(staff_client, scene):
    lin = scene["lin"]
    points_award_bonus(member=lin, points=300, reference="seed", reason="初始")
    cheap = Reward.objects.create(code="CUP", name="随行杯", points_cost=200, stock=5)
    Reward.objects.create(code="BAG", name="帆布包", points_cost=800)
    body = _page(staff_client, lin)
    assert "随行杯 · 200 积分" in body and "帆布包" not in body
    assert "可用 300 积分" in body
    url = reverse("workbench:member_redeem", args=[lin.pk])
    data = {"reward": cheap.pk, "reference": "redeem-abc"}
    response = staff_client.post(url, data, follow=True)
    staff_client.post(url, data)
    assert "已兑换「随行杯」，使用 200 积分。" in _messages(response)
    assert Redemption.objects.filter(member=lin).count() == 1
    assert reload(lin).points_balance == 100
    # Forged for something unaffordable: the service refuses, nothing changes.
    expensive = Reward.objects.get(code="BAG")
    refused = staff_client.post(url, {"reward": expensive.pk, "reference": "redeem-2"}, follow=True)
    assert any("积分" in m for m in _messages(refused))
    assert reload(lin).points_balance == 100


def test_admin_sets_and_removes_the_tier_floor(admin_client_a, manager_client, scene):
    lin, gold = scene["lin"], scene["tiers"]["gold"]
    url = reverse("workbench:member_tier", args=[lin.pk])
    # Store managers may not grant tiers (no members.add_tierchange).
    assert manager_client.post(url, {"tier": gold.pk, "reason": "x", "reference": "t0"}).status_code == 403
    manager_client = admin_client_a
    manager_client.post(url, {"tier": gold.pk, "reason": "VIP 客户", "reference": "t1"})
    manager_client.post(url, {"tier": gold.pk, "reason": "VIP 客户", "reference": "t1"})
    assert reload(lin).tier_floor_id == gold.pk
    assert TierChange.objects.filter(member=lin, reason=TierChange.Reason.MANUAL_GRANT).count() == 1
    assert "保底 金卡" in _page(manager_client, lin)
    manager_client.post(url, {"tier": "", "reason": "到期", "reference": "t2"})
    assert reload(lin).tier_floor_id is None


def test_member_page_queries_do_not_grow_with_history(staff_client, scene, django_assert_max_num_queries):
    lin = scene["lin"]
    _page(staff_client, lin)
    for n in range(10):
        points_award_bonus(member=lin, points=5, reference=f"b{n}", reason="活动")
        _pos_order(scene, f"Q{n}", 1000)
        Reward.objects.create(code=f"R{n}", name=f"礼品{n}", points_cost=1)
    with django_assert_max_num_queries(30):
        body = _page(staff_client, lin)
    assert body.count("wb-tl-order") == 10


def test_yuan_words():
    assert yuan_shown(125800) == "¥1,258.00"
    assert fen_from_yuan("1,258.5") == 125850
    assert fen_from_yuan("¥0.01") == 1
    for bad in ("0", "-1", "1.001", "abc", "", "NaN"):
        try:
            fen_from_yuan(bad)
        except Exception as error:
            assert "金额" in str(error)
        else:
            raise AssertionError(bad)


def test_store_staff_correct_a_birthday_with_a_reason_and_hq_cannot(staff_client, admin_client_a, scene):
    import datetime as dt

    from django.contrib.messages import get_messages

    from engagement.models import BirthdayChange

    lin = scene["lin"]
    Member.objects.filter(pk=lin.pk).update(birthday=dt.date(1990, 5, 1))
    url = reverse("workbench:member_birthday", args=[lin.pk])
    page = staff_client.get(reverse("workbench:member", args=[lin.pk])).content.decode()
    assert "更正生日（请先核对会员证件）" in page
    no_reason = staff_client.post(url, {"birthday": "1990-06-01", "reason": " "})
    assert "请填写修改生日的原因。" in [str(m) for m in get_messages(no_reason.wsgi_request)]
    assert Member.objects.get(pk=lin.pk).birthday == dt.date(1990, 5, 1)
    done = staff_client.post(url, {"birthday": "1990-06-01", "reason": "核对身份证"})
    assert "生日已更正，已记录原因。" in [str(m) for m in get_messages(done.wsgi_request)]
    assert Member.objects.get(pk=lin.pk).birthday == dt.date(1990, 6, 1)
    audit = BirthdayChange.objects.get(member_id=lin.pk)
    assert (audit.by, audit.before, audit.after, audit.reason) == (
        "staff",
        dt.date(1990, 5, 1),
        dt.date(1990, 6, 1),
        "核对身份证",
    )
    assert admin_client_a.post(url, {"birthday": "1990-07-01", "reason": "x"}).status_code == 403  # not in store
    assert "更正生日" not in admin_client_a.get(reverse("workbench:member", args=[lin.pk])).content.decode()
