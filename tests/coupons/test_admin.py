"""The brand admin: a template typed in yuan, shown in words; issue to members by number; the
write-off list in yuan and brand time; the report as CSV; refusals as Chinese messages."""

import datetime as dt

import pytest

from coupons.models import Coupon, CouponTemplate
from coupons.services import coupon_codes_generate, coupon_issue, coupon_redeem, coupons_audit
from tests.factories import MemberFactory

from .scene import fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]


def test_a_template_is_typed_in_yuan_and_shown_in_words(in_brand_a, admin_client_a):
    response = admin_client_a.post(
        "/admin/coupons/coupontemplate/add/",
        {
            "name": "夏日满减",
            "kind": "amount_off",
            "threshold_yuan": "199",
            "amount_off_yuan": "30.50",
            "code_mode": "generic",
            "generic_code": "summer-30",
            "stock_total": "100",
            "validity_kind": "fixed",
            "valid_until_date": "2027-06-30",
            "wait_days": "0",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = CouponTemplate.objects.get(name="夏日满减")
    assert (created.threshold_fen, created.amount_off_fen, created.generic_code, created.stock_left) == (
        19_900,
        3_050,
        "SUMMER30",
        100,
    )
    page = admin_client_a.get("/admin/coupons/coupontemplate/").content.decode()
    assert "满 ¥199.00 减 ¥30.50" in page
    assert "至 2027-06-30" in page
    assert "100 / 100" in page


def test_issue_to_members_by_number_and_again_changes_nothing(in_brand_a, admin_client_a):
    tpl = template(stock_total=5)
    members = MemberFactory.create_batch(2)
    numbers = "\n".join(m.member_no for m in members) + "\nNOSUCH"
    for _ in range(2):
        response = admin_client_a.post(
            f"/admin/coupons/coupontemplate/{tpl.pk}/issue/", {"member_numbers": numbers, "batch": "b-618"}
        )
        assert response.status_code == 302
    assert Coupon.objects.filter(template=tpl).count() == 2
    assert coupons_audit() == []


def test_issue_to_a_segment_by_tag_and_neither_or_both_is_refused(in_brand_a, admin_client_a):
    from members.models import MemberTag, Tag

    tpl = template(stock_total=10)
    vip = Tag.objects.create(name="高价值")
    tagged = MemberFactory.create_batch(3)
    MemberFactory.create()  # not tagged: gets nothing
    MemberTag.objects.bulk_create([MemberTag(member=m, tag=vip) for m in tagged])
    url = f"/admin/coupons/coupontemplate/{tpl.pk}/issue/"

    done = admin_client_a.post(url, {"tag": vip.pk, "batch": "vip-1"}, follow=True)

    assert "已发放 3 张" in " ".join(str(m) for m in done.context["messages"])
    assert "标签“高价值”共 3 人" in " ".join(str(m) for m in done.context["messages"])
    assert set(Coupon.objects.filter(template=tpl).values_list("member_id", flat=True)) == {m.pk for m in tagged}
    for form in ({"batch": "x"}, {"batch": "y", "tag": vip.pk, "member_numbers": tagged[0].member_no}):
        page = admin_client_a.post(url, form).content.decode()
        assert "请填写会员号，或选择一个会员标签（二选一）。" in page
    assert Coupon.objects.filter(template=tpl).count() == 3
    assert coupons_audit() == []


def test_write_offs_and_report_in_yuan(in_brand_a, admin_client_a):
    tpl = template(code_mode=CouponTemplate.CodeMode.GENERATED, generic_code="")
    coupon_codes_generate(template_id=tpl.pk, count=1)
    member = MemberFactory.create()
    coupon = coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key="a", actor="x")
    coupon_redeem(
        request_no="W1",
        code=coupon.code,
        member_id=None,
        store_code=None,
        channel="store",
        order_no="O-9",
        order_amount_fen=12_345,
        actor="pos",
    )
    page = admin_client_a.get("/admin/coupons/couponredemption/").content.decode()
    assert "¥123.45" in page and "¥20.00" in page and "2027-06-15 10:00" in page
    report = admin_client_a.get("/admin/coupons/coupontemplate/report/?by=template&format=csv")
    text = report.content.decode("utf-8-sig")
    assert "满100减20" in text and "发放" in text
    assert admin_client_a.get("/admin/coupons/coupontemplate/report/?by=store").status_code == 200


def test_a_locked_template_change_is_refused_with_a_chinese_message(in_brand_a, admin_client_a):
    tpl = template()
    coupon_issue(template_id=tpl.pk, member_id=MemberFactory.create().pk, source="admin", source_key="a", actor="x")
    response = admin_client_a.post(
        f"/admin/coupons/coupontemplate/{tpl.pk}/change/",
        {
            "name": tpl.name,
            "kind": "amount_off",
            "threshold_yuan": "100",
            "amount_off_yuan": "50",
            "code_mode": "generic",
            "generic_code": "SUMMER20",
            "validity_kind": "fixed",
            "valid_until_date": "2027-06-30",
            "wait_days": "0",
            "is_active": "on",
        },
        follow=True,
    )
    assert "该券已发放，只能增加库存、延后结束日期或停止发放" in response.content.decode()
    tpl.refresh_from_db()
    assert tpl.amount_off_fen == 2_000
    assert dt.date(2027, 6, 30) == tpl.valid_until_date
