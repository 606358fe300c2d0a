"""Benchmark: the member centre (issue 25).

Targets: member code resolve through the partner API (POST /api/v1/member-codes/resolve) ≥ 500/s
on this 2-core machine, p99 ≤ 50 ms at a steady 200/s; the member card page (GET /m/) ≤ 100 ms
server time at 1M members.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm CACHE_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/member_centre.py [--members 20000] [--seconds 10] [--rate 200]

It migrates the public schema if needed, provisions (idempotently) its own brand `benchmc`
(host benchmc.localhost), inserts `--members` members in bulk (the data generator: profile rows
and a mobile identity each, nothing else; re-running tops up), issues a fresh member code for 5,000
random members before each phase (codes live 60 s), then starts gunicorn (bench/http_harness.py:
DEBUG off, API throttle out of the way) and drives:
1. saturation: resolve from `--concurrency` threads for `--seconds` → resolves/s, p50/p99;
2. steady: `--rate` resolves/s open-loop for `--seconds` → p50/p99 (latency from when due);
3. card page: in-process GET /m/ of a signed-in member, `--pages` times → server time mean/p50/p99
   (the floor: GET /healthz in the same process, same run).
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"  # DEBUG records every query: not what production measures

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bench.http_harness import Client, free_port, percentile, saturate, start_server, steady, stop  # noqa: E402
from crm.api.services import api_key_create  # noqa: E402
from crm.tenancy.services import brand_provision, platform_ensure  # noqa: E402
from membercentre.models import MemberCode  # noqa: E402
from membercentre.services.codes import MEMBER_CODE_TTL, _digest  # noqa: E402
from membercentre.services.links import member_centre_link_path  # noqa: E402
from members.models import Member  # noqa: E402

SLUG = "benchmc"
HOST = f"{SLUG}.localhost"
CODES_PER_PHASE = 5000


def setup(members: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.tenancy_brand') IS NOT NULL")
        if not cursor.fetchone()[0]:
            call_command("migrate_schemas", "--shared", "--noinput", verbosity=0)
    platform_ensure(domain="localhost")
    brand_provision(
        slug=SLUG,
        name="会员中心压测",
        domain=HOST,
        admin_email="bench@mc.example",
        contact_address="上海市静安区南京西路 100 号",
        pi_contact="privacy@bench.example",
    )
    with schema_context(SLUG):
        have = Member.objects.count()
        if have == 0 and members:
            # The first member through the ORM (every column's default, as the app writes them) ...
            Member.objects.bulk_create(
                [Member(member_no="MC000000000", name="压测0", mobile="+8613700000000", enrolled_channel="other")]
            )
            have = 1
        # ... is the template of the rest, copied set-based by generate_series (a million in a few
        # statements; the ORM's bulk_create took ~30 s per 10,000 on a loaded machine).
        columns = [str(f.column) for f in Member._meta.concrete_fields if f.column != "id"]
        varied = {
            "member_no": "'MC' || lpad(n::text, 9, '0')",
            "name": "'压测' || n",
            "mobile": "'+86137' || lpad(n::text, 8, '0')",
        }
        select = ", ".join(varied.get(column, f't."{column}"') for column in columns)
        names = ", ".join(f'"{column}"' for column in columns)
        template = "(SELECT * FROM members_member ORDER BY id LIMIT 1) t"
        # bigint: a bound small number is a smallint, for which generate_series is ambiguous
        series = "generate_series(%s::bigint, %s::bigint) n"
        insert = f"INSERT INTO members_member ({names}) SELECT {select} FROM {template}, {series}"  # noqa: S608 - the model's column names; values bound
        chunk = 200_000
        with connection.cursor() as cursor:
            for start in range(have, members, chunk):
                end = min(start + chunk, members) - 1
                cursor.execute("SELECT coalesce(max(id), 0) FROM members_member")
                (last_id,) = cursor.fetchone()
                cursor.execute(insert, [start, end])
                cursor.execute(
                    "INSERT INTO members_identity (member_id, kind, value, created_at, updated_at) "
                    "SELECT m.id, 'mobile', m.mobile, now(), now() FROM members_member m "
                    "WHERE m.id > %s OR NOT EXISTS (SELECT 1 FROM members_identity i WHERE i.member_id = m.id) "
                    "ON CONFLICT DO NOTHING",
                    [last_id],
                )
                print(f"members: {end + 1:,}", flush=True)
        with connection.cursor() as cursor:
            for table in ("members_member", "members_identity", "membercentre_membercode"):
                cursor.execute(f"VACUUM (ANALYZE) {SLUG}.{table}")
        return api_key_create(partner_name=f"bench-mc-{time.time():.0f}", scopes=["members:read"]).plaintext


def issue_codes(count: int) -> list[str]:
    """Live codes for random members, written in one statement (as member_code_issue writes each)."""
    with schema_context(SLUG):
        ids = list(Member.objects.order_by("?").values_list("pk", flat=True)[:count])
        now = timezone.now()
        codes = [f"{random.randrange(10**18):018d}" for _ in ids]
        MemberCode.objects.bulk_create(
            [
                MemberCode(member_id=i, digest=_digest(c), issued_at=now, expires_at=now + MEMBER_CODE_TTL)
                for i, c in zip(ids, codes, strict=True)
            ]
        )
    return codes


def card_page(pages: int) -> None:
    with schema_context(SLUG):
        member_id = Member.objects.order_by("?").values_list("pk", flat=True).first()
        assert member_id is not None
        link = member_centre_link_path(member_id=member_id)
    client = DjangoClient(HTTP_HOST=HOST)
    assert client.get(link).status_code == 302

    def timed(path: str) -> list[float]:
        samples = []
        for _ in range(pages):
            start = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.status_code
        return samples

    timed("/m/")  # warm-up: templates, imports
    card, floor = timed("/m/"), timed("/healthz")
    print(
        f"card page GET /m/, {pages} views in-process: mean {statistics.mean(card):.1f} ms, "
        f"p50 {percentile(card, 0.5):.1f} ms, p99 {percentile(card, 0.99):.1f} ms "
        f"(floor GET /healthz: mean {statistics.mean(floor):.1f} ms)"
    )


def resolve_cpu(count: int, key: str) -> None:
    """CPU per resolve, in-process through the whole stack (middleware, API key, throttle, view,
    service, audit row): the figure that does not depend on what else the machine runs. 2 cores
    / CPU per request bounds the rate one machine's web processes can serve (PostgreSQL's share
    comes on top)."""
    codes = issue_codes(min(count, CODES_PER_PHASE))
    client = DjangoClient(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Api-Key {key}")
    client.post("/api/v1/member-codes/resolve", {"code": codes[0]}, content_type="application/json")  # warm-up
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    for i in range(count):
        response = client.post(
            "/api/v1/member-codes/resolve", {"code": codes[i % len(codes)]}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
    cpu = (time.process_time() - cpu_start) / count * 1000
    wall = (time.perf_counter() - wall_start) / count * 1000
    print(
        f"resolve in-process, {count} calls: {cpu:.2f} ms CPU (Python) and {wall:.2f} ms wall per call "
        f"→ ≤ {2000 / cpu:.0f}/s on 2 cores for the web processes"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--cpu", type=int, default=1000, help="in-process resolves for the CPU per call (0: skip)")
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip the HTTP phases")
    args = parser.parse_args()

    key = setup(args.members)
    print(f"brand {SLUG}: {args.members:,} members")
    if args.pages:
        card_page(args.pages)
    if args.cpu:
        resolve_cpu(args.cpu, key)
    connection.close()
    if not args.http:
        return
    port = free_port()
    server = start_server(port, args.workers)
    try:
        client = Client(port, key, HOST)
        codes = issue_codes(CODES_PER_PHASE)
        resolve = lambda: client.request("POST", "/api/v1/member-codes/resolve", {"code": random.choice(codes)})  # noqa: E731
        saturate("resolve", resolve, seconds=args.seconds, threads=args.concurrency)
        codes = issue_codes(CODES_PER_PHASE)  # fresh: the codes live 60 s
        steady("resolve", resolve, rate=args.rate, seconds=args.seconds)
    finally:
        stop(server)


if __name__ == "__main__":
    main()
