"""Benchmark: check-in through the partner API over HTTP, through the real web server (issue 27).

Targets: POST /api/v1/members/{no}/checkins ≥ 800/s, and p99 ≤ 100 ms at a steady 300/s (the
midnight peak), on this 2-core machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm CACHE_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/engagement_checkin_http.py [--workers 4] [--seconds 15] [--rate 300] \
        [--in-process 300] [--no-http]

It provisions (idempotently) the brand `benchcheckin`, bulk-creates fresh members for this run
(a member checks in once a day: every request of the run is a first check-in of its member, the
expensive path; a double tap is one indexed read) at the entry tier of three spend tiers, sets the
brand's rules (5 points and 1 growth a day, a 3-day ladder step), creates an API key, starts
the web server on 127.0.0.1 (the order bench's helpers) and drives it from Python threads (http.client):
saturation for `--seconds`, then an open-loop steady rate (bench/http_harness.py). For the floor,
the same saturation against GET /healthz on the same server (the cost of a request that does
nothing) is reported as a ratio.

`--in-process N` first measures N first check-ins (and N repeats, "already checked in today")
in-process (bench/inprocess.py: Python CPU + the PostgreSQL backend's CPU + statements per
request, no HTTP, no load generator), with the one-statement path and — in the same run, in
alternating blocks — with it switched off (the ORM path every check-in took before session 15),
against GET /api/v1/tiers on the same brand (the authenticated floor).
"""

import argparse
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"
os.environ["API_THROTTLE_RATE"] = "1000000/min"  # counted as always, never refused (as bench/hot_paths.py)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bench.http_harness import Client, free_port, pids_of, saturate, start_server, steady, stop  # noqa: E402
from bench.inprocess import Cost, Wsgi, measure  # noqa: E402
from crm.api.services import api_key_create  # noqa: E402
from crm.tenancy.services import brand_provision, platform_ensure  # noqa: E402
from engagement.models import CheckinLadderStep, EngagementSettings, RewardKind  # noqa: E402
from engagement.services import checkin as checkin_service  # noqa: E402
from members.models import Member, Tier  # noqa: E402

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
        # Spend tiers as a brand has them, members at the entry tier: a check-in's growth is checked
        # against the tiers above (none reached: no order), as it is for most members.
        entry, _ = Tier.objects.get_or_create(code="normal", defaults={"name": "普通", "rank": 1, "threshold": 0})
        Tier.objects.get_or_create(code="silver", defaults={"name": "银卡", "rank": 2, "threshold": 100_000})
        Tier.objects.get_or_create(code="gold", defaults={"name": "金卡", "rank": 3, "threshold": 500_000})
        Member.objects.bulk_create(
            [Member(member_no=f"C{RUN}{n:07d}", tier=entry) for n in range(members)], batch_size=5_000
        )
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


def in_process(key: str, numbers: Numbers, count: int, blocks: int = 3) -> None:
    """First check-ins and repeats, fast path on and off in alternating blocks of count/blocks."""
    client = Wsgi(HOST, {"Authorization": f"Api-Key {key}"})
    print(f"in-process, {count} requests each (load average {os.getloadavg()[0]:.2f}):", flush=True)
    floor = measure("GET /api/v1/tiers (auth floor)", lambda: client.request("GET", "/api/v1/tiers")[0], count)
    print(floor.line(), flush=True)
    done: dict[bool, list[str]] = {True: [], False: []}

    def first(fast: bool) -> Callable[[], int]:
        def send() -> int:
            path = numbers.next()
            done[fast].append(path)
            return client.request("POST", path, {})[0]

        return send

    def repeat(fast: bool) -> Callable[[], int]:
        paths = iter(done[fast] * 2)
        return lambda: client.request("POST", next(paths), {})[0]

    for label, make in (("first check-in", first), ("repeat (already today)", repeat)):
        parts: dict[bool, list[Cost]] = {True: [], False: []}
        for _ in range(blocks):
            for fast in (False, True):
                checkin_service.FAST_PATH = fast
                parts[fast].append(measure(label, make(fast), count // blocks, warm_up=5))
        checkin_service.FAST_PATH = True
        for fast in (False, True):
            cost = _combined(f"{label} ({'fast path' if fast else 'ORM path'})", parts[fast])
            print(cost.line(floor), flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}", flush=True)


def _combined(label: str, parts: list[Cost]) -> Cost:
    n = sum(p.count for p in parts)
    statuses: dict[int, int] = {}
    for p in parts:
        for status, k in p.statuses.items():
            statuses[status] = statuses.get(status, 0) + k
    return Cost(
        label,
        n,
        sum(p.python_ms * p.count for p in parts) / n,
        sum(p.postgres_ms * p.count for p in parts) / n,
        sum(p.statements * p.count for p in parts) / n,
        sum(p.wall_ms * p.count for p in parts) / n,
        statuses,
    )


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"signal {signum}")  # runs the finally that stops the server


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--in-process", type=int, default=0, help="requests per in-process phase (0: skip)")
    parser.add_argument("--no-http", dest="http", action="store_false")
    args = parser.parse_args()
    members = 4 * args.in_process + 100 + (int(args.seconds * (1500 + args.rate)) + 1000 if args.http else 0)
    key = setup(members)
    connection.close()
    numbers = Numbers()
    if args.in_process:
        in_process(key, numbers, args.in_process)
        connection.close()
    if not args.http:
        return
    port = free_port()
    server = start_server(port, args.workers)
    client = Client(port, key, HOST)
    gunicorn = pids_of("-g", str(server.pid))
    checkin = lambda: client.request("POST", numbers.next(), {})  # noqa: E731
    healthz = lambda: client.request("GET", "/healthz")  # noqa: E731
    try:
        print(
            f"web server (granian) {args.workers} workers; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        )
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
