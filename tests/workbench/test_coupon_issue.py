"""发券 from the member's page — the workbench 360° page and the admin member page: one template to
this member, inside the login's store scope, within the login's daily caps (past them the issue
waits in 发券审批 with its stock reserved), one batch number per screen so a double submit issues
once, and the result said in words."""

import re

import pytest
from django.urls import reverse

from coupons.models import Coupon, CouponIssueRequest
from tests.coupons.scene import audit_clean, fixed_clock, template
from tests.workbench.conftest import STAFF_A

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _reference(body: str, form_id: str) -> str:
    form = body[body.index(f'id="{form_id}"') :]
    found = re.search(r'name="reference" value="([^"]+)"', form)
    assert found is not None
    return found.group(1)


def test_the_360_page_issues_one_coupon_once_and_says_so(staff_client, scene):
    lin = scene["lin"]
    tpl = template(name="会员日满100减20", stock_total=50)
    template(name="已停发的券", is_active=False)
    page = staff_client.get(reverse("workbench:member", args=[lin.pk])).content.decode()
    assert "会员日满100减20（满 ¥100.00 减 ¥20.00，剩余 50 张）" in page
    assert "已停发的券" not in page  # only what can be issued now
    form = {"template": tpl.pk, "reference": _reference(page, "wb-coupon-issue")}
    url = reverse("workbench:member_coupon_issue", args=[lin.pk])

    done = staff_client.post(url, form, follow=True)
    again = staff_client.post(url, form, follow=True)  # a double tap: the same batch

    assert f"已发放「会员日满100减20」给会员 {lin.member_no}。" in _messages(done)
    assert any("重复提交，未再次发放" in m for m in _messages(again))
    coupon = Coupon.objects.get(member=lin)
    assert coupon.source == "admin" and coupon.source_key.startswith("admin:issue-")
    assert "会员日满100减20" in again.content.decode()  # in the 优惠券 card now
    audit_clean()


def test_past_the_clerks_cap_the_issue_waits_with_its_stock_reserved(staff_client, scene):
    lin, wu = scene["lin"], scene["wu"]
    tpl = template(name="限量券", stock_total=3)
    url = reverse("workbench:member_coupon_issue", args=[lin.pk])
    staff_client.post(url, {"template": tpl.pk, "reference": "first"})  # the clerk's 1 per member a day

    held = staff_client.post(url, {"template": tpl.pk, "reference": "second"}, follow=True)

    text = " ".join(_messages(held))
    assert "已提交品牌管理员审批" in text and "已为其预留 1 张库存" in text
    request = CouponIssueRequest.objects.get()
    assert (request.status, request.reserved, request.member_ids) == ("pending", 1, [lin.pk])
    tpl.refresh_from_db()
    assert (tpl.stock_left, tpl.stock_reserved) == (1, 1)
    # Another member the same day: fine (the cap is per member and per login).
    staff_client.post(reverse("workbench:member_coupon_issue", args=[wu.pk]), {"template": tpl.pk, "reference": "x"})
    assert Coupon.objects.filter(template=tpl).count() == 2
    audit_clean()


def test_another_stores_member_and_a_refusal_change_nothing(staff_client, scene):
    tpl = template(stock_total=1)
    outside = staff_client.post(
        reverse("workbench:member_coupon_issue", args=[scene["zhou"].pk]), {"template": tpl.pk, "reference": "z"}
    )
    assert outside.status_code == 404
    staff_client.post(reverse("workbench:member_coupon_issue", args=[scene["wu"].pk]), {"template": tpl.pk})
    refused = staff_client.post(
        reverse("workbench:member_coupon_issue", args=[scene["lin"].pk]), {"template": tpl.pk}, follow=True
    )
    assert "库存不足，未发放" in " ".join(_messages(refused))
    nothing = staff_client.post(
        reverse("workbench:member_coupon_issue", args=[scene["lin"].pk]), {"template": ""}, follow=True
    )
    assert "请选择要发放的优惠券。" in _messages(nothing)
    assert list(Coupon.objects.values_list("member_id", flat=True)) == [scene["wu"].pk]
    audit_clean()


# --- the admin member page ---------------------------------------------------------------------------


