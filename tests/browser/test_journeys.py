"""Three journeys in a real browser against a real server (see conftest.py)."""

import datetime as dt
from typing import Any

import httpx
import pytest
from django.utils import timezone
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
from tests.campaigns.scenes import GRACE, SHANGHAI, consenting_member, marketing_agreement_publish
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


def _pick(page: Any, field: str, text: str) -> None:
    """Choose `text` in the Chinese select2 picker of `field` (click, type, Enter): as a person does."""
    page.click(f"#id_{field} + .select2 .select2-selection")
    page.locator(f"#id_{field} + .select2 .select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=text).first.wait_for()
    page.keyboard.press("Enter")


def _member_day_scene() -> dict[str, Any]:
    """Members for a member day with every criterion: ten who match all of them (SMS consent), one
    who matches but gave no SMS consent, one frozen, and one decoy per criterion that fails it alone."""
    from members.services.members import members_tag
    from tests.factories import StaffFactory, StoreFactory, TagFactory

    marketing_agreement_publish()
    levels = tiers()
    stores = {"sh": StoreFactory.create(name="上海静安店"), "hz": StoreFactory.create(name="杭州西湖店")}
    wang, li = (
        StaffFactory.create(name="王导购", store=stores["sh"]),
        StaffFactory.create(name="李导购", store=stores["sh"]),
    )
    coffee = TagFactory.create(name="咖啡爱好者")
    now = timezone.now()
    fits = {
        "tier": levels["gold"],
        "home_store": stores["sh"],
        "assigned_staff": wang,
        "lifecycle_stage": Member.Lifecycle.LOYALTY,
        "enrolled_at": dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC),
        "last_purchase_at": now - dt.timedelta(days=20),
        "points_balance": 500,
    }
    matching = [consenting_member("marketing_sms", **fits) for _ in range(10)]
    no_sms = consenting_member(**fits)
    frozen = consenting_member("marketing_sms", **fits)
    Member.objects.filter(pk=frozen.pk).update(status=Member.Status.FROZEN)
    decoys = [
        consenting_member("marketing_sms", **(fits | change))
        for change in (
            {"tier": levels["silver"]},
            {"home_store": stores["hz"]},
            {"assigned_staff": li},
            {"lifecycle_stage": Member.Lifecycle.INTEREST},
            {"enrolled_at": dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)},
            {"last_purchase_at": now - dt.timedelta(days=200)},  # not within 90 days
            {"last_purchase_at": now - dt.timedelta(hours=1)},  # within the last 7 days
            {"points_balance": 10},
        )
    ]
    untagged = consenting_member("marketing_sms", **fits)
    members_tag(member_ids=[m.pk for m in (*matching, no_sms, frozen, *decoys)], tag=coffee, actor="test")
    return {"matching": matching, "untagged": untagged, "gold": levels["gold"]}


