"""邀请有礼 in a real browser (issue 27): the referrer's page at a phone's size (link, QR, each
invitation's status with the reason, invitees masked), the friend's landing page, and the brand
admin's masked invitation list at 1440 px. Screenshots are looked at."""

from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from engagement.models import ReferralCampaign, RewardKind
from engagement.services.referral import referral_bind, referral_link_get
from membercentre.services.links import member_centre_link_path
from members.models import IdentityKind
from tests.browser.conftest import SCREENSHOTS, base_url, login
from tests.factories import IdentityFactory, MemberFactory
from tests.members.loyalty_scene import program

pytestmark = pytest.mark.browser
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.50",
}


def test_the_referrer_sees_each_invitation_and_why(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        program()
        ReferralCampaign.objects.create(
            name="春季邀请有礼",
            active=True,
            min_order_fen=5_000,
            referrer_reward_kind=RewardKind.POINTS,
            referrer_reward_amount=100,
            invitee_reward_kind=RewardKind.POINTS,
            invitee_reward_amount=50,
            cap_per_month=5,
        )
        referrer = MemberFactory.create(name="王小明")
        token = referral_link_get(member=referrer, device="referrerdevice", ip="10.1.1.1").token
        for n, (name, device) in enumerate((("李雷", "d1"), ("韩梅梅", "referrerdevice"), ("张三丰", "d3"))):
            friend = MemberFactory.create(name=name, enrolled_at=timezone.now())
            IdentityFactory(member=friend, kind=IdentityKind.WECHAT_UNIONID, value=f"u-browser-{n}")
            referral_bind(invitee=friend, token=token, device=device)
        link_path = member_centre_link_path(member_id=referrer.pk)

    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    page.goto(f"{url}{link_path}")
    page.goto(f"{url}/m/invites/")
    text = page.inner_text("body")
    assert "邀请好友" in text and token in text
    assert "李*" in text and "李雷" not in text
    assert "受邀人与邀请人使用同一台设备（疑似本人）" in text
    page.screenshot(path=SCREENSHOTS / "m-invites.png", full_page=True)
    stranger = browser.new_context(**PHONE).new_page()
    stranger.goto(f"{url}/m/i/{token}/")
    assert "邀请您成为" in stranger.inner_text("body")
    stranger.screenshot(path=SCREENSHOTS / "m-invite-landing.png", full_page=True)

    office = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    login(office, url, f"admin@{live_brand.schema_name}.example")
    office.goto(f"{url}/admin/engagement/referral/")
    assert "已入会，待首单" in office.inner_text("body")
    office.screenshot(path=SCREENSHOTS / "admin-referrals.png", full_page=True)
    office.goto(f"{url}/admin/engagement/referralcampaign/add/")
    office.screenshot(path=SCREENSHOTS / "admin-referral-campaign.png", full_page=True)


def test_the_poster_the_graph_and_the_members_own_switches(server: int, live_brand: Any, browser: Any) -> None:
    """The invite poster (PNG) on the referrer's page and on its own, the brand admin's 邀请关系图
    at 1440 px, and the member's check-in reminder switch and 我的生日 at a phone's size."""
    from engagement.models import EngagementSettings, Referral
    from tests.campaigns.scenes import marketing_agreement_publish
    from tests.consent.conftest import enrolled

    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        program()
        EngagementSettings.objects.update_or_create(
            singleton=True,
            defaults={"checkin_enabled": True, "checkin_reminder_enabled": True, "checkin_reminder_hour": 20},
        )
        ReferralCampaign.objects.create(
            name="好友同享礼",
            active=True,
            qualifying=ReferralCampaign.Qualifying.FIRST_ORDER,
            min_order_fen=5_000,
            referrer_reward_kind=RewardKind.POINTS,
            referrer_reward_amount=100,
            invitee_reward_kind=RewardKind.POINTS,
            invitee_reward_amount=50,
        )
        marketing_agreement_publish()
        referrer = enrolled(granted=["marketing_sms"], name="周杰", birthday=None)
        token = referral_link_get(member=referrer, device="referrerdevice").token
        stages = (Referral.Status.REWARDED, Referral.Status.PENDING, Referral.Status.REVERSED, Referral.Status.JOINED)
        for n, (name, status) in enumerate(zip(("李雷", "韩梅梅", "张三丰", "林小雨"), stages, strict=True)):
            friend = MemberFactory.create(name=name, enrolled_at=timezone.now())
            IdentityFactory(member=friend, kind=IdentityKind.WECHAT_UNIONID, value=f"u-poster-{n}")
            referral_bind(invitee=friend, token=token, device=f"d{n}")
            Referral.objects.filter(invitee=friend).update(
                status=status,
                reason={"reversed": "首单已退款（R9），奖励已撤回", "pending": "退货期至 3 月 15 日"}.get(status, ""),
                referrer_rewards=[{"kind": "points", "amount": 100, "label": "邀请好友奖励（好友同享礼）：100 积分"}]
                if status in ("rewarded", "reversed")
                else [],
            )
        second = MemberFactory.create(name="陈奕")
        grandchild = MemberFactory.create(name="赵敏", enrolled_at=timezone.now())
        IdentityFactory(member=grandchild, kind=IdentityKind.WECHAT_UNIONID, value="u-poster-gc")
        referral_bind(invitee=grandchild, token=referral_link_get(member=second).token, device="dgc")
        link_path = member_centre_link_path(member_id=referrer.pk)

    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    page.goto(f"{url}{link_path}")
    page.goto(f"{url}/m/invites/")
    page.locator("img.poster").scroll_into_view_if_needed()  # loading="lazy"
    page.wait_for_load_state("networkidle")
    text = page.inner_text("body")
    assert "已奖励" in text and "待确认" in text and "已撤回" in text and "已邀请" in text
    page.screenshot(path=SCREENSHOTS / "m-invites-stages.png", full_page=True)
    poster = phone.new_page()
    poster.goto(f"{url}/m/invites/poster.png")
    poster.screenshot(path=SCREENSHOTS / "m-invite-poster.png", full_page=True)
    page.goto(f"{url}/m/checkin/")
    page.click("text=开启签到提醒")
    page.wait_for_load_state()
    assert "已开启签到提醒" in page.inner_text("body")
    page.screenshot(path=SCREENSHOTS / "m-checkin-reminder.png", full_page=True)
    page.goto(f"{url}/m/birthday/")
    page.screenshot(path=SCREENSHOTS / "m-birthday-empty.png", full_page=True)
    page.fill("input[name=birthday]", "1990-05-01")
    page.click("text=保存生日")
    page.wait_for_load_state()
    assert "生日已保存" in page.inner_text("body")
    page.screenshot(path=SCREENSHOTS / "m-birthday-set.png", full_page=True)

    office = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    login(office, url, f"admin@{live_brand.schema_name}.example")
    office.goto(f"{url}/admin/engagement/referral/graph/")
    office.screenshot(path=SCREENSHOTS / "admin-referral-graph.png", full_page=True)
    body = office.inner_text("body")
    assert "邀请关系图" in body and "只有一级" in body and "最大层级" in body and "首单已退款（R9），奖励已撤回" in body


def test_the_reminder_record_and_the_graph_exports_at_1440(server: int, live_brand: Any, browser: Any) -> None:
    """签到提醒记录 (who was reminded, who not and why) and 邀请关系导出 (status, progress,
    download) as the brand admin sees them; the sidebar marks where they are."""
    import datetime as dt

    from engagement.models import CheckinReminder
    from engagement.services.referral_export import referral_export_request, referral_export_run

    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        program()
        reminded, skipped = MemberFactory.create(name="周小云"), MemberFactory.create(name="吴大海")
        day = dt.date(2026, 12, 7)
        CheckinReminder.objects.create(
            member=reminded, biz_date=day, channel="wecom", body="今天还没有签到哦", status="sent", address="wm1"
        )
        CheckinReminder.objects.create(
            member=skipped,
            biz_date=day,
            channel="wecom",
            body="今天还没有签到哦",
            status="skipped",
            error="未添加企业微信好友",
        )
        done = referral_export_request(actor="admin", full_pi=False)
        referral_export_run(export_id=done.pk)
        referral_export_request(actor="admin", full_pi=False)  # still queued

    office = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    login(office, url, f"admin@{live_brand.schema_name}.example")
    office.goto(f"{url}/admin/engagement/checkinreminder/")
    text = office.inner_text("body")
    assert "未添加企业微信好友" in text and "已发送" in text and "周小云" in text  # the brand admin sees names in full
    office.screenshot(path=SCREENSHOTS / "admin-checkin-reminders.png", full_page=True)
    office.goto(f"{url}/admin/engagement/referralexport/")
    text = office.inner_text("body")
    assert "已完成" in text and "排队中" in text
    office.screenshot(path=SCREENSHOTS / "admin-referral-exports.png", full_page=True)
