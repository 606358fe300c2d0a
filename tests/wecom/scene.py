"""A small brand scene for the assignment tests: a store with the fake corp's three staff
members (same WeCom user ids), members with WeChat unionids, and WeCom relations on both sides."""

from dataclasses import dataclass

from django.utils import timezone

from members.models import Identity, IdentityKind, Member, Staff, Store
from tests.factories import IdentityFactory, MemberFactory, StaffFactory, StoreFactory
from wecom.fake.server import FakeWecom
from wecom.models import CallbackEvent, FollowRelation
from wecom.services import callback_event_process

from .test_callback_view import post


@dataclass
class Scene:
    store: Store
    zhangsan: Staff
    lisi: Staff
    wangwu: Staff


def scene_create() -> Scene:
    store = StoreFactory.create(code="SH001", name="上海一店")
    return Scene(
        store=store,
        zhangsan=StaffFactory.create(store=store, name="张三", wecom_userid="zhangsan"),
        lisi=StaffFactory.create(store=store, name="李四", wecom_userid="lisi"),
        wangwu=StaffFactory.create(store=store, name="王五", wecom_userid="wangwu"),
    )


def member_with_unionid(unionid: str, *, store: Store, owner: Staff | None = None, **fields: object) -> Member:
    member = MemberFactory.create(home_store=store, assigned_staff=owner, **fields)
    IdentityFactory.create(member=member, kind=IdentityKind.WECHAT_UNIONID, value=unionid)
    return member


def member_followed(fake: FakeWecom, *, staff: Staff, ext: str, store: Store, state: str = "") -> Member:
    """A member owned by `staff` who follows them on WeCom: known to the fake and to the portal."""
    member = member_with_unionid(f"union-{ext}", store=store, owner=staff)
    Identity.objects.create(member=member, kind=IdentityKind.WECOM_EXTERNAL_USERID, value=ext)
    fake.add_contact(ext, member.name, unionid=f"union-{ext}")
    follow = fake.add_follow(staff.wecom_userid, ext, state=state)
    FollowRelation.objects.create(
        external_userid=ext,
        staff_userid=staff.wecom_userid,
        unionid=f"union-{ext}",
        state=state,
        added_at=timezone.now(),
    )
    assert follow.external_userid == ext
    return member


def deliver_and_process(client, fake: FakeWecom, event: dict[str, str]) -> CallbackEvent:
    from wecom.crypto import parse_xml

    response = post(client, fake, event["xml"])
    assert response.status_code == 200, response.content
    stored = CallbackEvent.objects.get(natural_key=CallbackEvent.natural_key_of(parse_xml(event["xml"])))
    callback_event_process(event_id=stored.pk)
    stored.refresh_from_db()
    return stored
