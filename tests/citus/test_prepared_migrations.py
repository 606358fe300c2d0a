"""The brand migrations and provisioning with every statement prepared (psycopg's
prepare_threshold=0 over server-side binding): the proof that they send one SQL command per
statement, which Citus and a pooler keeping prepared statements need (docs/scale-out.md)."""

from collections.abc import Iterator

import pytest
from django.db.utils import ProgrammingError
from django_tenants.utils import schema_exists

from crm.db import connection
from crm.tenancy.fingerprints import applied_migrations_fingerprint, code_migrations_fingerprint
from crm.tenancy.models import Brand, Domain
from crm.tenancy.services import brand_provision

SLUGS = ("preparedm", "preparedc")


@pytest.fixture
def every_statement_prepared(committed_db) -> Iterator[None]:
    options = connection.settings_dict["OPTIONS"]
    saved = dict(options)
    connection.close()
    options.update(server_side_binding=True, prepare_threshold=0)
    try:
        yield
    finally:
        connection.close()
        options.clear()
        options.update(saved)
        connection.set_schema_to_public()
        Domain.objects.filter(domain__in=[f"{slug}.localhost" for slug in SLUGS]).delete()
        Brand.objects.filter(schema_name__in=SLUGS).delete()
        with connection.cursor() as cursor:
            for slug in SLUGS:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{slug}" CASCADE')


def test_two_commands_in_one_statement_are_refused_when_prepared(every_statement_prepared):
    refused = pytest.raises(ProgrammingError, match="cannot insert multiple commands into a prepared statement")
    with refused, connection.cursor() as cursor:
        cursor.execute("; ".join(["SELECT 1", "SELECT 2"]))  # built, so the source scan passes it by


@pytest.mark.parametrize(("slug", "creation"), [("preparedm", "migrate"), ("preparedc", "clone")])
def test_a_brand_is_migrated_and_provisioned_with_every_statement_prepared(
    every_statement_prepared, settings, slug, creation
):
    settings.BRAND_SCHEMA_CREATION = creation
    with connection.cursor() as cursor:
        # The clone path installs django-tenants' clone function again (one command at a time).
        cursor.execute("DROP FUNCTION IF EXISTS public.clone_schema(text, text, VARIADIC public.cloneparms[])")

    result = brand_provision(
        slug=slug,
        name="预备品牌",
        domain=f"{slug}.localhost",
        admin_email=f"boss@{slug}.example",
        admin_password="Prepared-Admin-2026",
    )

    assert result.brand.ready and schema_exists(slug)
    assert applied_migrations_fingerprint(slug) == code_migrations_fingerprint()
