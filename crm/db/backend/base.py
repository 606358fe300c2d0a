"""django-tenants' PostgreSQL backend with a health check that does not ask the server, and the
C timestamp loader (crm/db/adapters.py) registered on every new connection.

With CONN_HEALTH_CHECKS, Django checks a persistent connection before a request first uses it.
Its PostgreSQL check runs `SELECT 1`: one round trip — a tenth of a partner order's, and a
switch to the server process and back on every request. A connection worth checking is idle
between requests, so the server has nothing to say on it until asked; when the server goes
away (restart, `pg_terminate_backend`, `idle_session_timeout`, a crash) it sends a FATAL
message and/or closes the socket, and either makes the socket readable. So: usable when psycopg
knows of no failure, no transaction is left open, and the socket has nothing waiting — one
`poll()` with a zero timeout. A readable socket for another reason only costs a reconnect.

A network that drops silently shows nothing on the socket; `SELECT 1` would not answer either,
only wait for TCP to give up, so the check loses nothing there.

Its schema editor sends Django's DDL one command per statement (schema.py).
"""

import select
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from psycopg import Connection, pq

from crm.db.adapters import timestamptz_loader_use_c

from .schema import DatabaseSchemaEditor


def search_path_reported_or_refuse(connection: Connection[Any]) -> None:
    """Behind a transaction-mode pooler the brand is the `search_path` PgBouncer restores on
    whichever server connection runs the next transaction (track_extra_parameters), and it can only
    do that for a parameter the server reports (ParameterStatus): Citus 12+ reports it, plain
    PostgreSQL 15 does not. Without it a request could read another brand's rows: refuse."""
    if connection.info.parameter_status("search_path") is None:
        raise ImproperlyConfigured(
            "DATABASE_POOL_MODE=transaction, but the server does not report search_path: "
            "use PgBouncer in session mode (docs/scale-out.md)"
        )


class DatabaseWrapper(TenantDatabaseWrapper):
    # One SQL command per statement, Django's own DDL included (schema.py).
    SchemaEditorClass = DatabaseSchemaEditor

    def init_connection_state(self) -> None:
        super().init_connection_state()  # session time zone set: the loader checks it
        timestamptz_loader_use_c(self)
        if settings.DATABASE_POOL_MODE == "transaction":
            try:
                search_path_reported_or_refuse(self.connection)
            except ImproperlyConfigured:
                # Django keeps the connection it was setting up: left here, the next request
                # would find it open and use it unchecked. Close it (Django's close() also forgets
                # it), so every attempt is refused.
                self.close()
                raise

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.pgconn.status != pq.ConnStatus.OK:
            return False
        if connection.pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return False
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)  # POLLHUP / POLLERR are always reported too
