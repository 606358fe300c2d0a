"""Reports per staff, store and period, store-scoped; the staff member's own figures; the credit
through the partner API; touches announced by WeCom."""

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from django.utils import timezone

from crm.errors import AppError
from members.scoping import StoreScope
from performance.models import Touch, TouchKind
from performance.selectors import performance_report, staff_own_figures
from tests.api.conftest import call, make_key
from tests.factories import MemberFactory, StaffFactory, StoreFactory
from tests.members.loyalty_scene import ago, member_with_unionid, program
from tests.members.test_orders import post
from wecom.hooks import CustomerAdded, customer_added_notify_in_transaction


@pytest.fixture
def stores(in_brand_a):
    program()
    north, south = StoreFactory(name="北店"), StoreFactory(name="南店")
    zhang, wang = StaffFactory(name="张三", store=north), StaffFactory(name="王五", store=south)
    buyer = member_with_unionid("u-1")
    MemberFactory(enrolled_by=zhang, enrolled_at=ago(days=1))
    post("N1", 10_000, "u-1", channel="store", store=north, staff=zhang, paid_at=ago(days=2))
    post("N2", 5_000, "u-1", channel="store", store=north, staff=zhang, paid_at=ago(days=1))
    post("S1", 30_000, "u-1", channel="store", store=south, staff=wang, paid_at=ago(days=1))
    post("OLD", 99_000, "u-1", channel="store", store=south, staff=wang, paid_at=ago(days=90))
    from members.services.orders import order_refund

    order_refund(channel="store", order_no="N1", refund_no="R", amount_fen=4_000, refunded_at=ago(hours=1), actor="t")
    return SimpleNamespace(north=north, south=south, zhang=zhang, wang=wang, buyer=buyer)


def test_brand_admin_sees_every_store_for_the_period(stores):
    today = timezone.localdate()

    rows = performance_report(scope=StoreScope(all_stores=True), start=today - dt.timedelta(days=29), end=today)

    by_staff = {r.staff_name: r for r in rows}
    assert [r.staff_name for r in rows] == ["王五", "张三"]  # by net credit
    assert (by_staff["王五"].orders, by_staff["王五"].gmv_fen, by_staff["王五"].store_name) == (1, 30_000, "南店")
    z = by_staff["张三"]
    assert (z.orders, z.gmv_fen, z.refunded_fen, z.net_fen) == (2, 15_000, 4_000, 11_000)
    assert (z.members_enrolled, z.members_served) == (1, 1)


def test_store_manager_sees_only_their_store_whatever_they_ask(stores):
    north, south = stores.north, stores.south
    today = timezone.localdate()
    manager = StoreScope(all_stores=False, store_id=north.pk)

    rows = performance_report(scope=manager, start=today - dt.timedelta(days=29), end=today)
    asked_other = performance_report(scope=manager, start=today - dt.timedelta(days=29), end=today, store_id=south.pk)
    nobody = performance_report(scope=StoreScope(all_stores=False), start=today - dt.timedelta(days=29), end=today)

    assert {r.staff_name for r in rows} == {"张三"}
    assert asked_other == [] and nobody == []


def test_long_ranges_are_refused_interactively(stores):
    today = timezone.localdate()
    with pytest.raises(AppError) as err:
        performance_report(scope=StoreScope(all_stores=True), start=today - dt.timedelta(days=365), end=today)
    assert err.value.code == "performance_report_invalid"


def test_staff_own_figures(stores):
    zhang = stores.zhang
    today = timezone.localdate()

    mine = staff_own_figures(staff=zhang, start=today - dt.timedelta(days=6), end=today)

    assert (mine.orders, mine.gmv_fen, mine.refunded_fen) == (2, 15_000, 4_000)


def test_credit_through_the_partner_api(stores, client_a):
    key = make_key("alpha", scopes=["orders:write"])

    response = call(client_a, "GET", "/api/v1/orders/store/N1/credit", key=key)
    missing = call(client_a, "GET", "/api/v1/orders/store/NOPE/credit", key=key)

    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert body["explanation"] == "服务导购 张三（门店订单的服务导购）"
    assert (body["credited"], body["basis"], body["credited_fen"], body["refunded_fen"]) == (
        True,
        "serving",
        10_000,
        4_000,
    )
    assert missing.status_code == 404


def test_wecom_channel_qr_add_is_a_touch_once(in_brand_a):
    staff = StaffFactory(name="赵六", wecom_userid="zhaoliu")
    member = MemberFactory()
    event = CustomerAdded(
        member_id=member.pk, external_userid="wm1", staff_userid="zhaoliu", state="store_sh001", added_at=ago(hours=2)
    )

    customer_added_notify_in_transaction(event)
    customer_added_notify_in_transaction(event)
    customer_added_notify_in_transaction(
        CustomerAdded(
            member_id=member.pk, external_userid="wm1", staff_userid="zhaoliu", state="", added_at=ago(hours=1)
        )
    )

    touch = Touch.objects.get()
    assert (touch.staff, touch.member, touch.kind, touch.source) == (staff, member, TouchKind.CHANNEL_QR, "store_sh001")


def test_member_day_conversions_are_the_audiences_credited_orders_inside_the_member_day(stores):
    """An order counts for the staff member credited with it when its buyer was in a member-day
    occurrence's audience (not its hold-out) and paid inside that occurrence's window; another
    kind of campaign, or a day outside the window, is no member-day conversion."""
    from campaigns.models import Campaign, Occurrence, Recipient

    holdout_buyer = member_with_unionid("u-2")
    post("H1", 7_000, "u-2", channel="store", store=stores.north, staff=stores.zhang, paid_at=ago(days=1))
    window = (ago(days=1, hours=1), ago(days=1) + dt.timedelta(hours=1))
    for kind in (Campaign.Type.MEMBER_DAY, Campaign.Type.BONUS_POINTS):
        campaign = Campaign.objects.create(name=f"活动 {kind}", type=kind, day_of_month=8)
        occurrence = Occurrence.objects.create(
            campaign=campaign, slot=window[0], window_start=window[0], window_end=window[1]
        )
        Recipient.objects.create(occurrence=occurrence, member=stores.buyer)
        Recipient.objects.create(occurrence=occurrence, member=holdout_buyer, holdout=True)
    today = timezone.localdate()

    rows = performance_report(scope=StoreScope(all_stores=True), start=today - dt.timedelta(days=29), end=today)
    north_only = performance_report(
        scope=StoreScope(all_stores=False, store_id=stores.north.pk), start=today - dt.timedelta(days=29), end=today
    )

    # 张三: N2 on the member day (N1 the day before is outside; H1 is the hold-out's); 王五: S1.
    assert {r.staff_name: r.member_day_orders for r in rows} == {"张三": 1, "王五": 1}
    assert [(r.staff_name, r.member_day_orders) for r in north_only] == [("张三", 1)]
    assert staff_own_figures(staff=stores.zhang, start=today - dt.timedelta(days=6), end=today).member_day_orders == 1
