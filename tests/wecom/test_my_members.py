""" "My members" and the ownership review in the brand admin, through the test client as a store
staff user: scoped to the user's own members (and store), with the WeCom relation status."""

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from members import roles
from members.models import Staff
from members.services.stores import staff_login_link
from tests.conftest import BRAND_A, logged_in_client
from tests.factories import MemberFactory, StaffFactory, StoreFactory
from wecom.models import CustomerTransfer, FollowRelation

from .scene import member_followed, scene_create

pytestmark = pytest.mark.django_db

MY_URL = "/admin/wecom/mymember/"
REVIEW_URL = "/admin/wecom/ownershipreview/"


@pytest.fixture
def world(config_a, fake):
    """zhangsan (a store staff login) owns three members: one following, one who deleted him,
    one without WeCom. lisi (same store) and a staff member of another store own one each."""
    scene = scene_create()
    staff_login_link(
        staff=scene.zhangsan, username="zs@alpha.example", role=roles.STORE_STAFF, password="Zs-Pass-2026!"
    )
    following = member_followed(fake, staff=scene.zhangsan, ext="wmFollow", store=scene.store)
    deleted = member_followed(fake, staff=scene.zhangsan, ext="wmGone", store=scene.store)
    FollowRelation.objects.filter(external_userid="wmGone").update(
        deleted_at=timezone.now(), deleted_by=FollowRelation.DeletedBy.CUSTOMER
    )
    offline = MemberFactory(home_store=scene.store, assigned_staff=scene.zhangsan)
    colleague = MemberFactory(home_store=scene.store, assigned_staff=scene.lisi)
    other_store = StoreFactory(code="HZ001")
    elsewhere = MemberFactory(home_store=other_store, assigned_staff=StaffFactory(store=other_store))
    return {
        "scene": scene,
        "following": following,
        "deleted": deleted,
        "offline": offline,
        "colleague": colleague,
        "elsewhere": elsewhere,
    }


def test_store_staff_see_only_their_members_with_the_wecom_status(world):
    client = logged_in_client(BRAND_A, "zs@alpha.example")

    response = client.get(MY_URL)

    assert response.status_code == 200
    rows = {m.member_no: m.wecom_status for m in response.context["cl"].result_list}
    assert rows == {
        world["following"].member_no: "following",
        world["deleted"].member_no: "deleted",
        world["offline"].member_no: "no_contact",
    }
    page = response.content.decode()
    assert "好友" in page and "已删除" in page and "未添加企业微信" in page
    assert world["colleague"].member_no not in page and world["elsewhere"].member_no not in page


def test_the_wecom_status_filter(world):
    client = logged_in_client(BRAND_A, "zs@alpha.example")

    response = client.get(MY_URL, {"wecom": "deleted"})

    assert [m.member_no for m in response.context["cl"].result_list] == [world["deleted"].member_no]


def test_a_member_of_someone_else_is_not_reachable_by_id(world):
    client = logged_in_client(BRAND_A, "zs@alpha.example")

    response = client.get(f"{MY_URL}{world['colleague'].pk}/change/")

    assert response.status_code in (302, 404)
    assert world["colleague"].member_no not in response.content.decode()


def test_a_login_without_staff_sees_nothing_not_everything(world, admin_client_a):
    response = admin_client_a.get(MY_URL)  # the brand admin has no staff row: no "own" members

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_review_lists_unowned_resigned_owner_and_flagged_transfer_scoped_to_the_store(world):
    scene = world["scene"]
    unowned = MemberFactory(home_store=scene.store, assigned_staff=None)
    gone = StaffFactory(store=scene.store, status=Staff.Status.RESIGNED, resigned_at=timezone.now())
    orphaned = MemberFactory(home_store=scene.store, assigned_staff=gone)
    CustomerTransfer.objects.create(
        member=world["following"],
        external_userid="wmFollow",
        handover=scene.zhangsan,
        takeover=scene.lisi,
        kind=CustomerTransfer.Kind.ON_JOB,
        status=CustomerTransfer.Status.TOO_OFTEN,
        errcode=40128,
        detail="90 天内已转接 2 次",
    )
    MemberFactory(home_store=StoreFactory(code="BJ001"), assigned_staff=None)  # another store's problem
    client = logged_in_client(BRAND_A, "zs@alpha.example")

    response = client.get(REVIEW_URL)
    flagged = client.get(REVIEW_URL, {"issue": "transfer_flagged"})

    assert response.status_code == 200
    shown = {m.member_no for m in response.context["cl"].result_list}
    assert shown == {unowned.member_no, orphaned.member_no, world["following"].member_no, world["deleted"].member_no}
    assert "errcode 40128" in response.content.decode()
    assert [m.member_no for m in flagged.context["cl"].result_list] == [world["following"].member_no]


def test_transfers_are_listed_with_their_reason_and_scoped(world, admin_client_a):
    scene = world["scene"]
    CustomerTransfer.objects.create(
        member=world["elsewhere"],
        external_userid="wmElse",
        handover=world["elsewhere"].assigned_staff,
        takeover=scene.lisi,
        kind=CustomerTransfer.Kind.RESIGNED,
        status=CustomerTransfer.Status.REFUSED,
        detail="transfer_fail: customer_refused",
    )

    brand_wide = admin_client_a.get("/admin/wecom/customertransfer/?status=refused").content.decode()
    store_user = logged_in_client(BRAND_A, "zs@alpha.example").get("/admin/wecom/customertransfer/")

    assert "wmElse" in brand_wide and "customer_refused" in brand_wide
    assert store_user.status_code == 200 and "wmElse" not in store_user.content.decode()


def test_brand_b_sees_none_of_brand_a(world, admin_client_b):
    for url in (MY_URL, REVIEW_URL, "/admin/wecom/customertransfer/", "/admin/wecom/contactway/"):
        response = admin_client_b.get(url)
        assert response.status_code == 200
        assert world["following"].member_no not in response.content.decode()
    with schema_context("beta"):
        assert not FollowRelation.objects.exists()
