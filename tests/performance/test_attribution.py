"""Per-order attribution: decided in the order's transaction by the rule in force (single and
batch), idempotent with the order, explained in words; refunds reduce the credit pro rata."""

import contextlib
import dataclasses
import datetime as dt
import importlib
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.memos import memos_forget_all
from members.hooks import order_insert_rider_register, order_insert_riders
from members.models import IdentityKind, MemberAssignment, Staff
from members.scoping import StoreScope
from members.services.orders import OrderInput, order_refund, orders_post_batch
from performance.models import Attribution, AttributionRule, Basis, StaffIdentity, Touch, TouchKind
from performance.selectors import NO_CREDIT, order_credit_text, order_credits, performance_report, rule_preview
from performance.services import rule_save, touch_record
from tests.factories import IdentityFactory, StaffFactory, StoreFactory
from tests.members.loyalty_scene import ago, member_with_unionid, program
from tests.members.test_orders import post


def assign(member, staff, at):
    change = MemberAssignment.objects.create(
        member=member, from_staff=member.assigned_staff, to_staff=staff, reason=MemberAssignment.Reason.MANUAL
    )
    MemberAssignment.objects.filter(pk=change.pk).update(created_at=at)
    member.assigned_staff = staff
    member.save(update_fields=["assigned_staff"])


def case_orders(prefix, cases, store, *, paid_at):
    """Orders from (store order?, serving staff, buyer's unionid) cases; `paid_at(i)` the i-th's time."""
    return [
        OrderInput(
            channel="store" if in_store else "tmall",
            order_no=f"{prefix}{i}",
            paid_at=paid_at(i),
            amount_fen=1_000,
            store_id=store.pk if in_store else None,
            staff_id=staff.pk if staff else None,
            buyer_kind=IdentityKind.WECHAT_UNIONID,
            buyer_value=buyer,
        )
        for i, (in_store, staff, buyer) in enumerate(cases)
    ]


@pytest.fixture
def scene(in_brand_a):
    program()
    store = StoreFactory(name="静安店")
    zhang = StaffFactory(name="张三", store=store)
    li = StaffFactory(name="李四", store=store)
    member = member_with_unionid("u-1")
    return SimpleNamespace(store=store, zhang=zhang, li=li, member=member)


def test_exclusive_staff_at_order_time_gets_the_credit(scene):
    store, zhang, member = scene.store, scene.zhang, scene.member
    rule_save(precedence=["exclusive"], windows={}, actor="admin")
    assign(member, zhang, ago(days=10))

    result = post("A1", 10_000, "u-1")

    attribution = Attribution.objects.get(order=result.order)
    assert attribution.staff == zhang and attribution.basis == Basis.EXCLUSIVE and attribution.is_exclusive
    assert attribution.credited_fen == 10_000 and attribution.store == store
    assert attribution.rule == AttributionRule.objects.order_by("-id").first()
    assert order_credit_text(order_id=result.order.pk) == "专属导购 张三（下单时的专属导购）"


def test_transferred_member_credits_the_new_owner_from_the_transfer_on(scene):
    zhang, li, member = scene.zhang, scene.li, scene.member
    rule_save(precedence=["exclusive"], windows={}, actor="admin")
    assign(member, zhang, ago(days=30))
    assign(member, li, ago(days=2))

    before = post("B1", 5_000, "u-1", paid_at=ago(days=5))  # a late-arriving order from before the transfer
    after = post("B2", 7_000, "u-1", paid_at=ago(days=1))

    credits = order_credits(order_ids=[before.order.pk, after.order.pk])
    assert credits[before.order.pk].staff_id == zhang.pk
    assert credits[after.order.pk].staff_id == li.pk


def test_last_touch_within_its_window_and_the_reason_in_words(scene):
    zhang, li, member = scene.zhang, scene.li, scene.member
    rule_save(precedence=["touch", "exclusive"], windows={"coupon": 30, "share_link": 7}, actor="admin")
    assign(member, zhang, ago(days=60))
    touch_record(staff=zhang, member=member, kind=TouchKind.COUPON, touched_at=ago(days=20), key="c1")
    touch_record(staff=li, member=member, kind=TouchKind.SHARE_LINK, touched_at=ago(days=10), key="s1")  # out of 7

    result = post("C1", 8_800, "u-1")

    assert order_credit_text(order_id=result.order.pk) == "专属导购 张三（近 30 天内发送的优惠券）"
    touch_record(staff=li, member=member, kind=TouchKind.SHARE_LINK, touched_at=ago(days=1), key="s2")
    result = post("C2", 8_800, "u-1")
    assert order_credit_text(order_id=result.order.pk) == "导购 李四（近 7 天内分享的链接）"


