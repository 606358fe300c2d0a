"""The demo: a platform operator and a `demo` brand with realistic data, created idempotently.

Each brand app may have a `demo.py` with a `seed()` function; they run in the order of
TENANT_APPS, inside the demo brand's schema, and must be safe to run again (get_or_create,
unique keys).
"""

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, replace

from django.conf import settings
from django_tenants.utils import schema_context

from crm.tenancy.services import brand_provision, platform_ensure, platform_operator_ensure

DEMO_SLUG = "demo"
DEMO_BRAND_NAME = "悦禾茶饮"
DEMO_ADMIN_EMAIL = "admin@demo.example"
DEMO_ADMIN_PASSWORD = "Demo-Admin-2026"
# The demo brand's identity as a processor (PIPL art. 17): its membership agreement names them.
DEMO_CONTACT_ADDRESS = "上海市静安区南京西路 1266 号"
DEMO_PI_CONTACT = "privacy@yuehe-tea.example"
OPERATOR_USERNAME = "operator"
OPERATOR_PASSWORD = "Operator-2026"


def demo_seeders() -> list[Callable[[], list["DemoLogin"] | None]]:
    seeders = []
    for app in settings.TENANT_APPS:
        module_name = f"{app}.demo"
        if importlib.util.find_spec(app) and importlib.util.find_spec(module_name):
            seeders.append(importlib.import_module(module_name).seed)
    return seeders


@dataclass(frozen=True)
class DemoLogin:
    """One row of the logins `serve` prints: who signs in, where, with what. Seeders return the
    brand logins they create (a brand's URL is filled in by `demo_seed`)."""

    who: str
    username: str
    password: str
    url: str = ""


def demo_seed(*, port: int = 8000) -> list[DemoLogin]:
    """Seeds the platform and the demo brand; returns every demo login, platform operator first."""
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
        contact_address=DEMO_CONTACT_ADDRESS,
        pi_contact=DEMO_PI_CONTACT,
    )
    brand_url = f"http://{DEMO_SLUG}.{base}:{port}/admin/"
    logins = [
        DemoLogin("平台运营 platform operator", OPERATOR_USERNAME, OPERATOR_PASSWORD, f"http://{base}:{port}/admin/"),
        DemoLogin("品牌管理员 brand admin", DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, brand_url),
    ]
    with schema_context(DEMO_SLUG):
        for seeder in demo_seeders():
            logins += [replace(login, url=brand_url) for login in seeder() or []]
    return logins
