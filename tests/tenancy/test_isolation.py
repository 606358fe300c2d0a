"""Host routing and isolation: nothing of one brand is reachable from another brand's host,
session or cache entry; an unknown host is a 404, never some other brand."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context

from tests.conftest import ADMIN_PASSWORD, BRAND_A, BRAND_B, brand_admin_email, brand_host, host_client
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db


def test_each_brand_admin_is_served_on_its_own_host_in_chinese(client_a, client_b):
    page_a = client_a.get("/admin/login/").content.decode()
    page_b = client_b.get("/admin/login/").content.decode()

    assert "阿尔法咖啡" in page_a and "贝塔美妆" not in page_a
    assert "贝塔美妆" in page_b and "阿尔法咖啡" not in page_b
    assert "用户名" in page_a  # Chinese by default


def test_the_back_office_is_chinese_whatever_the_browser_asks(client_a):
    # English stays available where partners ask for it: the API's problem+json (tests/api).
    page = client_a.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "用户名" in page and "Username" not in page


def test_unknown_host_is_404():
    assert host_client("nobody.localhost").get("/admin/login/").status_code == 404
    assert host_client("nobody.localhost").get("/healthz").status_code == 404


def test_brand_admin_logs_in_on_own_host_only(client_a, client_b):
    credentials = {"username": brand_admin_email(BRAND_A), "password": ADMIN_PASSWORD}

    on_own_host = client_a.post("/admin/login/?next=/admin/", credentials)
    on_other_host = client_b.post("/admin/login/?next=/admin/", credentials)

    assert on_own_host.status_code == 302 and on_own_host["Location"] == "/admin/"
    assert on_other_host.status_code == 200  # the form again: no such user in brand B
    assert "_auth_user_id" not in client_b.session


def test_a_session_from_brand_a_means_nothing_on_brand_b(admin_client_a):
    session_cookie = admin_client_a.cookies["sessionid"].value
    assert admin_client_a.get("/admin/").status_code == 200

    intruder = host_client(brand_host(BRAND_B))
    intruder.cookies["sessionid"] = session_cookie
    response = intruder.get("/admin/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_session_cookie_is_host_only(client_a):
    client_a.post("/admin/login/", {"username": brand_admin_email(BRAND_A), "password": ADMIN_PASSWORD})
    assert client_a.cookies["sessionid"]["domain"] == ""


def test_users_live_in_their_brand_schema():
    user_model = get_user_model()
    with schema_context(BRAND_A):
        assert user_model.objects.filter(username=brand_admin_email(BRAND_A)).exists()
        assert not user_model.objects.filter(username=brand_admin_email(BRAND_B)).exists()
    with schema_context(BRAND_B):
        assert not user_model.objects.filter(username=brand_admin_email(BRAND_A)).exists()


def test_a_prepared_statement_reads_the_schema_the_connection_is_on_now(brand_a, brand_b):
    # The database settings prepare a statement once a connection has run it a few times; the
    # same prepared statement must then read the brand the connection has switched to.
    for slug, name in ((BRAND_A, "阿尔法一号店"), (BRAND_B, "贝塔一号店")):
        with schema_context(slug):
            StoreFactory(code="PREP-1", name=name)
    sql = "SELECT name FROM members_store WHERE code = %s"
    seen = []
    for slug in (BRAND_A, BRAND_B, BRAND_A):
        with schema_context(slug), connection.cursor() as cursor:
            for _ in range(8):
                cursor.execute(sql, ["PREP-1"])
                seen.append((slug, cursor.fetchone()[0]))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%members_store WHERE code%"]
        )
        assert cursor.fetchone()[0] == 1  # it was prepared, once, and reused across the brands
    assert {name for slug, name in seen if slug == BRAND_A} == {"阿尔法一号店"}
    assert {name for slug, name in seen if slug == BRAND_B} == {"贝塔一号店"}


def test_cache_keys_are_scoped_to_the_brand():
    try:
        with schema_context(BRAND_A):
            cache.set("wecom:access_token", "token-of-alpha", 60)
        with schema_context(BRAND_B):
            assert cache.get("wecom:access_token") is None
            cache.set("wecom:access_token", "token-of-beta", 60)
        with schema_context(BRAND_A):
            assert cache.get("wecom:access_token") == "token-of-alpha"
    finally:
        for slug in (BRAND_A, BRAND_B):
            with schema_context(slug):
                cache.delete("wecom:access_token")


def test_healthz_reports_database_broker_and_migrations(client_a):
    response = client_a.get("/healthz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True
    assert body["checks"]["migrations"] == {"ok": True, "schema": BRAND_A, "pending": []}
    assert body["checks"]["broker"]["ok"] is True


def test_healthz_is_503_when_the_broker_is_unreachable(client_a, monkeypatch):
    from crm.celery import app

    # Celery lets the environment variable win over its configuration, so change both; the
    # configuration first, or monkeypatch would record (and restore) the patched value.
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")

    response = client_a.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True
