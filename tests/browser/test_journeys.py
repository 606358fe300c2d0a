"""Three journeys in a real browser against a real server (see conftest.py)."""

import datetime as dt
from typing import Any

import httpx
import pytest
from django_tenants.utils import schema_context

from campaigns.models import Campaign
from consent.models import ConsentRecord, ConsentSession
from consent.services.sessions import consent_session_open, consent_session_path
from crm.api.services import api_key_create
from dashboard.services import dashboard_refresh
from members.models import IdentityKind, Member, Order, SalesChannel
from members.roles import HQ_MARKETER, STORE_STAFF
from members.services.stores import staff_ensure, staff_login_link, store_ensure
from tests.browser.conftest import PASSWORD, SCREENSHOTS, base_url, login
from tests.campaigns.scenes import consenting_member, marketing_agreement_publish
from tests.members.loyalty_scene import program, tiers

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile"}


def test_store_staff_enrol_a_customer_with_consent_and_record_a_purchase(
    server: int, live_brand: Any, browser: Any
) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        program()
        tiers()
        marketing_agreement_publish()
        store = store_ensure(code="SH01", name="上海静安店")
        staff = staff_ensure(store=store, name="王导购", wecom_userid="wang")
        staff_login_link(staff=staff, username="wang", role=STORE_STAFF, password=PASSWORD)
        # The store's consent tablet/QR display: a session for this staff member.
        session = consent_session_open(staff_id=staff.pk, actor="wang")
        consent_path = consent_session_path(session=session)
        pos_key = api_key_create(partner_name="门店 POS", scopes=["orders:write"]).plaintext

    # The customer scans the QR code: their phone opens the link and decides per purpose.
    phone = browser.new_context(**PHONE)
    customer = phone.new_page()
    customer.goto(f"{url}{consent_path}")
    assert customer.locator("input[name=purpose]:checked").count() == 0  # nothing pre-ticked
    customer.check("input[name=purpose][value=membership]")
    customer.check("input[name=purpose][value=marketing_sms]")
    customer.screenshot(path=SCREENSHOTS / "a1-customer-consent.png", full_page=True)
    customer.locator("form button[type=submit], form [type=submit]").first.click()
    customer.wait_for_load_state()
    assert "已收到您的选择" in customer.content()
    phone.close()

    # The store staff member enrols the customer with the decisions the customer just made.
    context = browser.new_context()
    page = context.new_page()
    login(page, url, "wang")
    page.goto(f"{url}/admin/members/member/enrol/")
    page.fill("#id_name", "李小红")
    page.fill("#id_mobile", "13912345678")
    # The consent is the customer's, from their phone: the staff member picks that session and
    # ticks nothing on the customer's behalf.
    page.select_option("#id_consent_session", str(session.pk))
    assert page.locator("input[type=checkbox][name*=purpose]:checked, input[name$=_membership]:checked").count() == 0
    page.screenshot(path=SCREENSHOTS / "a2-staff-enrol.png", full_page=True)
    page.locator("#content form [type=submit], #content form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert "入会成功" in page.content()

    # The purchase is recorded by the store's POS through the partner API, as in production.
    paid_at = dt.datetime.now(tz=dt.UTC).isoformat()
    order = {
        "channel": SalesChannel.STORE,
        "order_no": "POS-0001",
        "paid_at": paid_at,
        "amount_fen": 25_800,
        "store": "SH01",
        "buyer": {"kind": IdentityKind.MOBILE, "value": "13912345678"},
    }
    response = httpx.post(
        f"http://127.0.0.1:{server}/api/v1/orders",
        json=order,
        headers={"Host": f"{live_brand.schema_name}.localhost", "Authorization": f"Api-Key {pos_key}"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    page.reload()
    page.screenshot(path=SCREENSHOTS / "a3-member-after-purchase.png", full_page=True)
    context.close()

    with schema_context(live_brand.schema_name):
        member = Member.objects.get(mobile="+8613912345678")
        assert member.enrolled_by_id == staff.pk and member.home_store_id == store.pk
        assert member.points_balance == 258
        assert Order.objects.get(order_no="POS-0001").member_id == member.pk
        records = ConsentRecord.objects.filter(member=member)
        granted = {record.purpose for record in records if record.granted}
        assert granted == {"membership", "marketing_sms"}
        # Every record carries the phone's evidence (the customer's own device), not the counter's.
        assert all(
            record.evidence.get("consent_session") == str(session.pk) and "iPhone" in record.evidence["user_agent"]
            for record in records
        )
        session.refresh_from_db()
        assert (session.status, session.member_id) == (ConsentSession.Status.CONSUMED, member.pk)


def test_marketer_builds_previews_and_launches_a_member_day(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        marketing_agreement_publish()
        for _ in range(3):
            consenting_member("marketing_sms")
        consenting_member()  # no SMS consent: excluded in the preview
        staff = staff_ensure(store=None, name="总部小李", wecom_userid="hq-li")
        staff_login_link(staff=staff, username="hq-li", role=HQ_MARKETER, password=PASSWORD)

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    login(page, url, "hq-li")
    page.goto(f"{url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "八号会员日")
    page.select_option("#id_type", "member_day")
    page.fill("#id_bonus_points", "88")
    page.select_option("#id_message_channel", "sms")
    page.fill("#id_message_template", "{name}，今天会员日，双倍积分！")
    page.select_option("#id_frequency", "monthly")
    page.fill("#id_day_of_month", "8")
    page.fill("#id_time_of_day", "10:00")
    # Criteria are widgets, not codes to type: every lifecycle stage ticked matches everyone.
    for stage in ("awareness", "interest", "purchase", "loyalty"):
        page.check(f"input[name=lifecycle_stages][value={stage}]")
    page.fill("#id_points_min", "0")
    page.screenshot(path=SCREENSHOTS / "b1-campaign-form.png", full_page=True)
    # The store picker is a Chinese select2 (no English two-box "Choose … / Remove all").
    assert page.locator("#id_stores + .select2").count() == 1
    assert "Choose" not in page.locator("#campaign_form").inner_text()
    page.click("[name=_continue]")
    page.wait_for_load_state()
    with schema_context(live_brand.schema_name):
        campaign = Campaign.objects.get(name="八号会员日")
    page.goto(f"{url}/admin/campaigns/campaign/{campaign.pk}/preview/")
    preview = page.content()
    page.screenshot(path=SCREENSHOTS / "b2-campaign-preview.png", full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})  # a laptop: the cards and table still fit
    page.screenshot(path=SCREENSHOTS / "b2-campaign-preview-1024.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    assert "八号会员日" in preview
    # Three members gave SMS consent; the fourth is excluded (and the reason is listed per channel).
    assert page.locator("#audience-size").inner_text() == "3"
    assert "未授权该渠道：1" in page.locator("#channel-preview").inner_text()
    page.click("#go-publish")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "b3-campaign-publish-confirm.png", full_page=True)
    assert page.locator("#publish-reached").inner_text() == "3"
    page.click("#confirm-publish")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "b3-campaign-published.png", full_page=True)
    assert "已发布" in page.content()
    context.close()
    with schema_context(live_brand.schema_name):
        assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED


def test_the_dashboard_renders_with_charts(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        marketing_agreement_publish()
        for _ in range(5):
            consenting_member("marketing_sms")
        dashboard_refresh()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    assert page.locator("#dashboard").is_visible()
    assert page.locator("svg.dash-chart").count() >= 4
    assert page.locator("#dash-members [data-figure=members-1]").inner_text() == "5"
    # The chart boxes have a real size on screen (styles loaded from our own static files).
    box = page.locator("#table-capture_trend svg.dash-chart").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
    page.screenshot(path=SCREENSHOTS / "c1-dashboard.png", full_page=True)
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SCREENSHOTS / f"c1-dashboard-{width}.png", full_page=True)
        page.screenshot(path=SCREENSHOTS / f"c1-dashboard-{width}-top.png")  # what one sees first
    # Table headers stay on one line (they used to wrap one character per line).
    header = page.locator("#table-members_tiers th").first
    box = header.bounding_box()
    assert box is not None and box["height"] < 60
    context.close()