def test_touch_look_up_passes_touches_that_cannot_credit_and_breaks_ties_by_the_later_record(scene):
    # The look-up reads the member's touches newest first and stops at the first that credits:
    # newer touches outside their window (or of a kind without one) are passed over, and of two
    # touches at the same moment the one recorded later wins, as before the index took the order.
    zhang, li, member = scene.zhang, scene.li, scene.member
    rule_save(precedence=["touch"], windows={"coupon": 30, "group_message": 3}, actor="admin")
    touch_record(staff=zhang, member=member, kind=TouchKind.COUPON, touched_at=ago(days=40), key="old")  # > reach
    touch_record(staff=zhang, member=member, kind=TouchKind.COUPON, touched_at=ago(days=20), key="c1")
    touch_record(staff=li, member=member, kind=TouchKind.COUPON, touched_at=ago(days=20), key="c2")  # same moment
    touch_record(staff=zhang, member=member, kind=TouchKind.GROUP_MESSAGE, touched_at=ago(days=5), key="g1")  # > 3
    touch_record(staff=zhang, member=member, kind=TouchKind.SHARE_LINK, touched_at=ago(days=1), key="s1")  # no window

    result = post("T1", 3_000, "u-1")

    attribution = Attribution.objects.get(order=result.order)
    assert attribution.staff == li and attribution.touch == Touch.objects.get(key="c2")
    touch_record(staff=zhang, member=member, kind=TouchKind.COUPON, touched_at=ago(days=35), key="c3")
    Touch.objects.filter(key__in=["c1", "c2"]).delete()
    assert not Attribution.objects.filter(order=post("T2", 3_000, "u-1").order, staff__isnull=False).exists()


def test_owner_look_up_breaks_ties_by_the_later_change(scene):
    zhang, li, member = scene.zhang, scene.li, scene.member
    rule_save(precedence=["exclusive"], windows={}, actor="admin")
    assign(member, zhang, ago(days=10))
    assign(member, li, ago(days=10))  # the same moment, recorded later: the owner

    assert Attribution.objects.get(order=post("X1", 2_000, "u-1").order).staff == li


def test_serving_staff_on_a_store_order_and_served_touch(scene):
    store, zhang, li, member = scene.store, scene.zhang, scene.li, scene.member
    assign(member, zhang, ago(days=60))  # default rule: serving first

    result = post("D1", 20_000, "u-1", channel="store", store=store, staff=li)

    assert order_credit_text(order_id=result.order.pk) == "服务导购 李四（门店订单的服务导购）"
    touch = Touch.objects.get(key=f"order:{result.order.pk}")
    assert touch.kind == TouchKind.SERVED and touch.staff == li and touch.member == member