def test_marketer_builds_previews_publishes_and_reads_the_results_of_a_member_day(
    server: int, live_brand: Any, browser: Any
) -> None:
    """Issue 24's journey: every audience criterion through its widget (ticks, pickers, dates,
    ranges), the per-channel preview, publishing with its confirmation, and after the run the
    results opened from the campaign's own page, at 1440 and 1024 px."""
    from campaigns.models import Occurrence, Recipient
    from campaigns.services import occurrence_for_trigger, occurrence_run

    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        scene = _member_day_scene()
        staff = staff_ensure(store=None, name="总部小李", wecom_userid="hq-li")
        staff_login_link(staff=staff, username="hq-li", role=HQ_MARKETER, password=PASSWORD)

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    login(page, url, "hq-li")
    page.goto(f"{url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "八号会员日")
    page.select_option("#id_type", "member_day")
    page.fill("#id_bonus_points", "88")
    page.select_option("#id_message_channel", "sms")
    page.fill("#id_message_template", "{name}，今天会员日，双倍积分！")
    # Criteria are widgets, not codes to type.
    page.check(f"input[name=tiers][value='{scene['gold'].pk}']")
    _pick(page, "stores", "上海静安店")
    _pick(page, "tags", "咖啡爱好者")
    _pick(page, "assigned_staff", "王导购")
    for stage in ("purchase", "loyalty"):
        page.check(f"input[name=lifecycle_stages][value={stage}]")
    page.fill("#id_enrolled_after", "2025-01-01")
    page.fill("#id_enrolled_before", "2026-11-30")
    page.fill("#id_purchased_within_days", "90")
    page.fill("#id_not_purchased_within_days", "7")
    page.fill("#id_holdout_pct", "20")
    # First a weekly schedule without a day and a points range upside down: said in words.
    page.select_option("#id_frequency", "weekly")
    page.fill("#id_time_of_day", "10:00")
    page.fill("#id_points_min", "1000")
    page.fill("#id_points_max", "100")
    page.click("[name=_continue]")
    page.wait_for_load_state()
    errors = page.locator(".errorlist").all_inner_texts()
    page.screenshot(path=SCREENSHOTS / "b0-campaign-form-errors.png", full_page=True)
    assert "积分上限不能小于下限。" in errors and "每周活动请至少选择一天。" in errors, errors
    # Corrected through the same widgets; what was chosen is still there.
    assert page.locator("#id_stores + .select2 .select2-selection__choice", has_text="上海静安店").count() == 1
    page.fill("#id_points_min", "100")
    page.fill("#id_points_max", "1000")
    page.check("input[name=weekdays][value='5']")  # 周五
    page.check("input[name=weekdays][value='6']")  # 周六
    page.screenshot(path=SCREENSHOTS / "b1-campaign-form.png", full_page=True)
    assert "Choose" not in page.locator("#campaign_form").inner_text()
    # The one-off's date and time halves say what they are in Chinese (the date's said "Date").
    placeholders = page.locator(".field-run_at input").evaluate_all("inputs => inputs.map(i => i.placeholder)")
    assert placeholders == ["日期", "时间"], placeholders
    page.click("[name=_continue]")
    page.wait_for_load_state()
    with schema_context(live_brand.schema_name):
        campaign = Campaign.objects.get(name="八号会员日")
        assert sorted(campaign.weekdays) == [5, 6] and campaign.points_max == 1000
        assert [t.name for t in campaign.tiers.all()] == ["金卡"]
        assert [s.name for s in campaign.assigned_staff.all()] == ["王导购"]
    page.click("#campaign-preview")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "b2-campaign-preview.png", full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})  # a laptop: the cards and table still fit
    page.screenshot(path=SCREENSHOTS / "b2-campaign-preview-1024.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    assert page.locator("#matching-size").inner_text() == "12"  # ten, the one without SMS consent, the frozen one
    reached = int(page.locator("#audience-size").inner_text())
    sms = page.locator("#channel-preview tr[data-channel=sms]").inner_text()
    holdout = int(page.locator("#channel-preview tr[data-channel=sms] td").nth(1).inner_text())
    assert reached + holdout == 10 and "未授权该渠道：1" in sms and "已冻结：1" in sms, sms
    page.click("#go-publish")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "b3-campaign-publish-confirm.png", full_page=True)
    summary = page.locator("#publish-summary").inner_text()
    assert page.locator("#publish-reached").inner_text() == str(reached)
    assert "短信" in summary and "赠送 88 积分" in summary and page.locator("#publish-next-run").inner_text() in summary
    page.click("#confirm-publish")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "b3-campaign-published.png", full_page=True)
    assert "已发布" in page.content()

    # The run at its slot, as the worker does it; the audience and the hold-out buy in its window.
    with schema_context(live_brand.schema_name):
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.SCHEDULED
        slot = dt.datetime.fromisoformat(campaign.published_preview["slot"])
        occurrence = occurrence_for_trigger(campaign_id=campaign.pk, now=slot + dt.timedelta(minutes=1), grace=GRACE)
        assert occurrence is not None
        occurrence_run(occurrence_id=occurrence.pk)
        occurrence = Occurrence.objects.get(pk=occurrence.pk)
        recipients = Recipient.objects.filter(occurrence=occurrence)
        assert recipients.filter(holdout=False).count() == reached  # the preview said so
        assert recipients.filter(holdout=True).count() == holdout
        assert scene["untagged"].pk not in set(recipients.values_list("member_id", flat=True))
        for n, recipient in enumerate(recipients.order_by("member_id")):
            Order.objects.create(
                channel=SalesChannel.STORE,
                order_no=f"MD{n}",
                paid_at=occurrence.window_start + dt.timedelta(hours=12),
                amount_fen=10_000 if recipient.holdout else 15_000,
                member_id=recipient.member_id,
                is_member_order=True,
            )
    page.goto(f"{url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.locator("#campaign-runs a").first.click()
    page.wait_for_load_state()
    results = page.locator("#campaign-results")
    page.screenshot(path=SCREENSHOTS / "b4-campaign-results.png", full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})
    page.screenshot(path=SCREENSHOTS / "b4-campaign-results-1024.png", full_page=True)
    text = results.inner_text()
    assert f"发布时预览触达 {reached} 人，实际触达 {reached} 人" in text
    assert f"对照组 {holdout} 人" in text
    # The run's time in the brand's zone (Beijing), as the campaign page said it.
    assert occurrence.slot.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") in page.inner_text("body")
    context.close()


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


