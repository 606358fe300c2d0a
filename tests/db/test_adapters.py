"""The C timestamptz loader (crm/db/adapters.py) reads every timestamp exactly as Django's own
loader does: same instant, same `datetime.timezone.utc`."""

import datetime as dt

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.db.adapters import UtcTimestamptzLoader

pytestmark = pytest.mark.django_db


def read_fast(text: str) -> dt.datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [text])
        return cursor.fetchone()[0]


def read_as_django(text: str) -> object:
    connection.ensure_connection()
    with connection.connection.cursor() as raw:
        register_tzloader(dt.UTC, raw)  # what Django registers on its connections
        raw.execute("SELECT %s::timestamptz", [text])
        return raw.fetchone()[0]


def test_the_connections_use_it() -> None:
    connection.ensure_connection()
    assert connection.connection.adapters.get_loader(1184, psycopg.pq.Format.TEXT) is UtcTimestamptzLoader


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23 08:00:00+08",
        "2026-01-01 00:00:00.123456+00",
        "1900-01-01 00:05:43+08:05:43",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999+00",
        "2024-02-29 23:59:59.5-11:30",
    ],
)
def test_edge_timestamps_read_as_django_reads_them(text: str) -> None:
    fast = read_fast(text)
    assert fast == read_as_django(text)
    assert fast.tzinfo is dt.UTC


@pytest.mark.parametrize("text", ["infinity", "-infinity"])
def test_timestamps_python_cannot_hold_are_refused_as_django_refuses_them(text: str) -> None:
    with pytest.raises(psycopg.DataError):
        read_as_django(text)
    with pytest.raises(Exception) as fast_error:  # Django wraps the driver's error
        read_fast(text)
    assert "infinity" in str(fast_error.value)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    # Hypothesis takes naive bounds and adds the zone itself.
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)),  # noqa: DTZ001
    st.integers(min_value=-15 * 60, max_value=15 * 60),
)
def test_any_timestamp_reads_as_django_reads_it(value: dt.datetime, offset_minutes: int) -> None:
    text = value.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes))).isoformat()
    fast = read_fast(text)
    assert fast == read_as_django(text) == value
    assert fast.tzinfo is dt.UTC
