"""Store scoping through the real admin: a store user sees and acts only on their store's members
(home store, or assigned to a staff member of their store); brand-wide roles see everything."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.urls import reverse

from members.models import Member, MemberTag
from members.roles import HQ_MARKETER, STORE_MANAGER, STORE_STAFF
from members.scoping import check_member_admins_scoped, scope_members
from tests.conftest import logged_in_client
from tests.factories import IdentityFactory, MemberFactory, StaffFactory, StoreFactory, TagFactory

from .conftest import staff_user_create


@pytest.fixture
def scene(in_brand_a, store_a, staff_a):
    other_store = StoreFactory(code="HZ001", name="杭州湖滨店", city="杭州")
    other_staff = StaffFactory(store=other_store, name="赵导购", wecom_userid="zhao")
    scene = {
        "store": store_a,
        "other_store": other_store,
        "home": MemberFactory(member_no="M00000001", home_store=store_a, mobile="+8613800000001"),
        # Lives in Hangzhou, but a Shanghai staff member serves them: visible to Shanghai.
        "served": MemberFactory(
            member_no="M00000002", home_store=other_store, assigned_staff=staff_a, mobile="+8613800000002"
        ),
        "foreign": MemberFactory(
            member_no="M00000003", home_store=other_store, assigned_staff=other_staff, mobile="+8613800000003"
        ),
        "staff_user": staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example"),
        "manager_user": staff_user_create(store=store_a, role=STORE_MANAGER, username="manager@alpha.example"),
        "marketer_user": staff_user_create(store=None, role=HQ_MARKETER, username="marketer@alpha.example"),
    }
    IdentityFactory(member=scene["foreign"], kind="pos_card", value="CARD-FOREIGN")
    return scene


def _client(username):
    client = logged_in_client("alpha", username)
    return client


def _listed(response):
    return {m.member_no for m in response.context["cl"].result_list}


def test_store_staff_list_shows_only_their_store(scene, brand_a):
    client = _client("staff@alpha.example")
    response = client.get(reverse("admin:members_member_changelist"))
    assert response.status_code == 200
    assert _listed(response) == {"M00000001", "M00000002"}


@pytest.mark.parametrize("query", ["M00000003", "13800000003", "CARD-FOREIGN"])
def test_store_staff_search_never_finds_another_stores_member(scene, query):
    client = _client("staff@alpha.example")
    response = client.get(reverse("admin:members_member_changelist"), {"q": query})
    assert response.status_code == 200
    assert _listed(response) == set()


def test_store_staff_search_finds_their_own_member_by_mobile(scene):
    client = _client("staff@alpha.example")
    response = client.get(reverse("admin:members_member_changelist"), {"q": "138 0000 0001"})
    assert _listed(response) == {"M00000001"}


def test_another_stores_member_page_is_not_found(scene):
    client = _client("manager@alpha.example")
    foreign = scene["foreign"]
    change = client.get(reverse("admin:members_member_change", args=[foreign.pk]))
    # The admin redirects a missing object to the index with a message: never renders it.
    assert change.status_code in (302, 404)
    assert "M00000003" not in change.content.decode()
    own = client.get(reverse("admin:members_member_change", args=[scene["home"].pk]))
    assert own.status_code == 200


def test_related_lists_of_another_stores_member_are_scoped(scene):
    client = _client("manager@alpha.example")
    identities = client.get(reverse("admin:members_identity_changelist"), {"q": "CARD-FOREIGN"})
    assert identities.status_code == 200
    assert list(identities.context["cl"].result_list) == []


def test_autocomplete_of_members_is_scoped(scene):
    """Autocomplete (any form with a member field) answers from MemberAdmin's scoped queryset."""
    client = _client("manager@alpha.example")
    response = client.get(
        reverse("admin:autocomplete"),
        {"term": "M0000", "app_label": "members", "model_name": "membermerge", "field_name": "survivor"},
    )
    assert response.status_code == 200
    found = {item["text"].split()[0] for item in response.json()["results"]}
    assert found == {"M00000001", "M00000002"}


def test_actions_cannot_reach_another_stores_member(scene, brand_a):
    """Even a forged POST with another store's id only acts on what the scoped queryset holds."""
    client = _client("manager@alpha.example")
    tag = TagFactory(name="VIP")
    response = client.post(
        reverse("admin:members_member_changelist"),
        {
            "action": "tag_members",
            ACTION_CHECKBOX_NAME: [scene["home"].pk, scene["foreign"].pk],
            "tag": tag.pk,
        },
    )
    assert response.status_code == 302
    connection.set_tenant(brand_a)
    assert set(MemberTag.objects.filter(tag=tag).values_list("member__member_no", flat=True)) == {"M00000001"}


def test_export_is_scoped_and_masked(scene):
    client = _client("manager@alpha.example")
    response = client.post(
        reverse("admin:members_member_changelist"),
        {"action": "export_csv", ACTION_CHECKBOX_NAME: [scene["home"].pk, scene["foreign"].pk, scene["served"].pk]},
    )
    assert response.status_code == 200
    body = response.content.decode("utf-8-sig")
    assert "M00000001" in body and "M00000002" in body
    assert "M00000003" not in body


def test_store_staff_without_a_staff_row_sees_nothing(in_brand_a, scene):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    lonely = get_user_model().objects.create_user(username="lonely@alpha.example", password="x", is_staff=True)
    lonely.groups.add(Group.objects.get(name=STORE_STAFF))
    assert scope_members(Member.objects.all(), lonely).count() == 0
    client = _client("lonely@alpha.example")
    assert _listed(client.get(reverse("admin:members_member_changelist"))) == set()


def test_hq_marketer_sees_every_store(scene):
    client = _client("marketer@alpha.example")
    response = client.get(reverse("admin:members_member_changelist"))
    assert _listed(response) == {"M00000001", "M00000002", "M00000003"}


def test_store_user_cannot_merge_or_reach_staff_of_other_stores(scene):
    client = _client("manager@alpha.example")
    response = client.get(reverse("admin:members_staff_changelist"))
    assert response.status_code == 200
    assert {s.store_id for s in response.context["cl"].result_list} == {scene["store"].pk}
    listing = client.get(reverse("admin:members_member_changelist"))
    assert "merge_members" not in dict(listing.context["action_form"].fields["action"].choices)


def test_every_brand_admin_of_member_data_is_scoped(in_brand_a):
    assert check_member_admins_scoped() == []


def test_the_check_refuses_an_unscoped_admin_of_member_data_that_store_roles_can_open(in_brand_a):
    from django.contrib import admin

    from crm.admin_sites import brand_admin
    from members.models import MemberAssignment

    brand_admin.register(MemberAssignment, admin.ModelAdmin)
    try:
        errors = check_member_admins_scoped()
    finally:
        brand_admin.unregister(MemberAssignment)
    assert [error.id for error in errors] == ["members.E001"]
    assert "MemberAssignment" in errors[0].msg
