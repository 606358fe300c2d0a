"""Fixtures that take a service away for one test, for real: the code under test meets a refused
connection, not a mock. Nothing listens on port 1 of this machine.

A test module binds the fixtures it uses to its own names (`broker_unreachable =
outages.broker_unreachable`), as pytest finds fixtures by the names in the module.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crm.db import connection
from crm.settings.cache import cache_config

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def broker_unreachable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The celery app publishes to a broker that refuses connections."""
    import crm.celery
    from crm.celery import app

    # Celery lets the environment variable win over its configuration, so change both; the
    # configuration first, or monkeypatch would record (and restore) the patched value.
    monkeypatch.setattr(app.conf, "broker_url", UNREACHABLE_REDIS)
    monkeypatch.setenv("CELERY_BROKER_URL", UNREACHABLE_REDIS)
    # The app keeps the producer pool of the broker it first published to: a new one for this test.
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    # send_on_commit's memory of a failed broker starts (and ends) empty.
    monkeypatch.setattr(crm.celery, "_broker_down_until", 0.0)
    yield


@pytest.fixture
def cache_unreachable(settings: Any) -> Iterator[None]:
    """The default cache is a Redis that refuses connections (Django drops its cache connections
    when CACHES changes; crm.redis_cache keeps one client per location)."""
    settings.CACHES = {
        **settings.CACHES,
        "default": cache_config(UNREACHABLE_REDIS),
    }
    yield


@pytest.fixture
def cache_table_missing(settings: Any) -> Iterator[None]:
    """The default cache is the database cache on a table that was never made (a deployment
    whose migrate step did not make it)."""
    settings.CACHES = {
        **settings.CACHES,
        "default": cache_config(table="crm_cache_never_made"),
    }
    yield


@pytest.fixture
def database_unreachable(committed_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """`cut()` closes the database connection and points it at a port where nothing listens, so
    its next use fails to connect, as with the server down or its connections exhausted (psycopg
    raises the same error for both: the server's FATAL or the refusal, during connect). Needs a
    connection outside a test transaction, hence committed_db; put back when the test ends."""

    def cut() -> None:
        connection.close()
        monkeypatch.setitem(connection.settings_dict, "PORT", 1)

    yield cut
    connection.close()
