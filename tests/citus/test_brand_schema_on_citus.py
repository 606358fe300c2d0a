"""What Citus needs from a brand schema, checked on plain PostgreSQL (docs/scale-out.md): brands
made by the migrations or by a clone are the same schema, guards included; a clone to distribute
is distributed outside the provisioning transaction and only then ready; no brand table has a
database foreign key into `public`; every key of the project's models is a bigint."""

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.utils import DatabaseError
from django_tenants.utils import schema_exists

from crm.db import connection
from crm.errors import AppError
from crm.tenancy.fingerprints import code_migrations_fingerprint
from crm.tenancy.models import Brand, Domain
from crm.tenancy.services import brand_provision
from tests.conftest import BRAND_A

# Append-only tables (crm/db/guards.py) and the other guarded ones: their triggers must exist,
# identical, however the brand was made.
APPEND_ONLY = [
    "members_pointsentry",
    "consent_consentrecord",
    "consent_piaccesslog",
    "consent_datarequestevent",
    "coupons_couponevent",
    "engagement_growthentry",
]


def provision(slug: str):
    return brand_provision(
        slug=slug,
        name="伽马服饰",
        domain=f"{slug}.localhost",
        admin_email=f"boss@{slug}.example",
        admin_password="Gamma-Admin-2026",
    )


def _schema_shape(schema: str) -> dict[str, set]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relkind FROM pg_class c WHERE c.relnamespace = %s::regnamespace",
            [schema],
        )
        relations = set(cursor.fetchall())
        cursor.execute(
            "SELECT c.relname, t.tgname, replace(pg_get_triggerdef(t.oid), %s, 'S') FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = %s::regnamespace AND NOT t.tgisinternal",
            [f"{schema}.", schema],
        )
        triggers = set(cursor.fetchall())
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, contype FROM pg_constraint "
            "WHERE connamespace = %s::regnamespace",
            [schema],
        )
        constraints = {(table.removeprefix(f"{schema}."), name, kind) for table, name, kind in cursor.fetchall()}
    return {"relations": relations, "triggers": triggers, "constraints": constraints}


@pytest.mark.django_db
def test_a_brand_made_by_the_migrations_is_the_schema_a_clone_makes(settings):
    settings.BRAND_SCHEMA_CREATION = "migrate"

    provision("gamma")

    made, cloned = _schema_shape("gamma"), _schema_shape(BRAND_A)
    assert made["relations"] == cloned["relations"]
    assert made["constraints"] == cloned["constraints"]
    assert made["triggers"] == cloned["triggers"]
    assert {table for table, _, _ in made["triggers"]} >= set(APPEND_ONLY)
    assert Brand.objects.get(schema_name="gamma").migrations_fingerprint == code_migrations_fingerprint()


@pytest.mark.django_db
@pytest.mark.parametrize("creation", ["clone", "migrate"])
def test_the_append_only_guards_refuse_however_the_brand_was_made(settings, creation):
    """TRUNCATE fires its statement trigger on an empty table; the row triggers (UPDATE, DELETE)
    are the same definitions in both (above), and refuse on real rows in tests/members etc."""
    settings.BRAND_SCHEMA_CREATION = creation
    provision("gamma")

    for table in APPEND_ONLY:
        with connection.cursor() as cursor:
            cursor.execute("SAVEPOINT guard")
            with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"):
                cursor.execute(f"TRUNCATE gamma.{table} CASCADE")  # CASCADE: tables that reference it
            cursor.execute("ROLLBACK TO SAVEPOINT guard")


