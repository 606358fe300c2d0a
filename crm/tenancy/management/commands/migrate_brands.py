"""The deploy's migrate, cell by cell (default: every cell in turn): the cell's public schema,
then only the brands of that cell (and its template) whose applied migrations differ from the
code's, several at a time (crm/tenancy/fingerprints.py).

Why not django-tenants' `migrate_schemas` alone: it migrates every brand (~0.8 s each even when
nothing changed), and it lists the brands of the database it runs on, while the control database
(the `default` cell) holds every brand's row, those of the other cells included (docs/cells.md)."""

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from crm.tenancy.cells import cell_context, cell_get, cells
from crm.tenancy.fingerprints import brands_migrate


class Command(BaseCommand):
    help = "Migrate each cell's public schema, then every brand of it whose migration fingerprint differs."

    def add_arguments(self, parser):
        parser.add_argument("--cell", help="one cell's name (default: every cell, one after the other)")
        parser.add_argument("--processes", type=int, default=2, help="brands migrated at a time")
        parser.add_argument("--skip-shared", action="store_true", help="the public schemas are migrated already")
        parser.add_argument("--shared-only", action="store_true", help="only the public schemas (a new cell)")
        parser.add_argument(
            "--every-brand", action="store_true", help="ignore the fingerprints: migrate every brand (stock behaviour)"
        )

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        failed: dict[str, str] = {}
        for name in [cell_get(options["cell"]).name] if options["cell"] else list(cells()):
            started = time.monotonic()
            with cell_context(name):
                if not options["skip_shared"]:
                    call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
                if options["shared_only"]:
                    continue
                report = brands_migrate(
                    processes=options["processes"],
                    verbosity=max(verbosity - 1, 0),
                    every_brand=options["every_brand"],
                    cell=name,
                )
            if verbosity:
                template = "template migrated; " if report.template_migrated else ""
                self.stdout.write(
                    f"cell {name}: {template}{len(report.migrated)} brands migrated, {report.unchanged} unchanged, "
                    f"{len(report.failed)} failed ({time.monotonic() - started:.1f} s)"
                )
            failed.update(report.failed)
        if failed:
            for schema, error in sorted(failed.items()):
                self.stderr.write(f"{schema}: {error}")
            raise CommandError(f"{len(failed)} brands failed; run again to retry them")
