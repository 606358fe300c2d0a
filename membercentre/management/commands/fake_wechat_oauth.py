import time

from django.core.management.base import BaseCommand

from membercentre.fake.server import FakeWechatOAuthServer, demo_wechat


class Command(BaseCommand):
    help = "Run the fake WeChat web-authorisation server (the demo official account) until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8766)
        parser.add_argument("--verbose", action="store_true", help="log every request")

    def handle(self, *args, **options):
        server = FakeWechatOAuthServer(
            demo_wechat(), host=options["host"], port=options["port"], verbose=options["verbose"]
        ).start()
        self.stdout.write(self.style.SUCCESS(f"Fake WeChat OAuth on {server.base_url}"))
        self.stdout.write(
            f'  next person: curl -X POST -d \'{{"openid": "oDemo1", "unionid": "uDemo1"}}\' '
            f"{server.base_url}_fake/next_user"
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
