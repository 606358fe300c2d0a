import time

from django.core.management.base import BaseCommand

from wecom.fake.server import FakeWecomServer, demo_corp


class Command(BaseCommand):
    help = "Run the fake WeCom server (the demo corp) until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--callback-url",
            default="http://demo.localhost:8000/wecom/callback/",
            help="where to post signed callbacks (empty: keep them in the outbox only)",
        )
        parser.add_argument("--verbose", action="store_true", help="log every request")

    def handle(self, *args, **options):
        server = FakeWecomServer(
            demo_corp(callback_url=options["callback_url"]),
            host=options["host"],
            port=options["port"],
            verbose=options["verbose"],
        ).start()
        self.stdout.write(self.style.SUCCESS(f"Fake WeCom on {server.base_url}"))
        self.stdout.write(f"  state:    curl {server.base_url.removesuffix('cgi-bin/')}_fake/state")
        self.stdout.write(
            '  customer: curl -X POST -d \'{"userid": "zhangsan", "state": "store_sh001"}\' '
            f"{server.base_url.removesuffix('cgi-bin/')}_fake/customer_adds"
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
