"""Migrations O(changed) (crm/tenancy/fingerprints.py): a no-op migrate touches no brand; a new
migration migrates every brand once; a brand that failed is tried again by the next run.

The "new migration" is a real one: the jobs app's migrations plus a probe, loaded from a temporary
package through MIGRATION_MODULES, applied for real to the test brands and removed afterwards."""

import shutil
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection as default_connection
from django.test.utils import CaptureQueriesContext, override_settings
from django_tenants.utils import get_public_schema_name

from crm.db import connection
from crm.tenancy.fingerprints import (
    applied_migrations_fingerprint,
    brands_migrate,
    code_migrations_fingerprint,
    code_models_fingerprint,
)
from crm.tenancy.models import Brand
from tests.conftest import BRAND_A, BRAND_B

PROBE = """
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]

    operations = [
        migrations.RunSQL(["CREATE TABLE jobs_citusprobe (id bigint)"], ["DROP TABLE jobs_citusprobe"]),
        # Fails in a schema holding a citus_probe_fail table: the brand whose migration breaks.
        migrations.RunSQL(
            [
                "DO $$ BEGIN IF to_regclass('citus_probe_fail') IS NOT NULL THEN "
                "RAISE EXCEPTION 'probe failure'; END IF; END $$"
            ]
        ),
    ]
"""


def _schemas() -> list[str]:
    return list(Brand.objects.exclude(schema_name=get_public_schema_name()).values_list("schema_name", flat=True))


@pytest.fixture
def probe_migration(committed_db, tmp_path):
    """The jobs app with one more migration (0002_citusprobe) while the test runs."""
    package = tmp_path / "citusprobe_jobs_migrations"
    shutil.copytree(Path(__file__).resolve().parents[2] / "crm" / "jobs" / "migrations", package)
    (package / "0002_citusprobe.py").write_text(PROBE)
    sys.path.insert(0, str(tmp_path))
    before = code_migrations_fingerprint()
    try:
        with override_settings(MIGRATION_MODULES={"jobs": "citusprobe_jobs_migrations"}):
            assert code_migrations_fingerprint() != before
            yield
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("citusprobe_jobs_migrations")]:
            del sys.modules[name]
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            for schema in ["brand_template", *_schemas()]:
                cursor.execute(f'DROP TABLE IF EXISTS "{schema}".jobs_citusprobe')
                cursor.execute(f'DROP TABLE IF EXISTS "{schema}".citus_probe_fail')
                cursor.execute(
                    f"DELETE FROM \"{schema}\".django_migrations WHERE app = 'jobs' AND name = '0002_citusprobe'"  # noqa: S608
                )
        Brand.objects.exclude(schema_name=get_public_schema_name()).update(
            migrations_fingerprint=before, models_fingerprint=code_models_fingerprint()
        )


def test_a_no_op_migrate_touches_no_brand(committed_db):
    assert code_migrations_fingerprint() == applied_migrations_fingerprint(BRAND_A)  # provisioned current

    with CaptureQueriesContext(default_connection) as queries:
        report = brands_migrate(processes=2)

    assert report.migrated == [] and report.failed == {} and not report.template_migrated
    assert report.unchanged == len(_schemas()) >= 2
    # Two counts of brands and one read of the template's django_migrations: no brand schema opened.
    assert len(queries) <= 4, [query["sql"] for query in queries]
    assert not any(BRAND_A in query["sql"] or BRAND_B in query["sql"] for query in queries)


def test_the_deploy_command_is_a_no_op_for_current_brands(committed_db, capsys):
    call_command("migrate_brands", "--skip-shared", verbosity=1)

    assert f"0 brands migrated, {len(_schemas())} unchanged, 0 failed" in capsys.readouterr().out


def test_a_new_migration_in_one_app_migrates_every_brand_once(probe_migration):
    code = code_migrations_fingerprint()

    report = brands_migrate(processes=2)

    assert report.failed == {}
    assert report.template_migrated
    assert report.migrated == sorted(_schemas())
    for schema in ["brand_template", *_schemas()]:
        assert applied_migrations_fingerprint(schema) == code
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.jobs_citusprobe"])
            assert cursor.fetchone()[0]
    recorded = Brand.objects.exclude(schema_name="public").values_list("migrations_fingerprint", flat=True)
    assert set(recorded) == {code}

    again = brands_migrate(processes=2)

    assert again.migrated == [] and not again.template_migrated


def test_a_failed_brand_is_retried_by_the_next_run(probe_migration):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{BRAND_B}".citus_probe_fail (id bigint)')

    first = brands_migrate(processes=1)

    assert list(first.failed) == [BRAND_B] and "probe failure" in first.failed[BRAND_B]
    assert BRAND_A in first.migrated and BRAND_B not in first.migrated
    beta = Brand.objects.get(schema_name=BRAND_B)
    assert beta.migrations_fingerprint != code_migrations_fingerprint()  # still owed
    assert applied_migrations_fingerprint(BRAND_B) != code_migrations_fingerprint()  # rolled back whole

    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{BRAND_B}".citus_probe_fail')
    second = brands_migrate(processes=1)

    assert second.migrated == [BRAND_B] and second.failed == {}
    assert applied_migrations_fingerprint(BRAND_B) == code_migrations_fingerprint()
