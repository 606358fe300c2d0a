"""Enrolling in the admin with the consent the customer gave on their own phone: the records carry
the phone's evidence, the session is consumed with the enrolment, once, and only if it succeeds."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from consent.models import ConsentRecord, ConsentSession, Purpose
from consent.services import consent_session_open, consent_session_path
from crm.db import connection
from members.models import Member, Staff
from members.roles import STORE_STAFF
from tests.conftest import logged_in_client
from tests.factories import IdentityFactory, MemberFactory, StaffFactory, StoreFactory

from .conftest import staff_user_create

ENROL = "admin:members_member_enrol"
PHONE: dict[str, Any] = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0)"}


@pytest.fixture
def store_user(in_brand_a: Any, agreement_version_a: Any, store_a: Any) -> Client:
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    return logged_in_client("alpha", "staff@alpha.example")


def _confirmed_on_phone(client_a: Client, brand_a: Any, staff: Staff, ticked: list[str]) -> ConsentSession:
    """Staff open a session; the customer ticks `ticked` on the member page from their phone."""
    connection.set_tenant(brand_a)
    session = consent_session_open(staff_id=staff.pk, actor="导购")
    response = client_a.post(consent_session_path(session=session), {"purpose": ticked}, **PHONE)
    assert response.status_code == 302
    connection.set_tenant(brand_a)
    session.refresh_from_db()
    assert session.status == ConsentSession.Status.SUBMITTED
    return session


def _post(client: Client, session: ConsentSession, mobile: str, **extra: Any) -> Any:
    staff_id = client.get(reverse(ENROL)).context["form"].initial["staff"]
    data = {"name": "周杰", "mobile": mobile, "gender": "male", "staff": staff_id, "consent_session": session.pk}
    return client.post(reverse(ENROL), {**data, **extra})


def test_enrol_with_a_phone_session_records_the_phones_evidence_and_consumes_it(store_user, client_a, brand_a, store_a):
    staff = Staff.objects.get(user__username="staff@alpha.example")
    session = _confirmed_on_phone(client_a, brand_a, staff, [Purpose.MEMBERSHIP])

    page = store_user.get(reverse(ENROL))
    assert session in page.context["form"].fields["consent_session"].queryset
    # The membership box is left unticked: with a session chosen, the boxes do not count.
    response = _post(store_user, session, "13912345601")

    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    connection.set_tenant(brand_a)
    member = Member.objects.get(mobile="+8613912345601")
    records = ConsentRecord.objects.filter(member=member)
    membership = records.get(purpose=Purpose.MEMBERSHIP)
    assert membership.granted and membership.channel == "store"
    assert all("iPhone" in r.evidence["user_agent"] and r.evidence["ip"] == "203.0.113.7" for r in records)
    assert membership.evidence["consent_session"] == str(session.pk)
    session.refresh_from_db()
    assert session.status == ConsentSession.Status.CONSUMED and session.member_id == member.pk


def test_a_used_session_is_refused_with_a_form_error_and_enrols_nobody(store_user, client_a, brand_a, store_a):
    staff = Staff.objects.get(user__username="staff@alpha.example")
    session = _confirmed_on_phone(client_a, brand_a, staff, [Purpose.MEMBERSHIP])
    assert _post(store_user, session, "13912345602").status_code == 302

    response = _post(store_user, session, "13912345603")

    assert response.status_code == 200
    assert "所选授权会话不可用" in str(response.context["form"].errors["consent_session"])
    connection.set_tenant(brand_a)
    assert not Member.objects.filter(mobile="+8613912345603").exists()
    session.refresh_from_db()
    assert session.member.mobile == "+8613912345602"


def test_a_failed_enrolment_leaves_the_session_unused(store_user, client_a, brand_a, store_a):
    connection.set_tenant(brand_a)
    taken = MemberFactory(home_store=store_a, mobile="+8613912345604")
    IdentityFactory(member=taken, kind="mobile", value="+8613912345604")
    staff = Staff.objects.get(user__username="staff@alpha.example")
    session = _confirmed_on_phone(client_a, brand_a, staff, [Purpose.MEMBERSHIP])

    response = _post(store_user, session, "13912345604")

    assert response.status_code == 200
    assert taken.member_no in response.content.decode()
    connection.set_tenant(brand_a)
    session.refresh_from_db()
    assert session.status == ConsentSession.Status.SUBMITTED and session.member_id is None
    assert not ConsentRecord.objects.filter(evidence__consent_session=str(session.pk)).exists()
    # The same consent then enrols the customer under their right number.
    assert _post(store_user, session, "13912345605").status_code == 302


def test_another_stores_sessions_are_not_offered(store_user, client_a, brand_a, store_a):
    connection.set_tenant(brand_a)
    elsewhere = StaffFactory(store=StoreFactory(code="BJ001", name="北京国贸店", city="北京"))
    session = _confirmed_on_phone(client_a, brand_a, elsewhere, [Purpose.MEMBERSHIP])

    assert session not in store_user.get(reverse(ENROL)).context["form"].fields["consent_session"].queryset
    response = _post(store_user, session, "13912345606")

    assert response.status_code == 200 and "consent_session" in response.context["form"].errors
    connection.set_tenant(brand_a)
    assert not Member.objects.filter(mobile="+8613912345606").exists()
