from django.core.management.base import BaseCommand, CommandError

from crm.errors import AppError
from crm.tenancy.services import brand_provision


class Command(BaseCommand):
    help = "Create a brand (schema, domain, first admin). Safe to re-run with the same arguments."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="lower-case letters and digits; also the schema name")
        parser.add_argument("--name", required=True)
        parser.add_argument("--domain", required=True, help="host name, e.g. acme.localhost")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", help="omit to generate one (printed once)")
        parser.add_argument("--time-zone", default="Asia/Shanghai")
        parser.add_argument(
            "--contact-address", default="", help="the brand's address, printed in the membership agreement"
        )
        parser.add_argument(
            "--pi-contact",
            default="",
            help="phone or e-mail of the personal-information-protection contact, printed in the membership "
            "agreement. Without it (or without --contact-address) the agreement stays a draft that the brand "
            "admin must complete and publish before members can enrol",
        )

        parser.add_argument("--cell", help="the cell to put a new brand in (default: the cell with most room)")

    def handle(self, *args, **options):
        try:
            result = brand_provision(
                slug=options["slug"],
                name=options["name"],
                domain=options["domain"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
                time_zone=options["time_zone"],
                contact_address=options["contact_address"],
                pi_contact=options["pi_contact"],
                verbosity=max(0, options["verbosity"] - 1),
                cell=options["cell"],
            )
        except AppError as exc:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.fields.items())
            raise CommandError(f"{exc.message} {details}".strip()) from exc
        brand = result.brand
        verb = "created" if result.brand_created else "already existed, brought up to date"
        self.stdout.write(self.style.SUCCESS(f"Brand {brand.schema_name} ({brand.name}) {verb}, in cell {brand.cell}."))
        if result.generated_password:
            self.stdout.write(f"Admin login: {options['admin_email']} / {result.generated_password}  (shown once)")
        elif not result.admin_created:
            self.stdout.write(f"Admin {options['admin_email']} already existed; password unchanged.")
        if result.brand_created and not brand.processor_identity_complete:
            self.stdout.write(
                self.style.WARNING(
                    "No --contact-address/--pi-contact: the membership agreement is a draft. Members cannot enrol "
                    "until the brand admin completes and publishes it (or re-run this command with both)."
                )
            )
