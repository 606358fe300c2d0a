"""The member centre's check-in calendar at phone widths (390 px, and 360 px for the narrow
Android phones): a month with signed days, a gap that can be made up, today's check-in, the ladder
and the reminder card (WeCom channel). The screenshots are read by a person (test-output/browser)."""

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from engagement.models import CheckinLadderStep, EngagementSettings
from engagement.services.checkin import checkin_perform
from membercentre.services.links import member_centre_link_path
from members.services.points import points_award_bonus
from tests.browser.conftest import SCREENSHOTS, base_url
from tests.campaigns.scenes import marketing_agreement_publish
from tests.members.loyalty_scene import program

pytestmark = pytest.mark.browser
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.50"


@pytest.mark.parametrize("width", [390, 360])
def test_the_check_in_calendar_reads_well_on_a_phone(server: int, live_brand: Any, browser: Any, width: int) -> None:
    from tests.consent.conftest import enrolled

    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        program()
        marketing_agreement_publish()
        EngagementSettings.objects.update_or_create(
            singleton=True,
            defaults={
                "checkin_enabled": True,
                "checkin_cycle": EngagementSettings.CheckinCycle.MONTH,
                "checkin_reminder_enabled": True,
                "checkin_reminder_channel": EngagementSettings.ReminderChannel.WECOM,
                "checkin_reminder_hour": 20,
            },
        )
        CheckinLadderStep.objects.get_or_create(days=3, defaults={"reward_kind": "points", "amount": 30})
        CheckinLadderStep.objects.get_or_create(days=7, defaults={"reward_kind": "growth", "amount": 50})
        member = enrolled(granted=["marketing_wecom"], name="林小雨")
        points_award_bonus(member=member, points=200, reference=f"seed-{width}", reason="测试积分")
        # The days before today, the third one left out (a gap the member can make up).
        now = timezone.now()
        for back in (5, 4, 2, 1):
            checkin_perform(member=member, now=now - dt.timedelta(days=back))
        link_path = member_centre_link_path(member_id=member.pk)

    phone = browser.new_context(viewport={"width": width, "height": 844}, device_scale_factor=2, user_agent=UA)
    page = phone.new_page()
    page.goto(f"{url}{link_path}")
    page.goto(f"{url}/m/checkin/")
    page.click("text=立即签到")
    page.wait_for_selector(".notice")
    assert "签到成功" in page.locator(".notice").inner_text()
    assert page.locator(".checkin-calendar td.signed.today").count() == 1
    page.click("text=开启签到提醒")
    page.wait_for_load_state()
    body = page.inner_text("body")
    assert "企业微信" in body  # the reminder card speaks the brand's channel
    assert "您还没有专属导购，所以暂时收不到提醒" in body  # consented, but no staff to send it
    assert "未签到" in page.locator(".legend").inner_text()  # the grey days are explained
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=SCREENSHOTS / f"m-checkin-calendar-{width}.png", full_page=True)
