"""Benchmark: one item, one code — generate N codes (one set-based INSERT), export them as CSV
(streamed, to /dev/null), the scan page /s/<serial> in-process and over HTTP, then verify and
claim in-process at that table size.

    DATABASE_URL=... .venv/bin/python bench/scancodes_codes.py [--codes 10000000] [--claims 50]
        [--pages 200] [--reuse]

Goals (issue 28): 10M codes generated ≤ 120 s and exported ≤ 120 s; scan page ≤ 50 ms server
time (claim ≥ 500/s over HTTP: bench/scancodes_http.py). Every phase prints its wall time and the
CPU it cost — of this process (the export is Python) and of PostgreSQL (this connection's backend,
/proc) — beside a floor measured in the same run, since wall time on a shared machine says little.
It (re)creates its own brand `benchscan`; `--reuse` keeps the brand and its biggest batch (no
generation, no export) and runs the page, verify and claim phases on it.
"""

import argparse
import datetime as dt
import http.client
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
# Production runs the cache (the wrong-secret limiter and the risk counters) on Redis; the database
# cache would add four statements to every claim.
os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/6")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.tenancy.models import Brand, Domain  # noqa: E402
from crm.tenancy.services import brand_provision  # noqa: E402
from members.models import Member  # noqa: E402
from scancodes import claim_keys  # noqa: E402
from scancodes.models import CodeBatch, ScanCampaign  # noqa: E402
from scancodes.services import (  # noqa: E402
    batch_export,
    batch_generate,
    code_claim,
    code_verify,
    scan_context,
    segment_create,
)

SLUG = "benchscan"


def brand() -> None:
    if Brand.objects.filter(schema_name=SLUG).exists():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{SLUG}" CASCADE')
        Domain.objects.filter(tenant__schema_name=SLUG).delete()
        Brand.objects.filter(schema_name=SLUG).delete()
    brand_provision(
        slug=SLUG,
        name="Scan bench",
        domain=f"{SLUG}.localhost",
        admin_email="bench@bench.example",
        contact_address="上海市静安区南京西路 100 号",
        pi_contact="privacy@bench.example",
    )


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def backend_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend so far (/proc; same machine)."""
    from api_orders_http import process_cpu_seconds

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return process_cpu_seconds([int(cursor.fetchone()[0])])


def measured(name: str, work: Callable[[], object]) -> tuple[float, float, float]:
    """Run `work` once: (wall s, this process's CPU s, PostgreSQL backend CPU s), printed."""
    db0, cpu0, t0 = backend_cpu(), time.process_time(), time.perf_counter()
    work()
    wall, cpu, db = time.perf_counter() - t0, time.process_time() - cpu0, backend_cpu() - db0
    print(f"{name}: {wall:.1f} s wall; CPU {cpu:.1f} s Python + {db:.1f} s PostgreSQL")
    return wall, cpu, db


def generate_phase(codes: int, explain: bool) -> CodeBatch:
    box: list[CodeBatch] = []
    wall, _cpu, db = measured(
        f"generate {codes:,} codes",
        lambda: box.append(
            batch_generate(sku="SKU-B", product_name="基准商品", quantity=codes, actor="bench", exports_allowed=5)
        ),
    )
    batch = box[0]

    # Floor, same run: the same number of bare bigint primary keys into a fresh table.
    def floor_insert() -> None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_floor (serial bigint PRIMARY KEY)")
            cursor.execute("INSERT INTO bench_floor SELECT generate_series(1, %s::bigint)", [codes])
            cursor.execute("DROP TABLE bench_floor")

    floor_wall, _c, floor_db = measured("  floor: bare bigint keys", floor_insert)
    print(
        f"  generate / floor: wall {wall / floor_wall:.2f}, PostgreSQL CPU {db / max(floor_db, 0.01):.2f}; "
        f"→ 10M ≈ {wall * 10_000_000 / codes:.0f} s wall here, {db * 10_000_000 / codes:.0f} s of CPU"
    )
    assert batch.first_serial is not None and batch.last_serial is not None
    if explain:
        # Where the generation's time goes: the same INSERT … SELECT generate_series into the
        # codes table (serials past the batch), rolled back.
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "EXPLAIN (ANALYZE, BUFFERS, WAL) INSERT INTO scancodes_code (serial, batch_id, scan_count, "
                "first_city) SELECT s, %s, 0, '' FROM generate_series(%s::bigint, %s::bigint) AS s",
                [batch.pk, batch.last_serial + 1, batch.last_serial + codes],
            )
            print("\n".join("  " + row[0] for row in cursor.fetchall()))
            cursor.execute("ROLLBACK")
    return batch


