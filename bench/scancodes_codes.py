"""Benchmark: one item, one code — generate N codes (one set-based INSERT), export them as CSV
(streamed, to /dev/null), then time the hot paths in-process at that table size: verify (the
scan page's work) and claim (conditional UPDATE + ledger + tags + scan log), per call.

    DATABASE_URL=... .venv/bin/python bench/scancodes_codes.py [--codes 1000000] [--claims 300]

Goals (issue 28): 10M codes generated ≤ 120 s and exported ≤ 120 s; claim ≥ 500/s with p99 ≤
100 ms at 200/s through HTTP; scan page ≤ 50 ms server time. This script measures the server-side
work without HTTP; extrapolate generation and export linearly (both are a single pass).
It (re)creates its own brand `benchscan`.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
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
from scancodes.models import ScanCampaign  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=300)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS, WAL) the generation")
    args = parser.parse_args()
    brand()
    with schema_context(SLUG):
        started = time.perf_counter()
        batch = batch_generate(
            sku="SKU-B", product_name="基准商品", quantity=args.codes, actor="bench", exports_allowed=5
        )
        generated = time.perf_counter() - started
        print(f"generate {args.codes:,} codes: {generated:.1f} s → 10M ≈ {generated * 10_000_000 / args.codes:.0f} s")
        # Floor, same run: the same number of bare bigint primary keys into a fresh table.
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_floor (serial bigint PRIMARY KEY)")
            cursor.execute("INSERT INTO bench_floor SELECT generate_series(1, %s::bigint)", [args.codes])
            cursor.execute("DROP TABLE bench_floor")
        floor = time.perf_counter() - started
        print(f"  floor (bare bigint keys): {floor:.1f} s; generate / floor = {generated / floor:.2f}")
        assert batch.first_serial is not None and batch.last_serial is not None
        if args.explain:
            # Where the generation's time goes: the same INSERT … SELECT generate_series into the
            # codes table (serials past the batch), rolled back.
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, WAL) INSERT INTO scancodes_code (serial, batch_id, scan_count, "
                    "first_city) SELECT s, %s, 0, '' FROM generate_series(%s::bigint, %s::bigint) AS s",
                    [batch.pk, batch.last_serial + 1, batch.last_serial + args.codes],
                )
                print("\n".join("  " + row[0] for row in cursor.fetchall()))
                cursor.execute("ROLLBACK")

        started = time.perf_counter()
        export = batch_export(
            batch=batch, fmt="csv", actor="bench", ip=None, user_agent="", base_url="https://b.example"
        )
        size = 0
        with open(os.devnull, "wb") as sink:
            for chunk in export.chunks:
                size += len(chunk)
                sink.write(chunk)
        exported = time.perf_counter() - started
        print(f"export CSV {size / 1e6:.0f} MB: {exported:.1f} s → 10M ≈ {exported * 10_000_000 / args.codes:.0f} s")
        # Floor, same run: the same rows and bytes with a constant secret (no HMAC), the loop's own cost.
        started = time.perf_counter()
        assert batch.first_serial is not None and batch.last_serial is not None
        with open(os.devnull, "wb") as sink:
            for lo in range(batch.first_serial, batch.last_serial + 1, 50_000):
                hi = min(lo + 50_000, batch.last_serial + 1)
                sink.write(
                    "".join(
                        f"{s},ABCDEFGHIJKLMNOPQRST,https://b.example/s/{s}?k=ABCDEFGHIJKLMNOPQRST\n"
                        for s in range(lo, hi)
                    ).encode()
                )
        export_floor = time.perf_counter() - started
        print(f"  floor (same rows, no HMAC): {export_floor:.1f} s; export / floor = {exported / export_floor:.2f}")

        now = timezone.now()
        campaign = ScanCampaign.objects.create(
            name="基准",
            points=5,
            starts_at=now - dt.timedelta(days=1),
            ends_at=now + dt.timedelta(days=1),
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
        members = [
            Member.objects.create(member_no=f"B{n:09d}", name=f"基准{n}", mobile=f"+86139{n:08d}")
            for n in range(args.claims)
        ]
        key = claim_keys.batch_key_open(batch.key_encrypted)
        ctx = scan_context(ip="192.0.2.70", user_agent="bench")
        verify_times, claim_times = [], []
        for n, member in enumerate(members):
            serial = batch.first_serial + n * 997 % args.codes
            secret = claim_keys.secret_for(key, serial)
            t0 = time.perf_counter()
            code_verify(serial=serial, secret=secret, ctx=ctx)
            t1 = time.perf_counter()
            code_claim(serial=serial, secret=secret, member=member, ctx=ctx)
            t2 = time.perf_counter()
            verify_times.append(t1 - t0)
            claim_times.append(t2 - t1)
        print(
            f"verify (scan page work): median {statistics.median(verify_times) * 1000:.1f} ms, "
            f"p99 {pct(verify_times, 0.99):.1f} ms"
        )
        print(
            f"claim: median {statistics.median(claim_times) * 1000:.1f} ms, p99 {pct(claim_times, 0.99):.1f} ms, "
            f"one process ≈ {1 / statistics.mean(claim_times):.0f}/s"
        )


if __name__ == "__main__":
    main()
