"""我的优惠券 in the member centre: the signed-in member's own coupons only (no id in the URL), in
three tabs with the benefit in words and yuan, brand-local dates, the generated code as a QR for
the counter; the tile on the card page counts the usable ones; each brand sees its own."""

import pytest
from django_tenants.utils import schema_context

from coupons.models import CouponTemplate
from coupons.services import coupon_codes_generate, coupon_issue, coupon_redeem, coupon_void
from membercentre.services.links import member_centre_link_path
from tests.coupons.scene import fixed_clock, template
from tests.factories import MemberFactory

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]


def pooled(**fields) -> CouponTemplate:
    tpl = template(code_mode=CouponTemplate.CodeMode.GENERATED, generic_code="", **fields)
    coupon_codes_generate(template_id=tpl.pk, count=5)
    return tpl


def give(tpl, member, key="k"):
    return coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key=key, actor="boss")


def signed_in(client, member) -> None:
    assert client.get(member_centre_link_path(member_id=member.pk))["Location"] == "/m/"


def test_my_coupons_in_three_tabs_with_a_qr_and_only_my_own(member_a, client_a, client_b, brand_b):
    mine = give(pooled(name="夏日满减券"), member_a)
    used = give(pooled(name="已用的券", amount_off_fen=1_000), member_a)
    coupon_redeem(
        request_no="R1",
        code=used.code,
        member_id=None,
        store_code=None,
        channel="store",
        order_no="O1",
        order_amount_fen=15_000,
        actor="pos",
    )
    voided = give(pooled(name="作废的券"), member_a)
    coupon_void(coupon_id=voided.pk, reason="测试", actor="boss")
    give(template(name="通用券 SUMMER"), member_a, key="g")
    someone_else = MemberFactory.create()
    give(pooled(name="别人的券"), someone_else)
    with schema_context(brand_b.schema_name):
        beta_member = MemberFactory.create()
        give(pooled(name="贝塔专属券"), beta_member)
        beta_link = member_centre_link_path(member_id=beta_member.pk)

    signed_in(client_a, member_a)
    home = client_a.get("/m/").content.decode()
    assert "我的优惠券" in home and "2 张可用" in home and "/m/coupons/" in home

    usable = client_a.get("/m/coupons/").content.decode()
    assert "夏日满减券" in usable and "满 ¥100.00 减 ¥20.00" in usable
    assert "有效期至 2027-06-30 23:59" in usable  # the brand's end of day, not UTC
    assert 'aria-label="优惠券二维码"' in usable and "-".join([mine.code[:4], mine.code[4:8]]) in usable
    assert "通用券 SUMMER" in usable and "到店出示会员码" in usable
    assert "已用的券" not in usable and "别人的券" not in usable and "贝塔专属券" not in usable

    used_tab = client_a.get("/m/coupons/?tab=used").content.decode()
    assert "已用的券" in used_tab and "已于 2027-06-15 10:00 使用" in used_tab and 'class="qr"' not in used_tab
    expired_tab = client_a.get("/m/coupons/?tab=expired").content.decode()
    assert "作废的券" in expired_tab and "已作废" in expired_tab

    assert client_b.get(beta_link)["Location"] == "/m/"
    beta = client_b.get("/m/coupons/").content.decode()
    assert "贝塔专属券" in beta and "夏日满减券" not in beta


def test_my_coupons_needs_a_sign_in(client_a, member_a):
    response = client_a.get("/m/coupons/")
    assert response.status_code == 302 and response["Location"].startswith("/m/login/")