def test_a_served_touch_is_written_once_with_its_order_and_still_counts_everywhere(scene):
    # The served touch has no ON CONFLICT probe and no entry in the key's unique index (migration
    # 0011): it is written once because the rider sees only the orders its statement created.
    zhang, li, member = scene.zhang, scene.li, scene.member
    assign(member, zhang, ago(days=60))
    elsewhere = StoreFactory(name="徐汇店")  # 李四 (静安店) serves at another store
    first = post("SV1", 8_000, "u-1", channel="store", store=elsewhere, staff=li, paid_at=ago(hours=3))
    batch = [
        OrderInput(
            channel="store",
            order_no=no,
            paid_at=ago(hours=3),
            amount_fen=8_000,
            store_id=elsewhere.pk,
            staff_id=li.pk,
            buyer_kind=IdentityKind.WECHAT_UNIONID,
            buyer_value="u-1",
        )
        for no in ("SV1", "SV2", "SV2")  # a replay and a duplicate inside the batch
    ]

    post("SV1", 8_000, "u-1", channel="store", store=elsewhere, staff=li, paid_at=ago(hours=3))
    results = orders_post_batch(orders=batch, actor="pos")
    orders_post_batch(orders=batch, actor="pos")

    second = results[1].order_id
    served = Touch.objects.filter(kind=TouchKind.SERVED)
    assert sorted(served.values_list("key", flat=True)) == sorted([f"order:{first.order.pk}", f"order:{second}"])
    assert order_credit_text(order_id=second) == "服务导购 李四（门店订单的服务导购）"
    today = timezone.localdate()
    rows = {
        (r.staff_name, r.store_name): r
        for r in performance_report(scope=StoreScope(all_stores=True), start=today - dt.timedelta(days=1), end=today)
    }
    # The credit goes to the store the order was served in; the touch to the staff member's own.
    assert (rows["李四", "徐汇店"].orders, rows["李四", "徐汇店"].members_served) == (2, 1)
    assert (rows["李四", "静安店"].orders, rows["李四", "静安店"].members_served) == (0, 1)
    # A rule with a window for serving: the served touch credits the member's next online order.
    rule_save(precedence=["touch", "exclusive"], windows={"served": 7}, actor="admin")
    later = post("SV3", 2_000, "u-1")
    assert Attribution.objects.get(order=later.order).touch_id == served.get(key=f"order:{second}").pk
    assert order_credit_text(order_id=later.order.pk) == "导购 李四（近 7 天内在门店服务）"
    # A store order's own served touch is never its touch (the decision tells it by kind, staff and
    # time): the earlier one credits it.
    store_again = post("SV4", 3_000, "u-1", channel="store", store=elsewhere, staff=li)
    assert Attribution.objects.get(order=store_again.order).touch_id == served.get(key=f"order:{second}").pk


def test_the_served_touch_rider_joins_only_calls_that_can_write_a_served_touch(scene):
    # A call none of whose orders is a member's store order with its serving staff leaves the rider
    # out of the statement (it would write nothing); a call with one keeps it, replays and online
    # orders beside it included, and writes a served touch for exactly the new store orders. A call
    # of one order decides it without aggregating `o` (the same function, same arrays).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    store, zhang, li, member = scene.store, scene.zhang, scene.li, scene.member
    assign(member, zhang, ago(days=60))
    member_with_unionid("u-2")

    def posted(orders):
        with CaptureQueriesContext(connection) as queries:
            results = orders_post_batch(orders=orders, actor="pos")
        (insert,) = [q["sql"] for q in queries if "INSERT INTO members_order" in q["sql"]]
        assert ("array_agg(" in insert) == (len({o.order_no for o in orders}) > 1)
        return results, "rider_performance_served_touch" in insert, "rider_performance_attribution" in insert

    online = case_orders("R", [(False, None, "u-1")], store, paid_at=lambda i: ago(hours=2))
    tourist_served = case_orders("T", [(True, li, "u-9")], store, paid_at=lambda i: ago(hours=2))
    results, touch_rider, attribution_rider = posted(online)
    assert (touch_rider, attribution_rider) == (False, True)
    assert Attribution.objects.get(order_id=results[0].order_id).staff_id == zhang.pk
    results, touch_rider, _ = posted(tourist_served)
    assert not touch_rider and Attribution.objects.get(order_id=results[0].order_id).staff_id == li.pk

    mixed = case_orders(
        "M",
        [(False, None, "u-1"), (True, li, "u-1"), (False, None, "u-2"), (True, zhang, "u-2")],
        store,
        paid_at=lambda i: ago(hours=1),
    )
    results, touch_rider, _ = posted(mixed)
    assert touch_rider
    served = Touch.objects.filter(kind=TouchKind.SERVED)
    assert sorted(served.values_list("key", flat=True)) == sorted(f"order:{results[i].order_id}" for i in (1, 3))
    credits = order_credits(order_ids=[r.order_id for r in results])
    assert [getattr(credits.get(r.order_id), "staff_id", None) for r in results] == [zhang.pk, li.pk, None, zhang.pk]

    # Replayed with a new online order: the rider joins (a store order is posted) and adds nothing.
    again, touch_rider, _ = posted(
        [*mixed[:2], *case_orders("N", [(False, None, "u-1")], store, paid_at=lambda i: ago(minutes=5))]
    )
    assert touch_rider and [r.created for r in again] == [False, False, True]
    assert served.count() == 2 and Attribution.objects.filter(order_id=again[2].order_id).exists()


