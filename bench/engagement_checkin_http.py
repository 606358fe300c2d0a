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
open-loop steady rate. For the floor, the same saturation against GET /healthz on the same
server (the cost of a request that does nothing) is reported as a ratio.
"""

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"

import django  # noqa: E402

django.setup()

from api_orders_http import free_port, percentile, stop  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

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


def start_gunicorn(port: int, workers: int) -> "subprocess.Popen[bytes]":
    """The order bench's gunicorn (DEBUG off, no rate limit), given 2 minutes to boot: on the shared
    2-core machine four workers importing Django took longer than its 30 s."""
    env = {**os.environ, "DEBUG": "false", "API_THROTTLE_RATE": "1000000/min"}
    argv = [sys.executable, "-m", "gunicorn", "crm.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603 (fixed argv)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if Client(port, key="").post("/healthz", None) == 200:
                return process
        except OSError:
            pass
        time.sleep(0.5)
    stop(process)
    raise SystemExit("gunicorn did not come up")


class Client:
    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.headers = {"Host": HOST, "Authorization": f"Api-Key {key}", "Content-Type": "application/json"}

    def post(self, path: str, body: object) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(
                "POST" if body is not None else "GET",
                path,
                body=None if body is None else json.dumps(body).encode(),
                headers=self.headers,
            )
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()


class Numbers:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            self.n += 1
            return f"/api/v1/members/C{RUN}{self.n - 1:07d}/checkins"


def saturate(client: Client, numbers: Numbers | None, *, seconds: float, threads: int) -> float:
    done: list[tuple[float, int]] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < end:
            start = time.perf_counter()
            status = client.post(numbers.next(), {}) if numbers else client.post("/healthz", None)
            with lock:
                done.append((time.perf_counter() - start, status))

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    elapsed = time.monotonic() - started
    ok = [lat * 1000 for lat, status in done if status in (200, 201)]
    rate = len(ok) / elapsed
    print(
        f"saturation, {'check-ins' if numbers else 'GET /healthz (floor)'}, {threads} threads, {elapsed:.1f} s: "
        f"{rate:,.0f}/s, errors {len(done) - len(ok)}, "
        f"p50 {percentile(ok, 0.5):.1f} ms, p99 {percentile(ok, 0.99):.1f} ms"
    )
    return rate


def steady(client: Client, numbers: Numbers, *, rate: float, seconds: float, threads: int) -> None:
    total = int(rate * seconds)
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            status = client.post(numbers.next(), {})
        except OSError:
            status = 0
        with lock:
            results.append((time.monotonic() - due, status))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(time.sleep, [0.05] * threads))
        start = time.monotonic() + 0.5
        list(pool.map(send, range(total)))
    latencies = [lat * 1000 for lat, status in results if status in (200, 201)]
    print(
        f"steady {rate:.0f}/s for {seconds:.0f} s: {len(results)} sent, errors {len(results) - len(latencies)}, "
        f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms"
    )


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
    client = Client(port, key)
    numbers = Numbers()
    try:
        print(f"gunicorn {args.workers} workers; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        saturate(client, numbers, seconds=2, threads=2)  # warm-up
        floor = saturate(client, None, seconds=args.seconds / 3, threads=args.concurrency)
        rate = saturate(client, numbers, seconds=args.seconds, threads=args.concurrency)
        print(f"check-ins at {rate / floor:.2f} of the floor's request rate")
        steady(client, numbers, rate=args.rate, seconds=args.seconds, threads=64)
    finally:
        stop(server)


if __name__ == "__main__":
    main()
