"""Login brute force (issue 21, finding 6): 50 wrong passwords then the right one logged a brand user
in, and the platform operator too. Now a username is locked out after AXES_FAILURE_LIMIT failures
for AXES_COOLOFF_TIME, in the schema where the user lives, and a brand admin can unlock it."""

import datetime as dt

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from crm.logins.models import LockedLogin
from members import roles
from tests.api.conftest import call, make_key
from tests.conftest import (
    ADMIN_PASSWORD,
    BRAND_A,
    BRAND_B,
    OPERATOR,
    PLATFORM_HOST,
    brand_admin_email,
    brand_host,
    host_client,
    logged_in_client,
)
from tests.members.conftest import STAFF_PASSWORD, staff_user_create

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
LOCKED = "登录失败次数过多，账号已临时锁定"


def login(client: Client, username: str, password: str) -> Client:
    client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})
    return client


def logged_in(client: Client) -> bool:
    response = client.get("/admin/")
    # Store roles are sent on to their workbench (workbench/views.py).
    return response.status_code == 200 or response.get("Location") == "/admin/workbench/"


def brute_force(client: Client, username: str, attempts: int = 50) -> None:
    for attempt in range(attempts):
        login(client, username, f"wrong-{attempt}")


def test_fifty_wrong_passwords_then_the_right_one_stays_locked_for_a_brand_user(db):
    # Given an attacker who tried 50 passwords for the brand admin
    attacker = host_client(brand_host(BRAND_A))
    brute_force(attacker, brand_admin_email(BRAND_A))

    # When they (or anyone) then type the right password
    response = attacker.post(LOGIN, {"username": brand_admin_email(BRAND_A), "password": ADMIN_PASSWORD})

    # Then the login is refused with the lockout page in Chinese, and nobody is logged in
    assert response.status_code == 429
    body = response.content.decode()
    assert LOCKED in body and "15 分钟后再试或联系品牌管理员解锁" in body
    assert 'id="login-form"' in body  # the admin's own login page, not a bare text
    assert not logged_in(attacker)
    assert not logged_in(login(host_client(brand_host(BRAND_A)), brand_admin_email(BRAND_A), ADMIN_PASSWORD))


def test_fifty_wrong_passwords_then_the_right_one_stays_locked_for_the_platform_operator(db):
    attacker = host_client(PLATFORM_HOST)
    brute_force(attacker, OPERATOR[0])

    response = attacker.post(LOGIN, {"username": OPERATOR[0], "password": OPERATOR[1]})

    assert response.status_code == 429
    assert "联系其他平台管理员解锁" in response.content.decode()
    assert not logged_in(attacker)
    with schema_context(get_public_schema_name()):
        assert AccessAttempt.objects.filter(username=OPERATOR[0]).exists()


def test_the_limit_is_a_few_failures_not_fifty(db):
    client = host_client(brand_host(BRAND_A))
    brute_force(client, brand_admin_email(BRAND_A), attempts=settings.AXES_FAILURE_LIMIT - 1)

    # One failure short of the limit, the right password still logs in
    assert logged_in(login(client, brand_admin_email(BRAND_A), ADMIN_PASSWORD))


def test_a_lockout_in_brand_a_does_not_touch_the_same_username_in_brand_b_or_the_platform(db):
    username = "boss@shared.example"
    for slug in (BRAND_A, BRAND_B):
        with schema_context(slug):
            get_user_model().objects.create_superuser(username=username, email=username, password=ADMIN_PASSWORD)

    brute_force(host_client(brand_host(BRAND_A)), username, attempts=10)

    assert not logged_in(login(host_client(brand_host(BRAND_A)), username, ADMIN_PASSWORD))
    assert logged_in(login(host_client(brand_host(BRAND_B)), username, ADMIN_PASSWORD))
    with schema_context(BRAND_B):
        assert not AccessAttempt.objects.exists()
    with schema_context(get_public_schema_name()):
        assert not AccessAttempt.objects.filter(username=username).exists()
    assert logged_in(login(host_client(PLATFORM_HOST), OPERATOR[0], OPERATOR[1]))


