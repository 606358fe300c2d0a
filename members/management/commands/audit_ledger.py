"""python manage.py audit_ledger [--schema X]: check every member's points against the ledger and
the lots (the equations are in PointsLot's docstring). Exits 1 listing each drift, 0 when clean."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context

from crm.tenancy.models import Brand
from members.services.points import ledger_audit


class Command(BaseCommand):
    help = "Verify balance + pending − debt = sum of entries, and balance + pending = unexpired lot remainders."

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
                drifts = ledger_audit()
            for drift in drifts:
                self.stderr.write(f"[{schema}] {drift.describe()}")
            drifted += len(drifts)
            self.stdout.write(f"[{schema}] {'OK' if not drifts else f'{len(drifts)} member(s) drifted'}")
        if drifted:
            raise CommandError(f"ledger drift in {drifted} member(s)", returncode=1)
