"""Benchmark: partner order ingest over HTTP through a real gunicorn (issue 5).

Targets: single-order POST /api/v1/orders ≥ 300/s, and p99 ≤ 100 ms at a steady 100 requests/s;
POST /api/v1/orders/batch ≥ 5,000 orders/s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/apiendpoints CACHE_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/api_orders_http.py [--workers 4] [--seconds 20] [--members 2000]

It migrates the public schema if needed, provisions (idempotently) its own brand `benchorders`
(host benchorders.localhost) with the real provisioning service, enrols `--members` members through
the service, creates an API key, then starts gunicorn bound to 127.0.0.1 only (a free port) with
the production-like settings (DEBUG off) and drives it from a thread pool with the standard
library's http.client (a lean client: it shares the machine's two cores with the server, and
httpx cost twice its CPU per request; every client is built before the clock starts):
1. saturation: `--concurrency` threads post single orders for `--seconds` → orders/s;
2. steady: 100 requests/s open-loop for `--seconds` (a request is sent on schedule whether the
   previous one finished or not) → latency p50/p99 and errors;
3. batch: 500-order batches from `--concurrency` threads for `--seconds` → orders/s.
80 % of orders carry a member's unionid (they earn points), the rest are tourists. Every phase
is bounded in count and time, gunicorn is stopped at the end whatever happens. Orders accumulate
in the bench brand (order numbers are unique per run); re-running is safe.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
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
        call_command("migrate_schemas", "--shared", "--noinput", verbosity=0)
        call_command("createcachetable", verbosity=0)
    platform_ensure(domain="localhost")
    brand_provision(slug=SLUG, name="Orders bench", domain=HOST, admin_email="bench@orders.example")
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
    # Orders pile up in the bench brand run after run. Production's autovacuum keeps the
    # visibility map and statistics current; the shared server here runs with autovacuum off,
    # so each run starts from what autovacuum would have left instead of from dead rows.
    with connection.cursor() as cursor:
        for table in ("members_member", "members_order", "members_pointsentry", "members_pointslot"):
            cursor.execute(f"VACUUM (ANALYZE) {SLUG}.{table}")
    return key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DEBUG": "false", "API_THROTTLE_RATE": "1000000/min"}
    process = subprocess.Popen(  # noqa: S603 (fixed argv: our own gunicorn and module)
        [
            # The gunicorn of the interpreter running this script (a worktree has no .venv of its own).
            str(Path(sys.executable).parent / "gunicorn"),
            "crm.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Client(port, key="").request("GET", "/healthz") < 500:
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit("gunicorn did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    # Only the process group this script started.
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class Client:
    """POSTs JSON to the bench brand's host. gunicorn's sync workers close every connection after
    its response, so each request opens one (as a partner behind a load balancer would)."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.headers = {"Host": HOST, "Authorization": f"Api-Key {key}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: Any = None) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=payload, headers=self.headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


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


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


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


def steady(client: Client, orders: Orders, *, rate: float, seconds: float, threads: int) -> None:
    """Open loop: request i is due at start + i/rate; its latency counts from when it was due,
    so a server that falls behind shows it (no coordinated omission)."""
    total = int(rate * seconds)
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            status = client.request("POST", "/api/v1/orders", orders.next())
        except OSError:
            status = 0
        with lock:
            results.append((time.monotonic() - due, status))

    with ThreadPoolExecutor(threads) as pool:
        # Every thread of the pool started before the clock does (starting 64 threads on the
        # first due requests delayed them by up to 0.2 s, which counted as server latency).
        list(pool.map(time.sleep, [0.05] * threads))
        start = time.monotonic() + 0.5
        list(pool.map(send, range(total)))
    elapsed = time.monotonic() - start
    latencies = [lat * 1000 for lat, status in results if status in (200, 201)]
    errors = sum(1 for _, status in results if status not in (200, 201))
    print(
        f"steady {rate:.0f} req/s for {seconds:.0f} s: {len(results)} sent in {elapsed:.1f} s, errors {errors}, "
        f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
        f"max {max(latencies, default=float('nan')):.1f} ms, mean {statistics.mean(latencies or [0]):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100)
    args = parser.parse_args()
    key = setup(args.members)
    connection.close()
    port = free_port()
    server = start_gunicorn(port, args.workers)
    url = f"http://127.0.0.1:{port}"
    client = Client(port, key)
    orders = Orders(args.members)
    try:
        print(
            f"gunicorn {args.workers} sync workers on {url}; {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.2f}; PostgreSQL {os.environ.get('DATABASE_URL', 'embedded').split('@')[-1]}"
        )
        saturate(client, orders, seconds=3, threads=2, batch=None)  # warm-up: imports, connections
        saturate(client, orders, seconds=args.seconds, threads=args.concurrency, batch=None)
        steady(client, orders, rate=args.rate, seconds=args.seconds, threads=64)
        saturate(client, orders, seconds=args.seconds, threads=max(2, args.workers), batch=500)
    finally:
        stop(server)


if __name__ == "__main__":
    main()
