"""The store workbench in a real browser (issue 23): staff find a member by 手机尾号 and record an
offline order; staff enrol a customer in at most 4 staff actions while the customer consents on
their own phone (a phone-sized second context); a brand admin creates a staff login and that
person signs in to their workbench. Screenshots: test-output/browser/w*.png."""

import re
from typing import Any

import pytest
from django_tenants.utils import schema_context

from consent.models import ConsentRecord
from members.models import Member, Order
from members.roles import STORE_STAFF
from members.services.orders import order_post
from members.services.points import points_award_bonus
from members.services.stores import staff_ensure, staff_login_link, store_ensure
from tests.browser.conftest import PASSWORD, SCREENSHOTS, base_url, login
from tests.campaigns.scenes import marketing_agreement_publish
from tests.members.conftest import decisions_for, membership_version_ensure
from tests.members.loyalty_scene import program, tiers

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile"}
DESK = {"viewport": {"width": 1440, "height": 900}}


def _store_scene() -> Any:
    program()
    tiers()
    marketing_agreement_publish()
    store = store_ensure(code="SH01", name="上海静安店")
    staff = staff_ensure(store=store, name="王导购", wecom_userid="wang")
    staff_login_link(staff=staff, username="wang", role=STORE_STAFF, password=PASSWORD)
    return store, staff


def test_staff_find_a_member_by_the_last_four_digits_and_record_an_offline_order(
    server: int, live_brand: Any, browser: Any
) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        from consent.types import ConsentEvidence
        from members.services.members import member_enroll

        store, staff = _store_scene()
        version = membership_version_ensure()
        member = member_enroll(
            name="林小雨",
            mobile="13900001234",
            home_store=store,
            staff=staff,
            decisions=decisions_for(version, marketing_sms=True),
            evidence=ConsentEvidence(channel="store", staff_id=staff.pk),
            actor="seed",
        )
        points_award_bonus(member=member, points=20, reference="memberday", reason="会员日活动")
        order_post(
            channel="store",
            order_no="POS-0001",
            paid_at=member.enrolled_at,
            amount_fen=39_900,
            store=store,
            buyer_kind="mobile",
            buyer_value="+8613900001234",
            actor="pos",
        )

    context = browser.new_context(**DESK)
    page = context.new_page()
    login(page, url, "wang")
    assert page.url.endswith("/admin/workbench/")  # store staff land on the workbench
    page.fill("input[name=q]", "1234")
    page.click("form.wb-search button")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "w1-workbench-search.png", full_page=True)
    assert "按手机尾号找到 1 位会员" in page.content()
    assert "林*" in page.content() and "139****1234" in page.content()
    page.click(f"text={member.member_no}")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "w2-member-360.png", full_page=True)
    body = page.content()
    assert "会员日活动赠送 20 积分" in body and "消费 ¥399.00（订单 POS-0001）" in body
    page.click("text=为该会员补录订单")
    page.fill("#id_order_no", "SH01-20260001")
    page.fill("#id_amount", "1,258.00")
    page.screenshot(path=SCREENSHOTS / "w3-offline-order.png", full_page=True)
    page.click("form.wb-form button[type=submit]")
    page.wait_for_load_state()
    assert "已录入订单 SH01-20260001：¥1,258.00，会员获得" in page.content()
    page.screenshot(path=SCREENSHOTS / "w4-member-after-order.png", full_page=True)
    context.close()

    with schema_context(live_brand.schema_name):
        order = Order.objects.get(order_no="SH01-20260001")
        assert (order.amount_fen, order.store_id, order.staff_id, order.member_id) == (
            125_800,
            store.pk,
            staff.pk,
            member.pk,
        )


