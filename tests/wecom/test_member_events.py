"""Members publish events (members.hooks); WeCom reacts after commit: a member enrolled (or bound)
with a waiting prospect's unionid gets that WeCom contact linked, and brand tagging is mirrored
as WeCom tag marking. Neither can make the member change fail."""

import pytest

from consent.types import ConsentEvidence
from members.models import Identity, IdentityKind
from members.services.members import IdentityInput, identity_bind, member_enroll, members_tag, members_untag
from tests.factories import MemberFactory, TagFactory
from tests.members.conftest import decisions_for, membership_version_ensure
from wecom import member_events
from wecom.models import WecomProspect
from wecom.tasks import member_tags_mark_task, prospects_link_member_task

from .scene import deliver_and_process, scene_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    """The tasks WeCom hands to the broker after commit, recorded instead of sent."""
    calls: list[tuple[object, tuple[object, ...]]] = []

    def record(task, *args):
        calls.append((task, args))

    monkeypatch.setattr(member_events, "send_on_commit", record)
    monkeypatch.setattr("crm.celery.send_on_commit", record)
    return calls


def test_enrolling_a_prospects_unionid_links_the_contact_after_commit(config_a, client_a, fake, enqueued):
    scene = scene_create()
    deliver_and_process(client_a, fake, fake.customer_adds("lisi", "wmNew", unionid="oUnionNew", state="qr_x"))
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

    assert enqueued == [(prospects_link_member_task, (member.pk,))]
    assert prospects_link_member_task(member.pk) == 1  # what the worker runs
    assert Identity.objects.get(kind=IdentityKind.WECOM_EXTERNAL_USERID, value="wmNew").member == member
    assert WecomProspect.objects.get().linked_member == member


def test_binding_a_unionid_later_also_links(config_a, client_a, fake, enqueued):
    scene_create()
    deliver_and_process(client_a, fake, fake.customer_adds("lisi", "wmLate", unionid="oUnionLate"))
    member = MemberFactory()

    identity_bind(member=member, kind=IdentityKind.WECHAT_UNIONID, value="oUnionLate", actor="test")
    identity_bind(member=member, kind=IdentityKind.POS_CARD, value="CARD-9", actor="test")  # not a unionid

    assert enqueued == [(prospects_link_member_task, (member.pk,))]


def test_tagging_and_untagging_are_mirrored_to_wecom(config_a, enqueued):
    members = MemberFactory.create_batch(2)
    tag = TagFactory(name="咖啡爱好者")
    ids = [member.pk for member in members]

    members_tag(member_ids=ids, tag=tag, actor="test")
    members_tag(member_ids=ids, tag=tag, actor="test")  # already tagged: nothing new to mirror
    members_untag(member_ids=ids[:1], tag=tag, actor="test")

    assert enqueued == [
        (member_tags_mark_task, (sorted(ids), tag.pk, True)),
        (member_tags_mark_task, (ids[:1], tag.pk, False)),
    ]


def test_a_brand_without_wecom_tags_without_any_wecom_work(in_brand_a, enqueued):
    member = MemberFactory()
    members_tag(member_ids=[member.pk], tag=TagFactory(), actor="test")
    assert enqueued == []


def test_a_merge_mirrors_the_tags_it_moves(config_a, enqueued):
    from members.services.merge import member_merge

    survivor, merged = MemberFactory(), MemberFactory()
    tag = TagFactory(name="门店常客")
    members_tag(member_ids=[merged.pk], tag=tag, actor="test")
    enqueued.clear()

    member_merge(survivor=survivor, merged=merged, actor="test", reason="同一人")

    assert (member_tags_mark_task, ([survivor.pk], tag.pk, True)) in enqueued
    assert (member_tags_mark_task, ([merged.pk], tag.pk, False)) in enqueued
