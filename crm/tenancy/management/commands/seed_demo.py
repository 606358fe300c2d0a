import json

from django.core.management.base import BaseCommand

from crm.demo import demo_seed


class Command(BaseCommand):
    help = "Create the platform tenant, a platform operator and the demo brand with its data (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="port printed in the URLs")
        parser.add_argument("--json", action="store_true", help="print the logins as JSON (dev.py serve reads it)")

    def handle(self, *args, **options):
        logins = demo_seed(port=options["port"])
        if options["json"]:
            self.stdout.write(json.dumps([login.__dict__ for login in logins], ensure_ascii=False))
            return
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        for login in logins:
            self.stdout.write(f"  {login.who:<24} {login.url:<36} {login.username} / {login.password}")
