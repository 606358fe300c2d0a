"""Test fixtures shared by every app.

The session starts with a real PostgreSQL test database holding the platform (public) tenant and
**two** brands, `alpha` and `beta`, provisioned by the real provisioning service, so every test can
check that one brand never sees the other.

Tests that use `db` run inside a transaction that is rolled back. The connection starts each test
in the public schema; `in_brand_a` / `in_brand_b` switch it to a brand. Tests that need committed
data (a real celery worker reads it from another thread) use `committed_db` and clean up after
themselves.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

import hypothesis
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django_tenants.utils import get_public_schema_name, schema_context

from crm.db import connection
from crm.memos import memos_forget_all
from crm.settings.cache import cache_config
from crm.tenancy.models import Brand
from crm.tenancy.services import brand_provision, platform_ensure, platform_operator_ensure

# Hypothesis in CI (CI=true): the same examples on every run, so a red build is red again when rerun,
# and a failure prints the blob that replays it; local runs keep looking for new examples. (Hypothesis
# loads a built-in "ci" profile itself when any CI variable is set, CI=false included; the suite
# says its own.) Loaded here, before the test modules build their @settings on top of it.
_hypothesis_default = hypothesis.settings.get_profile("default")
hypothesis.settings.register_profile("ci", _hypothesis_default, derandomize=True, print_blob=True, deadline=None)
hypothesis.settings.register_profile("local", _hypothesis_default, print_blob=True)
hypothesis.settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "local")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock",
        metavar="INSTANT",
        help="run with Python's clock moved to this instant, ticking (tests/clock.py), e.g. 2028-02-29T07:00:00+08:00",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clock: reckons with dates and times; also run at tests/clock.py's instants")
    instant = config.getoption("--clock")
    if instant:
        import time_machine

        from tests.clock import parse_instant

        # Started before any fixture builds a scene, stopped by nothing: the run ends with it.
        time_machine.travel(parse_instant(instant), tick=True).start()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from tests.clock import SWEEP_MODULES

    for item in items:
        if item.nodeid.split("::")[0] in SWEEP_MODULES:
            item.add_marker(pytest.mark.clock)


def pytest_report_header(config: pytest.Config) -> str | None:
    instant = config.getoption("--clock")
    return f"clock: Python's clock moved to {instant} (ticking)" if instant else None


PLATFORM_HOST = "localhost"
BRAND_A = "alpha"
BRAND_B = "beta"
ADMIN_PASSWORD = "Test-Admin-2026"
OPERATOR = ("operator", "Operator-Test-2026")


def brand_host(slug: str) -> str:
    return f"{slug}.localhost"


def brand_admin_email(slug: str) -> str:
    return f"admin@{slug}.example"


class BrandContacts(TypedDict):
    contact_address: str
    pi_contact: str


def brand_contacts(slug: str) -> BrandContacts:
    """brand_provision's contact arguments for a test brand: with them it starts with a complete,
    published membership agreement (without them enrolment is refused, PIPL art. 17)."""
    return {"contact_address": "上海市静安区南京西路 100 号", "pi_contact": f"privacy@{slug}.example"}


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_modify_db_settings, django_db_blocker):
    """Always create the test database (pytest-django would skip it when only `committed_db`
    tests are selected), migrate the public schema, and provision the platform and two brands.
    Under pytest-xdist each worker gets its own database (`django_db_modify_db_settings` suffixes
    the name with the worker id) and its own cache (crm/settings/test.py)."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        # The migrations make the database cache's table (tenancy 0002), as in production.
        db_config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        # The test database starts its id sequences afresh: counters a previous run left in a
        # cache server under the same brand and id (lockouts, throttles) must not leak into this one.
        cache.clear()
        platform_ensure(domain=PLATFORM_HOST)
        platform_operator_ensure(username=OPERATOR[0], email="operator@platform.example", password=OPERATOR[1])
        for slug, name in ((BRAND_A, "阿尔法咖啡"), (BRAND_B, "贝塔美妆")):
            brand_provision(
                slug=slug,
                name=name,
                domain=brand_host(slug),
                admin_email=brand_admin_email(slug),
                admin_password=ADMIN_PASSWORD,
                **brand_contacts(slug),
            )
    yield
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        teardown_databases(db_config, verbosity=0)


@pytest.fixture(autouse=True)
def _public_schema_between_tests() -> Iterator[None]:
    """Every test starts and ends on the public schema, whatever it switched to, and with nothing
    remembered by the process (crm/memos.py: brands by host, API keys, subscriptions, loyalty rules,
    ...): what a test changed inside its rolled-back transaction is not the next test's."""
    memos_forget_all()
    yield
    memos_forget_all()
    if connection.schema_name != get_public_schema_name():
        connection.set_schema_to_public()


@pytest.fixture
def brand_a(db) -> Brand:
    return Brand.objects.get(schema_name=BRAND_A)


@pytest.fixture
def brand_b(db) -> Brand:
    return Brand.objects.get(schema_name=BRAND_B)


