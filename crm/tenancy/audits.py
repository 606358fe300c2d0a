"""The frame of every `audit_*` command: run one audit in one brand (--schema) or in every ready
brand, print each finding under its schema, exit 1 when anything drifted. The audits themselves
(the points ledger, coupons) live in their apps; this is only the walk over the brands, each in its
own cell (the brands are listed from the control database)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name

from crm.tenancy.cells import brand_context, control_context
from crm.tenancy.models import Brand


class BrandAuditCommand(BaseCommand):
    def audit(self) -> list[str]:
        """The findings in the current brand's schema, one line each (empty when clean)."""
        raise NotImplementedError

    def summary(self, count: int) -> str:
        """One brand's line when something drifted."""
        raise NotImplementedError

    def failure(self, count: int) -> str:
        """The command's error when anything drifted, in all brands together."""
        raise NotImplementedError

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--brand", "--schema", dest="schema", help="one brand's slug (default: every ready brand)")

    def handle(self, *args: Any, **options: Any) -> None:
        with control_context():
            brands = Brand.objects.exclude(schema_name=get_public_schema_name())
            if options["schema"]:
                brands = brands.filter(schema_name=options["schema"])
                if not brands.exists():
                    raise CommandError(f"no brand with schema {options['schema']!r}")
            else:
                brands = brands.filter(ready=True)
            schemas = list(brands.order_by("schema_name").values_list("schema_name", flat=True))
        drifted = 0
        for schema in schemas:
            with brand_context(schema):
                findings = self.audit()
            for finding in findings:
                self.stderr.write(f"[{schema}] {finding}")
            drifted += len(findings)
            self.stdout.write(f"[{schema}] {'OK' if not findings else self.summary(len(findings))}")
        if drifted:
            raise CommandError(self.failure(drifted), returncode=1)
