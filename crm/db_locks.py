"""Session advisory locks: one worker at a time on a long job made of many transactions.

A row lock (`select_for_update`) lasts one transaction, and a job that commits as it goes (an
import recording its progress chunk by chunk) has many. A session advisory lock lasts until it is
released, and PostgreSQL releases it when the session ends, so a redelivered task can take over
from a worker that died. The key names the job and the brand (schemas share one database)."""

from collections.abc import Iterator
from contextlib import contextmanager

from crm.db import connection


@contextmanager
def session_advisory_lock(key: str) -> Iterator[bool]:
    """Try to take the lock named `key` without waiting; yields whether it was granted and
    releases it when the block ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        (locked,) = cursor.fetchone()
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
