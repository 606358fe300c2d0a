"""积分调整审批 in the brand admin (issue 21, finding 3): the split attack as it was found, through
the member page; the queue brand admins decide from (masked names, brand time, approve once,
reject with a reason); store roles see their store's requests but cannot decide; the limits are
brand settings only brand admins set; and each brand has its own queue, caps and counters."""

import datetime as dt
import uuid

from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from crm.db import connection
from members import roles
from members.models import LoyaltyProgram, Member, PointsAdjustRequest, PointsAdjustUserDay, PointsEntry
from members.services.points_adjustments import HELD_MESSAGE, points_adjust
from tests.clock import SHANGHAI
from tests.conftest import logged_in_client
from tests.factories import MemberFactory, StoreFactory

from .conftest import staff_user_create
from .loyalty_scene import program

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


# --- the attack, as it was found -----------------------------------------------------------------


def test_the_split_attack_through_the_member_page_is_held_with_a_chinese_message(brand_a, store_a):
    """The finding as it was found: a 门店导购 submits the adjust form ten times in a row."""
    program()
    member = MemberFactory(home_store=store_a)
    staff_user_create(store=store_a, role=roles.STORE_STAFF, username="staff@alpha.example")
    client = logged_in_client("alpha", "staff@alpha.example")
    url = reverse("admin:members_member_adjust_points", args=[member.pk])

    shown = []
    for _ in range(10):
        data = {"points": "500", "reason": "补录线下消费", "reference": str(uuid.uuid4())}
        response = client.post(url, data, follow=True)
        shown.append([str(message) for message in response.context["messages"]])

    assert balance(member) == 1_000
    assert all(HELD_MESSAGE in messages[0] for messages in shown[2:])
    assert "超出每日调整额度，已提交品牌管理员审批" in shown[-1][0]
    assert PointsAdjustRequest.objects.filter(member=member, status="pending").count() == 8


# --- the queue ----------------------------------------------------------------------------------


def test_brand_admin_approves_from_the_queue_and_a_double_click_applies_once(admin_client_a, brand_a, store_a):
    program()
    member = MemberFactory(home_store=store_a, name="张三丰")
    staff = staff_user_create(store=store_a, role=roles.STORE_STAFF, username="staff@alpha.example")
    for _ in range(3):
        points_adjust(member=member, points=500, reason="补录线下消费", actor=staff, now=MORNING)
    (waiting,) = held(member)

    queue = admin_client_a.get(reverse("admin:members_pointsadjustrequest_changelist"))
    body = queue.content.decode()
    assert queue.status_code == 200
    assert "张**" in body and "张三丰" not in body  # the list masks the name
    assert "+500" in body and "staff@alpha.example" in body and "补录线下消费" in body
    assert "2027-03-09 10:00" in body  # brand time
    decide = reverse("admin:members_pointsadjustrequest_decide", args=[waiting.pk])
    assert decide in body

    first = admin_client_a.post(decide, {"note": "", "_approve": "1"}, follow=True)
    second = admin_client_a.post(decide, {"note": "", "_approve": "1"}, follow=True)

    assert any("已批准申请" in str(m) for m in first.context["messages"])
    assert second.status_code == 200
    assert balance(member) == 1_500
    assert PointsEntry.objects.filter(reference=f"adjust-request:{waiting.pk}").count() == 1


def test_brand_admin_rejects_from_the_queue_with_a_reason(admin_client_a, brand_a, store_a):
    program()
    member = MemberFactory(home_store=store_a)
    staff = staff_user_create(store=store_a, role=roles.STORE_STAFF, username="staff@alpha.example")
    for _ in range(3):
        points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING)
    (waiting,) = held(member)
    decide = reverse("admin:members_pointsadjustrequest_decide", args=[waiting.pk])

    without = admin_client_a.post(decide, {"note": "", "_reject": "1"})
    assert without.status_code == 200 and "驳回必须填写原因" in without.content.decode()
    admin_client_a.post(decide, {"note": "没有小票", "_reject": "1"})

    waiting.refresh_from_db()
    assert (waiting.status, waiting.decision_reason) == ("rejected", "没有小票")
    assert balance(member) == 1_000


