"""Members publish events (members.hooks); WeCom reacts after commit: a member enrolled (or bound)
with a waiting prospect's unionid gets that WeCom contact linked, and brand tagging is mirrored
as WeCom tag marking. Neither can make the member change fail.

As in production: the changes commit, the tasks go through the broker with the brand's schema, and
a real worker runs them in that brand against the fake WeCom server."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from consent.types import ConsentEvidence
from crm.tenancy.models import Brand
from members.models import Identity, IdentityKind, Tag
from members.services.members import IdentityInput, identity_bind, member_enroll, members_tag, members_untag
from tests.conftest import host_client
from tests.factories import MemberFactory, TagFactory
from tests.members.conftest import decisions_for, membership_version_ensure
from wecom.crypto import parse_xml
from wecom.fake.server import FakeWecom
from wecom.models import CallbackEvent, WecomProspect

from .scene import member_followed, scene_create
from .test_callback_view import post

WECOM_TASKS = {"wecom.prospects_link_member", "wecom.member_tags_mark"}


@dataclass
class Traffic:
    """What WeCom hands the broker after commit (task, args, the brand's schema in the message
    header), and what the worker's runs of those tasks returned, in order."""

    sent: list[tuple[str, list[Any], str]] = field(default_factory=list)
    done: list[tuple[str, Any]] = field(default_factory=list)


