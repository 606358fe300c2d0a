"""A column added to an existing table carries no unnamed constraint (crm/db/backend/schema.py):
Citus refuses `ADD COLUMN … CHECK (…)` / `… UNIQUE` on a distributed table ("all constraints in
Citus must have explicit names"), which stopped brand provisioning on a Citus 13.2 cluster at
members 0021's PositiveSmallIntegerField (docs/scale-out.md). Checked on plain PostgreSQL: the
column goes bare, the constraints follow, named exactly as PostgreSQL names inline ones."""

import pytest
from django.db import models
from django.test.utils import CaptureQueriesContext, isolate_apps

from crm.db import connection
from crm.db.backend.schema import pg_default_constraint_name

pytestmark = pytest.mark.django_db

# Long enough for PostgreSQL to clip the name it makes (63 bytes), so the clipping is compared too.
TABLE = "scratch_a_table_name_long_enough_to_be_clipped_by_pg"
COLUMNS = {"a_column_name_that_is_long_too_x": "smallint", "code": "varchar(20)"}


def _constraints(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass",
            [f'"{schema}"."{TABLE}"'],
        )
        return set(cursor.fetchall())


@isolate_apps("members")
def test_an_added_column_gets_its_check_and_unique_apart_under_postgresqls_own_names():
    class Scratch(models.Model):
        class Meta:
            app_label = "members"
            db_table = TABLE

        def __str__(self) -> str:
            return str(self.pk)

    fields = [
        models.PositiveSmallIntegerField(default=0, unique=True),  # CHECK (>= 0) and UNIQUE
        models.CharField(max_length=20, unique=True, null=True),  # UNIQUE (and a LIKE index, deferred)
    ]
    with connection.cursor() as cursor:
        # The same table with the columns added the way PostgreSQL names inline constraints itself
        # (a plain schema when run against a Citus coordinator too, where inline ones are refused).
        cursor.execute("SET LOCAL citus.enable_schema_based_sharding = off")
        cursor.execute("CREATE SCHEMA scratch_inline")
        cursor.execute(f'CREATE TABLE scratch_inline."{TABLE}" (id bigserial PRIMARY KEY)')
        column, kind = "a_column_name_that_is_long_too_x", COLUMNS["a_column_name_that_is_long_too_x"]
        cursor.execute(
            f'ALTER TABLE scratch_inline."{TABLE}" ADD COLUMN "{column}" {kind} DEFAULT 0 NOT NULL '
            f'CHECK ("{column}" >= 0) UNIQUE'
        )
        cursor.execute(f'ALTER TABLE scratch_inline."{TABLE}" ADD COLUMN code {COLUMNS["code"]} NULL UNIQUE')

    with connection.schema_editor() as editor:
        editor.create_model(Scratch)
        with CaptureQueriesContext(connection) as queries:
            for field, name in zip(fields, COLUMNS, strict=True):
                field.set_attributes_from_name(name)
                editor.add_field(Scratch, field)

    added = [q["sql"] for q in queries.captured_queries if "ADD COLUMN" in q["sql"]]
    assert len(added) == 2
    assert not [sql for sql in added if "CHECK" in sql or "UNIQUE" in sql], added
    assert _constraints("public") == _constraints("scratch_inline")


def test_the_constraint_name_is_clipped_as_postgresql_clips_it():
    with connection.cursor() as cursor:
        long_table = "t" * 70
        cursor.execute(f'CREATE TEMPORARY TABLE "{long_table}" ("{"c" * 40}" int CHECK ("{"c" * 40}" > 0) UNIQUE)')
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY contype", [f'"{long_table[:63]}"']
        )
        check, unique = (row[0] for row in cursor.fetchall())
    assert check == pg_default_constraint_name(long_table[:63], "c" * 40, "check")
    assert unique == pg_default_constraint_name(long_table[:63], "c" * 40, "key")
