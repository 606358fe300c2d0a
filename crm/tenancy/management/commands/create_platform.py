import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from crm.tenancy.services import platform_ensure, platform_operator_ensure


class Command(BaseCommand):
    help = (
        "Create the platform host (the public tenant, where platform operators create brands) and a platform "
        "operator. A fresh database has neither: the host answers 404 until this ran. Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", help="the platform's host name (default: BASE_DOMAIN)")
        parser.add_argument("--operator", required=True, help="username of the platform operator")
        parser.add_argument("--operator-email", required=True)
        parser.add_argument("--operator-password", help="omit to generate one (printed once)")

    def handle(self, *args, **options):
        domain = options["domain"] or settings.BASE_DOMAIN
        platform_ensure(domain=domain)
        password = options["operator_password"] or secrets.token_urlsafe(12)
        created = platform_operator_ensure(
            username=options["operator"], email=options["operator_email"], password=password
        )
        self.stdout.write(self.style.SUCCESS(f"Platform host {domain} ready."))
        if not created:
            self.stdout.write(f"Operator {options['operator']} already existed; password unchanged.")
        elif not options["operator_password"]:
            self.stdout.write(f"Operator login: {options['operator']} / {password}  (shown once)")
