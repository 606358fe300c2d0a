"""Benchmark: check-in through the partner API over HTTP, through a real gunicorn (issue 27).

Targets: POST /api/v1/members/{no}/checkins ≥ 800/s, and p99 ≤ 100 ms at a steady 300/s (the
midnight peak), on this 2-core machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm CACHE_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/engagement_checkin_http.py [--workers 4] [--seconds 15] [--rate 300]

It provisions (idempotently) the brand `benchcheckin`, bulk-creates fresh members for this run
(a member checks in once a day: every request of the run is a first check-in of its member, the
expensive path; a double tap is one indexed read), sets the brand's rules (5 points and 1 growth
a day, a 3-day ladder step), creates an API key, starts gunicorn on 127.0.0.1 (the order bench's
helpers) and drives it from Python threads (http.client): saturation for `--seconds`, then an
open-loop steady rate (bench/http_harness.py). For the floor, the same saturation against GET /healthz on the same
server (the cost of a request that does nothing) is reported as a ratio.
"""

import argparse
import os
import signal
import sys
import threading
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bench.http_harness import Client, free_port, pids_of, saturate, start_gunicorn, steady, stop  # noqa: E402
from crm.api.services import api_key_create  # noqa: E402
from crm.tenancy.services import brand_provision, platform_ensure  # noqa: E402
from engagement.models import CheckinLadderStep, EngagementSettings, RewardKind  # noqa: E402
from members.models import Member  # noqa: E402

SLUG = "benchcheckin"
HOST = f"{SLUG}.localhost"
RUN = uuid.uuid4().hex[:5].upper()


def setup(members: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.tenancy_brand') IS NOT NULL")
        if not cursor.fetchone()[0]:
            call_command("migrate_schemas", "--shared", "--noinput", verbosity=0)
    platform_ensure(domain="localhost")
    brand_provision(
        slug=SLUG,
        name="Check-in bench",
        domain=HOST,
        admin_email="bench@checkin.example",
        contact_address="上海市静安区南京西路 100 号",
        pi_contact="privacy@bench.example",
    )
    with schema_context(SLUG):
        EngagementSettings.objects.update_or_create(
            singleton=True, defaults={"checkin_daily_points": 5, "checkin_daily_growth": 1}
        )
        CheckinLadderStep.objects.get_or_create(days=3, defaults={"reward_kind": RewardKind.POINTS, "amount": 20})
        Member.objects.bulk_create([Member(member_no=f"C{RUN}{n:07d}") for n in range(members)], batch_size=5_000)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) members_member")
        return api_key_create(partner_name=f"bench-{RUN}", scopes=["points:write", "members:read"]).plaintext


class Numbers:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            self.n += 1
            return f"/api/v1/members/C{RUN}{self.n - 1:07d}/checkins"


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"signal {signum}")  # runs the finally that stops gunicorn


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    members = int(args.seconds * (1500 + args.rate)) + 1000  # fresh members for every request
    key = setup(members)
    connection.close()
    port = free_port()
    server = start_gunicorn(port, args.workers)
    client = Client(port, key, HOST)
    numbers = Numbers()
    gunicorn = pids_of("-g", str(server.pid))
    checkin = lambda: client.request("POST", numbers.next(), {})  # noqa: E731
    healthz = lambda: client.request("GET", "/healthz")  # noqa: E731
    try:
        print(f"gunicorn {args.workers} workers; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        saturate("warm-up", checkin, seconds=2, threads=2)
        phase = {"threads": args.concurrency, "server_pids": gunicorn}
        floor = saturate("GET /healthz (floor)", healthz, seconds=args.seconds / 3, **phase)
        rate = saturate("check-ins", checkin, seconds=args.seconds, **phase)
        print(f"check-ins at {rate.rate / floor.rate:.2f} of the floor's request rate")
        steady("check-ins", checkin, rate=args.rate, seconds=args.seconds)
    finally:
        stop(server)


if __name__ == "__main__":
    main()
