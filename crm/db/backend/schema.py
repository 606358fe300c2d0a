"""Django's PostgreSQL schema editor, sending one SQL command per statement.

A few of Django's own DDL templates join two commands with "; " — an inline foreign key is
`ALTER TABLE … ADD COLUMN … REFERENCES … DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS … IMMEDIATE`.
Sent as one statement they run only through the simple query protocol: prepared (server-side
binding with statements prepared, a pooler keeping them, Citus under it) PostgreSQL refuses them
with "cannot insert multiple commands into a prepared statement" (docs/scale-out.md). Here they
are sent one command at a time, in order, in the same transaction: the same effect.

And a column added to an existing table carries no unnamed constraint: Django writes a
PositiveIntegerField's CHECK and a unique field's UNIQUE inline in `ADD COLUMN`, which Citus
refuses on a distributed table ("all constraints in Citus must have explicit names"; seen on a
Citus 13.2 cluster, docs/scale-out.md). The column is added bare and each constraint follows in
its own `ADD CONSTRAINT`, under the very name PostgreSQL gives an inline one, so a brand migrated
this way has the same constraints, names included, as one migrated before.
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


# PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes).
_MAX_IDENTIFIER = 63


def pg_default_constraint_name(table: str, column: str, label: str) -> str:
    """The name PostgreSQL gives an unnamed constraint on one column (makeObjectName in its
    indexcmds.c): `<table>_<column>_<label>`, the longer of table and column clipped a byte at a
    time until it fits. Names here are ASCII (Django's table and column names)."""
    available = _MAX_IDENTIFIER - (len(label) + 2)
    table_chars, column_chars = len(table), len(column)
    while table_chars + column_chars > available:
        if table_chars > column_chars:
            table_chars -= 1
        else:
            column_chars -= 1
    return f"{table[:table_chars]}_{column[:column_chars]}_{label}"


class DatabaseSchemaEditor(PostgresSchemaEditor):
    # Set while add_field() builds its ADD COLUMN: the column's CHECK and UNIQUE come after it.
    _constraints_apart = False

    def _iter_column_sql(self, column_db_type, params, model, field, field_db_params, include_default):
        for part in super()._iter_column_sql(column_db_type, params, model, field, field_db_params, include_default):
            if self._constraints_apart and part == "UNIQUE":
                continue
            yield part

    def add_field(self, model: Any, field: Any) -> None:
        check = field.db_parameters(connection=self.connection)["check"]
        unique = field.unique and not field.primary_key
        if field.many_to_many or not (check or unique):
            super().add_field(model, field)
            return
        table = model._meta.db_table
        self._constraints_apart = True
        # Django appends `sql_check_constraint % db_params` to the column; empty, it adds nothing.
        self.sql_check_constraint = ""
        try:
            super().add_field(model, field)
        finally:
            del self.sql_check_constraint
            self._constraints_apart = False
        # Before the deferred SQL (indexes, foreign keys) Django runs on leaving the editor, as
        # the inline constraint would have been.
        if check:
            name = pg_default_constraint_name(table, field.column, "check")
            self.execute(
                f"ALTER TABLE {self.quote_name(table)} ADD CONSTRAINT {self.quote_name(name)} CHECK ({check})", None
            )
        if unique:
            name = pg_default_constraint_name(table, field.column, "key")
            self.execute(
                f"ALTER TABLE {self.quote_name(table)} ADD CONSTRAINT {self.quote_name(name)} "
                f"UNIQUE ({self.quote_name(field.column)})",
                None,
            )

    def execute(self, sql: Any, params: Any = ()) -> None:
        if params is not None:
            # As Django's PostgreSQL editor does: DDL takes no server-side parameters.
            sql = self.connection.ops.compose_sql(str(sql), params)
        for command in sql_commands(str(sql)):
            super().execute(command, None)
