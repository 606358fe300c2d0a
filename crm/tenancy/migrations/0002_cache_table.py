"""The database cache's table, made by the migrate step.

Without CACHE_URL the cache is Django's DatabaseCache on the table `crm_cache` (crm/settings/cache.py),
and a deployment boots with `migrate_schemas` only: a table left to `manage.py createcachetable`
was missing there, and every partner API call (the throttle counts in the cache) failed.

The statements are what `createcachetable` runs for that table on PostgreSQL
(django/core/management/commands/createcachetable.py), with IF NOT EXISTS so a database whose
table `createcachetable` already made migrates unchanged. The table name is written out rather
than read from the settings: a migration must do the same thing on every machine, whatever its
CACHE_URL, so switching the cache from Redis to the database later needs no extra step.
"""

from typing import Any

from django.db import migrations
from django_tenants.utils import get_public_schema_name

TABLE = "crm_cache"


def cache_table_create(apps: Any, schema_editor: Any) -> None:
    # Only in the public schema: the cache is one table shared by every brand (keys carry the
    # brand's schema as their prefix), found through the brand's search_path, which ends in
    # public. A copy in a brand schema would shadow it for that brand. The router already keeps
    # this shared app's migrations out of brand schemas; this says so where it matters.
    schema = get_public_schema_name()
    if schema_editor.connection.schema_name != schema:
        return
    quote = schema_editor.quote_name
    table = f"{quote(schema)}.{quote(TABLE)}"
    schema_editor.execute(
        f"CREATE TABLE IF NOT EXISTS {table} ("
        '"cache_key" varchar(255) NOT NULL PRIMARY KEY, '
        '"value" text NOT NULL, '
        '"expires" timestamp with time zone NOT NULL)'
    )
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS {quote(TABLE + "_expires")} ON {table} ("expires")')


def cache_table_drop(apps: Any, schema_editor: Any) -> None:
    schema = get_public_schema_name()
    if schema_editor.connection.schema_name == schema:
        quote = schema_editor.quote_name
        schema_editor.execute(f"DROP TABLE IF EXISTS {quote(schema)}.{quote(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]

    operations = [migrations.RunPython(cache_table_create, cache_table_drop, elidable=False)]
