"""Admin sessions last hours, not 14 days (issue 21, finding 7): 12 h by default, the brand's
setting on its host, PLATFORM_ADMIN_SESSION_HOURS for operators, counted from the login."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from crm.tenancy.services import brand_details_update
from tests.conftest import ADMIN_PASSWORD, BRAND_A, OPERATOR, PLATFORM_HOST, brand_admin_email, brand_host, host_client

pytestmark = pytest.mark.django_db


def login_at(start: dt.datetime, host: str, username: str, password: str) -> Client:
    client = host_client(host)
    with time_machine.travel(start, tick=False):
        response = client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})
    assert response.status_code == 302
    return client


def logged_in_at(client: Client, at: dt.datetime) -> bool:
    with time_machine.travel(at, tick=False):
        return client.get("/admin/").status_code == 200


def test_a_brand_login_lasts_twelve_hours_by_default(db):
    start = timezone.now()
    client = login_at(start, brand_host(BRAND_A), brand_admin_email(BRAND_A), ADMIN_PASSWORD)

    # Busy all day: the session still ends 12 h after the login, not 12 h after the last click
    assert logged_in_at(client, start + dt.timedelta(hours=6))
    assert logged_in_at(client, start + dt.timedelta(hours=11, minutes=59))
    assert not logged_in_at(client, start + dt.timedelta(hours=12, minutes=1))


def test_the_brands_setting_changes_it(db, brand_a, platform_client):
    # The platform operator sets it on the brand's page
    page = platform_client.get(f"/admin/tenancy/brand/{brand_a.pk}/change/")
    assert "后台登录有效期（小时）" in page.content.decode()
    brand_details_update(
        brand_id=brand_a.pk,
        name=brand_a.name,
        time_zone=brand_a.time_zone,
        contact_address=brand_a.contact_address,
        pi_contact=brand_a.pi_contact,
        admin_session_hours=2,
        actor="test",
    )
    start = timezone.now()
    client = login_at(start, brand_host(BRAND_A), brand_admin_email(BRAND_A), ADMIN_PASSWORD)

    assert logged_in_at(client, start + dt.timedelta(hours=1, minutes=59))
    assert not logged_in_at(client, start + dt.timedelta(hours=2, minutes=1))


@pytest.mark.parametrize(
    ("setting", "value"), [("admin_session_hours", 0), ("export_keep_days", 0), ("export_keep_days", 91)]
)
def test_the_brands_numeric_settings_are_refused_out_of_bounds_by_the_service_too(db, brand_a, setting, value):
    from crm.errors import AppError
    from crm.tenancy.models import Brand

    with pytest.raises(AppError) as refused:
        brand_details_update(
            brand_id=brand_a.pk,
            name=brand_a.name,
            time_zone=brand_a.time_zone,
            contact_address=brand_a.contact_address,
            pi_contact=brand_a.pi_contact,
            actor="script",
            **{setting: value},
        )
    assert refused.value.code == "brand_invalid" and setting in refused.value.fields
    brand = Brand.objects.get(pk=brand_a.pk)
    assert (brand.admin_session_hours, brand.export_keep_days) == (12, 7)


def test_a_platform_operator_login_lasts_twelve_hours(db, settings):
    start = timezone.now()
    client = login_at(start, PLATFORM_HOST, *OPERATOR)

    assert settings.PLATFORM_ADMIN_SESSION_HOURS == 12
    assert logged_in_at(client, start + dt.timedelta(hours=11, minutes=59))
    assert not logged_in_at(client, start + dt.timedelta(hours=12, minutes=1))


def test_session_cookie_age_stays_the_upper_bound(db, brand_a, settings):
    settings.SESSION_COOKIE_AGE = 3600
    start = timezone.now()
    client = login_at(start, brand_host(BRAND_A), brand_admin_email(BRAND_A), ADMIN_PASSWORD)

    assert not logged_in_at(client, start + dt.timedelta(hours=1, minutes=1))
