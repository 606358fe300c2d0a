"""Database-level guards that migrations install, so rules about proof hold even for code (or a
person with psql) that bypasses the services."""

from typing import Any

from django.db import migrations


class AppendOnly(migrations.RunSQL):
    """Makes a table append-only: PostgreSQL refuses UPDATE, DELETE and TRUNCATE on it. Used for
    the points ledger, consent records, the personal-information access log and audit trails:
    a correction is a new row, never an edit.

    On Citus the triggers need `citus.enable_unsafe_triggers = on` (docs/scale-out.md, "Append-only
    on Citus"): the function only raises, reads no other table, so it is safe where it runs, on the
    worker that holds the brand's shard. (Not so members 0021's trigger on the assignment history,
    which updates the member row: docs/scale-out.md says what to run on a cell before it.)"""

    def __init__(self, table: str) -> None:
        self.table = table
        function = f"{table}_refuse_change"
        # One command per statement (docs/scale-out.md): prepared statements and Citus take one.
        super().__init__(
            sql=[
                f"""
                CREATE FUNCTION {function}() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                        USING ERRCODE = 'restrict_violation';
                END;
                $$ LANGUAGE plpgsql
                """,
                f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION {function}()",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            ],
            reverse_sql=[
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}",
                f"DROP FUNCTION IF EXISTS {function}()",
            ],
        )

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (f"{__name__}.{self.__class__.__name__}", [self.table], {})

    def describe(self) -> str:
        return f"Make {self.table} append-only"
