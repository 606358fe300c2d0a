"""The demo: the seeded brand config matches the fake corp `manage.py fake_wecom` serves, and the
fake's control API drives it."""

import httpx
import pytest

from members import demo as members_demo
from members.models import Identity, IdentityKind, MemberAssignment
from wecom import demo
from wecom.client import WecomClient
from wecom.fake.server import DAY, DEMO_FOLLOWS, FakeWecomServer, demo_corp, demo_external_userid
from wecom.models import ContactWay, CustomerTransfer, FollowRelation, WecomConfig
from wecom.transfers import transfers_poll

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def demo_members(in_brand_a, monkeypatch):
    """The members demo runs before WeCom's (TENANT_APPS order): its staff and members exist."""
    monkeypatch.setattr(members_demo, "MEMBER_COUNT", 12)
    members_demo.seed()


def test_seed_is_idempotent_and_points_at_the_local_fake(in_brand_a):
    demo.seed()
    counts = (FollowRelation.objects.count(), MemberAssignment.objects.count(), CustomerTransfer.objects.count())
    demo.seed()

    config = WecomConfig.objects.get()
    assert config.api_base_url == demo.DEMO_FAKE_URL
    assert config.has_secret and config.welcome_text
    assert counts == (
        FollowRelation.objects.count(),
        MemberAssignment.objects.count(),
        CustomerTransfer.objects.count(),
    )
    assert counts[0] == len(DEMO_FOLLOWS)


def test_the_demo_members_are_linked_owned_and_one_transfer_waits(in_brand_a):
    demo.seed()

    for n, userid, _state in DEMO_FOLLOWS:
        identity = Identity.objects.select_related("member__assigned_staff").get(
            kind=IdentityKind.WECOM_EXTERNAL_USERID, value=demo_external_userid(n)
        )
        assert identity.member.assigned_staff.wecom_userid == userid
    assert set(ContactWay.objects.values_list("state", flat=True)) == {"spring_sh001", "store_hz001"}
    transfer = CustomerTransfer.objects.get()
    assert transfer.status == CustomerTransfer.Status.WAITING

    # Against the demo corp the pending transfer settles like any other.
    config = WecomConfig.objects.get()
    fake = demo_corp()
    server = FakeWecomServer(fake).start()
    try:
        WecomConfig.objects.filter(pk=config.pk).update(api_base_url=server.base_url)
        assert transfers_poll()["waiting"] == 1
        fake.advance(DAY + 1)
        assert transfers_poll()["done"] == 1
    finally:
        server.stop()
    transfer.refresh_from_db()
    assert transfer.status == CustomerTransfer.Status.DONE
    assert transfer.member.assignments.first().to_staff == transfer.takeover


def test_the_demo_config_talks_to_the_demo_corp(in_brand_a):
    demo.seed()
    config = WecomConfig.objects.get()
    fake = demo_corp()
    server = FakeWecomServer(fake).start()
    try:
        config.api_base_url = server.base_url
        with WecomClient.for_config(config) as api:
            assert api.get_follow_user_list()[:4] == ["zhangsan", "lisi", "wangwu", "zhangmin"]
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
