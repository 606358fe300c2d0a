from django.core.management.base import BaseCommand

from crm.demo import demo_seed


class Command(BaseCommand):
    help = "Create the platform tenant, a platform operator and the demo brand with its data (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="port printed in the URLs")

    def handle(self, *args, **options):
        logins = demo_seed(port=options["port"])
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Platform admin: {logins.platform_url}  login {' / '.join(logins.operator)}")
        self.stdout.write(f"  Demo brand admin: {logins.brand_url}  login {' / '.join(logins.brand_admin)}")
