"""Manual coupon issuing has limits that hold over a brand day (issue 21, "the same idea for manual
coupon issuing"): a 门店导购 allowed a coupon or two must not hand out fifty by submitting fifty
times. Past the role's daily caps (per member, per user; CouponSettings) the issue waits for a
brand admin, who approves it (issued exactly once) or rejects it. Defaults for store staff: 1 per
member and 5 per user per brand day."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django_tenants.utils import schema_context

from coupons.manual_issue import (
    HELD_MESSAGE,
    coupon_issue_request_approve,
    coupon_issue_request_reject,
    coupon_settings_get,
    coupons_issue_manual,
)
from coupons.models import Coupon, CouponIssueMemberDay, CouponIssueRequest, CouponIssueUserDay
from crm.errors import AppError
from members import roles
from members.models import Member
from tests.conftest import logged_in_client
from tests.factories import MemberFactory, StoreFactory
from tests.members.conftest import staff_user_create
from tests.members.loyalty_scene import throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

from .scene import NOW, audit_clean, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]
race_brand = throwaway_brand
DAY = NOW.date()


def user_in(role: str, username: str) -> User:
    user = User.objects.create_user(username=username, password="x-Secret-2026", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def coupons_of(tpl) -> int:
    return Coupon.objects.filter(template=tpl).count()


# --- the attack, as a clerk would do it ----------------------------------------------------------


def test_a_store_clerk_issuing_in_ten_small_pieces_stops_at_the_daily_cap_and_the_rest_waits(in_brand_a):
    """Ten submits of 发放给会员, one customer each, fresh batch numbers: five go out (the clerk's
    own cap), five wait for a brand admin with the message saying so; nothing else is issued."""
    store = StoreFactory.create(code="SH01")
    customers = MemberFactory.create_batch(10, home_store=store)
    stranger = MemberFactory.create()  # another store's member: not in the clerk's scope
    staff_user_create(store=store, role=roles.STORE_STAFF, username="clerk@alpha.example")
    clerk = logged_in_client("alpha", "clerk@alpha.example")
    tpl = template()
    url = reverse("admin:coupons_coupontemplate_issue", args=[tpl.pk])
    assert "您本人每日 5 张" in clerk.get(url).content.decode()

    shown = []
    for n, member in enumerate(customers):
        response = clerk.post(url, {"member_numbers": member.member_no, "batch": f"piece-{n}"}, follow=True)
        shown.append(" ".join(str(m) for m in response.context["messages"]))

    assert coupons_of(tpl) == 5
    assert all("已发放 1 张" in text for text in shown[:5])
    assert all(HELD_MESSAGE in text for text in shown[5:])
    waiting = list(CouponIssueRequest.objects.order_by("id"))
    assert [(r.members_count, r.status, r.exceeded) for r in waiting] == [(1, "pending", "user_day")] * 5
    assert CouponIssueUserDay.objects.get(biz_date=DAY).total == 5
    # Out of the clerk's store: not issued, not counted, said so.
    response = clerk.post(url, {"member_numbers": stranger.member_no, "batch": "stranger"}, follow=True)
    assert "不在您的门店范围内 1 个" in " ".join(str(m) for m in response.context["messages"])
    assert not Coupon.objects.filter(member=stranger).exists()
    audit_clean()


def test_one_customer_in_pieces_stops_at_the_members_cap_whoever_issues(in_brand_a):
    member = MemberFactory.create()
    first, second = user_in(roles.STORE_STAFF, "a"), user_in(roles.STORE_STAFF, "b")
    tpl = template()

    outcomes = [
        coupons_issue_manual(template_id=tpl.pk, member_ids=[member.pk], batch=f"p{n}", user=user)
        for n, user in enumerate([first, first, second])
    ]

    assert [o.held for o in outcomes] == [False, True, True]
    assert coupons_of(tpl) == 1
    assert {o.request.exceeded for o in outcomes[1:]} == {"member_day"}
    assert CouponIssueMemberDay.objects.get(member=member, biz_date=DAY).total == 1


def test_one_issue_past_a_cap_is_held_whole_and_a_resubmit_finds_it(in_brand_a):
    members = MemberFactory.create_batch(6)
    staff = user_in(roles.STORE_STAFF, "s")
    tpl = template()
    ids = [m.pk for m in members]

    held = coupons_issue_manual(template_id=tpl.pk, member_ids=ids, batch="six", user=staff)
    again = coupons_issue_manual(template_id=tpl.pk, member_ids=list(reversed(ids)), batch="six", user=staff)

    assert held.held and again.request.pk == held.request.pk
    assert coupons_of(tpl) == 0 and not CouponIssueUserDay.objects.filter(total__gt=0).exists()
    with pytest.raises(AppError) as other:
        coupons_issue_manual(template_id=tpl.pk, member_ids=ids[:2], batch="six", user=staff)
    assert other.value.code == "coupon_issue_conflict"


def test_a_double_submit_and_members_who_get_nothing_do_not_count(in_brand_a):
    staff = user_in(roles.STORE_STAFF, "s")
    tpl = template(per_member_limit=1)
    member, frozen = MemberFactory.create(), MemberFactory.create(status=Member.Status.FROZEN)
    earlier = user_in(roles.BRAND_ADMIN, "boss")
    coupons_issue_manual(template_id=tpl.pk, member_ids=[member.pk], batch="boss", user=earlier)

    # Over the template's own limit, and frozen: nothing issued, nothing counted.
    result = coupons_issue_manual(template_id=tpl.pk, member_ids=[member.pk, frozen.pk], batch="x", user=staff).result
    assert result is not None and (result.issued_now, result.over_limit) == (0, 1)
    assert CouponIssueUserDay.objects.get(user=staff).total == 0
    assert not CouponIssueMemberDay.objects.filter(total__gt=0).exists()  # the brand admin is not counted

    other = MemberFactory.create()
    for _ in range(3):  # a triple click of one batch: one coupon, counted once
        coupons_issue_manual(template_id=tpl.pk, member_ids=[other.pk], batch="y", user=staff)
    assert Coupon.objects.filter(member=other).count() == 1
    assert CouponIssueUserDay.objects.get(user=staff).total == 1
    audit_clean()


def test_brand_admins_are_not_limited_and_a_role_with_cap_zero_may_not_issue(in_brand_a):
    tpl = template()
    boss = user_in(roles.BRAND_ADMIN, "boss")
    members = MemberFactory.create_batch(8)
    outcome = coupons_issue_manual(template_id=tpl.pk, member_ids=[m.pk for m in members], batch="all", user=boss)
    assert outcome.result is not None and outcome.result.issued_now == 8

    settings = coupon_settings_get()
    settings.issue_staff_per_user_day = 0
    settings.save()
    with pytest.raises(AppError) as refused:
        coupons_issue_manual(
            template_id=tpl.pk, member_ids=[members[0].pk], batch="no", user=user_in(roles.STORE_STAFF, "s")
        )
    assert refused.value.code == "coupon_issue_forbidden"


# --- the approval queue ------------------------------------------------------------------------


def _held_request(tpl, staff: User) -> CouponIssueRequest:
    members = MemberFactory.create_batch(6)
    outcome = coupons_issue_manual(template_id=tpl.pk, member_ids=[m.pk for m in members], batch="big", user=staff)
    assert outcome.request is not None
    return outcome.request


def test_approving_twice_issues_once_and_records_who_and_when(in_brand_a):
    tpl = template()
    staff, boss = user_in(roles.STORE_STAFF, "s"), user_in(roles.BRAND_ADMIN, "boss")
    waiting = _held_request(tpl, staff)

    first = coupon_issue_request_approve(issue_request=waiting, actor=boss, note="节日补发")
    second = coupon_issue_request_approve(issue_request=waiting, actor=boss)

    assert coupons_of(tpl) == 6
    assert (first.status, first.decided_by_id, first.decided_at, first.issued) == ("approved", boss.pk, NOW, 6)
    assert (second.decided_at, second.decision_reason) == (NOW, "节日补发")
    assert set(Coupon.objects.filter(template=tpl).values_list("source_key", flat=True)) == {"admin:big"}
    with pytest.raises(AppError) as late:
        coupon_issue_request_reject(issue_request=waiting, actor=boss, reason="晚了")
    assert late.value.code == "coupon_issue_request_decided"
    audit_clean()


def test_rejecting_needs_a_reason_issues_nothing_and_only_a_brand_admin_decides(in_brand_a):
    tpl = template()
    staff, boss = user_in(roles.STORE_STAFF, "s"), user_in(roles.BRAND_ADMIN, "boss")
    marketer = user_in(roles.HQ_MARKETER, "hq")
    waiting = _held_request(tpl, staff)

    for not_allowed in (staff, marketer):
        with pytest.raises(AppError) as refused:
            coupon_issue_request_approve(issue_request=waiting, actor=not_allowed)
        assert refused.value.code == "coupon_issue_approval_forbidden"
    with pytest.raises(AppError):
        coupon_issue_request_reject(issue_request=waiting, actor=boss, reason=" ")
    rejected = coupon_issue_request_reject(issue_request=waiting, actor=boss, reason="不符合发券规则")
    assert (rejected.status, rejected.decision_reason) == ("rejected", "不符合发券规则")
    with pytest.raises(AppError):
        coupon_issue_request_approve(issue_request=waiting, actor=boss)
    assert coupons_of(tpl) == 0


def test_the_queue_page_lets_a_brand_admin_approve_and_a_double_click_issues_once(in_brand_a, admin_client_a):
    tpl = template()
    store = StoreFactory.create(code="SH02")
    staff_user_create(store=store, role=roles.STORE_STAFF, username="clerk2@alpha.example")
    staff = User.objects.get(username="clerk2@alpha.example")
    waiting = _held_request(tpl, staff)

    queue = admin_client_a.get(reverse("admin:coupons_couponissuerequest_changelist")).content.decode()
    assert "满100减20" in queue and "员工当日累计超限" in queue and "clerk2@alpha.example" in queue
    url = reverse("admin:coupons_couponissuerequest_decide", args=[waiting.pk])
    page = admin_client_a.get(url).content.decode()
    assert "批准并发放" in page and "2027-06-15 10:00" in page
    for _ in range(2):
        admin_client_a.post(url, {"_approve": "1", "note": ""})
    assert coupons_of(tpl) == 6
    waiting.refresh_from_db()
    assert waiting.status == "approved" and "发放 6 张" in waiting.result
    # The clerk sees the request, read-only.
    clerk = logged_in_client("alpha", "clerk2@alpha.example")
    assert "批准并发放" not in clerk.get(url).content.decode()
    assert clerk.post(url, {"_approve": "1"}).status_code == 403


# --- under real concurrency -----------------------------------------------------------------------


def test_ten_concurrent_pieces_by_one_clerk_issue_exactly_the_cap(race_brand):
    with schema_context(race_brand.schema_name):
        tpl = template()
        members = MemberFactory.create_batch(10)
        clerk = user_in(roles.STORE_STAFF, "clerk")
    outcomes: list[bool] = []

    def piece(member: Member, n: int) -> Callable[[], None]:
        def job() -> None:
            result = coupons_issue_manual(template_id=tpl.pk, member_ids=[member.pk], batch=f"race-{n}", user=clerk)
            outcomes.append(result.held)

        return job

    errors = run_in_threads(race_brand, [piece(m, n) for n, m in enumerate(members)])
    assert errors == []
    with schema_context(race_brand.schema_name):
        assert sorted(outcomes) == [False] * 5 + [True] * 5
        assert Coupon.objects.filter(template=tpl).count() == 5
        assert CouponIssueUserDay.objects.get(user=clerk).total == 5
        assert CouponIssueRequest.objects.filter(status="pending").count() == 5
        audit_clean(race_brand.schema_name)


def test_a_request_approved_by_two_admins_at_once_issues_once(race_brand):
    with schema_context(race_brand.schema_name):
        tpl = template()
        clerk = user_in(roles.STORE_STAFF, "clerk")
        admins = [user_in(roles.BRAND_ADMIN, f"boss-{n}") for n in range(2)]
        waiting = _held_request(tpl, clerk)
    decided: list[int | None] = []

    def approve(admin: User) -> Callable[[], None]:
        def job() -> None:
            decided.append(coupon_issue_request_approve(issue_request=waiting, actor=admin).decided_by_id)

        return job

    errors = run_in_threads(race_brand, [approve(admin) for admin in admins])
    assert errors == []
    with schema_context(race_brand.schema_name):
        assert Coupon.objects.filter(template=tpl).count() == 6
        assert len(decided) == 2 and len(set(decided)) == 1  # both see the one approval
        audit_clean(race_brand.schema_name)
