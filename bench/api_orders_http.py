"""Benchmark: partner order ingest over HTTP through the real web server (issue 5; granian since session 18).

Targets: single-order POST /api/v1/orders ≥ 300/s, and p99 ≤ 100 ms at a steady 100 requests/s;
POST /api/v1/orders/batch ≥ 5,000 orders/s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/apiendpoints CACHE_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/api_orders_http.py [--workers 4] [--seconds 20] [--members 20000]

It migrates the public schema if needed, provisions (idempotently) its own brand `benchorders`
(host benchorders.localhost) with the real provisioning service, enrols `--members` members through
the service, creates an API key, then starts the web server bound to 127.0.0.1 only (a free port) with
the production-like settings (DEBUG off) and drives it:
1. saturation: single orders for `--seconds` → orders/s, and the CPU per request of the server
   and of PostgreSQL (from /proc). With `wrk` installed (Debian's package; `--client auto`, the
   default) wrk posts them from `--concurrency` connections with bench/wrk_orders.lua: the load
   generator shares the machine's two cores with the server, and wrk costs a tenth of the CPU per
   request of a Python client. Without it (or `--client python`), `--concurrency` threads of the
   standard library's http.client (httpx cost twice its CPU per request);
2. steady: 100 requests/s open-loop for `--seconds` (a request is sent on schedule whether the
   previous one finished or not) → latency p50/p99 and errors (http.client threads);
3. batch: 500-order batches from `--workers` threads for `--seconds` → orders/s (http.client).
80 % of orders carry a member's unionid (they earn points), the rest are tourists. Every phase
is bounded in count and time, the server is stopped at the end whatever happens. Orders accumulate
in the bench brand (order numbers are unique per run); re-running is safe.
"""

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"  # DEBUG records every query: not what production measures

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bench.http_harness import (  # noqa: E402
    Client,
    free_port,
    percentile,
    pids_of,
    process_cpu_seconds,
    start_server,
    steady,
    stop,
)
from consent.services import membership_version_current  # noqa: E402
from consent.types import ConsentDecision, ConsentEvidence  # noqa: E402
from crm.api.services import api_key_create  # noqa: E402
from crm.tenancy.services import brand_provision, platform_ensure  # noqa: E402
from members.models import Identity  # noqa: E402
from members.services.members import IdentityInput, member_enroll  # noqa: E402

SLUG = "benchorders"
HOST = f"{SLUG}.localhost"
RUN = uuid.uuid4().hex[:6]