@pytest.fixture
def traffic() -> Iterator[Traffic]:
    from celery.signals import before_task_publish, task_success

    seen = Traffic()

    def published(sender: str = "", body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        if sender in WECOM_TASKS:
            seen.sent.append((sender, list(body[0]), (headers or {}).get("_schema_name", "")))

    def succeeded(sender: Any = None, result: Any = None, **kwargs: Any) -> None:
        if sender.name in WECOM_TASKS:
            seen.done.append((sender.name, result))

    before_task_publish.connect(published, weak=False)
    task_success.connect(succeeded, weak=False)
    yield seen
    before_task_publish.disconnect(published)
    task_success.disconnect(succeeded)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


def customer_adds(brand: Brand, fake: FakeWecom, userid: str, ext: str, **details: str) -> None:
    """The customer adds `userid` in WeCom; the signed callback reaches the brand's URL and the
    worker processes it."""
    xml = fake.customer_adds(userid, ext, **details)["xml"]
    assert post(host_client(f"{brand.schema_name}.localhost"), fake, xml).status_code == 200
    natural_key = CallbackEvent.natural_key_of(parse_xml(xml))
    wait_for(
        lambda: CallbackEvent.objects.filter(natural_key=natural_key, status=CallbackEvent.Status.PROCESSED).exists(),
        "the callback processed",
    )


def wecom_tag_id(fake: FakeWecom, tag: Tag) -> str:
    tag.refresh_from_db()
    assert tag.wecom_tag_id, "the tag was not created in WeCom"
    return tag.wecom_tag_id


@pytest.mark.worker
def test_enrolling_a_prospects_unionid_links_the_contact_after_commit(wecom_brand, celery_worker, fake, traffic):
    scene = scene_create()
    customer_adds(wecom_brand, fake, "lisi", "wmNew", unionid="oUnionNew", state="qr_x")
    assert WecomProspect.objects.get().linked_member is None

    member = member_enroll(
        name="新会员",
        mobile="13900001111",
        home_store=scene.store,
        identities=[IdentityInput(kind=IdentityKind.WECHAT_UNIONID, value="oUnionNew")],
        decisions=decisions_for(membership_version_ensure()),
        evidence=ConsentEvidence(channel="store", staff_id=scene.zhangsan.pk),
        staff=scene.zhangsan,
        actor="test",
    )

    wait_for(lambda: traffic.done, "the link task run")
    assert traffic.sent == [("wecom.prospects_link_member", [member.pk], wecom_brand.schema_name)]
    assert traffic.done == [("wecom.prospects_link_member", 1)]
    assert Identity.objects.get(kind=IdentityKind.WECOM_EXTERNAL_USERID, value="wmNew").member == member
    assert WecomProspect.objects.get().linked_member == member


@pytest.mark.worker
def test_binding_a_unionid_later_also_links(wecom_brand, celery_worker, fake, traffic):
    scene_create()
    customer_adds(wecom_brand, fake, "lisi", "wmLate", unionid="oUnionLate")
    member = MemberFactory()

    identity_bind(member=member, kind=IdentityKind.WECHAT_UNIONID, value="oUnionLate", actor="test")
    identity_bind(member=member, kind=IdentityKind.POS_CARD, value="CARD-9", actor="test")  # not a unionid

    wait_for(lambda: traffic.done, "the link task run")
    assert traffic.sent == [("wecom.prospects_link_member", [member.pk], wecom_brand.schema_name)]
    assert Identity.objects.get(kind=IdentityKind.WECOM_EXTERNAL_USERID, value="wmLate").member == member


@pytest.mark.worker
def test_tagging_and_untagging_are_mirrored_to_wecom(wecom_brand, celery_worker, fake, traffic):
    scene = scene_create()
    members = [member_followed(fake, staff=scene.zhangsan, ext=ext, store=scene.store) for ext in ("wmTagA", "wmTagB")]
    tag = TagFactory(name="咖啡爱好者")
    ids = [member.pk for member in members]

    members_tag(member_ids=ids, tag=tag, actor="test")
    members_tag(member_ids=ids, tag=tag, actor="test")  # already tagged: nothing new to mirror
    members_untag(member_ids=ids[:1], tag=tag, actor="test")

    wait_for(lambda: len(traffic.done) == 2, "both marking tasks run")
    schema = wecom_brand.schema_name
    assert traffic.sent == [
        ("wecom.member_tags_mark", [sorted(ids), tag.pk, True], schema),
        ("wecom.member_tags_mark", [ids[:1], tag.pk, False], schema),
    ]
    assert traffic.done == [
        ("wecom.member_tags_mark", {"marked": 2, "skipped": 0}),
        ("wecom.member_tags_mark", {"marked": 1, "skipped": 0}),
    ]
    wecom_tag = wecom_tag_id(fake, tag)
    assert fake.follows[("zhangsan", "wmTagA")].tag_ids == []
    assert fake.follows[("zhangsan", "wmTagB")].tag_ids == [wecom_tag]


def test_a_brand_without_wecom_tags_without_any_wecom_work(committed_brand, traffic):
    from crm.db import connection

    connection.set_tenant(committed_brand)
    try:
        member = MemberFactory()
        members_tag(member_ids=[member.pk], tag=TagFactory(), actor="test")  # committed
    finally:
        connection.set_schema_to_public()

    assert traffic.sent == []


@pytest.mark.worker
def test_a_merge_mirrors_the_tags_it_moves(wecom_brand, celery_worker, fake, traffic):
    from members.services.merge import member_merge

    scene = scene_create()
    survivor = member_followed(fake, staff=scene.zhangsan, ext="wmSurvivor", store=scene.store)
    merged = MemberFactory()
    tag = TagFactory(name="门店常客")
    members_tag(member_ids=[merged.pk], tag=tag, actor="test")
    wait_for(lambda: traffic.done, "the first marking task run")
    traffic.sent.clear()
    traffic.done.clear()

    member_merge(survivor=survivor, merged=merged, actor="test", reason="同一人")

    wait_for(lambda: len(traffic.done) == 2, "both marking tasks run")
    schema = wecom_brand.schema_name
    assert ("wecom.member_tags_mark", [[survivor.pk], tag.pk, True], schema) in traffic.sent
    assert ("wecom.member_tags_mark", [[merged.pk], tag.pk, False], schema) in traffic.sent
    assert fake.follows[("zhangsan", "wmSurvivor")].tag_ids == [wecom_tag_id(fake, tag)]
