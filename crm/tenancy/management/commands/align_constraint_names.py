"""Once, for brands cloned before provisioning aligned them: their UNIQUE constraints renamed to the
names the migrations gave them (crm/tenancy/services.py, constraint_names_align)."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_tenants.utils import get_public_schema_name

from crm.tenancy.models import Brand
from crm.tenancy.services import constraint_names_align


class Command(BaseCommand):
    help = "Rename cloned brands' UNIQUE constraints to the template's (migrations') names. Idempotent."

    def handle(self, *args, **options):
        brands = Brand.objects.exclude(schema_name=get_public_schema_name()).order_by("schema_name")
        for schema in brands.values_list("schema_name", flat=True):
            with transaction.atomic():
                renamed = constraint_names_align(source=settings.TENANT_BASE_SCHEMA, target=schema)
            if renamed and options["verbosity"]:
                self.stdout.write(f"{schema}: {renamed} constraints renamed")
