"""A brand admin offboards or reassigns staff from 企业微信 › 导购交接; the staff page itself no
longer lets anyone flip a status and strand the customers."""

import pytest
from django.contrib.messages import get_messages
from django_tenants.utils import schema_context

from members.models import MemberAssignment, Staff
from tests.conftest import BRAND_A
from tests.factories import MemberFactory, StaffFactory, StoreFactory

pytestmark = pytest.mark.django_db
URL = "/admin/wecom/staffhandover/"


@pytest.fixture
def leaving_and_takeover():
    with schema_context(BRAND_A):
        store = StoreFactory(code="SH9")
        leaving = StaffFactory(store=store, name="离职导购", wecom_userid="leaving")
        takeover = StaffFactory(store=store, name="接替导购", wecom_userid="takeover")
        members = MemberFactory.create_batch(3, home_store=store, assigned_staff=leaving)
    return leaving, takeover, members


def test_the_action_asks_for_the_takeover_first(admin_client_a, leaving_and_takeover):
    leaving, _, _ = leaving_and_takeover

    page = admin_client_a.post(URL, {"action": "resign_and_transfer", "_selected_action": [leaving.pk]})

    body = page.content.decode()
    assert page.status_code == 200 and "接替导购" in body and "3 位会员" in body
    with schema_context(BRAND_A):
        assert Staff.objects.get(pk=leaving.pk).status == Staff.Status.ACTIVE


def test_resigning_hands_every_member_over(admin_client_a, leaving_and_takeover):
    leaving, takeover, members = leaving_and_takeover

    response = admin_client_a.post(
        URL,
        {"action": "resign_and_transfer", "_selected_action": [leaving.pk], "apply": "1", "takeover": takeover.pk},
        follow=True,
    )

    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("3 位直接改派" in text for text in texts), texts
    with schema_context(BRAND_A):
        assert Staff.objects.get(pk=leaving.pk).status == Staff.Status.RESIGNED
        for member in members:
            member.refresh_from_db()
            assert member.assigned_staff_id == takeover.pk
        assert (
            MemberAssignment.objects.filter(
                member__in=members, reason=MemberAssignment.Reason.RESIGNED_TRANSFER
            ).count()
            == 3
        )


def test_a_takeover_who_is_the_leaver_is_refused_and_nothing_changes(admin_client_a, leaving_and_takeover):
    leaving, _, members = leaving_and_takeover

    response = admin_client_a.post(
        URL,
        {"action": "resign_and_transfer", "_selected_action": [leaving.pk], "apply": "1", "takeover": leaving.pk},
        follow=True,
    )

    assert any(m.level_tag == "error" for m in get_messages(response.wsgi_request))
    with schema_context(BRAND_A):
        assert Staff.objects.get(pk=leaving.pk).status == Staff.Status.ACTIVE
        assert {m.assigned_staff_id for m in members} == {leaving.pk}


def test_the_staff_page_cannot_flip_a_status(admin_client_a, leaving_and_takeover):
    leaving, _, _ = leaving_and_takeover

    admin_client_a.post(
        f"/admin/members/staff/{leaving.pk}/change/",
        {"store": leaving.store_id, "name": leaving.name, "wecom_userid": "leaving", "status": "resigned"},
    )

    with schema_context(BRAND_A):
        assert Staff.objects.get(pk=leaving.pk).status == Staff.Status.ACTIVE
