"""The demo: a platform operator and a `demo` brand with realistic data, created idempotently.

Each capability adds its own seeder to DEMO_SEEDERS; a seeder runs inside the demo brand's
schema and must be safe to run again (get_or_create, unique keys).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django_tenants.utils import schema_context

from crm.tenancy.services import brand_provision, platform_ensure, platform_operator_ensure

DEMO_SLUG = "demo"
DEMO_BRAND_NAME = "悦禾茶饮"
DEMO_ADMIN_EMAIL = "admin@demo.example"
DEMO_ADMIN_PASSWORD = "Demo-Admin-2026"
OPERATOR_USERNAME = "operator"
OPERATOR_PASSWORD = "Operator-2026"

DEMO_SEEDERS: list[Callable[[], None]] = []


@dataclass(frozen=True)
class DemoLogins:
    platform_url: str
    brand_url: str
    operator: tuple[str, str]
    brand_admin: tuple[str, str]


def demo_seed(*, port: int = 8000) -> DemoLogins:
    base = settings.BASE_DOMAIN
    platform_ensure(domain=base)
    platform_operator_ensure(
        username=OPERATOR_USERNAME, email=f"{OPERATOR_USERNAME}@platform.example", password=OPERATOR_PASSWORD
    )
    brand_provision(
        slug=DEMO_SLUG,
        name=DEMO_BRAND_NAME,
        domain=f"{DEMO_SLUG}.{base}",
        admin_email=DEMO_ADMIN_EMAIL,
        admin_password=DEMO_ADMIN_PASSWORD,
    )
    with schema_context(DEMO_SLUG):
        for seeder in DEMO_SEEDERS:
            seeder()
    return DemoLogins(
        platform_url=f"http://{base}:{port}/admin/",
        brand_url=f"http://{DEMO_SLUG}.{base}:{port}/admin/",
        operator=(OPERATOR_USERNAME, OPERATOR_PASSWORD),
        brand_admin=(DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD),
    )
