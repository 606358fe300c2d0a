from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name

from crm.api.services import api_key_create
from crm.errors import AppError
from crm.tenancy.cells import brand_context, brand_place


class Command(BaseCommand):
    help = "Create a partner API key in a brand; prints the key once (it is stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("--brand", "--schema", dest="schema", required=True, help="the brand's slug (schema name)")
        parser.add_argument("--partner", required=True, help="partner name; created if new")
        parser.add_argument("--scopes", required=True, help="comma-separated, e.g. members:read,orders:write")
        parser.add_argument("--expires-days", type=int, help="expire after this many days (default: never)")

    def handle(self, *args, **options):
        from django.utils import timezone

        schema = options["schema"]
        place = brand_place(schema)
        if schema == get_public_schema_name() or place is None or not place.ready:
            raise CommandError(f"No ready brand with schema {schema!r}.")
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        expires_at = None
        if options["expires_days"] is not None:
            expires_at = timezone.now() + timedelta(days=options["expires_days"])
        with brand_context(schema):
            try:
                created = api_key_create(partner_name=options["partner"], scopes=scopes, expires_at=expires_at)
            except AppError as exc:
                details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.fields.items())
                raise CommandError(f"{exc.message} {details}".strip()) from exc
        api_key = created.api_key
        heading = f"API key for {api_key.partner.name} in {schema} ({', '.join(api_key.scopes)}):"
        self.stdout.write(self.style.SUCCESS(heading))
        self.stdout.write(created.plaintext)
        self.stdout.write("Shown once: it is stored hashed and cannot be displayed again.")