@pytest.mark.parametrize("windows", [{"coupon": 30}, {"coupon": 30, "served": 7}])
@pytest.mark.parametrize("one_by_one", [True, False])
def test_a_served_touch_credits_only_under_a_rule_with_a_served_window(scene, windows, one_by_one):
    # Without a served window the look-up skips served touches (a partial index, migration 0013):
    # the member's newer served touch is passed over, the older coupon touch credits, as before.
    store, li, member = scene.store, scene.li, scene.member
    wang = StaffFactory(name="王五", store=StoreFactory(name="徐汇店"))
    coupon, _ = touch_record(staff=wang, member=member, kind=TouchKind.COUPON, touched_at=ago(days=2), key="c1")
    rule_save(precedence=["serving", "touch", "exclusive"], windows=windows, actor="admin")
    orders = case_orders("W", [(True, li, "u-1"), (False, None, "u-1")], store, paid_at=lambda i: ago(hours=2 - i))

    results = (
        [orders_post_batch(orders=[item], actor="pos")[0] for item in orders]
        if one_by_one
        else orders_post_batch(orders=orders, actor="pos")
    )

    served = Touch.objects.get(kind=TouchKind.SERVED)
    online = Attribution.objects.get(order_id=results[1].order_id)
    assert (online.basis, online.touch_id) == (
        (Basis.TOUCH, served.pk) if "served" in windows else (Basis.TOUCH, coupon.pk)
    )
    assert online.staff_id == (li.pk if "served" in windows else wang.pk)