def test_after_the_cool_off_the_right_password_logs_in(db):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        brute_force(host_client(brand_host(BRAND_A)), brand_admin_email(BRAND_A), attempts=10)
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=5), tick=False):
        assert not logged_in(login(host_client(brand_host(BRAND_A)), brand_admin_email(BRAND_A), ADMIN_PASSWORD))

    # The refused attempt just before the end started the cool-off again
    later = start + 2 * settings.AXES_COOLOFF_TIME
    with time_machine.travel(later, tick=False):
        assert logged_in(login(host_client(brand_host(BRAND_A)), brand_admin_email(BRAND_A), ADMIN_PASSWORD))


def test_a_brand_admin_sees_the_locked_username_and_unlocks_it(db, admin_client_a):
    with schema_context(BRAND_A):
        staff_user_create(store=None, role=roles.STORE_STAFF, username="clerk@alpha.example")
    brute_force(host_client(brand_host(BRAND_A)), "clerk@alpha.example", attempts=10)
    assert not logged_in(login(host_client(brand_host(BRAND_A)), "clerk@alpha.example", STAFF_PASSWORD))

    # The brand admin's 登录锁定 page lists it, in Chinese, with brand-local times
    page = admin_client_a.get("/admin/logins/lockedlogin/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "登录锁定" in body and "clerk@alpha.example" in body and "自动解锁时间" in body
    with schema_context(BRAND_A):
        locked = LockedLogin.objects.get(username="clerk@alpha.example")
    shown = timezone.localtime(locked.attempt_time, dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    assert shown in body

    # When the brand admin unlocks it
    response = admin_client_a.post(
        "/admin/logins/lockedlogin/", {"action": "unlock_selected", "_selected_action": [locked.pk]}, follow=True
    )

    # Then the clerk logs in at once
    assert "已解锁：clerk@alpha.example" in response.content.decode()
    assert logged_in(login(host_client(brand_host(BRAND_A)), "clerk@alpha.example", STAFF_PASSWORD))


@pytest.mark.parametrize("role", [roles.STORE_STAFF, roles.STORE_MANAGER, roles.HQ_MARKETER])
def test_other_roles_cannot_see_or_unlock_lockouts(db, role):
    with schema_context(BRAND_A):
        staff_user_create(store=None, role=role, username="someone@alpha.example")
    brute_force(host_client(brand_host(BRAND_A)), brand_admin_email(BRAND_A), attempts=10)
    with schema_context(BRAND_A):
        locked = LockedLogin.objects.get(username=brand_admin_email(BRAND_A))
    client = logged_in_client(BRAND_A, "someone@alpha.example")

    assert client.get("/admin/logins/lockedlogin/").status_code == 403
    response = client.post("/admin/logins/lockedlogin/", {"action": "unlock_selected", "_selected_action": [locked.pk]})

    assert response.status_code == 403
    assert "登录锁定" not in client.get("/admin/").content.decode()
    assert not logged_in(login(host_client(brand_host(BRAND_A)), brand_admin_email(BRAND_A), ADMIN_PASSWORD))


def test_the_platform_operator_unlocks_an_operator(db, platform_client):
    with schema_context(get_public_schema_name()):
        get_user_model().objects.create_superuser(username="second", email="second@platform.example", password="Op-2")
    brute_force(host_client(PLATFORM_HOST), "second", attempts=10)
    with schema_context(get_public_schema_name()):
        locked = LockedLogin.objects.get(username="second")

    assert "second" in platform_client.get("/admin/logins/lockedlogin/").content.decode()
    platform_client.post("/admin/logins/lockedlogin/", {"action": "unlock_selected", "_selected_action": [locked.pk]})

    assert logged_in(login(host_client(PLATFORM_HOST), "second", "Op-2"))


def test_api_key_requests_are_not_logins(db):
    # Given the brand admin's username locked out, and a partner with a valid key
    brute_force(host_client(brand_host(BRAND_A)), brand_admin_email(BRAND_A), attempts=10)
    key = make_key(BRAND_A)
    client = host_client(brand_host(BRAND_A))

    # Then the partner's calls go through, and wrong keys are the API's 401, never a lockout
    for _ in range(10):
        assert call(client, "GET", "/api/v1/webhooks", key="wrong-key").status_code == 401
    assert call(client, "GET", "/api/v1/webhooks", key=key).status_code == 200
    with schema_context(BRAND_A):
        assert list(AccessAttempt.objects.values_list("username", flat=True)) == [brand_admin_email(BRAND_A)]
