"""Benchmark: one item, one code over HTTP through the real web server (issue 28) — claims and scans
through the partner API, with the codes table at `--codes` rows.

Targets: a claim ≥ 500/s, and p99 ≤ 100 ms at a steady 200 claims/s, with 10M codes in the table;
the scan (verify) ≤ 50 ms server time.

    DATABASE_URL=... CACHE_URL=redis://127.0.0.1:6379/<db> \
        .venv/bin/python bench/scancodes_http.py [--codes 1000000] [--members 20000] [--seconds 15]

It uses bench/http_harness.py (gunicorn on a free loopback port with DEBUG off, the http.client
client, saturation with /proc CPU per request, the open-loop steady phase), and
provisions its own brand `benchscanhttp`: one generated batch of `--codes` codes (generated once;
a re-run tops the table up only if it has fewer), one activated segment, a points campaign with no
caps, `--members` members (bulk, once), an API key. Each claim takes a fresh code with a fresh
member (the expensive path: ledger, tags, scan log, counters). Phases:
0. floor: GET /healthz from the same client threads (what the harness and the server cost alone);
1. verify: saturation of POST /api/v1/scancodes/verify;
2. claim: saturation of POST /api/v1/scancodes/claims;
3. claim: steady 200/s open loop (latency counted from when each request was due).
Codes and members are used up run after run; re-running continues with the next unused ones.
"""

# Raw SQL names the bench schema and tables only.
# ruff: noqa: S608

import argparse
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"  # DEBUG records every query: not what production measures

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bench.http_harness import Client, free_port, pids_of, saturate, start_server, steady, stop  # noqa: E402
from crm.api.services import api_key_create  # noqa: E402
from crm.tenancy.services import brand_provision, platform_ensure  # noqa: E402
from members.models import Member  # noqa: E402
from scancodes import claim_keys  # noqa: E402
from scancodes.models import Claim, Code, CodeBatch, ScanCampaign  # noqa: E402
from scancodes.services import batch_generate, segment_create  # noqa: E402

SLUG = "benchscanhttp"
HOST = f"{SLUG}.localhost"


def setup(codes: int, members: int, fresh: int = 0) -> tuple[str, CodeBatch, bytes]:
    """The brand, `codes` codes, `members` members — and more when fewer than `fresh` of them have
    never claimed (each bench claim takes an unused member: no per-member cap is hit)."""
    platform_ensure(domain="localhost")
    brand_provision(
        slug=SLUG,
        name="Scan HTTP bench",
        domain=HOST,
        admin_email="bench@scan.example",
        contact_address="上海市静安区南京西路 100 号",
        pi_contact="privacy@bench.example",
    )
    with schema_context(SLUG):
        have = Code.objects.count()
        if have < codes:
            started = time.perf_counter()
            batch_generate(sku="SKU-H", product_name="压测商品", quantity=codes - have, actor="bench")
            print(f"setup: generated {codes - have:,} codes in {time.perf_counter() - started:.1f} s")
        now = timezone.now()
        campaign, _ = ScanCampaign.objects.get_or_create(
            name="压测",
            defaults={
                "points": 5,
                "starts_at": now - dt.timedelta(days=1),
                "ends_at": now + dt.timedelta(days=3650),
                "risky_claims_per_hour": 1_000_000_000,
            },
        )
        for batch in CodeBatch.objects.filter(segments__isnull=True):
            assert batch.first_serial is not None and batch.last_serial is not None
            segment_create(
                batch=batch,
                first_serial=batch.first_serial,
                last_serial=batch.last_serial,
                campaign=campaign,
                actor="bench",
                activate=True,
            )
        have_members = Member.objects.filter(member_no__startswith="H").count()
        unused = have_members - Claim.objects.values("member_id").distinct().count()
        members = max(members, have_members + fresh - unused)
        Member.objects.bulk_create(
            [
                Member(member_no=f"H{n:09d}", name=f"压测{n}", mobile=f"+86137{n:08d}")
                for n in range(have_members, members)
            ],
            batch_size=5000,
        )
        key = api_key_create(partner_name=f"bench-scan-{int(time.time())}", scopes=["points:write", "members:read"])
        first_batch = CodeBatch.objects.order_by("id").first()
        assert first_batch is not None
        with connection.cursor() as cursor:
            for table in ("scancodes_code", "members_member", "scancodes_claim", "scancodes_scan"):
                cursor.execute(f"VACUUM (ANALYZE) {SLUG}.{table}")  # what autovacuum would have done
    return key.plaintext, first_batch, claim_keys.batch_key_open(first_batch.key_encrypted)


class Work:
    """The next unclaimed code and unused member, handed out to the threads."""

    def __init__(self, batch: CodeBatch, key: bytes) -> None:
        with schema_context(SLUG):
            self.members = self._unused_members()
            claimed = Code.objects.filter(batch=batch, claimed_member__isnull=False).count()
        assert batch.first_serial is not None
        self.next_serial = batch.first_serial + claimed + 1000  # past any code a crashed run took
        self.last_serial = batch.last_serial or 0
        self.key = key
        self.lock = threading.Lock()

    @staticmethod
    def _unused_members() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.member_no FROM {SLUG}.members_member m WHERE m.member_no LIKE 'H%%' AND NOT EXISTS "
                f"(SELECT 1 FROM {SLUG}.scancodes_claim c WHERE c.member_id = m.id) ORDER BY m.id"
            )
            return [row[0] for row in cursor.fetchall()]

    def claim_body(self) -> dict[str, Any]:
        with self.lock:
            serial, self.next_serial = self.next_serial, self.next_serial + 1
            member_no = self.members.pop()
        assert serial <= self.last_serial, "out of codes: run with a larger --codes"
        secret = claim_keys.secret_for(self.key, serial)
        return {"serial": serial, "secret": secret, "member_no": member_no, "ip": "192.0.2.70", "user_agent": "bench"}

    def verify_body(self) -> dict[str, Any]:
        with self.lock:
            serial = self.next_serial + 7_919 * len(self.members) % 100_000
        return {"serial": serial, "secret": claim_keys.secret_for(self.key, serial), "ip": "192.0.2.70"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args()
    key, batch, batch_key = setup(args.codes, args.members)
    work = Work(batch, batch_key)
    print(f"table: ≥ {args.codes:,} codes; {len(work.members):,} unused members")
    connection.close()
    port = free_port()
    server = start_server(port, args.workers, startup_seconds=180)
    try:
        client = Client(port, key, HOST)
        phase = {"seconds": args.seconds, "threads": args.threads, "server_pids": pids_of("-g", str(server.pid))}
        floor = saturate("floor GET /healthz", lambda: client.request("GET", "/healthz"), **phase)
        verify = saturate(
            "verify",
            lambda: client.request("POST", "/api/v1/scancodes/verify", work.verify_body()),
            **phase,
        )
        claim = saturate(
            "claim",
            lambda: client.request("POST", "/api/v1/scancodes/claims", work.claim_body()),
            **phase,
        )
        steady(
            "claim",
            lambda: client.request("POST", "/api/v1/scancodes/claims", work.claim_body()),
            rate=args.rate,
            seconds=args.seconds,
        )
        print(f"ratios to the floor: verify {verify.rate / floor.rate:.2f}, claim {claim.rate / floor.rate:.2f}")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
