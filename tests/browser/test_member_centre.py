"""The member centre in a real browser at a phone's size (issue 25): a new customer signs in
through WeChat web authorisation (the fake WeChat server over real HTTP), enrols with consent,
sees the card and the member code; the POS resolves the code; the member later withdraws
marketing consent from the footer link of a received SMS and sees the confirmation."""

import re
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
from django_tenants.utils import schema_context

from campaigns.messaging import sms_text
from campaigns.models import OutboxMessage
from consent.selectors import members_contactable
from crm.api.services import api_key_create
from engagement.models import CheckinLadderStep
from membercentre.fake.server import FakeWechatOAuth, FakeWechatOAuthServer
from membercentre.services.signin import wechat_config_save
from members.models import Identity
from tests.browser.conftest import SCREENSHOTS, base_url
from tests.campaigns.scenes import marketing_agreement_publish
from tests.members.loyalty_scene import program, tiers

pytestmark = pytest.mark.browser
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.50",
}


def test_a_customer_signs_in_with_wechat_enrols_sees_the_code_and_withdraws_from_a_footer_link(
    server: int, live_brand: Any, browser: Any
) -> None:
    url = base_url(live_brand, server)
    fake = FakeWechatOAuth()
    fake.add_app("wxBrowser0001", "browser-secret")
    fake.queue_user("oBrowserPerson", "uBrowserPerson", "小王")
    wechat = FakeWechatOAuthServer(fake).start()
    try:
        with schema_context(live_brand.schema_name):
            program()
            tiers()
            marketing_agreement_publish()
            CheckinLadderStep.objects.create(days=3, reward_kind="points", amount=30)
            wechat_config_save(
                app_id="wxBrowser0001",
                secret="browser-secret",
                authorize_url=wechat.authorize_url,
                api_base_url=wechat.base_url,
            )
            pos_key = api_key_create(partner_name="门店 POS", scopes=["members:read"]).plaintext

        phone = browser.new_context(**PHONE)
        page = phone.new_page()
        page.goto(f"{url}/m/")
        assert "/m/login/" in page.url
        page.screenshot(path=SCREENSHOTS / "m1-member-login.png", full_page=True)
        page.click("text=微信授权登录")
        # WeChat's #wechat_redirect fragment rides along the redirects, as in WeChat's browser.
        # Not linked yet: offered to bind a mobile (a member by mobile finds their card), or to enrol.
        page.wait_for_url(re.compile(re.escape(f"{url}/m/bind/") + r"(#.*)?$"))
        assert page.locator("input[name=mobile]").is_visible()
        page.screenshot(path=SCREENSHOTS / "m1b-member-bind.png", full_page=True)
        page.click("text=暂不绑定，直接入会")
        page.wait_for_url(re.compile(re.escape(f"{url}/m/join/") + r"(#.*)?$"))
        assert page.locator("input[name=purpose]:checked").count() == 0  # nothing pre-ticked
        page.fill("input[name=name]", "王小姐")
        page.check("input[name=purpose][value=membership]")
        page.check("input[name=purpose][value=marketing_sms]")
        page.screenshot(path=SCREENSHOTS / "m2-member-join.png", full_page=True)
        page.click("text=同意并入会")
        page.wait_for_url(re.compile(re.escape(f"{url}/m/") + r"(#.*)?$"))
        assert page.locator(".member-card").is_visible() and "王小姐" in page.content()
        assert (
            page.locator("#member-code svg.barcode").is_visible() and page.locator("#member-code svg.qr").is_visible()
        )
        page.screenshot(path=SCREENSHOTS / "m3-member-card.png", full_page=True)

        # 每日签到: the tile opens the calendar; checking in marks today.
        page.click(".tile:has-text('每日签到')")
        page.wait_for_url(re.compile(re.escape(f"{url}/m/checkin/") + r"(#.*)?$"))
        page.click("text=立即签到")
        page.wait_for_selector(".notice")
        assert "签到成功" in page.locator(".notice").inner_text()
        assert page.locator(".checkin-calendar td.signed.today").count() == 1
        assert "连续签到 3 天：30 积分" in page.content()
        page.screenshot(path=SCREENSHOTS / "m3b-member-checkin.png", full_page=True)
        if page.locator("button.makeup").count():  # a make-up day costs 20 points the new member lacks
            page.locator("button.makeup").first.click()
            page.wait_for_selector(".error")
            assert page.locator(".checkin-calendar td.made-up").count() == 0
            page.screenshot(path=SCREENSHOTS / "m3c-member-checkin-refused.png", full_page=True)
        page.goto(f"{url}/m/")

        # At the counter: the POS scans the code and the partner API names the member.
        code = re.sub(r"\s", "", page.locator(".code-digits").inner_text())
        resolved = httpx.post(
            f"http://127.0.0.1:{server}/api/v1/member-codes/resolve",
            json={"code": code},
            headers={"Authorization": f"Api-Key {pos_key}", "Host": f"{live_brand.schema_name}.localhost"},
            timeout=10,
        )
        assert resolved.status_code == 200, resolved.text
        with schema_context(live_brand.schema_name):
            member = Identity.objects.get(kind="wechat_unionid", value="uBrowserPerson").member
            assert resolved.json()["member_no"] == member.member_no
            # A marketing SMS reaches the member; its footer carries their own preferences link.
            message = cast(OutboxMessage, SimpleNamespace(body="【会员日】本周六双倍积分", member_id=member.pk))
            text = sms_text(message)
        found = re.search(r"https?://\S+", text)
        assert found is not None, text
        link = urlsplit(found.group(0)).path

        page.goto(f"{url}{link}")
        page.screenshot(path=SCREENSHOTS / "m4-member-preferences.png", full_page=True)
        page.locator("form:has(input[name=purpose][value=marketing_sms]) button").click()
        page.wait_for_selector(".notice")
        assert "已撤回" in page.locator(".notice").inner_text()
        page.screenshot(path=SCREENSHOTS / "m5-member-withdrawn.png", full_page=True)
        with schema_context(live_brand.schema_name):
            assert not members_contactable(purpose="marketing_sms").filter(pk=member.pk).exists()
        phone.close()
    finally:
        wechat.stop()
