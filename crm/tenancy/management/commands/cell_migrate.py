"""manage.py cell_migrate [--cell b] [migrate_schemas options]: migrate_schemas inside one cell, or
in each cell in turn. django-tenants' migrate_schemas lists the brands of the database it runs on
(the cell's public schema), so it must run with the cell's connection as the default one."""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from crm.tenancy.cells import cell_context, cell_get, cells


class Command(BaseCommand):
    help = "Run migrate_schemas in a cell (default: every cell): its public schema, brand_template and brands."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cell", help="one cell's name (default: every cell, one after the other)")
        parser.add_argument("--shared", action="store_true", help="the public schema only")
        parser.add_argument("--tenant", action="store_true", help="the brands' schemas only")

    def handle(self, *args: Any, cell: str | None, shared: bool, tenant: bool, **options: Any) -> None:
        names = [cell_get(cell).name] if cell else list(cells())
        for name in names:
            self.stdout.write(f"cell {name}:")
            with cell_context(name):
                call_command(
                    "migrate_schemas", shared=shared, tenant=tenant, interactive=False, verbosity=options["verbosity"]
                )