@pytest.fixture
def in_brand_a(brand_a: Brand) -> Iterator[Brand]:
    """The connection is in brand A's schema for the test."""
    connection.set_tenant(brand_a)
    yield brand_a
    connection.set_schema_to_public()


@pytest.fixture
def in_brand_b(brand_b: Brand) -> Iterator[Brand]:
    connection.set_tenant(brand_b)
    yield brand_b
    connection.set_schema_to_public()


def host_client(host: str) -> Client:
    """A test client whose requests go to `host` (so django-tenants routes them to that brand)."""
    return Client(HTTP_HOST=host)


def logged_in_client(slug: str, username: str) -> Client:
    """A client on the brand's host logged in as `username` of that brand (session in its schema)."""
    client = host_client(brand_host(slug))
    with schema_context(slug):
        client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.fixture
def client_a(db) -> Client:
    return host_client(brand_host(BRAND_A))


@pytest.fixture
def client_b(db) -> Client:
    return host_client(brand_host(BRAND_B))


@pytest.fixture
def admin_client_a(db) -> Client:
    return logged_in_client(BRAND_A, brand_admin_email(BRAND_A))


@pytest.fixture
def admin_client_b(db) -> Client:
    return logged_in_client(BRAND_B, brand_admin_email(BRAND_B))


@pytest.fixture
def platform_client(db) -> Client:
    client = host_client(PLATFORM_HOST)
    with schema_context(get_public_schema_name()):
        client.force_login(get_user_model().objects.get(username=OPERATOR[0]))
    return client


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Database access without a wrapping transaction: what the test writes is committed and seen
    by other connections (a celery worker thread). The test must remove what it created."""
    with django_db_blocker.unblock():
        yield
        connection.set_schema_to_public()


@pytest.fixture
def celery_worker(committed_db) -> Iterator[object]:
    """A real celery worker (celery's own test worker, in a thread) consuming from the configured
    broker (Redis in CI, the filesystem transport locally). Not eager mode: messages really go
    through the broker with their headers."""
    import celery.contrib.testing.tasks  # noqa: F401  (registers celery.ping, which the worker expects)
    from celery.contrib.testing.worker import start_worker

    from crm.celery import app

    # Both queues, interactive and bulk (crm/settings/queues.py), as production's two workers do.
    queues = [settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_BULK_QUEUE]
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=queues) as worker:
        yield worker


@pytest.fixture
def pump_inline(monkeypatch) -> Callable[[], int]:
    """Bulk chunks run here, in the test's transaction, instead of through the broker: the pump
    (crm/tenancy/pump.py) keeps its cap and order, only its send is replaced. Call the returned
    function to pump every brand with waiting chunks and run what it sends, until nothing is left;
    it returns how many chunks ran."""
    from crm.tenancy import pump
    from crm.tenancy.models import BulkChunk

    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(pump, "_send", lambda schema_name, chunk_id: sent.append((schema_name, chunk_id)))

    def drain() -> int:
        ran = 0
        for schema_name in set(BulkChunk.objects.values_list("schema_name", flat=True)):
            pump.bulk_pump(schema_name)
        while sent:
            schema_name, chunk_id = sent.pop(0)
            with schema_context(schema_name):
                pump.bulk_chunk_run(chunk_id)
            ran += 1
        return ran

    return drain


@pytest.fixture
def retry_countdowns() -> Iterator[list[float]]:
    """The countdown of every retry the worker schedules (celery's task_retry signal), in order."""
    from celery.signals import task_retry

    countdowns: list[float] = []

    def record(sender: Any = None, reason: Any = None, **kwargs: Any) -> None:
        countdowns.append(reason.when)

    task_retry.connect(record, weak=False)
    yield countdowns
    task_retry.disconnect(record)


# --- Redis for the tests about production's cache ------------------------------------------------
@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """CACHE_URL's Redis when the suite runs on Redis (CI's second pass), else a private one this
    session starts (tests/redis_server.py): the tests that need it run on both paths."""
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        yield settings.CACHES["default"]["LOCATION"]
        return
    from tests.redis_server import private_redis

    with private_redis() as url:
        yield url


@pytest.fixture
def redis_cache(redis_url: str, settings: Any) -> Iterator[None]:
    """The default cache is a Redis for this test, as in production. On the database-cache path
    the setting is swapped (Django drops its cache connections when CACHES changes) and the
    private Redis starts empty, as a fresh test database does."""
    if not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        settings.CACHES = {
            **settings.CACHES,
            "default": cache_config(redis_url),
        }
        cache.clear()
    yield


@pytest.fixture
def sms_sent() -> Iterator[list]:
    """The texts the logging SMS provider (development's and the tests') sent during the test: a
    list kept by the class for the whole process, emptied before and after."""
    from campaigns.sms import LoggingSmsProvider

    LoggingSmsProvider.sent.clear()
    yield LoggingSmsProvider.sent
    LoggingSmsProvider.sent.clear()