def test_the_admin_member_page_has_a_coupon_action_that_issues_once(admin_client_a, scene):
    lin = scene["lin"]
    tpl = template(name="生日券", stock_total=10, per_member_limit=1)
    member_page = admin_client_a.get(reverse("admin:members_member_change", args=[lin.pk])).content.decode()
    url = reverse("admin:coupons_coupontemplate_issue_member", args=[lin.pk])
    assert url in member_page and "发券" in member_page

    page = admin_client_a.get(url).content.decode()
    assert "生日券（满 ¥100.00 减 ¥20.00，剩余 10 张）" in page and "林*" in page
    found = re.search(r'name="batch" value="([^"]+)"', page)
    assert found is not None
    batch = found.group(1)
    done = admin_client_a.post(url, {"template": tpl.pk, "batch": batch}, follow=True)
    again = admin_client_a.post(url, {"template": tpl.pk, "batch": batch}, follow=True)

    assert done.redirect_chain[-1][0] == reverse("admin:members_member_change", args=[lin.pk])
    assert f"已发放「生日券」给会员 {lin.member_no}。" in _messages(done)
    assert any("重复提交" in m for m in _messages(again))
    # A new screen, a new batch: the template's limit of 1 per member says no, in words.
    over = admin_client_a.post(url, {"template": tpl.pk, "batch": "another"}, follow=True)
    assert any("每人限领数量，未发放" in m for m in _messages(over))
    assert Coupon.objects.filter(member=lin).count() == 1
    audit_clean()


def test_the_admin_action_is_scoped_and_offered_only_to_those_who_may_issue(scene):
    from coupons.manual_issue import coupon_settings_get
    from tests.conftest import logged_in_client

    tpl = template(stock_total=5)
    clerk = logged_in_client("alpha", STAFF_A)
    lin, zhou = scene["lin"], scene["zhou"]
    member_page = clerk.get(reverse("admin:members_member_change", args=[lin.pk])).content.decode()
    assert reverse("admin:coupons_coupontemplate_issue_member", args=[lin.pk]) in member_page
    assert clerk.get(reverse("admin:coupons_coupontemplate_issue_member", args=[zhou.pk])).status_code == 404
    held = clerk.post(
        reverse("admin:coupons_coupontemplate_issue_member", args=[lin.pk]), {"template": tpl.pk, "batch": "b1"}
    )
    assert held.status_code == 302

    settings = coupon_settings_get()
    settings.issue_staff_per_user_day = 0  # store staff may not issue by hand any more
    settings.save()
    member_page = clerk.get(reverse("admin:members_member_change", args=[lin.pk])).content.decode()
    assert reverse("admin:coupons_coupontemplate_issue_member", args=[lin.pk]) not in member_page
    assert clerk.get(reverse("admin:coupons_coupontemplate_issue_member", args=[lin.pk])).status_code == 403
    page = clerk.get(reverse("workbench:member", args=[lin.pk])).content.decode()
    assert "wb-coupon-issue" not in page
    assert Coupon.objects.filter(template=tpl).count() == 1


def _sidebar_active(page: str) -> list[str]:
    """The sidebar entries the theme marks as the current page's (their links)."""
    return re.findall(r'<a href="([^"]+)" class="[^"]*\bactive"', page)


def test_the_sidebar_marks_where_the_person_is(admin_client_a, scene):
    """发券 opened from a member's page is under 会员, not 优惠券模板; the coupon report is only
    优惠券报表 (its link is longer than 优惠券模板's, which prefixes it)."""
    lin = scene["lin"]
    issue = admin_client_a.get(reverse("admin:coupons_coupontemplate_issue_member", args=[lin.pk])).content.decode()
    report = admin_client_a.get(reverse("admin:coupons_coupontemplate_report")).content.decode()
    templates = admin_client_a.get(reverse("admin:coupons_coupontemplate_changelist")).content.decode()

    assert _sidebar_active(issue) == [reverse("admin:members_member_changelist")]
    assert _sidebar_active(report) == [reverse("admin:coupons_coupontemplate_report")]
    assert _sidebar_active(templates) == [reverse("admin:coupons_coupontemplate_changelist")]
