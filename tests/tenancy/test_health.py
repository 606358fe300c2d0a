"""/healthz tells the load balancer the truth: 200 only when the database, the cache (a real round
trip), the broker and the migrations are fine; otherwise a JSON 503 naming what failed — even
when the database cannot be reached at all and the request fails before the view."""

import json
from typing import Any

import pytest
from django.test import Client

from tests import outages
from tests.conftest import BRAND_A, PLATFORM_HOST, brand_host

# Fixtures of tests/outages.py, bound to names of this module so that pytest finds them.
cache_table_missing = outages.cache_table_missing
cache_unreachable = outages.cache_unreachable
database_unreachable = outages.database_unreachable


def health(host: str) -> tuple[int, str, dict[str, Any]]:
    # Django's test client re-raises a request's exception by default; a real server answers.
    response = Client(HTTP_HOST=host, raise_request_exception=False).get("/healthz")
    return response.status_code, response["Content-Type"], json.loads(response.content)


@pytest.mark.django_db
def test_a_healthy_brand_host_checks_every_dependency_and_fails_none():
    status, content_type, body = health(brand_host(BRAND_A))

    assert (status, content_type) == (200, "application/json"), body
    assert body["ok"] is True and body["failed"] == []
    assert set(body["checks"]) == {"database", "cache", "broker", "migrations"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
@pytest.mark.usefixtures("cache_unreachable")
def test_an_unreachable_redis_cache_is_a_503_naming_the_cache():
    status, _, body = health(brand_host(BRAND_A))

    assert status == 503, body
    assert body["ok"] is False and body["failed"] == ["cache"]
    assert body["checks"]["cache"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


@pytest.mark.usefixtures("committed_db", "cache_table_missing")
def test_a_missing_cache_table_is_a_503_naming_the_cache():
    # committed_db: the failing statement runs in autocommit, as in production, not inside the
    # test's transaction (which it would abort for the checks after it).
    status, _, body = health(brand_host(BRAND_A))

    assert status == 503, body
    assert body["failed"] == ["cache"]
    assert body["checks"]["cache"] == {"ok": False, "error": "ProgrammingError"}


@pytest.mark.parametrize("host", [brand_host(BRAND_A), PLATFORM_HOST])
def test_with_the_database_unreachable_before_the_view_the_answer_is_still_json_503(host, database_unreachable):
    # The host → brand look-up is the request's first query: it fails before /healthz runs.
    database_unreachable()

    status, content_type, body = health(host)

    assert (status, content_type) == (503, "application/json"), body
    assert body == {
        "ok": False,
        "failed": ["database"],
        "checks": {"database": {"ok": False, "error": "OperationalError"}},
    }


def test_with_the_database_lost_after_the_host_was_resolved_the_view_names_it(database_unreachable):
    host = brand_host(BRAND_A)
    assert health(host)[0] == 200  # the process now remembers the host's brand (30 s)
    database_unreachable()

    status, _, body = health(host)

    assert status == 503, body
    assert "database" in body["failed"] and "migrations" in body["failed"]
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
def test_the_migration_graph_is_built_once_per_process_not_on_every_probe(monkeypatch):
    from django.db.migrations.loader import MigrationLoader

    built = []
    build_graph = MigrationLoader.build_graph

    def counting(self):
        built.append(1)
        return build_graph(self)

    monkeypatch.setattr(MigrationLoader, "build_graph", counting)
    for _ in range(3):
        assert health(brand_host(BRAND_A))[0] == 200
        assert health(PLATFORM_HOST)[0] == 200

    assert len(built) <= 1  # the first probe of this process at most; none after


@pytest.mark.django_db
@pytest.mark.parametrize("host", [brand_host(BRAND_A), PLATFORM_HOST])
def test_a_migration_the_schema_has_not_applied_is_a_503_naming_it(host):
    from django.db import connection as db

    status, _, body = health(host)
    assert status == 200
    with db.cursor() as cursor:  # the host's schema forgets one (rolled back with the test)
        cursor.execute(
            f'DELETE FROM "{body["checks"]["migrations"]["schema"]}".django_migrations'  # noqa: S608
            " WHERE app = 'contenttypes' AND name = '0002_remove_content_type_name'"
        )

    status, _, body = health(host)

    assert status == 503, body
    assert body["failed"] == ["migrations"]
    assert body["checks"]["migrations"]["pending"] == ["contenttypes.0002_remove_content_type_name"]