def export_phase(batch: CodeBatch, codes: int) -> None:
    size = [0]

    def export() -> None:
        done = batch_export(batch=batch, fmt="csv", actor="bench", ip=None, user_agent="", base_url="https://b.example")
        with open(os.devnull, "wb") as sink:
            for chunk in done.chunks:
                size[0] += len(chunk)
                sink.write(chunk)

    wall, cpu, _db = measured(f"export CSV of {codes:,} codes", export)
    assert batch.first_serial is not None and batch.last_serial is not None
    first, last = batch.first_serial, batch.last_serial

    # Floor, same run: the same rows and bytes with a constant secret (no HMAC), the loop's own cost.
    def floor_rows() -> None:
        with open(os.devnull, "wb") as sink:
            for lo in range(first, last + 1, 50_000):
                hi = min(lo + 50_000, last + 1)
                sink.write(
                    "".join(
                        f"{s},ABCDEFGHIJKLMNOPQRST,https://b.example/s/{s}?k=ABCDEFGHIJKLMNOPQRST\n"
                        for s in range(lo, hi)
                    ).encode()
                )

    floor_wall, floor_cpu, _d = measured("  floor: the same rows without the HMAC", floor_rows)
    print(
        f"  {size[0] / 1e6:.0f} MB; export / floor: wall {wall / floor_wall:.2f}, CPU {cpu / floor_cpu:.2f}; "
        f"{cpu / codes * 1e6:.2f} µs of CPU a code → 10M ≈ {cpu * 10_000_000 / codes:.0f} s of CPU"
    )


def page_phase(batch: CodeBatch, pages: int) -> None:
    """GET /s/<serial>?k=<secret> — the scan page, the whole request: in-process through Django's
    handler (middleware, tenant routing, template), then over HTTP through the web server."""
    from api_orders_http import free_port, pids_of, process_cpu_seconds, start_server, stop
    from django.test import Client

    assert batch.first_serial is not None and batch.last_serial is not None
    key = claim_keys.batch_key_open(batch.key_encrypted)
    span = batch.last_serial - batch.first_serial + 1
    paths = [
        f"/s/{serial}?k={claim_keys.secret_for(key, serial)}"
        for serial in (batch.first_serial + (n * 7_919_993) % span for n in range(pages))
    ]
    host = f"{SLUG}.localhost"
    client = Client(HTTP_HOST=host, REMOTE_ADDR="192.0.2.70")
    client.get(paths[0])  # warm: templates, the brand's routing
    times = []
    db0, cpu0 = backend_cpu(), time.process_time()
    for path in paths:
        t0 = time.perf_counter()
        status = client.get(path).status_code
        times.append(time.perf_counter() - t0)
        assert status == 200, (path, status)
    cpu, db = (time.process_time() - cpu0) / pages, (backend_cpu() - db0) / pages
    print(
        f"scan page in-process ({pages}): median {statistics.median(times) * 1000:.1f} ms, "
        f"p99 {pct(times, 0.99):.1f} ms wall; CPU {cpu * 1000:.1f} ms Python + {db * 1000:.1f} ms PostgreSQL a page"
    )
    connection.close()
    port = free_port()
    server = start_server(port, 2, startup_seconds=180)
    try:
        workers = pids_of("-g", str(server.pid))

        def get(path: str) -> float:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Host": host})
            response = conn.getresponse()
            response.read()
            conn.close()
            assert response.status == 200, (path, response.status)
            return time.perf_counter() - t0

        def server_backends() -> list[int]:
            # The workers' PostgreSQL backends (persistent: CONN_MAX_AGE), not this script's.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                return [int(row[0]) for row in cursor.fetchall()]

        for name, urls in (("floor GET /healthz", ["/healthz"] * pages), ("scan page over HTTP", paths)):
            for url in urls[:4]:
                get(url)  # both workers warm, their connections open
            backends = server_backends()
            pg0, w0 = process_cpu_seconds(backends), process_cpu_seconds(workers)
            samples = [get(url) for url in urls]
            pg = (process_cpu_seconds(backends) - pg0) / len(urls)
            w = (process_cpu_seconds(workers) - w0) / len(urls)
            print(
                f"{name} ({len(urls)}, one at a time): median {statistics.median(samples) * 1000:.1f} ms, "
                f"p99 {pct(samples, 0.99):.1f} ms wall; CPU {w * 1000:.1f} ms server + {pg * 1000:.1f} ms "
                f"PostgreSQL ({len(backends)} server backends) a request"
            )
    finally:
        stop(server)


