"""核销优惠券 on the workbench: the member code (or a coupon code) finds the member inside the
login's store scope; their coupons are listed with why the others cannot be used here; a write-off
against an order number and an amount in yuan goes through coupons.services.coupon_redeem with the
form's request number (a double submit is a replay) and consumes the member code in the same
transaction; another store's member or coupon is refused; refusals are in Chinese and change
nothing. The member 360° page shows the coupons as a card."""

import pytest
from django.urls import reverse

from coupons.models import Coupon, CouponRedemption, CouponTemplate
from coupons.services import coupon_codes_generate, coupon_issue
from membercentre.models import MemberCode
from membercentre.services.codes import member_code_issue
from tests.coupons.scene import audit_clean, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]

URL = "/admin/workbench/coupons/"


def pooled(**fields) -> CouponTemplate:
    tpl = template(code_mode=CouponTemplate.CodeMode.GENERATED, generic_code="", **fields)
    coupon_codes_generate(template_id=tpl.pk, count=5)
    return tpl


def give(tpl, member, key="k") -> Coupon:
    return coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key=key, actor="boss")


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_member_code_lists_coupons_with_reasons_and_writes_one_off_once(staff_client, scene):
    lin = scene["lin"]
    usable = give(pooled(name="满100减20"), lin)
    give(pooled(name="杭州专享券", stores=[scene["store_b"]]), lin)
    code = member_code_issue(member_id=lin.pk).code

    page = staff_client.get(URL, {"q": code, "amount": "158"})
    body = page.content.decode()
    assert page.status_code == 200
    assert "满100减20" in body and "可使用" in body and "本单优惠 ¥20.00" in body
    assert "杭州专享券" in body and "该券不适用于本门店" in body  # why not, in words
    assert "林*" in body and "林小雨" not in body  # masked for store staff

    form = {
        "member": lin.pk,
        "coupon": usable.pk,
        "member_code": code,
        "reference": "screen-1",
        "order_no": "SH-0001",
        "amount": "158.00",
    }
    done = staff_client.post(URL, form, follow=True)
    assert any("已核销「满100减20」" in m and "优惠 ¥20.00" in m and "实付 ¥138.00" in m for m in _messages(done))
    again = staff_client.post(URL, form, follow=True)  # a double tap
    assert any("重复提交" in m for m in _messages(again))
    redemption = CouponRedemption.objects.get()
    assert (redemption.coupon_id, redemption.store.code, redemption.order_no, redemption.discount_fen) == (
        usable.pk,
        "SH001",
        "SH-0001",
        2_000,
    )
    usable.refresh_from_db()
    assert usable.state == Coupon.State.USED
    assert MemberCode.objects.get(member=lin).consumed_at is not None  # used once, for this write-off
    audit_clean()


def test_a_coupon_code_finds_its_member_and_a_refusal_changes_nothing(staff_client, scene):
    lin = scene["lin"]
    coupon = give(pooled(threshold_fen=10_000), lin)
    page = staff_client.get(URL, {"q": coupon.code.lower()})
    assert "满100减20" in page.content.decode() and lin.member_no in page.content.decode()

    below = staff_client.post(
        URL,
        {"member": lin.pk, "coupon": coupon.pk, "reference": "r-1", "order_no": "SH-2", "amount": "58"},
        follow=True,
    )
    assert "订单金额未达到使用门槛。" in _messages(below)
    bad_amount = staff_client.post(
        URL,
        {"member": lin.pk, "coupon": coupon.pk, "reference": "r-2", "order_no": "SH-2", "amount": "abc"},
        follow=True,
    )
    assert any("金额" in m for m in _messages(bad_amount))
    assert not CouponRedemption.objects.exists()
    coupon.refresh_from_db()
    assert coupon.state == Coupon.State.ISSUED
    audit_clean()


def test_another_stores_member_and_coupon_are_refused(staff_client, scene):
    zhou = scene["zhou"]  # a member of 杭州西湖店
    coupon = give(pooled(), zhou)
    by_code = staff_client.get(URL, {"q": coupon.code}).content.decode()
    assert "该会员不在您的门店范围内" in by_code and zhou.member_no not in by_code
    by_member_code = staff_client.get(URL, {"q": member_code_issue(member_id=zhou.pk).code}).content.decode()
    assert "该会员不在您的门店范围内" in by_member_code
    assert staff_client.get(URL, {"member": zhou.pk}).status_code == 404
    post = staff_client.post(
        URL, {"member": zhou.pk, "coupon": coupon.pk, "reference": "x", "order_no": "SH-9", "amount": "200"}
    )
    assert post.status_code == 404
    # Nor through one's own member: the coupon must be that member's.
    mine = staff_client.post(
        URL,
        {"member": scene["lin"].pk, "coupon": coupon.pk, "reference": "y", "order_no": "SH-9", "amount": "200"},
        follow=True,
    )
    assert "请选择该会员的一张优惠券。" in _messages(mine)
    assert not CouponRedemption.objects.exists()


def test_a_made_up_code_says_why(staff_client, scene):
    body = staff_client.get(URL, {"q": "NOSUCHCODE"}).content.decode()
    assert "券码不存在" in body


def test_the_member_page_shows_the_coupons_card(staff_client, scene):
    lin = scene["lin"]
    give(pooled(name="满100减20"), lin)
    body = staff_client.get(reverse("workbench:member", args=[lin.pk])).content.decode()
    assert "优惠券" in body and "满100减20" in body and "满 ¥100.00 减 ¥20.00" in body
    assert f"{URL}?member={lin.pk}" in body