def test_brand_admin_approves_several_at_once(admin_client_a, brand_a, store_a):
    program()
    staff = staff_user_create(store=store_a, role=roles.STORE_STAFF, username="staff@alpha.example")
    members = [MemberFactory(home_store=store_a) for _ in range(2)]
    for member in members:
        for _ in range(3):
            points_adjust(member=member, points=500, reason="补录", actor=staff, now=MORNING)
    waiting = [r.pk for m in members for r in held(m)]

    response = admin_client_a.post(
        reverse("admin:members_pointsadjustrequest_changelist"),
        {"action": "approve_selected", "_selected_action": waiting},
        follow=True,
    )

    assert any("已批准 2 个申请" in str(m) for m in response.context["messages"])
    connection.set_tenant(brand_a)
    assert [balance(m) for m in members] == [1_500, 1_500]
    assert set(PointsAdjustRequest.objects.values_list("status", flat=True)) == {"approved"}


def test_store_staff_see_their_stores_queue_but_cannot_approve(brand_a, store_a):
    program()
    member = MemberFactory(home_store=store_a)
    elsewhere = MemberFactory(home_store=StoreFactory(code="BJ001", name="北京国贸店"))
    staff = staff_user_create(store=store_a, role=roles.STORE_STAFF, username="staff@alpha.example")
    hq = user_in(roles.HQ_MARKETER, "hq@a")
    for _ in range(3):
        points_adjust(member=member, points=500, reason="本店", actor=staff, now=MORNING)
    for _ in range(3):
        points_adjust(member=elsewhere, points=5_000, reason="别店", actor=hq, now=MORNING)
    (mine,) = held(member)
    client = logged_in_client("alpha", "staff@alpha.example")

    queue = client.get(reverse("admin:members_pointsadjustrequest_changelist"))
    decide = client.post(reverse("admin:members_pointsadjustrequest_decide", args=[mine.pk]), {"_approve": "1"})

    assert queue.status_code == 200
    assert list(queue.context["cl"].result_list) == [mine]  # not the other store's
    assert "批准所选申请" not in queue.content.decode()
    assert decide.status_code == 403
    assert balance(member) == 1_000 and PointsAdjustRequest.objects.get(pk=mine.pk).status == "pending"


def test_the_limits_are_brand_settings_only_brand_admins_edit(admin_client_a, in_brand_a):
    program()
    url = reverse("admin:members_loyaltyprogram_change", args=[LoyaltyProgram.objects.get().pk])
    page = admin_client_a.get(url).content.decode()
    assert "人工调整积分额度" in page and "门店导购：每位会员每日累计上限" in page
    assert 'name="adjust_staff_per_member_day"' in page

    # Someone else allowed to change the loyalty rules still cannot change the limits on themselves.
    hq = user_in(roles.HQ_MARKETER, "hq@alpha.example")
    hq.user_permissions.add(Permission.objects.get(codename="change_loyaltyprogram"))
    hq_page = logged_in_client("alpha", hq.username).get(url).content.decode()
    assert 'name="base_points_per_yuan"' in hq_page
    assert 'name="adjust_staff_per_member_day"' not in hq_page and "门店导购：每位会员每日累计上限" in hq_page


# --- brands are apart ----------------------------------------------------------------------------


def test_brand_b_has_its_own_caps_queue_and_counters(brand_a, brand_b, admin_client_b):
    connection.set_tenant(brand_a)
    program()
    member_a = MemberFactory()
    staff_a = user_in(roles.STORE_STAFF, "same-name")
    for _ in range(3):
        points_adjust(member=member_a, points=500, reason="补录", actor=staff_a, now=MORNING)
    (waiting_a,) = held(member_a)

    connection.set_tenant(brand_b)
    program(adjust_staff_per_member_day=1_500)
    member_b = MemberFactory()
    staff_b = user_in(roles.STORE_STAFF, "same-name")
    outcomes = [points_adjust(member=member_b, points=500, reason="补录", actor=staff_b, now=MORNING) for _ in range(4)]
    assert [o.held for o in outcomes] == [False, False, False, True]  # brand B's own cap and counters
    assert balance(member_b) == 1_500

    queue_b = admin_client_b.get(reverse("admin:members_pointsadjustrequest_changelist"))
    connection.set_tenant(brand_b)
    (waiting_b,) = held(member_b)
    assert list(queue_b.context["cl"].result_list) == [waiting_b]
    decide_b = reverse("admin:members_pointsadjustrequest_decide", args=[waiting_b.pk])
    assert admin_client_b.post(decide_b, {"_approve": "1"}).status_code == 302
    connection.set_tenant(brand_b)
    assert balance(member_b) == 2_000

    connection.set_tenant(brand_a)
    assert balance(member_a) == 1_000
    assert PointsAdjustRequest.objects.get(pk=waiting_a.pk).status == "pending"
    assert PointsAdjustUserDay.objects.get(user=staff_a).total == 1_000