def setup(members: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.tenancy_brand') IS NOT NULL")
        migrated = cursor.fetchone()[0]
    if not migrated:
        call_command("migrate_schemas", "--shared", "--noinput", verbosity=0)  # makes the cache table too
    platform_ensure(domain="localhost")
    brand_provision(
        slug=SLUG,
        name="Orders bench",
        domain=HOST,
        admin_email="bench@orders.example",
        contact_address="上海市静安区南京西路 100 号",
        pi_contact="privacy@bench.example",
    )
    with schema_context(SLUG):
        version = membership_version_current()
        assert version is not None
        have = Identity.objects.filter(kind="wechat_unionid", value__startswith="bench-").count()
        for n in range(have, members):
            member_enroll(
                name=f"压测{n}",
                mobile=f"1370{n:07d}",
                identities=[IdentityInput(kind="wechat_unionid", value=f"bench-{n}")],
                decisions=[ConsentDecision(purpose="membership", granted=True, version_id=version.pk)],
                evidence=ConsentEvidence(channel="partner_api", partner_reference=f"bench-{n}"),
                channel="mini_program",
                actor="bench",
            )
        key = api_key_create(partner_name=f"bench-{RUN}", scopes=["orders:write"]).plaintext
    autovacuum_stand_in()
    return key


def autovacuum_stand_in() -> None:
    """What production's autovacuum does as tables grow, done by hand: the servers here run with
    autovacuum off. Run at the start (orders pile up in the bench brand run after run, as dead
    rows and stale statistics) and between phases: a fresh database's first phase grows the
    order tables from nothing, and the plans PostgreSQL keeps for the prepared statements were
    made for empty tables until ANALYZE invalidates them (the first run's batch phase ran at a
    tenth of its speed)."""
    with connection.cursor() as cursor:
        for table in _GROWING_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {SLUG}.{table}")


_GROWING_TABLES = (
    "members_member",
    "members_order",
    "members_orderline",
    "members_pointsentry",
    "members_pointslot",
    "members_captureratedaily",
)


def between_phases() -> None:
    autovacuum_stand_in()
    connection.close()  # the server's connections only, during a phase


class Orders:
    def __init__(self, members: int) -> None:
        self.members = members
        self.counter = 0
        self.lock = threading.Lock()

    def next(self) -> dict[str, Any]:
        with self.lock:
            self.counter += 1
            n = self.counter
        order: dict[str, Any] = {
            "channel": "mini_program",
            "order_no": f"B{RUN}-{n}",
            "paid_at": "2026-01-05T10:00:00+08:00",
            "amount_fen": 1000 + n % 50000,
            "lines": [{"sku": f"SKU-{n % 40}", "amount_fen": 1000 + n % 50000}],
        }
        if n % 5:
            order["buyer"] = {"kind": "wechat_unionid", "value": f"bench-{n % self.members}"}
        return order


def saturate_wrk(
    server: subprocess.Popen[bytes], port: int, key: str, *, members: int, seconds: float, connections: int
) -> None:
    """Single orders from wrk; prints the rate, latency and the CPU per request of the server and
    of the PostgreSQL server's processes (a local server: its backends run as user postgres)."""
    gunicorn, postgres = pids_of("-g", str(server.pid)), pids_of("-u", "postgres")
    gunicorn_cpu, postgres_cpu = process_cpu_seconds(gunicorn), process_cpu_seconds(postgres)
    script = Path(__file__).resolve().parent / "wrk_orders.lua"
    run = subprocess.run(  # noqa: S603 (fixed argv; wrk from PATH, like gunicorn's own tools)
        [  # noqa: S607
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            uuid.uuid4().hex[:8],
            str(members),
            key,
            HOST,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = next(line for line in run.stdout.splitlines() if line.startswith("wrk:"))
    # "wrk: <requests> requests, <rate> req/s, non-2xx <n>, socket errors <n>, p50 <ms> ms, p99 <ms> ms"
    words = summary.replace(",", "").split()
    requests, rate, bad, socket_errors = int(words[1]), float(words[3]), int(words[6]), int(words[9])
    gunicorn_cpu = process_cpu_seconds(gunicorn) - gunicorn_cpu
    postgres_cpu = process_cpu_seconds(postgres) - postgres_cpu
    print(
        f"saturation, single orders, wrk {connections} connections, {seconds:.1f} s: "
        f"{rate * (requests - bad) / max(requests, 1):,.0f} orders/s ({rate:.1f} req/s), "
        f"errors {bad + socket_errors}, p50 {words[11]} ms, p99 {words[14]} ms; CPU per request: "
        f"server {gunicorn_cpu / max(requests, 1) * 1000:.2f} ms, "
        f"PostgreSQL {postgres_cpu / max(requests, 1) * 1000:.2f} ms"
    )


def saturate(client: Client, orders: Orders, *, seconds: float, threads: int, batch: int | None) -> None:
    done: list[tuple[float, int, int]] = []  # latency, status, orders in the request
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < end:
            if batch:
                path, body, count = "/api/v1/orders/batch", {"orders": [orders.next() for _ in range(batch)]}, batch
            else:
                path, body, count = "/api/v1/orders", orders.next(), 1
            start = time.perf_counter()
            status = client.request("POST", path, body)
            with lock:
                done.append((time.perf_counter() - start, status, count))

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    elapsed = time.monotonic() - started
    ok = [(lat, n) for lat, status, n in done if status in (200, 201)]
    latencies = [lat * 1000 for lat, _ in ok]
    label = f"batch of {batch}" if batch else "single orders"
    print(
        f"saturation, {label}, {threads} threads, {elapsed:.1f} s: {sum(n for _, n in ok) / elapsed:,.0f} orders/s "
        f"({len(ok) / elapsed:.1f} req/s), errors {len(done) - len(ok)}, p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p99 {percentile(latencies, 0.99):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--seconds", type=float, default=15)
    # A brand's members each buy a few times a year. With 2,000 members the bench brand grew to
    # ~1,000 orders per member over a few sessions' runs, and the qualifying-spend aggregate of a
    # batch of 500 read ~400,000 order rows (108 ms): a cost of the bench, not of a real brand.
    # Enrolling 20,000 takes ~7 minutes once; the runs after that reuse them.
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument(
        "--client", choices=["auto", "wrk", "python"], default="auto", help="load generator of the saturation phase"
    )
    parser.add_argument(
        "--server-python",
        help="interpreter of a virtualenv with requirements.txt to run the server with (default: this one)",
    )
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("--client wrk: wrk is not installed (Debian: apt-get install wrk)")
    key = setup(args.members)
    connection.close()
    port = free_port()
    server = start_server(port, args.workers, args.server_python)
    url = f"http://127.0.0.1:{port}"
    client = Client(port, key, HOST)
    orders = Orders(args.members)
    try:
        print(
            f"web server (granian) {args.workers} workers on {url} (Python {args.server_python or sys.executable}); "
            f"{os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.2f}; PostgreSQL {os.environ.get('DATABASE_URL', 'embedded').split('@')[-1]}"
        )
        saturate(client, orders, seconds=3, threads=2, batch=None)  # warm-up: imports, connections
        between_phases()
        if use_wrk:
            saturate_wrk(server, port, key, members=args.members, seconds=args.seconds, connections=args.concurrency)
        else:
            saturate(client, orders, seconds=args.seconds, threads=args.concurrency, batch=None)
        between_phases()
        steady(
            "single orders",
            lambda: client.request("POST", "/api/v1/orders", orders.next()),
            rate=args.rate,
            seconds=args.seconds,
        )
        between_phases()
        saturate(client, orders, seconds=args.seconds, threads=max(2, args.workers), batch=500)
    finally:
        stop(server)


if __name__ == "__main__":
    main()
