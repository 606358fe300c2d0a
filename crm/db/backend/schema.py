"""Django's PostgreSQL schema editor, sending one SQL command per statement.

A few of Django's own DDL templates join two commands with "; " — an inline foreign key is
`ALTER TABLE … ADD COLUMN … REFERENCES … DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS … IMMEDIATE`.
Sent as one statement they run only through the simple query protocol: prepared (server-side
binding with statements prepared, a pooler keeping them, Citus under it) PostgreSQL refuses them
with "cannot insert multiple commands into a prepared statement" (docs/scale-out.md). Here they
are sent one command at a time, in order, in the same transaction: the same effect.
"""

from typing import Any

import sqlparse
from django.db.backends.postgresql.schema import DatabaseSchemaEditor as PostgresSchemaEditor


def sql_commands(sql: str) -> list[str]:
    """The commands of `sql`, without their terminating semicolons (sqlparse knows quoting,
    dollar quoting included); a single command comes back as it was given."""
    if ";" not in sql:
        return [sql]
    commands = [command.strip().rstrip(";").rstrip() for command in sqlparse.split(sql)]
    return [command for command in commands if sqlparse.format(command, strip_comments=True).strip()] or [sql]


class DatabaseSchemaEditor(PostgresSchemaEditor):
    def execute(self, sql: Any, params: Any = ()) -> None:
        if params is not None:
            # As Django's PostgreSQL editor does: DDL takes no server-side parameters.
            sql = self.connection.ops.compose_sql(str(sql), params)
        for command in sql_commands(str(sql)):
            super().execute(command, None)
