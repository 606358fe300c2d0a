"""Benchmark: the coupons engine (issue 26).

1. issue one coupon to each of N members, set-based (`coupons_issue_bulk`, what a campaign's
   coupon step and an admin segment issue call), then again (must issue nobody: idempotent);
   two floors in the same run: a bare `INSERT ... SELECT` of N rows of the same width into an
   unlogged table (what writing the rows at all costs), and the same coupons, their first history
   entries and holdings written by three raw `INSERT ... SELECT`s into the real tables (what the
   tables' indexes and WAL cost, with none of the engine's checks) — each with the CPU time of
   the PostgreSQL backend, which a loaded machine distorts less than the wall time;
2. partner validate and redeem through the service (what the API view calls), serially, over
   pool-code coupons: rate, p50, p99;
3. the same through the partner API in-process (Django test client: key check, throttle,
   serializer, problem+json), serially.

    DATABASE_URL=... .venv/bin/python bench/coupons_issue_redeem.py [--members 100000] [--redeem 2000]

It (re)creates its own brand `benchcoupons` with N members generated set-based.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"  # DEBUG records every query: not what production measures

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bench.http_harness import process_cpu_seconds  # noqa: E402
from bench.members_data import indexes_deferred, insert_select, step  # noqa: E402
from coupons.models import Coupon, CouponTemplate  # noqa: E402
from coupons.selectors import coupon_validate  # noqa: E402
from coupons.services import (  # noqa: E402
    coupon_codes_generate,
    coupon_redeem,
    coupon_template_create,
    coupons_audit,
    coupons_issue_bulk,
)
from crm.api.services import api_key_create  # noqa: E402
from crm.tenancy.models import Brand, Domain  # noqa: E402
from crm.tenancy.services import brand_provision  # noqa: E402
from members.models import Member  # noqa: E402

SLUG = "benchcoupons"


def generate(members: int) -> None:
    if Brand.objects.filter(schema_name=SLUG).exists():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{SLUG}" CASCADE')
        Domain.objects.filter(tenant__schema_name=SLUG).delete()
        Brand.objects.filter(schema_name=SLUG).delete()
    brand_provision(
        slug=SLUG,
        name="Coupons bench",
        domain=f"{SLUG}.localhost",
        admin_email="bench@bench.example",
        contact_address="上海市静安区南京西路 100 号",
        pi_contact="privacy@bench.example",
    )
    with schema_context(SLUG), indexes_deferred(Member._meta.db_table):
        step(
            "members",
            insert_select(
                Member,
                {
                    "id": "g",
                    "member_no": "'C' || lpad(g::text, 9, '0')",
                    "name": "'会员' || g",
                    "mobile": "'+86137' || lpad(g::text, 8, '0')",
                },
                f"generate_series(1::bigint, {members}) g",
            ),
        )
    with schema_context(SLUG):
        step("member id sequence", "SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [members])
        step("analyze", "ANALYZE")


def backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (a local server)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return process_cpu_seconds([pid])


CPU: dict[str, float] = {}  # label → PostgreSQL backend CPU seconds of the last timed() call


def timed(label: str, fn: "object") -> float:
    cpu = backend_cpu()
    own = time.process_time()
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    CPU[label] = backend_cpu() - cpu
    print(
        f"  {label:<52} {seconds:8.2f} s  (PostgreSQL backend CPU {CPU[label]:6.2f} s, "
        f"this process {time.process_time() - own:5.2f} s)",
        flush=True,
    )
    return seconds


class StatementProfile:
    """With --profile: wall and PostgreSQL backend CPU of each statement the issue sends (an
    execute_wrapper reading /proc around it), summed by the statement's first words."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        pid = [connection.connection.info.backend_pid]  # no query: a query would come back here
        cpu, start = process_cpu_seconds(pid), time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            wall, used = time.perf_counter() - start, process_cpu_seconds(pid) - cpu
            entry = self.totals.setdefault(" ".join(sql.split())[:80], [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += wall
            entry[2] += used

    def show(self) -> None:
        for text, (n, wall, cpu) in sorted(self.totals.items(), key=lambda item: -item[1][2]):
            if cpu >= 0.01 or wall >= 0.05:
                print(f"    {int(n):3d}× wall {wall:7.2f} s  backend CPU {cpu:6.2f} s  {text}")


def floor_real_tables(template_id: int) -> None:
    """The issue's rows written raw into the real tables, no checks: coupons, history, holdings."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE floor_ids ON COMMIT DROP AS "
            "SELECT nextval(pg_get_serial_sequence('coupons_coupon', 'id')) AS id, id AS member_id FROM members_member"
        )
        cursor.execute(
            "INSERT INTO coupons_coupon (id, template_id, member_id, state, code, code_hash, source, source_key, "
            "issued_at, valid_from, valid_until, void_reason, locked_order) "
            "SELECT id, %s, member_id, 'issued', '', NULL, 'admin', 'floor', now(), now(), now() + interval '30 days', "
            "'', '' FROM floor_ids",
            [template_id],
        )
        cursor.execute(
            "INSERT INTO coupons_couponevent (coupon_id, from_state, to_state, reason, actor, created_at) "
            "SELECT id, '', 'issued', 'floor', 'floor', now() FROM floor_ids"
        )
        cursor.execute(
            "INSERT INTO coupons_couponholding (template_id, member_id, count) SELECT %s, member_id, 1 FROM floor_ids",
            [template_id],
        )


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    rate = len(samples) / sum(samples)
    return f"{rate:7.0f}/s  p50 {statistics.median(ordered) * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--redeem", type=int, default=2_000, help="write-offs (and validations) to time")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--issue-only", action="store_true", help="the 1M issue and its floors, no write-offs")
    parser.add_argument("--profile", action="store_true", help="wall and backend CPU of each statement of the issue")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.skip_generate:
        generate(args.members)
    with schema_context(SLUG):
        run = CouponTemplate.objects.count() + 1
        generic = coupon_template_create(
            template=CouponTemplate(
                name=f"满100减20 #{run}",
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                threshold_fen=10_000,
                amount_off_fen=2_000,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=30,
                generic_code=f"BENCH{run}",
                stock_total=args.members,
                per_member_limit=1,
            )
        )
        n = Member.objects.count()
        print(f"issue to every member ({n:,}):")
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE UNLOGGED TABLE IF NOT EXISTS bench_floor (a bigint, b bigint, c text, d timestamptz, "
                "e timestamptz, f timestamptz, g text, h text)"
            )
            cursor.execute("TRUNCATE bench_floor")
        floor = timed(
            "floor: INSERT ... SELECT of the same rows",
            lambda: connection.cursor().execute(
                "INSERT INTO bench_floor SELECT id, 1, 'issued', now(), now(), now(), 'admin', 'x' FROM members_member"
            ),
        )
        raw = coupon_template_create(
            template=CouponTemplate(
                name=f"floor #{run}",
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                amount_off_fen=2_000,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=30,
                generic_code=f"FLOOR{run}",
            )
        )
        floor_real = timed("floor: the same rows raw into the real tables", lambda: floor_real_tables(raw.pk))
        members_sql = ("SELECT id FROM members_member", [])
        profile = StatementProfile()
        with connection.execute_wrapper(profile) if args.profile else contextlib.nullcontext():
            first = timed(
                "coupons_issue_bulk (limit 1 each, stock N)",
                lambda: coupons_issue_bulk(
                    template_id=generic.pk, members=members_sql, source="admin", source_key="bench", actor="bench"
                ),
            )
        profile.show()
        again = timed(
            "the same issue again (idempotent: issues nobody)",
            lambda: coupons_issue_bulk(
                template_id=generic.pk, members=members_sql, source="admin", source_key="bench", actor="bench"
            ),
        )
        issued = Coupon.objects.filter(template=generic).count()
        engine_cpu = CPU["coupons_issue_bulk (limit 1 each, stock N)"]
        floor_cpu = CPU["floor: the same rows raw into the real tables"]
        print(
            f"  issued {issued:,}; {n / first:,.0f} coupons/s; ratio to floor {first / floor:.1f}×, "
            f"to the real-tables floor {first / floor_real:.2f}× wall, {engine_cpu / floor_cpu:.2f}× backend CPU; "
            f"1,000,000 members extrapolated: {first * 1_000_000 / n:.0f} s wall (target ≤ 60 s), "
            f"{engine_cpu * 1_000_000 / n:.1f} s backend CPU; re-run {again:.1f} s; "
            f"load average now {os.getloadavg()[0]:.1f}"
        )
        if args.issue_only:
            problems = coupons_audit()
            print(f"audit_coupons: {'OK' if not problems else problems[:5]}")
            return

        # Pool-code coupons for the write-offs: one generated code each.
        pool = coupon_template_create(
            template=CouponTemplate(
                name=f"券码池 #{run}",
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                threshold_fen=0,
                amount_off_fen=500,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=30,
                code_mode=CouponTemplate.CodeMode.GENERATED,
            )
        )
        count = min(args.redeem * 2, n)
        coupon_codes_generate(template_id=pool.pk, count=count)
        coupons_issue_bulk(
            template_id=pool.pk,
            members=("SELECT id FROM members_member ORDER BY id LIMIT %s", [count]),
            source="api",
            source_key="bench",
            actor="bench",
        )
        codes = list(Coupon.objects.filter(template=pool).order_by("id").values_list("code", flat=True))
        half = len(codes) // 2
        print(f"validate / redeem through the service, serially ({half:,} each):")
        samples: list[float] = []
        with connection.cursor() as cursor:
            for _ in range(half):
                start = time.perf_counter()
                cursor.execute("SELECT 1")
                cursor.fetchone()
                samples.append(time.perf_counter() - start)
        print(f"  floor: one SELECT 1 round trip  {percentiles(samples)}")
        samples = []
        for code in codes[:half]:
            start = time.perf_counter()
            coupon_validate(code=code, member_id=None, store_code=None, order_amount_fen=10_000)
            samples.append(time.perf_counter() - start)
        print(f"  validate  {percentiles(samples)}  (target ≥ 800/s)")
        samples = []
        for i, code in enumerate(codes[:half]):
            start = time.perf_counter()
            coupon_redeem(
                request_no=f"S{run}-{i}",
                code=code,
                member_id=None,
                store_code=None,
                channel="store",
                order_no=f"S{run}-{i}",
                order_amount_fen=10_000,
                actor="bench",
            )
            samples.append(time.perf_counter() - start)
        print(f"  redeem    {percentiles(samples)}  (target ≥ 300/s)")

        key = api_key_create(
            partner_name="bench", scopes=["orders:write", "coupons:read", "coupons:write"], expires_at=None
        ).plaintext
    client = Client(HTTP_HOST=f"{SLUG}.localhost", HTTP_AUTHORIZATION=f"Api-Key {key}")
    rest = codes[half:]
    print(f"validate / redeem through the partner API in-process, serially ({len(rest):,} each):")
    for label, path in (("validate", "/api/v1/coupons/validate"), ("redeem", "/api/v1/coupons/redemptions")):
        samples = []
        for i, code in enumerate(rest):
            body = {"code": code, "channel": "store", "order_no": f"A{run}-{i}", "order_amount_fen": 10_000}
            if label == "redeem":
                body["request_no"] = f"A{run}-{i}"
            start = time.perf_counter()
            response = client.post(path, data=json.dumps(body), content_type="application/json")
            samples.append(time.perf_counter() - start)
            assert response.status_code in (200, 201), response.content
        print(f"  {label:<9} {percentiles(samples)}")
    with schema_context(SLUG):
        problems = coupons_audit()
        print(f"audit_coupons: {'OK' if not problems else problems[:5]}")


if __name__ == "__main__":
    main()
