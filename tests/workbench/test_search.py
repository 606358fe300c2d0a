"""The workbench's search box and home: 手机尾号, full mobile, member number, name; store scoping
(store A staff never find store B's member, whatever they type); masked results; store roles land
here; a fixed number of queries."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from crm.tenancy.zones import brand_zone
from membercentre.models import MemberCodeResolution
from membercentre.services.codes import member_code_issue
from members.models import IdentityKind, Member, PointsLot, SalesChannel, Staff
from members.services.orders import order_post
from members.services.points import points_award_bonus
from tests.conftest import brand_admin_email, logged_in_client
from workbench.selectors import members_find, today_tasks

from .conftest import MANAGER_A, STAFF_A, STAFF_B


def _search(client, q: str) -> str:
    response = client.get(reverse("workbench:home"), {"q": q})
    assert response.status_code == 200
    return response.content.decode()


def test_last_four_digits_find_only_my_stores_member(staff_client, scene):
    body = _search(staff_client, "1234")
    assert scene["lin"].member_no in body
    assert scene["zhou"].member_no not in body  # same last 4, other store
    assert "按手机尾号找到 1 位会员" in body


def test_results_are_masked_for_store_staff(staff_client, scene):
    body = _search(staff_client, "1234")
    assert "林*" in body and "139****1234" in body
    assert "林小雨" not in body and "13900001234" not in body


def test_full_mobile_member_number_and_name(staff_client, scene):
    assert scene["wu"].member_no in _search(staff_client, "136 0000 5678")
    assert scene["wu"].member_no in _search(staff_client, scene["wu"].member_no.lower())
    assert scene["lin"].member_no in _search(staff_client, "林小")


def test_other_store_member_is_not_found_by_any_query(staff_client, scene):
    zhou = scene["zhou"]
    link = reverse("workbench:member", args=[zhou.pk])
    for query in ("1234", "13700001234", zhou.member_no, "周大海", "周"):
        assert link not in _search(staff_client, query), query


def test_the_members_code_from_their_phone_finds_them_once_and_is_audited(staff_client, scene):
    code = member_code_issue(member_id=scene["lin"].pk).code

    body = _search(staff_client, code)

    assert scene["lin"].member_no in body and "按会员码找到 1 位会员" in body
    assert MemberCodeResolution.objects.filter(member=scene["lin"], via="workbench").count() == 1


def test_another_stores_members_code_finds_nobody_and_a_made_up_one_says_why(staff_client, scene):
    zhou = scene["zhou"]
    body = _search(staff_client, member_code_issue(member_id=zhou.pk).code)
    assert reverse("workbench:member", args=[zhou.pk]) not in body  # store scope holds for codes too

    assert "会员码：" in _search(staff_client, "0" * 18)


def test_brand_wide_selector_finds_both(scene, admin_client_a):
    admin = get_user_model().objects.get(username="admin@alpha.example")
    found = members_find(user=admin, query="1234")
    assert {m.pk for m in found.members} == {scene["lin"].pk, scene["zhou"].pk}


def test_store_roles_land_on_the_workbench_and_admins_on_the_dashboard(staff_client, admin_client_a):
    response = staff_client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"] == reverse("workbench:home")
    assert admin_client_a.get(reverse("admin:index")).status_code == 200


def test_today_tasks_of_my_store(scene, staff_a):
    user = get_user_model().objects.get(username=STAFF_A)
    now = timezone.now()
    today = now.astimezone(brand_zone()).date()
    lin, unowned = scene["lin"], scene["wu"]
    # 32 years back is a leap year too when this one is: 29 February has its birthday.
    Member.objects.filter(pk=lin.pk).update(birthday=today.replace(year=today.year - 32))
    Member.objects.filter(pk=unowned.pk).update(assigned_staff=None)
    points_award_bonus(member=lin, points=50, reference="t-expire", reason="测试")
    PointsLot.objects.filter(member=lin).update(expires_at=now)
    tasks = {task.key: task for task in today_tasks(user=user, now=now)}
    assert [m.pk for m in tasks["birthdays"].rows] == [lin.pk]
    assert [m.pk for m in tasks["unowned"].rows] == [unowned.pk]
    assert [m.pk for m in tasks["expiring"].rows] == [lin.pk]
    assert tasks["transfers"].count == 0
    # Store B's staff see none of store A's tasks.
    other = get_user_model().objects.get(username=STAFF_B)
    assert all(task.count == 0 for task in today_tasks(user=other, now=now))


def test_workbench_queries_do_not_grow_with_members(staff_client, scene, enrol, staff_a, django_assert_max_num_queries):
    _search(staff_client, "1234")  # warm the session, permissions
    for n in range(8):
        enrol(name=f"韩{n}", mobile=f"1350000{n:04d}", staff=staff_a)
    with django_assert_max_num_queries(20):
        _search(staff_client, "135")  # name-ish digits: nothing
    with django_assert_max_num_queries(20):
        body = _search(staff_client, "韩")
    assert body.count("/admin/workbench/members/") >= 8


def test_logged_out_is_sent_to_login(client_a):
    response = client_a.get(reverse("workbench:home"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_store_b_staff_sees_zhou(staff_b_client, scene):
    assert scene["zhou"].member_no in _search(staff_b_client, "1234")
    assert scene["lin"].member_no not in _search(staff_b_client, "1234")


def test_not_logged_into_other_brand(scene):
    client = logged_in_client("alpha", STAFF_A)
    assert client.get(reverse("workbench:home")).status_code == 200


def test_brand_wide_tasks_span_the_week_and_expiring_reads_soonest_first(scene):
    """The brand-wide path (day ranges per month, EXISTS) and the store path (day pairs, a
    per-member probe) find the same members; expiring lists the soonest expiry first."""
    admin = get_user_model().objects.get(username=brand_admin_email("alpha"))
    store_user = get_user_model().objects.get(username=STAFF_A)
    now = timezone.now()
    today = now.astimezone(brand_zone()).date()
    lin, zhou, wu = scene["lin"], scene["zhou"], scene["wu"]
    in_six_days = today + dt.timedelta(days=6)  # may be next month (or year): two day ranges
    Member.objects.filter(pk=lin.pk).update(birthday=today.replace(year=today.year - 32))
    Member.objects.filter(pk=zhou.pk).update(birthday=in_six_days.replace(year=in_six_days.year - 32))
    for member, later in ((lin, 2), (zhou, 0), (wu, 1)):
        points_award_bonus(member=member, points=50, reference=f"t-expire-{member.pk}", reason="测试")
        PointsLot.objects.filter(member=member).update(expires_at=now + dt.timedelta(microseconds=later))

    brand = {task.key: task for task in today_tasks(user=admin, now=now)}
    assert {m.pk for m in brand["birthdays"].rows} >= {lin.pk, zhou.pk}
    assert [m.pk for m in brand["expiring"].rows] == [zhou.pk, wu.pk, lin.pk]
    assert brand["expiring"].count == 3

    mine = {task.key: task for task in today_tasks(user=store_user, now=now)}
    assert [m.pk for m in mine["expiring"].rows] == [wu.pk, lin.pk]  # zhou is store B's
    assert mine["expiring"].count == 2
    assert lin.pk in {m.pk for m in mine["birthdays"].rows} and zhou.pk not in {m.pk for m in mine["birthdays"].rows}


def test_a_staff_member_sees_their_own_figures_this_month_on_the_workbench(staff_client, scene, admin_client_a):
    """我的业绩: the signed-in staff member's credited orders and amounts this month (performance's
    report for them alone): a colleague's order is not theirs; a search shows results only; a
    brand admin (no staff row) has no such card."""
    me = Staff.objects.get(user__username=STAFF_A)
    colleague = Staff.objects.get(user__username=MANAGER_A)
    now = timezone.now()
    for n, (staff, amount) in enumerate([(me, 12_800), (me, 5_000), (colleague, 99_900)]):
        order_post(
            channel=SalesChannel.STORE,
            order_no=f"MINE-{n}",
            paid_at=now - dt.timedelta(minutes=5),
            amount_fen=amount,
            buyer_kind=IdentityKind.MOBILE,
            buyer_value="13900001234",
            store=scene["store_a"],
            staff=staff,
            actor="pos",
        )

    body = staff_client.get(reverse("workbench:home")).content.decode()

    assert 'id="my-figures"' in body and "我的业绩 · 本月" in body
    assert 'data-mine="orders">2<' in body and 'data-mine="gmv">¥178.00<' in body
    assert 'data-mine="net">¥178.00<' in body and 'data-mine="served">' in body
    assert 'id="my-figures"' not in _search(staff_client, "1234")
    assert 'id="my-figures"' not in admin_client_a.get(reverse("workbench:home")).content.decode()