def claims_phase(batch: CodeBatch, claims: int) -> None:
    now = timezone.now()
    assert batch.first_serial is not None and batch.last_serial is not None
    span = batch.last_serial - batch.first_serial + 1
    start = Member.objects.count()
    members = [
        Member.objects.create(member_no=f"B{n:09d}", name=f"基准{n}", mobile=f"+86139{n:08d}")
        for n in range(start, start + claims)
    ]
    key = claim_keys.batch_key_open(batch.key_encrypted)
    ctx = scan_context(ip="192.0.2.70", user_agent="bench")
    verify_times, claim_times = [], []
    claimed = set(batch.code_set.filter(claimed_member__isnull=False).values_list("serial", flat=True)[:100_000])
    serials = (s for s in (batch.first_serial + (n * 997) % span for n in range(span)) if s not in claimed)
    for member, serial in zip(members, serials, strict=False):
        secret = claim_keys.secret_for(key, serial)
        t0 = time.perf_counter()
        code_verify(serial=serial, secret=secret, ctx=ctx)
        t1 = time.perf_counter()
        code_claim(serial=serial, secret=secret, member=member, ctx=ctx)
        t2 = time.perf_counter()
        verify_times.append(t1 - t0)
        claim_times.append(t2 - t1)
    print(
        f"verify (the page's service call): median {statistics.median(verify_times) * 1000:.1f} ms, "
        f"p99 {pct(verify_times, 0.99):.1f} ms"
    )
    print(
        f"claim: median {statistics.median(claim_times) * 1000:.1f} ms, p99 {pct(claim_times, 0.99):.1f} ms, "
        f"one process ≈ {1 / statistics.mean(claim_times):.0f}/s (at {now:%H:%M} UTC)"
    )


def campaign_segment(batch: CodeBatch) -> None:
    now = timezone.now()
    campaign = ScanCampaign.objects.create(
        name="基准",
        points=5,
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=365),
        risky_claims_per_hour=1_000_000,
    )
    assert batch.first_serial is not None and batch.last_serial is not None
    segment_create(
        batch=batch,
        first_serial=batch.first_serial,
        last_serial=batch.last_serial,
        campaign=campaign,
        actor="bench",
        activate=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=50)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep the brand and its batch: page/verify/claim only")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS, WAL) the generation")
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()}")
    reused = None
    if args.reuse and Brand.objects.filter(schema_name=SLUG).exists():
        with schema_context(SLUG):
            reused = CodeBatch.objects.order_by("-quantity").first()
    if reused is None:
        brand()
    with schema_context(SLUG):
        if reused is None:
            batch = generate_phase(args.codes, args.explain)
            export_phase(batch, args.codes)
            campaign_segment(batch)
        else:
            batch = reused
            print(f"reusing batch {batch.batch_no}: {batch.quantity:,} codes")
        page_phase(batch, args.pages)
        claims_phase(batch, args.claims)
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
