"""The demo: the seeded brand config matches the fake corp `manage.py fake_wecom` serves, and the
fake's control API drives it."""

import httpx
import pytest

from crm.wecom import demo
from crm.wecom.client import WecomClient
from crm.wecom.fake_server import FakeWecomServer, demo_corp
from crm.wecom.models import WecomConfig

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent_and_points_at_the_local_fake(in_brand_a):  # type: ignore[no-untyped-def]
    demo.seed()
    demo.seed()

    config = WecomConfig.objects.get()
    assert config.api_base_url == demo.DEMO_FAKE_URL
    assert config.has_secret and config.welcome_text


def test_the_demo_config_talks_to_the_demo_corp(in_brand_a):  # type: ignore[no-untyped-def]
    demo.seed()
    config = WecomConfig.objects.get()
    fake = demo_corp()
    server = FakeWecomServer(fake).start()
    try:
        config.api_base_url = server.base_url
        with WecomClient.for_config(config) as api:
            assert api.get_follow_user_list() == ["zhangsan", "lisi", "wangwu"]
            assert len(api.batch_get_by_user(["zhangsan"])) == 2
        # A callback signed by the demo corp decrypts with the seeded token and key.
        envelope = fake.envelope(fake.event_xml("add_external_contact", userid="zhangsan", external_userid="wmX"))
        assert "wmX" in config.crypt().verify_and_decrypt(**envelope.query(), encrypt=envelope.encrypt)

        control = server.base_url.removesuffix("cgi-bin/") + "_fake/"
        added = httpx.post(control + "customer_adds", json={"userid": "lisi", "state": "store_sh001"}).json()
        state = httpx.get(control + "state").json()
    finally:
        server.stop()

    assert added["ok"] and added["event"]["State"] == "store_sh001"
    assert any(
        f["userid"] == "lisi" and f["external_userid"] == added["event"]["ExternalUserID"] for f in state["follows"]
    )
