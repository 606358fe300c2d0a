"""The back office as people see it (issue 23, items 1 and 7), at 1440 px in Chromium that asks
for English: Chinese pages, the grouped sidebar, yuan, masked names for store staff, the member
page's tools as buttons. Screenshots under test-output/browser (d*.png)."""

import datetime as dt
from typing import Any

import pytest
from django_tenants.utils import schema_context

from members.models import LoyaltyProgram, Member, Order, SalesChannel
from members.roles import STORE_STAFF
from members.services.stores import staff_ensure, staff_login_link, store_ensure
from tests.browser.conftest import PASSWORD, SCREENSHOTS, base_url, login
from tests.members.loyalty_scene import program, tiers

pytestmark = pytest.mark.browser
DESKTOP = {
    "viewport": {"width": 1440, "height": 900},
    "locale": "en-US",
    "extra_http_headers": {"Accept-Language": "en-US,en;q=0.9"},
}


def test_back_office_reads_chinese_yuan_and_masks(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        program()
        tiers()
        store = store_ensure(code="SH01", name="上海静安店")
        staff = staff_ensure(store=store, name="王导购", wecom_userid="wang")
        staff_login_link(staff=staff, username="wang", role=STORE_STAFF, password=PASSWORD)
        member = Member.objects.create(
            member_no="M00000201", name="林小雨", mobile="+8613812345678", home_store=store, assigned_staff=staff
        )
        order = Order.objects.create(
            channel=SalesChannel.STORE,
            order_no="POS-0001",
            store=store,
            member=member,
            is_member_order=True,
            amount_fen=125_800,
            paid_at=dt.datetime(2026, 11, 6, 23, 39, tzinfo=dt.UTC),
            buyer_kind="mobile",
            buyer_value="+8613812345678",
        )
        loyalty = LoyaltyProgram.objects.get()

    admin = browser.new_context(**DESKTOP)
    page = admin.new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    assert "积分与等级" in page.content() and "Welcome back" not in page.content()
    page.screenshot(path=SCREENSHOTS / "d1-admin-home.png", full_page=True)
    page.goto(f"{url}/admin/members/tier/")
    assert "¥1,000.00" in page.content()
    assert "silver" not in page.locator("#result_list").inner_text()  # names, not codes
    page.screenshot(path=SCREENSHOTS / "d2-tiers.png", full_page=True)
    page.goto(f"{url}/admin/members/loyaltyprogram/{loyalty.pk}/change/")
    assert "每积分价值（元）" in page.content() and page.locator("input[name=point_value_fen]").input_value() == "0.01"
    page.screenshot(path=SCREENSHOTS / "d2b-loyalty-program.png", full_page=True)
    page.goto(f"{url}/admin/members/order/{order.pk}/change/")
    content = page.content()
    assert "¥1,258.00" in content and "（分）" not in content and "138****5678" in content
    page.screenshot(path=SCREENSHOTS / "d3b-order.png", full_page=True)
    page.goto(f"{url}/admin/members/order/")
    content = page.content()
    assert "¥1,258.00" in content and "2026-11-07 07:39" in content
    page.screenshot(path=SCREENSHOTS / "d3-orders.png", full_page=True)
    page.goto(f"{url}/admin/members/member/{member.pk}/change/")
    assert "Save and add another" not in page.content()
    page.screenshot(path=SCREENSHOTS / "d4-member-admin.png", full_page=True)
    admin.close()

    store_context = browser.new_context(**DESKTOP)
    page = store_context.new_page()
    login(page, url, "wang")
    page.goto(f"{url}/admin/members/member/{member.pk}/change/")
    content = page.content()
    assert "林小雨" not in content and "13812345678" not in content
    page.screenshot(path=SCREENSHOTS / "d5-member-store-staff.png", full_page=True)
    store_context.close()
