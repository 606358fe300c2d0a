"""manage.py cell_migrate [--cell b] [--shared | --tenant]: migrate a cell (default: every cell in
turn) — its public schema, its brand_template and the brands the map puts in it.

Why not django-tenants' `migrate_schemas` alone: it lists the brands of the database it runs on,
and the control database (the `default` cell) has every brand's row, those of the other cells
included, whose schemas are not there. So the public schema is migrated with `migrate_schemas
--shared`, then each schema of the cell by name, with the cell's connection as the default one."""

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django_tenants.utils import get_public_schema_name, schema_exists

from crm.tenancy.cells import cell_context, cell_get, cells
from crm.tenancy.models import Brand


class Command(BaseCommand):
    help = "Migrate a cell (default: every cell): its public schema, brand_template and its brands' schemas."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cell", help="one cell's name (default: every cell, one after the other)")
        parser.add_argument("--shared", action="store_true", help="the public schema only")
        parser.add_argument("--tenant", action="store_true", help="the brands' schemas (and brand_template) only")

    def handle(self, *args: Any, cell: str | None, shared: bool, tenant: bool, **options: Any) -> None:
        verbosity = options["verbosity"]
        for name in [cell_get(cell).name] if cell else list(cells()):
            self.stdout.write(f"cell {name}:")
            with cell_context(name):
                if not tenant:
                    call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
                if shared:
                    continue
                schemas = list(
                    Brand.objects.filter(cell=name)
                    .exclude(schema_name=get_public_schema_name())
                    .order_by("schema_name")
                    .values_list("schema_name", flat=True)
                )
                if schema_exists(settings.TENANT_BASE_SCHEMA):
                    schemas.insert(0, settings.TENANT_BASE_SCHEMA)
                for schema in schemas:
                    call_command(
                        "migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=verbosity
                    )
                self.stdout.write(f"cell {name}: {len(schemas)} schemas migrated")
