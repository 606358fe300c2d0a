"""Benchmark: partner POS validate and redeem over HTTP, concurrently, through the real web server
(issue 26).

Targets: validate ≥ 800/s; redeem ≥ 300/s, and p99 ≤ 100 ms at a steady 150 redeems/s.

    DATABASE_URL=... CACHE_URL=redis://... .venv/bin/python bench/coupons_http.py \
        [--workers 4] [--threads 8] [--seconds 15] [--rate 150] [--members 50000]

It uses the brand `benchcoupons` of bench/coupons_issue_redeem.py (or makes it with `--members`
members, set-based), adds a generated-code template and issues one pool coupon to enough members
for the run, then starts the web server (bench/http_harness.py: 127.0.0.1 only, DEBUG off,
no throttle) and drives, from `--threads` client threads (http.client, one connection per
request, as a partner behind a balancer without keep-alive):
1. validate saturation (`POST /api/v1/coupons/validate`, random codes of the pool) → rate, p50,
   p99, CPU per request of the server and of this database's PostgreSQL backends;
2. redeem saturation (`POST /api/v1/coupons/redemptions`, each request a fresh coupon);
3. redeem steady at `--rate`/s, open loop (latency from when a request was due);
4. the raw SQL floor from as many threads, each on its own connection: validate = the one
   SELECT of the coupon and its template by code hash; redeem = one transaction of SELECT … FOR
   UPDATE, conditional UPDATE, INSERT of the write-off and of its history entry — what the
   service must write, with no HTTP, no Python framework and no checks.
Then `audit_coupons` on the brand. Re-running is safe (every run adds a template and coupons).
"""

import argparse
import os
import random
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"  # before django.setup(): DEBUG records every query

import django
import psycopg
from django.db import connection
from django_tenants.utils import schema_context

django.setup()

from bench.http_harness import Client, free_port, pids_of, saturate, start_server, steady, stop  # noqa: E402
from coupons import rules  # noqa: E402
from coupons.models import Coupon, CouponTemplate  # noqa: E402
from coupons.services import (  # noqa: E402
    coupon_codes_generate,
    coupon_template_create,
    coupons_audit,
    coupons_issue_bulk,
)
from crm.api.services import api_key_create  # noqa: E402
from crm.tenancy.models import Brand  # noqa: E402

SLUG = "benchcoupons"
HOST = f"{SLUG}.localhost"
RUN = uuid.uuid4().hex[:6]


def setup(members: int, coupons: int) -> tuple[str, list[str]]:
    if not Brand.objects.filter(schema_name=SLUG).exists():
        from bench.coupons_issue_redeem import generate

        generate(members)
    with schema_context(SLUG):
        template = coupon_template_create(
            template=CouponTemplate(
                name=f"POS 压测 {RUN}",
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                threshold_fen=5_000,
                amount_off_fen=500,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=30,
                code_mode=CouponTemplate.CodeMode.GENERATED,
            )
        )
        coupon_codes_generate(template_id=template.pk, count=coupons)
        coupons_issue_bulk(
            template_id=template.pk,
            members=("SELECT id FROM members_member ORDER BY id LIMIT %s", [coupons]),
            source="api",
            source_key=f"http-{RUN}",
            actor="bench",
        )
        codes = list(Coupon.objects.filter(template=template).order_by("id").values_list("code", flat=True))
        scopes = ["coupons:read", "coupons:write"]
        key = api_key_create(partner_name=f"bench-{RUN}", scopes=scopes, expires_at=None).plaintext
        with connection.cursor() as cursor:
            for table in ("coupons_coupon", "coupons_couponcode", "coupons_couponredemption", "coupons_couponevent"):
                cursor.execute(f"VACUUM (ANALYZE) {SLUG}.{table}")
    connection.close()
    return key, codes


