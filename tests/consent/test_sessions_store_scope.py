"""Store staff start the in-store consent flow themselves, for their own store only."""

import pytest
from django_tenants.utils import schema_context

from consent.models import ConsentSession
from members.roles import STORE_STAFF
from tests.conftest import BRAND_A, logged_in_client
from tests.factories import StaffFactory, StoreFactory
from tests.members.conftest import staff_user_create

pytestmark = pytest.mark.django_db
ADD_URL = "/admin/consent/consentsession/add/"


@pytest.fixture
def shop_staff():
    with schema_context(BRAND_A):
        own_store, other_store = StoreFactory(code="OWN1"), StoreFactory(code="OTH1")
        user = staff_user_create(store=own_store, role=STORE_STAFF, username="clerk@alpha.example")
        other_staff = StaffFactory(store=other_store, name="别店导购")
    return user, other_staff


def test_store_staff_open_a_session_for_their_own_store(shop_staff):
    user, _other_staff = shop_staff
    client = logged_in_client(BRAND_A, user.username)
    with schema_context(BRAND_A):
        own_staff = user.staff

    page = client.get(ADD_URL)
    assert page.status_code == 200
    choices = {choice for choice, _ in page.context_data["adminform"].form.fields["staff"].choices if choice}
    assert {int(str(c)) for c in choices} == {own_staff.pk}  # the other store's staff is not offered

    response = client.post(ADD_URL, {"mode": "device", "staff": own_staff.pk})

    assert response.status_code == 302, response.content.decode()[:1500]
    with schema_context(BRAND_A):
        assert ConsentSession.objects.get().staff == own_staff


def test_another_stores_sessions_stay_out_of_sight(shop_staff):
    from consent.services.sessions import consent_session_open

    user, other_staff = shop_staff
    with schema_context(BRAND_A):
        other = consent_session_open(staff_id=other_staff.pk, actor="other-shop")
    client = logged_in_client(BRAND_A, user.username)

    listing = client.get("/admin/consent/consentsession/")
    detail = client.get(f"/admin/consent/consentsession/{other.pk}/change/")

    assert listing.status_code == 200 and "别店导购" not in listing.content.decode()
    assert detail.status_code == 302  # the admin's "does not exist" redirect, never the page