def test_a_brand_admin_sees_a_freshly_seeded_brand_alive_and_narrows_it(
    server: int, live_brand: Any, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24's second journey: the demo seeders (as `serve` runs them, fewer members) fill a new
    brand; its admin's first screen has the figures at once (nobody refreshed anything), then the
    admin picks 近 30 天 and a store; at 1440 and 1024 px."""
    from crm.demo import demo_seeders
    from crm.tenancy.zones import brand_zone
    from members import demo as members_demo

    monkeypatch.setattr(members_demo, "MEMBER_COUNT", 40)
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        for seeder in demo_seeders():
            seeder()
        members = Member.objects.filter(status=Member.Status.ACTIVE).count()
        today = timezone.now().astimezone(brand_zone()).date()
        since = dt.datetime.combine(today - dt.timedelta(days=29), dt.time(), tzinfo=brand_zone())
        orders_30d = Order.objects.filter(paid_at__gte=since).count()
        member_orders_30d = Order.objects.filter(paid_at__gte=since, is_member_order=True).count()
    assert 0 < member_orders_30d < orders_30d  # walk-ins buy too

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    page.screenshot(path=SCREENSHOTS / "c2-seeded-dashboard-1440-top.png")
    page.screenshot(path=SCREENSHOTS / "c2-seeded-dashboard-1440.png", full_page=True)
    assert page.locator("#dash-members [data-figure=members-1]").inner_text() == str(members)
    assert page.locator("#dash-refreshed-at").inner_text()  # 更新于 HH:MM, computed at this first open
    page.set_viewport_size({"width": 1024, "height": 800})
    page.screenshot(path=SCREENSHOTS / "c2-seeded-dashboard-1024-top.png")
    page.screenshot(path=SCREENSHOTS / "c2-seeded-dashboard-1024.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})

    page.click("#dash-presets [data-range='30d']")
    page.wait_for_url("**range=30d**")
    assert page.locator("#dash-range [data-figure=range-2]").inner_text() == f"{orders_30d:,}"
    brand_wide = page.locator("#dash-range").inner_text()
    page.select_option("#dash-store-select", label="上海静安嘉里中心店")
    page.wait_for_url("**store=**")
    assert "range=30d" in page.url  # the range stays chosen
    assert page.locator("#dash-range").inner_text() != brand_wide  # one store's figures, not the brand's
    page.screenshot(path=SCREENSHOTS / "c3-seeded-dashboard-store-30d-1440-top.png")
    page.screenshot(path=SCREENSHOTS / "c3-seeded-dashboard-store-30d-1440.png", full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})
    page.screenshot(path=SCREENSHOTS / "c3-seeded-dashboard-store-30d-1024-top.png")
    context.close()