def test_the_attribution_row_has_no_database_key_to_its_order(in_brand_a):
    # Its deferred check ran a locking query per order at every commit (bench/README.md, session
    # 16); the row is written by the statement that inserts the order, so the key cannot dangle.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT conname FROM pg_constraint
               WHERE contype = 'f' AND conrelid = 'performance_attribution'::regclass"""
        )
        assert cursor.fetchall() == []


def test_staff_own_purchase_credits_nobody(scene):
    store, zhang, li, member = scene.store, scene.zhang, scene.li, scene.member
    StaffIdentity.objects.create(staff=zhang, kind="wechat_unionid", value="u-1")
    assign(member, li, ago(days=60))

    result = post("E1", 9_900, "u-1", channel="store", store=store, staff=li)

    attribution = Attribution.objects.get(order=result.order)
    assert attribution.staff is None and attribution.own_purchase_staff == zhang and attribution.credited_fen == 0
    assert order_credit_text(order_id=result.order.pk) == "导购 张三 本人购买，不计业绩"


def test_replayed_order_changes_nothing_and_tourists_without_staff_have_no_credit(scene):
    zhang, member = scene.zhang, scene.member
    assign(member, zhang, ago(days=60))
    first = post("F1", 1_000, "u-1")
    row = Attribution.objects.values().get(order=first.order)
    rule_save(precedence=["serving"], windows={}, actor="admin")  # a rule change never rewrites history

    again = post("F1", 1_000, "u-1")

    assert not again.created
    assert Attribution.objects.values().get(order=first.order) == row
    tourist = post("F2", 1_000)
    assert not Attribution.objects.filter(order=tourist.order).exists()
    assert order_credit_text(order_id=tourist.order.pk) == NO_CREDIT


def test_batch_attributes_every_order_set_based(scene, django_assert_max_num_queries):
    store, zhang, li, member = scene.store, scene.zhang, scene.li, scene.member
    assign(member, zhang, ago(days=60))
    other = member_with_unionid("u-2")
    orders = [
        OrderInput(
            channel="store" if i % 2 else "tmall",
            order_no=f"G{i}",
            paid_at=ago(minutes=30 - i),
            amount_fen=1_000 + i,
            store_id=store.pk if i % 2 else None,
            staff_id=li.pk if i % 2 else None,
            buyer_kind=IdentityKind.WECHAT_UNIONID,
            buyer_value="u-1" if i % 3 else "u-2",
        )
        for i in range(12)
    ]

    results = orders_post_batch(orders=orders, actor="pos")

    credits = order_credits(order_ids=[r.order_id for r in results])
    for i, r in enumerate(results):
        if i % 2:
            assert credits[r.order_id].staff_id == li.pk
        elif i % 3:
            assert credits[r.order_id].staff_id == zhang.pk
        else:
            assert r.order_id not in credits  # u-2 has no staff and no touch
    assert other.pk
    again = orders_post_batch(orders=orders, actor="pos")
    assert not any(r.created for r in again)
    assert Attribution.objects.count() == 6 + 4


def test_the_usual_rule_s_own_plan_decides_as_the_general_one(scene):
    # Without staff identities, under the usual rule (serving, touch, exclusive), the function runs
    # a plan of its own; a staff identity (of nobody buying here) switches it to the general plan.
    store, zhang, li, member = scene.store, scene.zhang, scene.li, scene.member
    assign(member, zhang, ago(days=60))
    other = member_with_unionid("u-2")
    assign(other, li, ago(days=60))
    wang = StaffFactory(name="王五", store=StoreFactory(name="徐汇店"))
    touch_record(staff=wang, member=other, kind=TouchKind.COUPON, touched_at=ago(days=2), key="c1")
    gone = StaffFactory(name="赵六", store=store)
    Staff.objects.filter(pk=gone.pk).update(status="resigned", resigned_at=ago(days=5))

    def batch(prefix):
        cases = [  # (store order?, serving staff, buyer)
            (True, li, "u-1"),  # serving
            (True, gone, "u-1"),  # serving staff resigned: touch, then exclusive
            (False, None, "u-1"),  # exclusive
            (False, None, "u-2"),  # touch within its window
            (False, None, "u-3"),  # a tourist: nobody
        ]
        orders = case_orders(prefix, cases, store, paid_at=lambda i: ago(hours=1))
        ids = [r.order_id for r in orders_post_batch(orders=orders, actor="pos")]
        rows = {a.order_id: a for a in Attribution.objects.filter(order_id__in=ids)}
        return [
            (a.staff_id, a.basis, a.store_id, a.touch_id, a.is_exclusive) if a else None
            for a in (rows.get(i) for i in ids)
        ]

    usual = batch("U")
    StaffIdentity.objects.create(staff=wang, kind="mobile", value="13800000000")
    general = batch("V")

    assert usual == general
    assert [row[:2] if row else None for row in usual] == [
        (li.pk, Basis.SERVING),
        (zhang.pk, Basis.EXCLUSIVE),
        (zhang.pk, Basis.EXCLUSIVE),
        (wang.pk, Basis.TOUCH),
        None,
    ]


@pytest.mark.parametrize(
    ("precedence", "windows", "identity"),
    [
        (["serving", "touch", "exclusive"], {"coupon": 30, "served": 7}, False),  # the usual rule
        (["serving", "touch", "exclusive"], {"coupon": 30}, False),  # … without a served window (the default)
        (["serving", "touch", "exclusive"], {"coupon": 30}, True),  # a staff identity: the general plan
        (["touch", "exclusive", "serving"], {"coupon": 30, "served": 7}, False),
        (["exclusive", "serving"], {}, False),  # a place left empty
    ],
)
def test_one_order_decides_as_the_batch(scene, precedence, windows, identity):
    # A call with one order (order_post) runs its own function, one small query per look-up,
    # instead of the set query (migrations 0014, 0015): every case, posted one by one, is credited as in a
    # batch. Both take the owner from the member row the ingest locked (migration 0015) where the
    # order was paid after the owner's last change, and from the history before it: they credit as
    # the previous release's riders do, which read only the history (and run during a deploy).
    store, zhang, li, member = scene.store, scene.zhang, scene.li, scene.member
    assign(member, zhang, ago(days=60))
    other = member_with_unionid("u-2")
    assign(other, li, ago(days=60))
    later = member_with_unionid("u-4")
    assign(later, li, ago(minutes=30))  # after the orders below were paid: before it, nobody's
    wang = StaffFactory(name="王五", store=StoreFactory(name="徐汇店"))
    touch_record(staff=wang, member=other, kind=TouchKind.COUPON, touched_at=ago(days=2), key="c1")
    gone = StaffFactory(name="赵六", store=store)
    Staff.objects.filter(pk=gone.pk).update(status="resigned", resigned_at=ago(days=5))
    touch_record(staff=gone, member=member, kind=TouchKind.COUPON, touched_at=ago(days=1), key="c2")
    member_with_unionid("u-5", assigned_staff=zhang)  # an owner and no history: the member row's
    moved = member_with_unionid("u-6", assigned_staff=wang)  # no history before a move after the orders:
    assign(moved, li, ago(minutes=30))  # owned then by the move's from_staff, 王五
    assign(member_with_unionid("u-7"), gone, ago(days=60))  # the owner has resigned since
    kin = member_with_unionid("u-8")  # a staff member's mobile among the member's identities only
    IdentityFactory(member=kin, kind=IdentityKind.MOBILE, value="13900000008")
    left = member_with_unionid("u-9")  # assigned, then unassigned before the orders: nobody's
    assign(left, zhang, ago(days=60))
    assign(left, None, ago(days=10))
    again = member_with_unionid("u-10")  # owned by 张三 when paid, by 李四 since, by 张三 again now
    assign(again, zhang, ago(days=60))
    assign(again, li, ago(minutes=45, seconds=30))  # between the two orders below
    assign(again, zhang, ago(minutes=20))
    rule_save(precedence=precedence, windows=windows, actor="admin")
    if identity:
        StaffIdentity.objects.create(staff=wang, kind=IdentityKind.WECHAT_UNIONID, value="u-2")
        StaffIdentity.objects.create(staff=li, kind=IdentityKind.MOBILE, value="13900000008")
    cases = [  # (store order?, serving staff, buyer)
        (True, li, "u-1"),  # serving
        (True, gone, "u-1"),  # the serving staff resigned; so did the newest touch's
        (False, None, "u-1"),
        (False, None, "u-2"),  # a touch within its window (or the buyer is a staff member)
        (True, li, "u-2"),
        (False, None, "u-3"),  # a tourist
        (True, zhang, "u-3"),  # a tourist served in a store
        (False, None, "u-4"),  # owned only since after the order
        (False, None, "u-5"),
        (False, None, "u-6"),
        (True, zhang, "u-6"),
        (False, None, "u-7"),
        (False, None, "u-8"),
        (False, None, "u-9"),
        (False, None, "u-10"),  # paid before 李四's time
        (False, None, "u-10"),  # paid in it
    ]

    start = ago(hours=1)  # both ways paid at the same times, in the order posted

    def orders(prefix):
        return case_orders(prefix, cases, store, paid_at=lambda i: start + dt.timedelta(minutes=i))

    def credits(post_all):
        # Each way from the same state (rolled back after); a touch by who and when (ids differ).
        with transaction.atomic():
            ids = post_all()
            rows = {a.order_id: a for a in Attribution.objects.filter(order_id__in=ids).select_related("touch")}
            transaction.set_rollback(True)
        return [
            (
                a.staff_id,
                a.basis,
                a.store_id,
                (a.touch.staff_id, a.touch.kind, a.touch.touched_at) if a.touch_id else None,
                a.window_days,
                a.is_exclusive,
                a.own_purchase_staff_id,
            )
            if a
            else None
            for a in (rows.get(i) for i in ids)
        ]

    singly = credits(lambda: [orders_post_batch(orders=[item], actor="pos")[0].order_id for item in orders("S")])
    batch = credits(lambda: [r.order_id for r in orders_post_batch(orders=orders("B"), actor="pos")])
    with previous_release_rider():
        previous = credits(lambda: [orders_post_batch(orders=[item], actor="pos")[0].order_id for item in orders("P")])
        previous_batch = credits(lambda: [r.order_id for r in orders_post_batch(orders=orders("Q"), actor="pos")])

    assert singly == batch
    assert previous == batch
    assert previous_batch == batch
    assert len({row[1] for row in batch if row}) >= 2  # the cases credit by more than one basis
    assert batch[-2][0] == zhang.pk and batch[-1][0] == li.pk  # late-posted orders: from the history


@contextlib.contextmanager
def previous_release_rider():
    """The attribution rider as the previous release registers it: one order through
    performance_decide_one (migration 0014), a batch through performance_decide (0013), the owner
    read from the assignment history only."""
    from performance.attribution import (
        _ATTRIBUTION_INSERT,
        _INPUT,
        ATTRIBUTION_RIDER_PREVIOUS_SQL,
        PREVIOUS_ONE_FUNCTION_NAME,
        RIDER_NAME,
    )

    one = f"""{_ATTRIBUTION_INSERT}