def test_no_brand_table_has_a_database_foreign_key_into_public(django_db_setup, django_db_blocker):
    """Citus: a distributed schema's table may reference a reference table, not a coordinator
    table. The brand apps keep their own auth and content types (TENANT_APPS), so none needs to."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND connamespace <> 'public'::regnamespace "
            "AND (SELECT relnamespace FROM pg_class WHERE oid = confrelid) <> connamespace"
        )
        assert cursor.fetchall() == []


def test_every_key_of_the_projects_models_is_a_bigint():
    assert settings.DEFAULT_AUTO_FIELD == "django.db.models.BigAutoField"
    small = set()
    for model in apps.get_models(include_auto_created=True):
        pk = model._meta.pk
        if isinstance(pk, models.AutoField) and not isinstance(pk, models.BigAutoField):
            small.add(model._meta.db_table)
    # Django's and libraries' own models, declared by their AppConfig (AutoField): public-only or
    # bounded per brand (users, groups, permissions, admin log, login attempts); changing them
    # would mean owning their migrations (docs/scale-out.md, "Keys").
    assert small == {
        "django_content_type",
        "auth_permission",
        "auth_group",
        "auth_group_permissions",
        "auth_user",
        "auth_user_groups",
        "auth_user_user_permissions",
        "django_admin_log",
        "django_celery_beat_solarschedule",
        "django_celery_beat_intervalschedule",
        "django_celery_beat_clockedschedule",
        "django_celery_beat_crontabschedule",
        "django_celery_beat_periodictask",
        "axes_accessfailurelog",
        "axes_accessattempt",
        "axes_accesslog",
    }


@pytest.fixture
def fake_citus(committed_db):
    """citus_schema_distribute(), pg_dist_schema and pg_dist_partition as far as provisioning sees
    them: the fake records each distribution (the schema and its tables), and refuses inside a
    transaction block as the brief of the real one requires (a top-level call). As Citus does with
    `citus.enable_schema_based_sharding` on, CREATE SCHEMA registers the schema as distributed
    without distributing anything (an event trigger): tables copied into it later stay plain,
    which is what a Citus 13.2 cluster did to a clone (docs/scale-out.md)."""
    statements = [
        "CREATE TABLE public.pg_dist_schema (schemaid oid PRIMARY KEY)",
        "CREATE TABLE public.pg_dist_partition (logicalrelid oid PRIMARY KEY)",
        """
        CREATE FUNCTION public.citus_schema_distribute(schemaname regnamespace) RETURNS void AS $$
        BEGIN
            IF to_regclass('public.citus_fake_refuse') IS NOT NULL THEN
                RAISE EXCEPTION 'worker unreachable';
            END IF;
            INSERT INTO public.pg_dist_schema VALUES (schemaname);
            INSERT INTO public.pg_dist_partition
                SELECT oid FROM pg_class WHERE relnamespace = schemaname AND relkind IN ('r', 'p');
        END;
        $$ LANGUAGE plpgsql
        """,
        """
        CREATE FUNCTION public.citus_fake_schema_created() RETURNS event_trigger AS $$
        BEGIN
            IF current_setting('citus.enable_schema_based_sharding', true) = 'on' THEN
                INSERT INTO public.pg_dist_schema
                    SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE SCHEMA';
            END IF;
        END;
        $$ LANGUAGE plpgsql
        """,
        "CREATE EVENT TRIGGER citus_fake_schema_sharding ON ddl_command_end WHEN TAG IN ('CREATE SCHEMA') "
        "EXECUTE FUNCTION public.citus_fake_schema_created()",
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    yield
    connection.set_schema_to_public()
    Domain.objects.filter(domain="delta.localhost").delete()
    Brand.objects.filter(schema_name="delta").delete()
    with connection.cursor() as cursor:
        cursor.execute("RESET citus.enable_schema_based_sharding")
        cursor.execute("DROP SCHEMA IF EXISTS delta CASCADE")
        cursor.execute("DROP EVENT TRIGGER citus_fake_schema_sharding")
        cursor.execute("DROP FUNCTION public.citus_fake_schema_created()")
        cursor.execute("DROP FUNCTION public.citus_schema_distribute(regnamespace)")
        cursor.execute("DROP TABLE public.pg_dist_schema")
        cursor.execute("DROP TABLE public.pg_dist_partition")
        cursor.execute("DROP TABLE IF EXISTS public.citus_fake_refuse")


def _distributed() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT schemaid::regnamespace::text FROM public.pg_dist_schema")
        return [row[0] for row in cursor.fetchall()]


def test_a_clone_is_distributed_outside_the_transaction_and_ready_only_then(settings, fake_citus):
    settings.BRAND_SCHEMA_CREATION = "clone_distribute"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE public.citus_fake_refuse ()")

    with pytest.raises(DatabaseError, match="worker unreachable"):
        provision("delta")

    # The clone is committed (Citus moves committed tables), the brand is not ready: nothing runs in it.
    assert schema_exists("delta") and _distributed() == []
    assert Brand.objects.get(schema_name="delta").ready is False

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE public.citus_fake_refuse")
    result = provision("delta")

    assert result.brand.ready and _distributed() == ["delta"]
    provision("delta")  # again: already distributed, not distributed twice
    assert _distributed() == ["delta"]


def _local_tables(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' "
            "AND c.oid NOT IN (SELECT logicalrelid FROM public.pg_dist_partition)",
            [schema],
        )
        return cursor.fetchone()[0]


def test_a_clone_is_distributed_on_a_cell_with_schema_based_sharding_on(settings, fake_citus):
    # Citus's own setting for the cell (docs/scale-out.md): CREATE SCHEMA registers the schema.
    settings.BRAND_SCHEMA_CREATION = "clone_distribute"
    with connection.cursor() as cursor:
        cursor.execute("SET citus.enable_schema_based_sharding = on")

    result = provision("delta")

    # The clone was made a local schema, then distributed with its tables: none left behind.
    assert result.brand.ready and _distributed() == ["delta"]
    assert _local_tables("delta") == 0


def test_a_distributed_schema_with_tables_left_on_the_coordinator_is_not_made_ready(settings, fake_citus):
    settings.BRAND_SCHEMA_CREATION = "clone_distribute"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE public.citus_fake_refuse ()")
    with pytest.raises(DatabaseError, match="worker unreachable"):
        provision("delta")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE public.citus_fake_refuse")
        # What a clone made with sharding on left behind: a schema listed as distributed whose
        # tables are plain coordinator tables.
        cursor.execute("INSERT INTO public.pg_dist_schema VALUES ('delta'::regnamespace)")

    with pytest.raises(AppError) as error:
        provision("delta")

    assert error.value.code == "citus_not_distributed"
    assert Brand.objects.get(schema_name="delta").ready is False


def test_a_plain_clone_is_refused_on_a_citus_cell(settings, fake_citus):
    # A clone is plain tables where it runs: on Citus, the coordinator. Nothing is written.
    settings.BRAND_SCHEMA_CREATION = "clone"

    with pytest.raises(AppError) as error:
        provision("delta")

    assert error.value.code == "citus_clone"
    assert not schema_exists("delta") and not Brand.objects.filter(schema_name="delta").exists()


@pytest.mark.django_db
def test_distributing_inside_a_transaction_is_refused(settings):
    settings.BRAND_SCHEMA_CREATION = "clone_distribute"

    with pytest.raises(AppError) as error:
        provision("delta")

    assert error.value.code == "citus_in_transaction"
