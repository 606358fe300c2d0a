"""`manage.py create_platform`: a fresh production database gets its platform host and first
operator from one command, safe to re-run."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from crm.tenancy.models import Domain
from tests.conftest import host_client

pytestmark = pytest.mark.django_db


def create_platform(*args: str) -> str:
    out = StringIO()
    call_command("create_platform", *args, stdout=out)
    return out.getvalue()


def test_it_serves_the_platform_host_and_prints_a_generated_password_once():
    assert host_client("portal.localhost").get("/healthz").status_code == 404

    first = create_platform("--domain", "portal.localhost", "--operator", "ops", "--operator-email", "ops@x.example")
    again = create_platform("--domain", "portal.localhost", "--operator", "ops", "--operator-email", "ops@x.example")

    password = first.split("ops / ")[1].split()[0]
    assert get_user_model().objects.get(username="ops").check_password(password)
    assert "already existed; password unchanged" in again and password not in again
    assert Domain.objects.filter(domain="portal.localhost", tenant__schema_name="public").count() == 1
    assert host_client("portal.localhost").get("/healthz").status_code == 200