FROM o CROSS JOIN LATERAL {PREVIOUS_ONE_FUNCTION_NAME}({", ".join(f"o.{name}" for name, _ in _INPUT)}) d
WHERE d.own_staff_id IS NOT NULL OR d.staff_id IS NOT NULL
"""
    (saved,) = (rider for rider in order_insert_riders() if rider.name == RIDER_NAME)
    order_insert_rider_register(name=RIDER_NAME, sql=ATTRIBUTION_RIDER_PREVIOUS_SQL, one_order_sql=one)
    try:
        yield
    finally:
        order_insert_rider_register(**dataclasses.asdict(saved))


def test_one_order_runs_the_one_order_function_with_the_owner_the_ingest_locked(scene):
    from performance.attribution import FUNCTION_NAME, ONE_FUNCTION_NAME, PREVIOUS_FUNCTION_NAME

    zhang, member = scene.zhang, scene.member
    assign(member, zhang, ago(days=60))

    with CaptureQueriesContext(connection) as queries:
        result = post("O1", 5_000, "u-1")
        batch = orders_post_batch(
            orders=[
                OrderInput(
                    channel="tmall",
                    order_no=f"O{n}",
                    paid_at=ago(hours=1),
                    amount_fen=1_000,
                    buyer_kind=IdentityKind.WECHAT_UNIONID,
                    buyer_value="u-1",
                )
                for n in (2, 3)
            ],
            actor="pos",
        )

    one, many = (q["sql"] for q in queries.captured_queries if "INSERT INTO members_order" in q["sql"])
    assert "m.owner_changed_at" in " ".join(q["sql"] for q in queries.captured_queries)
    assert f"{ONE_FUNCTION_NAME}(o.id" in one and "owners AS" in one
    assert f"{FUNCTION_NAME}(x.a_id" in many and f"{ONE_FUNCTION_NAME}(" not in many
    assert f"{PREVIOUS_FUNCTION_NAME}(" not in one + many
    assert order_credit_text(order_id=result.order.pk) == "专属导购 张三（下单时的专属导购）"
    assert order_credit_text(order_id=batch[1].order_id) == "专属导购 张三（下单时的专属导购）"


def test_only_a_late_posted_order_reads_the_assignment_history(scene):
    # The owner of an order paid after the member's last owner change comes with the member row the
    # ingest locked; the history's index is read only for an order paid before that change.
    assign(scene.member, scene.zhang, ago(days=60))

    def history_reads():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_get_xact_numscans('member_assign_recent'::regclass)")  # this transaction's
            return cursor.fetchone()[0]

    before = history_reads()
    on_time = [
        post("T1", 1_000, "u-1").order.pk,
        *(
            r.order_id
            for r in orders_post_batch(
                orders=case_orders("T", [(False, None, "u-1")] * 2, scene.store, paid_at=lambda i: ago(hours=1)),
                actor="pos",
            )
        ),
    ]
    assert history_reads() == before

    late = post("L1", 1_000, "u-1", paid_at=ago(days=61))  # before 张三's time: nobody's
    assert history_reads() > before
    assert [order_credit_text(order_id=i) for i in on_time] == ["专属导购 张三（下单时的专属导购）"] * 3
    assert order_credit_text(order_id=late.order.pk) == NO_CREDIT


def test_a_brand_without_this_release_s_migrations_yet_decides_by_the_previous_rider(scene):
    # During a deploy the new code serves brands whose migrations have not run (or failed and wait
    # for the retry): orders keep being credited there, one or many, through the previous release's
    # set rider — and the ingest does not ask for the member column it has not got either.
    from performance.attribution import FUNCTION_NAME, ONE_FUNCTION_NAME, PREVIOUS_FUNCTION_NAME

    assign(scene.member, scene.zhang, ago(days=60))
    memos_forget_all()
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the scene's foreign-key checks, before the ALTER TABLE
        for sql in [
            *importlib.import_module("performance.migrations.0015_decide_given_owner").DROP_SQL,
            *importlib.import_module("members.migrations.0021_member_owner_changed_at")
            .Migration.operations[0]
            .reverse_sql,
        ]:
            cursor.execute(sql)
    try:
        with CaptureQueriesContext(connection) as queries:
            one = post("F1", 5_000, "u-1")
            many = orders_post_batch(
                orders=case_orders("F", [(False, None, "u-1")] * 2, scene.store, paid_at=lambda i: ago(hours=1)),
                actor="pos",
            )
    finally:
        memos_forget_all()  # the functions are back after the rollback

    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert f"{ONE_FUNCTION_NAME}(" not in sql and f"{FUNCTION_NAME}(" not in sql and "owner_changed_at" not in sql
    assert sql.count(f"{PREVIOUS_FUNCTION_NAME}(x.a_id") == 2
    for order_id in (one.order.pk, many[0].order_id, many[1].order_id):
        assert order_credit_text(order_id=order_id) == "专属导购 张三（下单时的专属导购）"


def test_refunds_reduce_the_credit_pro_rata(scene):
    store, zhang, member = scene.store, scene.zhang, scene.member
    assign(member, zhang, ago(days=60))
    result = post("H1", 10_000, "u-1", channel="store", store=store, staff=zhang)

    order_refund(
        channel="store", order_no="H1", refund_no="R1", amount_fen=2_500, refunded_at=ago(minutes=1), actor="pos"
    )
    order_refund(
        channel="store", order_no="H1", refund_no="R1", amount_fen=2_500, refunded_at=ago(minutes=1), actor="pos"
    )
    assert Attribution.objects.get(order=result.order).refunded_fen == 2_500
    order_refund(
        channel="store", order_no="H1", refund_no="R2", amount_fen=7_500, refunded_at=ago(minutes=1), actor="pos"
    )
    assert Attribution.objects.get(order=result.order).refunded_fen == 10_000


def test_resigned_staff_keep_their_history_and_earn_nothing_new(scene):
    zhang, member = scene.zhang, scene.member
    rule_save(precedence=["touch"], windows={"coupon": 30}, actor="admin")
    touch_record(staff=zhang, member=member, kind=TouchKind.COUPON, touched_at=ago(days=3), key="c1")
    old = post("I1", 3_000, "u-1", paid_at=ago(days=2))
    Staff.objects.filter(pk=zhang.pk).update(status="resigned", resigned_at=ago(days=1))

    new = post("I2", 3_000, "u-1")

    assert order_credit_text(order_id=old.order.pk) == "导购 张三·已离职（近 30 天内发送的优惠券）"
    assert not Attribution.objects.filter(order=new.order).exists()


def test_what_if_preview_matches_the_rider_and_writes_nothing(scene):
    zhang, li, member = scene.zhang, scene.li, scene.member
    assign(member, zhang, ago(days=60))
    touch_record(staff=li, member=member, kind=TouchKind.COUPON, touched_at=ago(days=3), key="c1")
    post("J1", 5_000, "u-1", paid_at=ago(days=1))  # default rule: touch before exclusive → 李四
    today = timezone.localdate()
    count = Attribution.objects.count()

    same = rule_preview(
        precedence=["serving", "touch", "exclusive"],
        windows={"coupon": 30},
        start=today - dt.timedelta(days=7),
        end=today,
        scope=StoreScope(all_stores=True),
    )
    other = rule_preview(
        precedence=["exclusive"],
        windows={},
        start=today - dt.timedelta(days=7),
        end=today,
        scope=StoreScope(all_stores=True),
    )

    assert [(r.staff_id, r.orders_now, r.orders_new) for r in same] == [(li.pk, 1, 1)]
    assert sorted((r.staff_id, r.orders_now, r.orders_new) for r in other) == sorted([(li.pk, 1, 0), (zhang.pk, 0, 1)])
    assert Attribution.objects.count() == count


@pytest.mark.parametrize(
    ("name", "body", "sql", "migration"),
    [
        ("FUNCTION_NAME", "FUNCTION_BODY", "FUNCTION_SQL", "0015_decide_given_owner"),
        ("ONE_FUNCTION_NAME", "ONE_FUNCTION_BODY", "ONE_FUNCTION_SQL", "0015_decide_given_owner"),
    ],
)
def test_the_migrated_decision_functions_are_the_code_s(in_brand_a, name, body, sql, migration):
    from performance import attribution

    # The whole statement (parameters, volatility, settings), as the newest migration that created it…
    assert getattr(attribution, sql) == getattr(importlib.import_module(f"performance.migrations.{migration}"), sql)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = %s AND pronamespace = current_schema()::regnamespace",
            [getattr(attribution, name)],
        )
        # …and the body the brand's schema has; else: a new migration with FUNCTION_SQL / ONE_FUNCTION_SQL
        assert cursor.fetchall() == [(getattr(attribution, body),)]