def test_staff_enrol_a_customer_in_at_most_four_actions(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        store, staff = _store_scene()
        from engagement.models import ReferralCampaign
        from members.models import Identity
        from tests.factories import MemberFactory

        ReferralCampaign.objects.create(name="老带新有礼", active=True, qualifying="first_order")
        old_friend = MemberFactory.create(name="赵老友", mobile="+8613800001111")
        Identity.objects.create(member=old_friend, kind="mobile", value="+8613800001111")

    desk = browser.new_context(**DESK)
    page = desk.new_page()
    login(page, url, "wang")
    staff_actions = 0
    page.click("text=扫码入会")  # staff action 1
    staff_actions += 1
    page.wait_for_selector("#enrol-status [data-status=waiting]")
    page.screenshot(path=SCREENSHOTS / "w5-enrol-qr.png", full_page=True)
    link = page.locator("details input.wb-link").input_value()
    assert re.search(r"/m/join/[^/]+/$", link)

    phone = browser.new_context(**PHONE)
    customer = phone.new_page()
    customer.goto(link)
    assert customer.locator("input[name=purpose]:checked").count() == 0  # nothing pre-ticked
    customer.fill("input[name=mobile]", "13912345678")
    customer.fill("input[name=name]", "李小红")
    # An adult never sees the guardian's fields; saying "under 14" unfolds them.
    assert not customer.locator(".guardian-fields").is_visible()
    customer.check("#minor")
    assert customer.locator(".guardian-fields").is_visible()
    customer.screenshot(path=SCREENSHOTS / "w6a-phone-guardian-open.png", full_page=True)
    customer.uncheck("#minor")
    # Sent without the membership purpose: refused on the phone, and the staff screen says why.
    customer.click("button[type=submit]")
    customer.wait_for_load_state()
    assert "会员协议" in customer.locator(".error").inner_text()
    page.wait_for_selector("#enrol-status [data-status=refused]", timeout=10_000)
    assert "未勾选“会员服务”授权" in page.locator("#enrol-status").inner_text()
    page.screenshot(path=SCREENSHOTS / "w5b-enrol-refused.png", full_page=True)
    customer.check("input[name=purpose][value=membership]")
    customer.check("input[name=purpose][value=marketing_sms]")
    customer.screenshot(path=SCREENSHOTS / "w6-phone-join.png", full_page=True)
    customer.click("button[type=submit]")
    customer.wait_for_load_state()
    assert "欢迎加入" in customer.content() and "交还导购" not in customer.content()
    customer.screenshot(path=SCREENSHOTS / "w7-phone-card.png", full_page=True)
    phone.close()

    # The staff screen updates by itself (htmx polling): no reload, no click.
    page.wait_for_selector("#enrol-status [data-status=done]", timeout=10_000)
    page.screenshot(path=SCREENSHOTS / "w8-enrol-done.png", full_page=True)
    # 推荐人 (optional): the customer names the member who brought them; the form stays (no polling).
    page.fill("input[name=referrer]", "138 0000 1111")
    page.click("text=登记推荐人")  # staff action 2 (optional)
    page.wait_for_load_state()
    assert "已登记推荐人" in page.inner_text("body") and "赵*" in page.inner_text("#enrol-status")
    page.screenshot(path=SCREENSHOTS / "w8b-enrol-referrer.png", full_page=True)
    staff_actions += 1
    page.click("text=查看会员详情")  # staff action 3
    staff_actions += 1
    page.wait_for_load_state()
    assert "李*" in page.content()
    desk.close()
    assert staff_actions <= 4

    with schema_context(live_brand.schema_name):
        member = Member.objects.get(mobile="+8613912345678")
        assert (member.home_store_id, member.assigned_staff_id, member.enrolled_by_id) == (store.pk, staff.pk, staff.pk)
        granted = {r.purpose for r in ConsentRecord.objects.filter(member=member) if r.granted}
        assert granted == {"membership", "marketing_sms"}


def test_brand_admin_creates_a_staff_login_and_that_person_signs_in(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        store = store_ensure(code="HZ01", name="杭州西湖店")

    admin = browser.new_context(**DESK)
    page = admin.new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    page.goto(f"{url}/admin/workbench/staff-logins/")
    page.fill("#id_staff_name", "钱新人")
    page.select_option("#id_store", str(store.pk))
    page.select_option("#id_role", STORE_STAFF)
    page.fill("#id_username", "qian@example.com")
    page.click("form.wb-form button[type=submit]")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "w9-staff-login-created.png", full_page=True)
    link = page.locator("input.wb-link").input_value()
    admin.close()

    person = browser.new_context(**DESK)
    newcomer = person.new_page()
    newcomer.goto(link)
    newcomer.fill("#id_new_password1", "Qian-Store-2026!")
    newcomer.fill("#id_new_password2", "Qian-Store-2026!")
    newcomer.screenshot(path=SCREENSHOTS / "w10-set-password.png", full_page=True)
    newcomer.click("form.wb-form button[type=submit]")
    newcomer.wait_for_url(f"{url}/admin/login/")
    login(newcomer, url, "qian@example.com", "Qian-Store-2026!")
    assert newcomer.url.endswith("/admin/workbench/")
    assert "杭州西湖店" in newcomer.content()
    newcomer.screenshot(path=SCREENSHOTS / "w11-newcomer-workbench.png", full_page=True)
    person.close()
