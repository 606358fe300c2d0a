"""A manual issue held for approval (发券审批) reserves the template's stock while it waits: what a
brand admin approves is never found sold out meanwhile, and nobody else is promised those coupons.
The reservation goes back to the stock when the request is approved (and issued at once),
rejected, or expires; `audit_coupons` holds stock left + reserved + issued = total throughout."""

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from django.db import connections
from django_tenants.utils import schema_context

from coupons.manual_issue import (
    coupon_issue_request_approve,
    coupon_issue_request_reject,
    coupon_issue_requests_expire,
    coupons_issue_manual,
)
from coupons.models import Coupon, CouponIssueRequest, CouponTemplate
from coupons.services import coupon_template_update, coupons_audit, coupons_issue_bulk
from crm.errors import AppError
from members import roles
from tests.factories import MemberFactory
from tests.members.loyalty_scene import throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

from .scene import NOW, audit_clean, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]
race_brand = throwaway_brand


def user_in(role: str, username: str) -> User:
    user = User.objects.create_user(username=username, password="x-Secret-2026", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def stock(tpl: CouponTemplate) -> tuple[int | None, int]:
    tpl.refresh_from_db()
    return tpl.stock_left, tpl.stock_reserved


def held(tpl: CouponTemplate, user: User, count: int, batch: str) -> CouponIssueRequest:
    """A store clerk (cap 5 a day) asking for `count` > 5 members: held whole."""
    members = MemberFactory.create_batch(count)
    outcome = coupons_issue_manual(template_id=tpl.pk, member_ids=[m.pk for m in members], batch=batch, user=user)
    assert outcome.held and outcome.request is not None
    return outcome.request


def test_a_held_request_reserves_its_coupons_so_a_later_issue_cannot_take_them(in_brand_a):
    tpl = template(stock_total=10)
    clerk, boss = user_in(roles.STORE_STAFF, "clerk"), user_in(roles.BRAND_ADMIN, "boss")
    waiting = held(tpl, clerk, 6, "six")
    assert (waiting.reserved, stock(tpl)) == (6, (4, 6))
    audit_clean()

    # Meanwhile a campaign issues to 10 others: only the 4 unreserved coupons go.
    others = MemberFactory.create_batch(10)
    result = coupons_issue_bulk(
        template_id=tpl.pk,
        members=("SELECT unnest(%s::bigint[])", [[m.pk for m in others]]),
        source="campaign",
        source_key="campaign:1",
        actor="t",
    )
    assert (result.issued_now, result.out_of_stock) == (4, 6)
    assert stock(tpl) == (0, 6)
    audit_clean()

    # The approval finds its six coupons.
    approved = coupon_issue_request_approve(issue_request=waiting, actor=boss)
    assert approved.issued == 6 and stock(tpl) == (0, 0)
    assert Coupon.objects.filter(template=tpl).count() == 10
    audit_clean()


def test_a_request_the_stock_cannot_cover_is_not_held_and_changes_nothing(in_brand_a):
    tpl = template(stock_total=5)
    clerk = user_in(roles.STORE_STAFF, "clerk")
    members = MemberFactory.create_batch(6)

    with pytest.raises(AppError) as refused:
        coupons_issue_manual(template_id=tpl.pk, member_ids=[m.pk for m in members], batch="b", user=clerk)

    assert refused.value.code == "coupon_out_of_stock"
    assert "剩余 5 张，本次申请 6 张，未提交审批" in refused.value.message
    assert not CouponIssueRequest.objects.exists() and stock(tpl) == (5, 0)
    audit_clean()


def test_rejecting_or_expiring_gives_the_reservation_back_once(in_brand_a):
    tpl = template(stock_total=20)
    clerk, boss = user_in(roles.STORE_STAFF, "clerk"), user_in(roles.BRAND_ADMIN, "boss")
    first, second = held(tpl, clerk, 6, "one"), held(tpl, clerk, 7, "two")
    assert stock(tpl) == (7, 13)

    for _ in range(2):  # a double click rejects (and gives back) once
        coupon_issue_request_reject(issue_request=first, actor=boss, reason="重复申请")
    assert stock(tpl) == (13, 7)

    # The brand's 7 days: not yet on day 6, expired after day 7; only pending ones expire.
    assert coupon_issue_requests_expire(now=NOW + dt.timedelta(days=6)) == 0
    assert coupon_issue_requests_expire(now=NOW + dt.timedelta(days=7, minutes=1)) == 1
    assert coupon_issue_requests_expire(now=NOW + dt.timedelta(days=8)) == 0
    second.refresh_from_db()
    assert second.status == "expired" and "已自动过期" in second.decision_reason
    assert stock(tpl) == (20, 0)
    with pytest.raises(AppError) as late:
        coupon_issue_request_approve(issue_request=second, actor=boss)
    assert late.value.code == "coupon_issue_request_decided" and "已过期" in late.value.message
    assert not Coupon.objects.filter(template=tpl).exists()
    audit_clean()


def test_a_request_for_a_template_past_its_end_expires_and_unlimited_stock_reserves_nothing(in_brand_a):
    limited, unlimited = template(stock_total=9, valid_until_date=dt.date(2027, 6, 20)), template(name="不限")
    clerk = user_in(roles.STORE_STAFF, "clerk")
    first, second = held(limited, clerk, 6, "a"), held(unlimited, clerk, 6, "b")
    assert (first.reserved, second.reserved, stock(unlimited)) == (6, 0, (None, 0))

    assert coupon_issue_requests_expire(now=dt.datetime(2027, 6, 21, 0, 5, tzinfo=NOW.tzinfo)) == 1
    assert stock(limited) == (9, 0)
    second.refresh_from_db()
    assert second.status == "pending"
    audit_clean()


def test_stock_cannot_drop_below_what_waiting_requests_reserved(in_brand_a):
    tpl = template(stock_total=10)
    held(tpl, user_in(roles.STORE_STAFF, "clerk"), 6, "six")

    for total in (5, None):
        with pytest.raises(AppError) as refused:
            coupon_template_update(template_id=tpl.pk, changes={"stock_total": total})
        assert "预留了 6 张" in " ".join(refused.value.fields["stock_total"])
    coupon_template_update(template_id=tpl.pk, changes={"stock_total": 8})  # not issued yet: may go down
    assert stock(tpl) == (2, 6)
    audit_clean()


def test_a_stopped_template_holds_no_request(in_brand_a):
    tpl = template(stock_total=10, is_active=False)
    with pytest.raises(AppError) as refused:
        held(tpl, user_in(roles.STORE_STAFF, "clerk"), 6, "six")
    assert refused.value.code == "coupon_template_inactive"
    assert stock(tpl) == (10, 0) and not CouponIssueRequest.objects.exists()


# --- under real concurrency -----------------------------------------------------------------------


def _run(race_brand, jobs: list[Callable[[], object]]) -> list[object]:
    outcomes: list[object] = []
    lock = threading.Lock()

    def wrap(job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                result = job()
            except AppError as exc:
                result = exc.code
            with lock:
                outcomes.append(result)

        return run

    errors = run_in_threads(race_brand, [wrap(job) for job in jobs])
    assert errors == [], errors
    connections.close_all()
    return outcomes


def test_clerks_holding_requests_at_once_never_reserve_more_than_the_stock(race_brand):
    """Eight clerks on their own connections each ask for 6 members of a template with 20 left:
    exactly three requests are held (18 reserved), the others are refused for stock."""
    with schema_context(race_brand.schema_name):
        tpl = template(stock_total=20)
        clerks = [user_in(roles.STORE_STAFF, f"clerk-{n}") for n in range(8)]
        batches = [[m.pk for m in MemberFactory.create_batch(6)] for _ in clerks]

    def ask(n: int) -> Callable[[], object]:
        return lambda: (
            coupons_issue_manual(template_id=tpl.pk, member_ids=batches[n], batch=f"race-{n}", user=clerks[n]).held
        )

    outcomes = _run(race_brand, [ask(n) for n in range(8)])
    with schema_context(race_brand.schema_name):
        assert sorted(map(str, outcomes)) == sorted(["True"] * 3 + ["coupon_out_of_stock"] * 5)
        assert stock(tpl) == (2, 18)
        assert coupons_audit() == []


def test_approvals_rejections_and_a_campaign_racing_keep_stock_whole(race_brand):
    """Three held requests of 6 (18 reserved of 20) are approved, rejected and approved while a
    campaign issues to 10 others, all on their own connections: the campaign gets the 2 free
    coupons plus whatever the rejection gave back before it ran; nothing is oversold and the
    audit holds."""
    with schema_context(race_brand.schema_name):
        tpl = template(stock_total=20)
        clerk = user_in(roles.STORE_STAFF, "clerk")
        boss = user_in(roles.BRAND_ADMIN, "boss")
        requests = [held(tpl, clerk, 6, f"r{n}") for n in range(3)]
        others = [m.pk for m in MemberFactory.create_batch(10)]

    jobs: list[Callable[[], object]] = [
        lambda: coupon_issue_request_approve(issue_request=requests[0], actor=boss).issued,
        lambda: coupon_issue_request_reject(issue_request=requests[1], actor=boss, reason="不发").status,
        lambda: coupon_issue_request_approve(issue_request=requests[2], actor=boss).issued,
        lambda: (
            coupons_issue_bulk(
                template_id=tpl.pk,
                members=("SELECT unnest(%s::bigint[])", [others]),
                source="campaign",
                source_key="campaign:race",
                actor="t",
            ).issued_now
        ),
    ]
    outcomes = _run(race_brand, jobs)
    with schema_context(race_brand.schema_name):
        assert outcomes.count(6) >= 2 and "rejected" in outcomes
        issued = Coupon.objects.filter(template=tpl).count()
        campaign = Coupon.objects.filter(template=tpl, source_key="campaign:race").count()
        assert issued == 12 + campaign and campaign in (2, 8)
        left, reserved = stock(tpl)
        assert reserved == 0 and left == 20 - issued
        assert coupons_audit() == []


def test_one_held_batch_submitted_four_times_at_once_is_one_request_reserving_once(race_brand):
    """A quadruple click on one screen (same batch) past the cap, each on its own connection: one
    request, its stock reserved once, and every submit is told about that request."""
    with schema_context(race_brand.schema_name):
        tpl = template(stock_total=10)  # room for one reservation of 6: the others must find it
        clerk = user_in(roles.STORE_STAFF, "clerk")
        ids = [m.pk for m in MemberFactory.create_batch(6)]

    def submit() -> object:
        outcome = coupons_issue_manual(template_id=tpl.pk, member_ids=ids, batch="same-screen", user=clerk)
        assert outcome.request is not None
        return outcome.request.pk

    outcomes = _run(race_brand, [submit] * 4)
    with schema_context(race_brand.schema_name):
        request = CouponIssueRequest.objects.get()
        assert outcomes == [request.pk] * 4
        assert stock(tpl) == (4, 6)
        assert coupons_audit() == []
