"""Member-centre scenes: agreements published in brand A (tests/consent), a member, the fake WeChat
OAuth server on a real socket with brand A's official account pointing at it."""

from collections.abc import Iterator

import pytest

from membercentre.fake.server import FakeWechatOAuth, FakeWechatOAuthServer
from membercentre.models import WechatOAuthConfig
from membercentre.services.signin import wechat_config_save
from members.models import Identity, IdentityKind
from tests.consent.conftest import agreements_a, enrolled  # noqa: F401 - the consent scene's fixture, used here

APP_A = "wxa0000000000000a"
SECRET_A = "secret-of-brand-a"
PHONE = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50"}


@pytest.fixture
def fake_wechat() -> Iterator[FakeWechatOAuthServer]:
    fake = FakeWechatOAuth()
    fake.add_app(APP_A, SECRET_A)
    server = FakeWechatOAuthServer(fake).start()
    yield server
    server.stop()


@pytest.fixture
def wechat_a(in_brand_a, fake_wechat: FakeWechatOAuthServer) -> WechatOAuthConfig:
    return wechat_config_save(
        app_id=APP_A, secret=SECRET_A, authorize_url=fake_wechat.authorize_url, api_base_url=fake_wechat.base_url
    )


@pytest.fixture
def member_a(agreements_a):  # noqa: F811 - the fixture imported above
    """A member enrolled with SMS marketing, found by their mobile (as member_enroll binds it)."""
    member = enrolled(granted=["marketing_sms"])
    Identity.objects.create(member=member, kind=IdentityKind.MOBILE, value=member.mobile)
    return member
