"""Masking done once, tested everywhere (issue 23, item 8): every changelist and change page of
the brand back office, and the member export, rendered as store staff and as a marketer on a
scene with known names and mobiles. A full mobile or a full name on any of them fails."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.urls import NoReverseMatch, reverse

from crm.admin_sites import brand_admin
from members.models import Member
from members.roles import HQ_MARKETER, STORE_STAFF
from tests.conftest import logged_in_client
from tests.factories import IdentityFactory, MemberFactory, StaffFactory, StoreFactory
from tests.members.conftest import staff_user_create

NAME = "欧阳晓雯"
MOBILE = "13912345678"
E164 = "+86" + MOBILE
ROLES = [(STORE_STAFF, "staff@alpha.example"), (HQ_MARKETER, "marketer@alpha.example")]


def _leaks(body: str) -> list[str]:
    return [secret for secret in (MOBILE, E164, NAME) if secret in body]


@pytest.fixture
def scene(in_brand_a):
    store_a = StoreFactory()
    staff_a = StaffFactory(store=store_a)
    member = MemberFactory(home_store=store_a, assigned_staff=staff_a, mobile=E164, name=NAME)
    IdentityFactory(member=member, kind="mobile", value=E164)
    for role, username in ROLES:
        staff_user_create(store=store_a, role=role, username=username)
    return member


@pytest.mark.parametrize(("role", "username"), ROLES)
def test_no_page_of_the_brand_back_office_shows_full_pi(scene, brand_a, role, username):
    client = logged_in_client("alpha", username)
    seen, leaks = 0, {}
    for model in list(brand_admin._registry):
        meta = model._meta
        try:
            changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        response = client.get(changelist)
        if response.status_code != 200:
            continue
        seen += 1
        found = _leaks(response.content.decode())
        if found:
            leaks[changelist] = found
        connection.set_tenant(brand_a)
        for obj in model.objects.all()[:3]:
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            page = client.get(url)
            connection.set_tenant(brand_a)
            if page.status_code == 200:
                found = _leaks(page.content.decode())
                if found:
                    leaks[url] = found
    assert seen >= 5, "the role sees hardly any page: the sweep checks nothing"
    assert leaks == {}


@pytest.mark.parametrize(("role", "username"), ROLES)
def test_member_export_is_masked_without_the_permission(scene, brand_a, role, username):
    client = logged_in_client("alpha", username)
    response = client.post(
        reverse("admin:members_member_changelist"),
        {"action": "export_csv", ACTION_CHECKBOX_NAME: [scene.pk]},
    )
    connection.set_tenant(brand_a)
    body = b"".join(response.streaming_content if response.streaming else [response.content]).decode("utf-8", "replace")
    assert _leaks(body) == []
    assert Member.objects.filter(pk=scene.pk).exists()
