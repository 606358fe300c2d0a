"""Which service an exception says is down: the database, the cache or the broker.

A request that fails because one of them cannot be reached is answered 503 naming it (the partner
API's problem+json in crm/api/exceptions.py, crm/server_error.py before a view runs), not a 500:
the request was fine and a retry later may succeed. Only failures to reach a service count. An
error the service answered about the request itself (a deadlock, a statement timeout, a missing
table, a Redis script error) stays what it was: a bug or a conflict, not an outage.
"""

import kombu.exceptions
import redis.exceptions
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError

DATABASE = "database"
CACHE = "cache"
BROKER = "broker"

# SQLSTATE classes and codes that say the server cannot serve us at all (PostgreSQL's appendix A):
# 08 connection exception, 53 insufficient resources (too many connections, out of memory, disk
# full), 58 system error, 57P01-57P03 shut down / starting up. A connection that cannot be made
# (refused, unreachable, "too many clients", no such database) reaches psycopg as a FATAL message
# during connect, which psycopg raises without an SQLSTATE; so does a connection lost mid-query.
_DOWN_SQLSTATE_PREFIXES = ("08", "53", "58", "57P")

# Redis refused the connection, did not answer in time, or cannot take writes (maxmemory reached,
# a replica left read-only by a failover). ConnectionError covers authentication and max clients.
_CACHE_DOWN = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)


def dependency_down(exc: BaseException) -> str | None:
    """DATABASE, CACHE or BROKER when `exc` means that service cannot be reached, else None."""
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        # Django's wrapper; psycopg's own exception, with its SQLSTATE, is the cause.
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        if sqlstate is None or sqlstate.startswith(_DOWN_SQLSTATE_PREFIXES):
            return DATABASE
        return None
    if isinstance(exc, _CACHE_DOWN):
        return CACHE
    # Celery re-raises a failed publish (after its retries) as kombu's OperationalError.
    if isinstance(exc, kombu.exceptions.OperationalError):
        return BROKER
    return None
