"""Touches from the sources that announce them: a staff member's share link or poster opened by a
member (signed in, or signing in afterwards in the same session), coupons a staff member sent, and
a campaign's WeCom group message sent by the member's own staff. Each is one touch per event
(staff, member, kind, time), however often the event is told; each can credit a later order."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from campaigns.messaging import outbox_send, wecom_results_poll
from coupons.models import Coupon, CouponRedemption
from coupons.services import coupon_issue, coupons_issue_bulk
from crm.errors import AppError
from membercentre.services.links import member_centre_link_path
from members.models import Identity, Staff
from members.scoping import StoreScope
from performance.models import ShareLink, Touch, TouchKind
from performance.selectors import order_credit_text, performance_report
from performance.services import SHARE_PENDING_MAX, rule_save, share_link_create
from tests.campaigns.scenes import consenting_member, run_now
from tests.coupons.scene import template
from tests.factories import MemberFactory, StaffFactory, StoreFactory
from tests.members.loyalty_scene import member_with_unionid, program
from tests.members.test_orders import post


def touches(**filters) -> list[tuple]:
    return list(Touch.objects.filter(**filters).values_list("staff__name", "member_id", "kind").order_by("id"))


# --- share links and posters -------------------------------------------------------------------


def test_a_signed_in_member_opening_a_staff_link_is_one_touch_a_day_and_lands_on_its_page(member_a, client_a):
    zhang = StaffFactory(name="张三")
    link = share_link_create(staff=zhang, kind=ShareLink.Kind.SHARE_LINK, target="/m/coupons/")
    assert client_a.get(member_centre_link_path(member_id=member_a.pk))["Location"] == "/m/"

    response = client_a.get(f"/m/s/{link.token}/")
    client_a.get(f"/m/s/{link.token}/")  # a reload the same day is the same touch

    assert response.status_code == 302 and response["Location"] == "/m/coupons/"
    assert touches() == [("张三", member_a.pk, TouchKind.SHARE_LINK)]
    touch = Touch.objects.get()
    assert abs(touch.touched_at - timezone.now()) < dt.timedelta(minutes=1)
    with time_machine.travel(timezone.now() + dt.timedelta(days=1)):
        client_a.get(f"/m/s/{link.token}/")
    assert len(touches()) == 2  # another day, a newer touch (last touch wins)


def test_a_poster_opened_before_signing_in_is_a_touch_when_the_member_signs_in(member_a, client_a):
    li = StaffFactory(name="李四")
    poster = share_link_create(staff=li, kind=ShareLink.Kind.POSTER)

    assert client_a.get(f"/m/s/{poster.token}/")["Location"] == "/m/"
    assert touches() == []  # nobody known yet

    client_a.get(member_centre_link_path(member_id=member_a.pk))  # signs in

    assert touches() == [("李四", member_a.pk, TouchKind.POSTER)]
    client_a.get(member_centre_link_path(member_id=member_a.pk))  # signing in again adds nothing
    assert len(touches()) == 1


def test_a_link_opened_too_long_before_signing_in_and_unknown_tokens_are_no_touch(member_a, client_a):
    poster = share_link_create(staff=StaffFactory(), kind=ShareLink.Kind.POSTER)
    client_a.get(f"/m/s/{poster.token}/")
    with time_machine.travel(timezone.now() + SHARE_PENDING_MAX + dt.timedelta(minutes=1)):
        client_a.get(member_centre_link_path(member_id=member_a.pk))
    assert client_a.get("/m/s/not-a-token/").status_code == 404
    assert touches() == []


def test_a_share_link_only_opens_member_centre_pages_and_only_for_active_staff(in_brand_a):
    staff = StaffFactory()
    for target in ("https://evil.example/", "//evil.example/m/", "/admin/", "/m/\\\\evil"):
        with pytest.raises(AppError) as refused:
            share_link_create(staff=staff, kind=ShareLink.Kind.SHARE_LINK, target=target)
        assert "target" in refused.value.fields
    Staff.objects.filter(pk=staff.pk).update(status=Staff.Status.RESIGNED)
    staff.refresh_from_db()
    with pytest.raises(AppError):
        share_link_create(staff=staff, kind=ShareLink.Kind.POSTER)
    assert not ShareLink.objects.exists()


# --- coupons a staff member sent ---------------------------------------------------------------


def test_coupons_a_staff_member_sent_are_touches_that_credit_a_later_order(fixed_clock, in_brand_a):
    program()
    zhang = StaffFactory(name="张三", store=StoreFactory())
    member = member_with_unionid("u-c1")
    others = [MemberFactory() for _ in range(3)]
    tpl = template()
    rule_save(precedence=["touch"], windows={"coupon": 30}, actor="admin")
    yesterday = fixed_clock - dt.timedelta(days=1)

    def send(**kw):
        return coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", actor="boss", now=yesterday, **kw)

    coupon = send(source_key="k1", staff_id=zhang.pk)
    send(source_key="k1", staff_id=zhang.pk)  # a retry issues nothing and adds no touch
    coupons_issue_bulk(
        template_id=tpl.pk,
        members=("SELECT unnest(%s::bigint[])", [[m.pk for m in others]]),
        source="admin",
        source_key="bulk",
        actor="boss",
        staff_id=zhang.pk,
        now=yesterday,
    )
    coupons_issue_bulk(  # the brand's own issue: no staff, no touch
        template_id=tpl.pk, members=("SELECT %s::bigint", [member.pk]), source="campaign", source_key="brand", actor="x"
    )

    assert sorted(touches()) == sorted([("张三", m.pk, TouchKind.COUPON) for m in [member, *others]])
    assert Touch.objects.get(member=member).touched_at == coupon.issued_at == yesterday
    result = post("CP1", 12_000, "u-c1")
    assert order_credit_text(order_id=result.order.pk) == "导购 张三（近 30 天内发送的优惠券）"

    # Written off: the report counts it for 张三 (the coupon's touch says who sent it); a rolled
    # back write-off is no write-off; another store's manager sees none of it.
    for n, status in enumerate([CouponRedemption.Status.USED, CouponRedemption.Status.ROLLED_BACK]):
        CouponRedemption.objects.create(
            coupon=coupon if n == 0 else Coupon.objects.exclude(pk=coupon.pk).first(),
            request_no=f"W{n}",
            status=status,
            channel="store",
            order_no="CP1",
            order_amount_fen=12_000,
            discount_fen=2_000,
            redeemed_at=fixed_clock,
            actor="t",
        )
    today = timezone.localdate()
    rows = performance_report(scope=StoreScope(all_stores=True), start=today - dt.timedelta(days=1), end=today)
    assert [(r.staff_name, r.coupons_redeemed) for r in rows] == [("张三", 1)]
    other = StoreScope(all_stores=False, store_id=StoreFactory().pk)
    assert performance_report(scope=other, start=today - dt.timedelta(days=1), end=today) == []


# --- WeCom group messages sent by the member's staff ---------------------------------------------


def test_a_group_message_the_members_staff_sent_is_a_touch_once_wecom_says_it_was_sent(
    config_a,
    fake,
    make_campaign,
    marketing_agreement,
):
    staff = StaffFactory(wecom_userid="zhangsan", name="张三")
    sent = consenting_member("marketing_wecom", assigned_staff=staff)
    Identity.objects.create(member=sent, kind="wecom_external_userid", value="wmFriend")
    gone = consenting_member("marketing_wecom", assigned_staff=staff)
    Identity.objects.create(member=gone, kind="wecom_external_userid", value="wmGone")
    for ext in ("wmFriend", "wmGone"):
        fake.add_contact(ext)
    fake.add_follow("zhangsan", "wmFriend")
    campaign = make_campaign(bonus_points=0, multiplier_pct=200, message_channel="wecom", message_template="会员日快乐")
    occurrence = run_now(campaign)
    outbox_send(occurrence_id=occurrence.pk)
    assert touches() == []  # submitted to WeCom, not yet sent by the staff member

    (message,) = fake.messages.values()
    fake.staff_confirms_send(message.msgid)
    wecom_results_poll()
    wecom_results_poll()

    assert touches() == [("张三", sent.pk, TouchKind.GROUP_MESSAGE)]
    touch = Touch.objects.get()
    assert touch.source == message.msgid and touch.touched_at is not None
