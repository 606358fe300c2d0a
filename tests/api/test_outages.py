"""The partner API when a service it depends on is down: a 503 problem+json naming it
(`service_unavailable`, `dependency`), never a bare 500 or an HTML page. (A write that committed
while the broker was down: test_orders_broker_down.py.)"""

from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client

from crm.api.keys import PREFIX_LENGTH
from crm.dependencies import dependency_down
from tests import outages
from tests.conftest import BRAND_A, brand_host, host_client

from .conftest import assert_problem, call, make_key

ORDERS = "/api/v1/orders"
# Well formed, known to no brand: the key check has to ask the database (or the cache) about it.
UNKNOWN_KEY = f"{'z' * PREFIX_LENGTH}.secret"

# Fixtures of tests/outages.py, bound to names of this module so that pytest finds them.
cache_unreachable = outages.cache_unreachable
database_unreachable = outages.database_unreachable


def no_raise_client(host: str) -> Client:
    # Django's test client re-raises a request's exception by default; a real server answers.
    return Client(HTTP_HOST=host, raise_request_exception=False)


def assert_unavailable(response: Any, dependency: str) -> dict[str, Any]:
    body = assert_problem(response, 503, "service_unavailable")
    assert body["dependency"] == dependency
    return body


# --- 503 service_unavailable -------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.usefixtures("cache_unreachable")
def test_with_the_cache_unreachable_the_api_is_a_503_naming_the_cache(brand_a):
    key = make_key(BRAND_A)

    response = call(host_client(brand_host(BRAND_A)), "GET", "/api/v1/tiers", key=key, language="en")

    body = assert_unavailable(response, "cache")
    assert body["title"] == "Service unavailable"
    assert body["detail"] == "The service is temporarily unavailable: the cache cannot be reached; retry later."


@pytest.mark.django_db
@pytest.mark.usefixtures("cache_unreachable")
def test_the_503_speaks_chinese_by_default(brand_a):
    response = call(host_client(brand_host(BRAND_A)), "GET", "/api/v1/tiers", key=make_key(BRAND_A))

    body = assert_unavailable(response, "cache")
    assert (body["title"], body["detail"]) == ("服务暂时不可用", "服务暂时不可用：缓存无法连接，请稍后重试。")


def test_with_the_database_unreachable_before_the_view_the_api_is_a_503_problem(database_unreachable):
    # The host → brand look-up fails first: Django's handler500, not DRF's, answers.
    database_unreachable()

    response = call(no_raise_client(brand_host(BRAND_A)), "POST", ORDERS, key=UNKNOWN_KEY, body={"x": 1}, language="en")

    body = assert_unavailable(response, "database")
    assert body["detail"] == "The service is temporarily unavailable: the database cannot be reached; retry later."


def test_with_the_database_lost_during_the_request_the_api_is_a_503_problem(database_unreachable):
    client = no_raise_client(brand_host(BRAND_A))
    assert_problem(call(client, "GET", "/api/v1/tiers", key=UNKNOWN_KEY), 401, "api_key_invalid")  # host remembered
    database_unreachable()

    response = call(client, "GET", "/api/v1/tiers", key=UNKNOWN_KEY)

    assert_unavailable(response, "database")


@pytest.mark.django_db
def test_an_error_the_database_answered_is_not_an_outage():
    # A statement cancelled by its timeout: the server is there, the request was the problem.
    with pytest.raises(OperationalError) as cancelled, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")

    assert dependency_down(cancelled.value) is None
