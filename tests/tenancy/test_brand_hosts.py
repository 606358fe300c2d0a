"""The brand of a host is looked up once and remembered by the process for a short while
(crm.tenancy.middleware): a change to a brand or its domains in this process takes effect at once,
one made elsewhere within HOST_CACHE_SECONDS."""

import pytest
from django.test.utils import CaptureQueriesContext

from crm.db import connection
from crm.tenancy import middleware
from crm.tenancy.models import Domain
from tests.conftest import BRAND_A, brand_host, host_client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


def domain_queries(client, path: str = LOGIN) -> int:
    connection.set_schema_to_public()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return sum(1 for q in captured.captured_queries if "tenancy_domain" in q["sql"])


def test_a_host_is_looked_up_once_then_remembered(client_a):
    assert domain_queries(client_a) == 1
    assert domain_queries(client_a) == 0


def test_a_request_on_the_brand_the_connection_is_on_sends_no_search_path(client_a):
    client_a.get(LOGIN)
    with CaptureQueriesContext(connection) as captured:
        assert client_a.get(LOGIN).status_code == 200
    assert not [q for q in captured.captured_queries if q["sql"].startswith("SET search_path")]
    assert connection.schema_name == BRAND_A


def test_a_changed_domain_takes_effect_at_once_in_this_process(client_a):
    assert client_a.get(LOGIN).status_code == 200
    domain = Domain.objects.get(domain=brand_host(BRAND_A))
    domain.domain = "alpha-renamed.localhost"
    domain.save()
    assert client_a.get(LOGIN).status_code == 404
    assert host_client("alpha-renamed.localhost").get(LOGIN).status_code == 200


def test_a_change_made_elsewhere_is_seen_when_the_entry_expires(client_a, monkeypatch):
    assert client_a.get(LOGIN).status_code == 200
    # As another process would change it: no signal reaches this one.
    Domain.objects.filter(domain=brand_host(BRAND_A)).update(domain="alpha-elsewhere.localhost")
    assert client_a.get(LOGIN).status_code == 200  # still remembered

    now = middleware.time.monotonic()
    monkeypatch.setattr(middleware.time, "monotonic", lambda: now + middleware.HOST_CACHE_SECONDS + 1)
    assert client_a.get(LOGIN).status_code == 404
    assert host_client("alpha-elsewhere.localhost").get(LOGIN).status_code == 200


def test_an_unknown_host_is_not_remembered(client_a):
    assert host_client("later.localhost").get(LOGIN).status_code == 404
    Domain.objects.filter(domain=brand_host(BRAND_A)).update(domain="later.localhost")
    assert host_client("later.localhost").get(LOGIN).status_code == 200
