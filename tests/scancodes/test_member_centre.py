"""Scan-to-earn on the member centre: the card page's tile shows the member's latest claim and what
it earned and opens 我的扫码, the member's own claims only, in brand-local time; a member signed in
on the member centre claims on the scan page with one tap. Fixed clock: 15 June 2027, 10:00
Shanghai."""

import datetime as dt
from typing import Any

import pytest

from membercentre.services.links import member_centre_link_path
from scancodes.models import ScanCampaign
from scancodes.services import batch_generate, code_claim, segment_create
from tests.coupons.scene import NOW, fixed_clock, template
from tests.factories import MemberFactory

from .conftest import ctx, secret

pytestmark = pytest.mark.usefixtures("fixed_clock", "clean_cache")
__all__ = ["fixed_clock"]


def _scene() -> Any:
    points = ScanCampaign.objects.create(
        name="奶粉积分", points=25, starts_at=NOW - dt.timedelta(days=1), ends_at=NOW + dt.timedelta(days=9)
    )
    coupon = ScanCampaign.objects.create(
        name="奶粉送券",
        reward_kind="coupon",
        coupon_template=template(name="扫码满100减20"),
        starts_at=NOW - dt.timedelta(days=1),
        ends_at=NOW + dt.timedelta(days=9),
    )
    batch = batch_generate(sku="SKU-MILK", product_name="有机奶粉", quantity=10, actor="admin")
    first = batch.first_serial
    assert first is not None
    for lo, campaign in ((first, points), (first + 5, coupon)):
        segment_create(batch=batch, first_serial=lo, last_serial=lo + 4, campaign=campaign, actor="a", activate=True)
    return batch


def test_the_tile_shows_the_latest_claim_and_opens_my_scans(in_brand_a, client_a):
    batch = _scene()
    member, other = MemberFactory.create(), MemberFactory.create()
    first = batch.first_serial
    code_claim(serial=first, secret=secret(batch, first), member=member, ctx=ctx())
    code_claim(serial=first + 5, secret=secret(batch, first + 5), member=member, ctx=ctx())
    code_claim(serial=first + 1, secret=secret(batch, first + 1), member=other, ctx=ctx())

    assert client_a.get("/m/scans/")["Location"].startswith("/m/login/")  # signed in only
    client_a.get(member_centre_link_path(member_id=member.pk))
    home = client_a.get("/m/").content.decode()
    assert 'href="/m/scans/"' in home and "扫码领奖" in home
    assert "最近：有机奶粉 优惠券「扫码满100减20」" in home and "即将上线" not in home.split("扫码领奖")[1][:200]

    page = client_a.get("/m/scans/").content.decode()
    assert page.count('class="history-row"') == 2  # the other member's claim is not here
    assert "+25 积分" in page and "优惠券「扫码满100减20」" in page
    assert "2027-06-15 10:00" in page  # brand-local (Shanghai), not UTC 02:00
    assert "已领取" in page and "25 积分" in page and "优惠券 1 张" in page


def test_a_member_without_scans_is_invited_to_scan(in_brand_a, client_a):
    member = MemberFactory.create()
    client_a.get(member_centre_link_path(member_id=member.pk))
    assert "扫商品上的码领奖励" in client_a.get("/m/").content.decode()
    assert "还没有扫码领奖记录" in client_a.get("/m/scans/").content.decode()


def test_a_member_signed_in_on_the_member_centre_claims_with_one_tap(in_brand_a, client_a):
    batch = _scene()
    member = MemberFactory.create(name="王小明")
    client_a.get(member_centre_link_path(member_id=member.pk))
    serial = batch.first_serial
    page = client_a.get(f"/s/{serial}?k={secret(batch, serial)}").content.decode()
    assert "您好，王**" in page and "加入会员并领取奖励" not in page
    done = client_a.post(f"/s/{serial}", {"k": secret(batch, serial)}).content.decode()
    assert "领取成功，获得 25 积分" in done and 'href="/m/scans/"' in done
    member.refresh_from_db()
    assert member.points_balance == 25
