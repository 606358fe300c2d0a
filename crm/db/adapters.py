"""A fast `timestamptz` loader for Django's PostgreSQL connections.

Django registers its own loader for timestamptz: psycopg's pure-Python parser, then
`.replace(tzinfo=connection.timezone)`. With USE_TZ and the session time zone UTC (Django sets it
when it connects, and nothing here changes it) psycopg's C parser (psycopg_binary) gives the very
same values — aware datetimes in `datetime.timezone.utc` — several times faster; parsing
timestamps was ~6 % of a partner order request's Python CPU (bench/README.md, session 5). Any
other set-up (no C implementation, a session in another zone) keeps Django's loader.
"""

import datetime as dt
from typing import Any, cast

import psycopg
from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg.adapt import Loader
from psycopg.pq import Format

_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
_C_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)
C_AVAILABLE = _C_LOADER is not None and _C_LOADER.__module__.startswith(("psycopg_binary", "psycopg_c"))


class UtcTimestamptzLoader(Loader):
    """psycopg's C timestamptz parser behind the Python loader interface Django expects (it reads
    `timezone` off the connection's loader on every cursor; the C class cannot be subclassed)."""

    timezone = dt.UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        # Registered only when C_AVAILABLE, so the C loader is there.
        self._parse = cast(type[Loader], _C_LOADER)(oid, context).load

    def load(self, data: Any) -> dt.datetime:
        return self._parse(data)


def timestamptz_loader_use_c(connection: BaseDatabaseWrapper) -> None:
    """Register the loader on a new connection (crm/db/backend calls it once the session is set up)."""
    if (
        not C_AVAILABLE
        or connection.vendor != "postgresql"
        or not settings.USE_TZ
        or connection.timezone is not dt.UTC
        or connection.connection.info.parameter_status("TimeZone") != "UTC"
    ):
        return
    connection.connection.adapters.register_loader("timestamptz", UtcTimestamptzLoader)
