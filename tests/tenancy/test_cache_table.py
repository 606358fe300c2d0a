"""The database cache's table comes with the migrations (tenancy 0002): production boots with
`migrate_schemas` and no `createcachetable`. It is the table `createcachetable` would make, only
in the public schema, and a database that already has it migrates unchanged."""

import importlib

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from crm.db import connection
from tests.conftest import BRAND_A

pytestmark = pytest.mark.django_db

migration = importlib.import_module("crm.tenancy.migrations.0002_cache_table")


def cache_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'crm_cache'")
        return {schema for (schema,) in cursor.fetchall()}


def table_shape() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Columns and indexes (with their definitions) of public.crm_cache."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, character_maximum_length, is_nullable "
            "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'crm_cache' "
            "ORDER BY ordinal_position"
        )
        columns = cursor.fetchall()
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'crm_cache' ORDER BY indexname")
        indexes = cursor.fetchall()
    return columns, indexes


def drop_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute('DROP TABLE "public"."crm_cache"')  # in the test's transaction: rolled back


def migrate_forwards() -> None:
    with connection.schema_editor() as editor:
        migration.cache_table_create(None, editor)


def test_the_migrations_alone_made_it_in_the_public_schema_only():
    # The test database was built by the migrations; nothing in the test set-up makes the table.
    assert cache_tables() == {"public"}


def test_it_is_the_table_createcachetable_makes():
    drop_table()
    call_command("createcachetable", "crm_cache", verbosity=0)
    made_by_django = table_shape()
    drop_table()

    migrate_forwards()

    assert table_shape() == made_by_django
    assert [name for name, _ in made_by_django[1]] == ["crm_cache_expires", "crm_cache_pkey"]


def test_a_table_createcachetable_made_before_is_kept_as_it_is():
    drop_table()
    call_command("createcachetable", "crm_cache", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO crm_cache VALUES ('k', 'v', now() + interval '1 hour')")
    shape = table_shape()

    migrate_forwards()

    assert table_shape() == shape
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_cache")
        assert cursor.fetchone() == (1,)


def test_run_in_a_brand_schema_it_makes_nothing():
    with schema_context(BRAND_A):
        migrate_forwards()

    assert cache_tables() == {"public"}
