"""python manage.py audit_coupons [--schema X]: every coupon's state is where its history ends
(and the history chains), stock left + issued = total stock, holdings = coupons held, every pool
coupon's code is claimed from the pool. Exits 1 listing each drift, 0 when clean."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context

from coupons.services import coupons_audit
from crm.tenancy.models import Brand


class Command(BaseCommand):
    help = "Verify coupons against their history, stock and holdings."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--schema", help="one brand's schema (default: every ready brand)")

    def handle(self, *args: Any, **options: Any) -> None:
        brands = Brand.objects.exclude(schema_name=get_public_schema_name())
        if options["schema"]:
            brands = brands.filter(schema_name=options["schema"])
            if not brands.exists():
                raise CommandError(f"no brand with schema {options['schema']!r}")
        else:
            brands = brands.filter(ready=True)
        drifted = 0
        for schema in brands.order_by("schema_name").values_list("schema_name", flat=True):
            with schema_context(schema):
                problems = coupons_audit()
            for problem in problems:
                self.stderr.write(f"[{schema}] {problem}")
            drifted += len(problems)
            self.stdout.write(f"[{schema}] {'OK' if not problems else f'{len(problems)} problem(s)'}")
        if drifted:
            raise CommandError(f"coupon drift: {drifted} problem(s)", returncode=1)
