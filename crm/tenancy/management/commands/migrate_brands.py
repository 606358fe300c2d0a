"""The deploy's migrate: the public schema, then only the brands (and the template) whose applied
migrations differ from the code's, several at a time (crm/tenancy/fingerprints.py)."""

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from crm.tenancy.fingerprints import brands_migrate


class Command(BaseCommand):
    help = "Migrate the public schema, then every brand whose migration fingerprint differs from the code's."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="the cell's database alias")
        parser.add_argument("--processes", type=int, default=2, help="brands migrated at a time")
        parser.add_argument("--skip-shared", action="store_true", help="the public schema is migrated already")
        parser.add_argument(
            "--every-brand", action="store_true", help="ignore the fingerprints: migrate every brand (stock behaviour)"
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        verbosity = options["verbosity"]
        if not options["skip_shared"]:
            call_command(
                "migrate_schemas", shared=True, interactive=False, verbosity=verbosity, database=options["database"]
            )
        report = brands_migrate(
            database=options["database"],
            processes=options["processes"],
            verbosity=max(verbosity - 1, 0),
            every_brand=options["every_brand"],
        )
        seconds = time.monotonic() - started
        if verbosity:
            template = "template migrated; " if report.template_migrated else ""
            self.stdout.write(
                f"{template}{len(report.migrated)} brands migrated, {report.unchanged} unchanged, "
                f"{len(report.failed)} failed ({seconds:.1f} s)"
            )
        if report.failed:
            for schema, error in sorted(report.failed.items()):
                self.stderr.write(f"{schema}: {error}")
            raise CommandError(f"{len(report.failed)} brands failed; run again to retry them")
