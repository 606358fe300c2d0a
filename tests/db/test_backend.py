"""The health check of crm/db/backend: a connection the server has ended is found unusable (and
replaced before a request uses it) without a query being sent on a healthy one."""

import select
import time
from collections.abc import Iterator

import pytest
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from crm.db.backend.base import DatabaseWrapper

pytestmark = pytest.mark.django_db


@pytest.fixture
def other() -> Iterator[BaseDatabaseWrapper]:
    """A second connection to the test database, as a web worker's persistent one."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def backend_pid(wrapper: BaseDatabaseWrapper) -> int:
    return wrapper.connection.info.backend_pid


def last_activity(pid: int) -> tuple[object, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first reading again
        cursor.execute("SELECT query, state_change FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()


def end_backend(wrapper: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid(wrapper)])
        assert cursor.fetchone() == (True,)
    # The server's FATAL message and its close arrive a moment later.
    select.select([wrapper.connection.fileno()], [], [], 5)
    time.sleep(0.05)


def test_the_project_uses_it(other: BaseDatabaseWrapper) -> None:
    assert isinstance(connections["default"], DatabaseWrapper) and isinstance(other, DatabaseWrapper)


def test_a_healthy_idle_connection_is_usable_and_is_sent_nothing(other: BaseDatabaseWrapper) -> None:
    pid = backend_pid(other)
    before = last_activity(pid)
    assert other.is_usable() and other.is_usable()
    assert last_activity(pid) == before  # no statement reached the server


def test_a_connection_the_server_ended_is_not_usable(other: BaseDatabaseWrapper) -> None:
    end_backend(other)
    assert not other.is_usable()


def test_a_connection_left_in_a_transaction_is_not_usable(other: BaseDatabaseWrapper) -> None:
    other.connection.autocommit = False
    other.connection.execute("SELECT 1")
    assert not other.is_usable()
    other.connection.rollback()
    other.connection.autocommit = True
    assert other.is_usable()


def test_the_request_start_check_replaces_an_ended_connection(other: DatabaseWrapper) -> None:
    """What Django does before a request's first query when CONN_HEALTH_CHECKS is on."""
    other.health_check_enabled, other.health_check_done = True, False
    old_pid = backend_pid(other)
    end_backend(other)
    other.close_if_health_check_failed()
    assert other.connection is None
    other.set_schema_to_public()
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] not in (old_pid, None)
