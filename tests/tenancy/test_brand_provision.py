"""Brand provisioning: creates schema, domain and first admin; refuses bad input leaving nothing."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context, schema_exists

from crm.errors import AppError
from crm.tenancy import services
from crm.tenancy.models import Brand, Domain
from crm.tenancy.services import brand_provision
from tests.conftest import ADMIN_PASSWORD, BRAND_A, brand_admin_email, brand_host

pytestmark = pytest.mark.django_db


def provision_gamma(**overrides):
    args = {
        "slug": "gamma",
        "name": "伽马服饰",
        "domain": "gamma.localhost",
        "admin_email": "boss@gamma.example",
        "admin_password": "Gamma-Admin-2026",
    }
    return brand_provision(**{**args, **overrides})


def test_provision_creates_ready_brand_with_schema_domain_and_admin():
    result = provision_gamma()

    brand = Brand.objects.get(schema_name="gamma")
    assert result.brand_created and result.admin_created and result.generated_password is None
    assert brand.ready is True
    assert brand.time_zone == "Asia/Shanghai"
    assert Domain.objects.get(domain="gamma.localhost").tenant == brand
    assert schema_exists("gamma")
    with schema_context("gamma"):
        admin = get_user_model().objects.get(username="boss@gamma.example")
        assert admin.is_superuser and admin.check_password("Gamma-Admin-2026")
        # The clone carries the migration history, so the schema is current.
        from django.db.migrations.recorder import MigrationRecorder

        assert MigrationRecorder.Migration.objects.filter(app="jobs").exists()


def test_provision_generates_a_password_when_none_is_given():
    result = provision_gamma(admin_password=None)

    assert result.generated_password and len(result.generated_password) >= 12
    with schema_context("gamma"):
        assert get_user_model().objects.get(username="boss@gamma.example").check_password(result.generated_password)


def test_rerun_is_safe_and_keeps_the_admin_password():
    provision_gamma()

    again = provision_gamma(admin_password="Another-Pass-2026")

    assert not again.brand_created and not again.admin_created
    assert Brand.objects.filter(schema_name="gamma").count() == 1
    with schema_context("gamma"):
        assert get_user_model().objects.get(username="boss@gamma.example").check_password("Gamma-Admin-2026")


def test_rerun_for_an_existing_test_brand_keeps_its_data():
    result = brand_provision(
        slug=BRAND_A,
        name="whatever",
        domain=brand_host(BRAND_A),
        admin_email=brand_admin_email(BRAND_A),
        admin_password=None,
    )

    assert not result.brand_created and result.generated_password is None
    with schema_context(BRAND_A):
        assert get_user_model().objects.get(username=brand_admin_email(BRAND_A)).check_password(ADMIN_PASSWORD)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"slug": "Bad-Slug"}, "slug"),
        ({"slug": "9lives"}, "slug"),
        ({"slug": "public"}, "slug"),
        ({"slug": "pgadmin"}, "slug"),
        ({"name": "  "}, "name"),
        ({"domain": "not a host"}, "domain"),
        ({"domain": "a..b"}, "domain"),
        ({"admin_email": "not-an-email"}, "admin_email"),
        ({"admin_password": "123"}, "admin_password"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(overrides, field):
    brands_before = Brand.objects.count()

    with pytest.raises(AppError) as error:
        provision_gamma(**overrides)

    assert error.value.code == "brand_invalid"
    assert field in error.value.fields
    assert Brand.objects.count() == brands_before
    assert not Domain.objects.filter(domain=overrides.get("domain", "gamma.localhost")).exists()
    slug = overrides.get("slug", "gamma").lower()
    if slug != "public":
        assert not schema_exists(slug)


def test_a_domain_of_another_brand_is_refused():
    with pytest.raises(AppError) as error:
        provision_gamma(domain=brand_host(BRAND_A))

    assert error.value.code == "domain_taken"
    assert not Brand.objects.filter(schema_name="gamma").exists()
    assert not schema_exists("gamma")


def test_a_slug_of_another_brand_with_a_new_domain_is_refused():
    with pytest.raises(AppError) as error:
        provision_gamma(slug=BRAND_A, domain="elsewhere.localhost")

    assert error.value.code == "slug_taken"
    assert not Domain.objects.filter(domain="elsewhere.localhost").exists()


def test_a_failure_half_way_leaves_nothing_behind(monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("disk full while creating the admin")

    monkeypatch.setattr(services, "_brand_admin_ensure", explode)

    with pytest.raises(RuntimeError):
        provision_gamma()

    assert not Brand.objects.filter(schema_name="gamma").exists()
    assert not Domain.objects.filter(domain="gamma.localhost").exists()
    assert not schema_exists("gamma")


def test_create_brand_command_prints_the_generated_password_once(capsys):
    call_command(
        "create_brand", "gamma", "--name", "伽马", "--domain", "gamma.localhost", "--admin-email", "boss@gamma.example"
    )
    first = capsys.readouterr().out
    call_command(
        "create_brand", "gamma", "--name", "伽马", "--domain", "gamma.localhost", "--admin-email", "boss@gamma.example"
    )
    second = capsys.readouterr().out

    assert "Brand gamma" in first and "(shown once)" in first
    assert "already existed" in second and "(shown once)" not in second


def test_create_brand_command_reports_bad_input_as_a_command_error():
    with pytest.raises(CommandError, match="域名"):
        call_command(
            "create_brand", "gamma", "--name", "G", "--domain", brand_host(BRAND_A), "--admin-email", "x@gamma.example"
        )
    assert not Brand.objects.filter(schema_name="gamma").exists()


def test_a_cloned_brand_keeps_the_templates_table_storage_settings():
    from django.db import connection

    provision_gamma()

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT n.nspname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relname = 'members_member' AND n.nspname IN ('brand_template', 'gamma')"""
        )
        options = dict(cursor.fetchall())
    assert options["brand_template"] and options["gamma"] == options["brand_template"]


def test_a_cloned_brand_numbers_its_members_as_one_made_by_the_migrations():
    """members 0002 starts member numbers at 10000001; clone_schema() restarted a sequence no
    column owns at 1, so a cloned brand's first member was M00000001."""
    from members.services.members import _member_no_next

    provision_gamma()

    with schema_context("gamma"):
        assert _member_no_next() == "M10000001"
        assert _member_no_next() == "M10000002"
    # Aligning again moves nothing back: the brand's numbers only go up.
    assert services.sequences_align(source="brand_template", target="gamma") == 0
    with schema_context("gamma"):
        assert _member_no_next() == "M10000003"
