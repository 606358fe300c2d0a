"""Channel QR codes through the brand admin and brand tags ↔ WeCom corp tags, against the fake
WeCom server over HTTP."""

import pytest

from crm.errors import AppError
from members.services.members import members_tag
from tests.factories import MemberFactory, TagFactory
from wecom.channels import contact_way_create, member_tags_mark, member_tags_wecom_sync, tags_sync_to_wecom
from wecom.fake.server import Tag as FakeTag
from wecom.fake.server import TagGroup
from wecom.models import ContactWay
from wecom.tasks import member_tags_mark_task

from .scene import deliver_and_process, member_followed, member_with_unionid, scene_create

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/wecom/contactway/add/"


@pytest.fixture
def scene(config_a):
    return scene_create()


def test_a_qr_code_made_in_the_admin_attributes_the_customer_who_scans_it(
    config_a, admin_client_a, client_a, fake, scene
):
    response = admin_client_a.post(
        ADD_URL,
        {"name": "春季活动", "state": "spring_sh001", "store": scene.store.pk, "staff": [scene.zhangsan.pk]},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    way = ContactWay.objects.get()
    assert (way.state, way.type, list(way.staff.all())) == ("spring_sh001", ContactWay.Type.SINGLE, [scene.zhangsan])
    assert fake.contact_ways[way.config_id].users == ["zhangsan"]
    assert way.qr_code == fake.contact_ways[way.config_id].qr_code
    listing = admin_client_a.get("/admin/wecom/contactway/").content.decode()
    assert "spring_sh001" in listing and way.qr_code in listing

    member = member_with_unionid("oUnionQR", store=scene.store)
    deliver_and_process(
        client_a, fake, fake.customer_adds("zhangsan", "wmQR", unionid="oUnionQR", config_id=way.config_id)
    )

    member.refresh_from_db()
    assert member.source == "spring_sh001"


@pytest.mark.parametrize(
    ("field", "value"),
    [("state", "x" * 31), ("state", "含中文"), ("name", ""), ("staff", [])],
)
def test_a_bad_qr_code_is_refused_in_the_form_and_nothing_is_created(
    config_a, admin_client_a, fake, scene, field, value
):
    data = {"name": "活动", "state": "ok_state", "staff": [scene.zhangsan.pk], field: value}

    response = admin_client_a.post(ADD_URL, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not ContactWay.objects.exists() and fake.contact_ways == {}


def test_a_state_in_use_and_resigned_staff_are_refused_by_the_service(config_a, fake, scene):
    contact_way_create(name="一", state="dup", staff=[scene.zhangsan], actor="a")
    scene.lisi.status, scene.lisi.resigned_at = "resigned", scene.lisi.created_at
    scene.lisi.save()

    with pytest.raises(AppError) as raised:
        contact_way_create(name="二", state="dup", staff=[scene.lisi], actor="a")

    assert set(raised.value.fields) == {"state", "staff"}
    assert ContactWay.objects.count() == 1 and len(fake.contact_ways) == 1


def test_a_multi_staff_qr_code(config_a, fake, scene):
    way = contact_way_create(name="门店", state="store_sh001", staff=[scene.zhangsan, scene.lisi], actor="a")

    assert way.type == ContactWay.Type.MULTI
    assert fake.contact_ways[way.config_id].users == ["zhangsan", "lisi"]


def test_tag_sync_adopts_existing_corp_tags_and_creates_missing_ones(config_a, fake):
    fake.tag_groups["grp1"] = TagGroup(group_id="grp1", group_name="偏好", tags=[FakeTag(id="tagCoffee", name="咖啡")])
    coffee = TagFactory(name="咖啡", group="偏好")
    tea = TagFactory(name="茶饮", group="偏好")
    vip = TagFactory(name="高净值", group="")

    summary = tags_sync_to_wecom()

    assert summary == {"tags": 3, "linked": 1, "created": 2}
    coffee.refresh_from_db()
    tea.refresh_from_db()
    vip.refresh_from_db()
    assert coffee.wecom_tag_id == "tagCoffee"
    groups = {g.group_name: {t.name: t.id for t in g.tags} for g in fake.tag_groups.values()}
    assert groups["偏好"]["茶饮"] == tea.wecom_tag_id
    assert groups["会员标签"]["高净值"] == vip.wecom_tag_id
    assert tags_sync_to_wecom() == {"tags": 3, "linked": 0, "created": 0}  # idempotent


def test_a_tag_deleted_in_wecom_is_recreated(config_a, fake):
    tag = TagFactory(name="新客", group="生命周期")
    tags_sync_to_wecom()
    tag.refresh_from_db()
    fake.api_del_corp_tag({}, {"tag_id": [tag.wecom_tag_id]})

    tags_sync_to_wecom()

    old = tag.wecom_tag_id
    tag.refresh_from_db()
    assert tag.wecom_tag_id and tag.wecom_tag_id != old


def test_tagging_a_member_marks_the_tag_for_their_owner_after_commit(
    config_a, fake, scene, django_capture_on_commit_callbacks
):
    fake.page_size = 100
    member = member_followed(fake, staff=scene.zhangsan, ext="wmTagged", store=scene.store)
    not_following = MemberFactory(home_store=scene.store, assigned_staff=scene.lisi)
    tag = TagFactory(name="咖啡爱好者", group="偏好")

    with django_capture_on_commit_callbacks() as callbacks:
        # The members service publishes the tagging; WeCom's handler queues the marking.
        members_tag(member_ids=[member.pk, not_following.pk], tag=tag, actor="staff")
    assert len(callbacks) == 1 and fake.calls["externalcontact/mark_tag"] == 0  # nothing before commit

    summary = member_tags_mark_task.apply(args=[[member.pk, not_following.pk], tag.pk, True]).get()

    tag.refresh_from_db()
    assert summary == {"marked": 1, "skipped": 1}
    assert fake.follows[("zhangsan", "wmTagged")].tag_ids == [tag.wecom_tag_id]

    assert member_tags_mark(member_ids=[member.pk], tag_id=tag.pk, added=False) == {"marked": 1, "skipped": 0}
    assert fake.follows[("zhangsan", "wmTagged")].tag_ids == []


def test_no_wecom_config_means_no_tag_task(in_brand_a, django_capture_on_commit_callbacks):
    member = MemberFactory()
    tag = TagFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        member_tags_wecom_sync(member_ids=[member.pk], tag=tag)
    assert callbacks == []