class Codes:
    """Fresh coupon codes, each handed out once, for the write-offs."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        self.lock = threading.Lock()
        self.n = 0

    def take(self) -> str:
        with self.lock:
            if self.n >= len(self.codes):
                raise SystemExit("out of fresh codes: raise --coupons")
            self.n += 1
            return self.codes[self.n - 1]


class Redeems:
    def __init__(self, codes: Codes) -> None:
        self.codes = codes

    def next(self) -> dict[str, Any]:
        code = self.codes.take()
        return {
            "request_no": f"H{RUN}-{code}",
            "code": code,
            "channel": "pos",
            "order_no": f"H{RUN}-{code}",
            "order_amount_fen": 10_000,
        }


def floor(label: str, statements: Callable[[Any, str], None], codes: Callable[[], str], **kw: Any) -> None:
    """The raw SQL floor: each thread its own psycopg connection in the bench schema."""
    local = threading.local()
    opened: list[Any] = []  # open until saturate() has read their backends' CPU

    def send() -> int:
        if not hasattr(local, "db"):
            local.db = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
            local.db.execute(f"SET search_path = {SLUG}, public")
            opened.append(local.db)
        statements(local.db, codes())
        return 200

    saturate(label, send, server_pids=[], **kw)
    for db in opened:
        db.close()


def floor_validate(db: Any, code: str) -> None:
    db.execute(
        "SELECT c.id, c.state, c.valid_from, c.valid_until, t.threshold_fen, t.amount_off_fen "
        "FROM coupons_coupon c JOIN coupons_coupontemplate t ON t.id = c.template_id WHERE c.code_hash = %s",
        [rules.code_hash(code)],
    ).fetchone()


def floor_redeem(db: Any, code: str) -> None:
    with db.transaction():
        coupon_id, state = db.execute(
            "SELECT id, state FROM coupons_coupon WHERE code_hash = %s FOR UPDATE", [rules.code_hash(code)]
        ).fetchone()
        db.execute(
            "UPDATE coupons_coupon SET state = 'used', used_at = now() WHERE id = %s AND state = %s", [coupon_id, state]
        )
        redemption_id = db.execute(
            "INSERT INTO coupons_couponredemption (created_at, updated_at, coupon_id, request_no, status, channel, "
            "order_no, order_amount_fen, discount_fen, discount_refunded_fen, redeemed_at, actor) "
            "VALUES (now(), now(), %s, %s, 'used', 'pos', %s, 10000, 500, 0, now(), 'floor') RETURNING id",
            [coupon_id, f"F{RUN}-{code}", f"F{RUN}-{code}"],
        ).fetchone()[0]
        db.execute(
            "INSERT INTO coupons_couponevent (coupon_id, from_state, to_state, reason, redemption_id, actor, "
            "created_at) VALUES (%s, %s, 'used', 'floor', %s, 'floor', now())",
            [coupon_id, state, redemption_id],
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=150, help="steady redeems per second")
    parser.add_argument("--members", type=int, default=50_000, help="members of the bench brand if it must be made")
    parser.add_argument("--coupons", type=int, default=20_000, help="pool coupons for the write-offs")
    args = parser.parse_args()
    key, codes = setup(args.members, args.coupons)
    random.seed(RUN)
    # Validate reads any coupon; redeem, steady and the floor's redeem each take fresh ones.
    validate_codes = codes[: len(codes) // 4]
    fresh = Codes(codes[len(codes) // 4 :])
    port = free_port()
    server = start_server(port, args.workers)
    client = Client(port, key, HOST)
    gunicorn = pids_of("-g", str(server.pid))
    phase: dict[str, Any] = {"seconds": args.seconds, "threads": args.threads, "server_pids": gunicorn}

    def validate() -> int:
        body = {"code": random.choice(validate_codes), "channel": "pos", "order_no": "V", "order_amount_fen": 10_000}
        return client.request("POST", "/api/v1/coupons/validate", body)

    redeems = Redeems(fresh)
    try:
        print(
            f"granian {args.workers} workers, {args.threads} client threads, {args.seconds:.0f} s a phase; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {len(codes):,} pool coupons"
        )
        saturate("warm-up (validate)", validate, seconds=3, threads=2, server_pids=gunicorn)
        saturate("validate over HTTP", validate, **phase)
        redeem = lambda: client.request("POST", "/api/v1/coupons/redemptions", redeems.next())  # noqa: E731
        saturate("redeem over HTTP", redeem, **phase)
        steady("redeem over HTTP", redeem, rate=args.rate, seconds=args.seconds)
    finally:
        stop(server)
    raw = {"seconds": args.seconds, "threads": args.threads}
    floor("floor: validate, raw SQL", floor_validate, lambda: random.choice(validate_codes), **raw)
    floor("floor: redeem, raw SQL", floor_redeem, fresh.take, **raw)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    with schema_context(SLUG):
        problems = coupons_audit()
    print(f"audit_coupons: {'OK' if not problems else problems[:5]}")


if __name__ == "__main__":
    main()
