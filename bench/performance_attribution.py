"""Benchmark: what staff-performance attribution adds to order ingest, and the month report.

    DATABASE_URL=... .venv/bin/python bench/performance_attribution.py --members 50000 --staff 1000 \\
        --orders 1000000 [--rounds 6 --n 300 --batch 2000] [--regen]

Data (brand `benchperf`, generated set-based once, `--regen` to rebuild): `--staff` staff in 50
stores, `--members` members each with a unionid, an owner (专属导购) and its assignment history,
two touches each over the last 60 days, and `--orders` historical orders over the last 365 days
(80 % by members) with their attribution rows (generated directly, as the ingest would have left
them), so the report reads a table of that size.

A/B in one run: the attribution rider (members/hooks.py) is switched off and on between rounds,
alternating which goes first, over the same data: `order_post` one order per call (`--n` per
round, 30 % store orders with a serving staff member, the rest online) and `orders_post_batch`
(`--batch` orders per call). The ratio on/off of the medians is the cost of attribution. Then the
month report (performance_report over the last 30 brand days, every store) is timed.
"""

# Generated SQL: table/column names from model meta and integers from the command line only.
# ruff: noqa: S608

import argparse
import datetime as dt
import os
import random
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import members_data as gen  # sets Django up
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.tenancy.models import Brand, Domain
from crm.tenancy.services import brand_provision
from members.demo_loyalty import seed_loyalty
from members.hooks import order_insert_rider_register, order_insert_rider_unregister
from members.models import Identity, Member, MemberAssignment, Order, Staff, Store
from members.scoping import StoreScope
from members.services.orders import OrderInput, order_post, orders_post_batch
from performance import rollups
from performance.attribution import RIDER_NAME, TOUCH_RIDER_NAME
from performance.models import Attribution, ReportExport, Touch
from performance.rollups import rollups_refresh
from performance.selectors import performance_report
from performance.services import report_export_run

SLUG = "benchperf"
STORES = 50


def generate(*, members: int, staff: int, orders: int) -> None:
    if Brand.objects.filter(schema_name=SLUG).exists():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{SLUG}" CASCADE')
        Domain.objects.filter(tenant__schema_name=SLUG).delete()
        Brand.objects.filter(schema_name=SLUG).delete()
    brand_provision(slug=SLUG, name="Performance bench", domain=f"{SLUG}.localhost", admin_email="b@bench.example")
    gen.storage_options_restore(SLUG)
    with schema_context(SLUG), gen.foreign_key_checks_off():
        seed_loyalty()
        step = gen.step
        step(
            "stores",
            gen.insert_select(
                Store, {"id": "g", "code": "'P' || g", "name": "'门店' || g"}, f"generate_series(1, {STORES}) g"
            ),
        )
        step(
            "staff",
            gen.insert_select(
                Staff,
                {"id": "g", "name": "'导购' || g", "store_id": f"1 + g % {STORES}"},
                f"generate_series(1, {staff}) g",
            ),
        )
        step(
            "members",
            gen.insert_select(
                Member,
                {
                    "id": "g",
                    "member_no": "'P' || lpad(g::text, 9, '0')",
                    "home_store_id": f"1 + (g % {staff}) % {STORES}",
                    "assigned_staff_id": f"1 + g % {staff}",
                    "enrolled_by_id": f"1 + g % {staff}",
                    "enrolled_at": "now() - (g % 400) * interval '1 day'",
                },
                f"generate_series(1, {members}) g",
            ),
        )
        step(
            "identities",
            gen.insert_select(
                Identity,
                {"member_id": "g", "kind": "'wechat_unionid'", "value": "'pu' || g"},
                f"generate_series(1, {members}) g",
            ),
        )
        step(
            "assignments",
            gen.insert_select(
                MemberAssignment,
                {
                    "member_id": "g",
                    "to_staff_id": f"1 + g % {staff}",
                    "reason": "'enrolment'",
                    "created_at": "now() - interval '400 days'",
                },
                f"generate_series(1, {members}) g",
            ),
        )
        step(
            "touches",
            gen.insert_select(
                Touch,
                {
                    "staff_id": f"1 + (g * 7) % {staff}",
                    "member_id": f"1 + g % {members}",
                    "kind": "(ARRAY['coupon','share_link','channel_qr','group_message'])[1 + g % 4]",
                    "touched_at": "now() - (g % 60) * interval '1 day' - (g % 1440) * interval '1 minute'",
                    "key": "'bench:' || g",
                },
                f"generate_series(1, {2 * members}) g",
            ),
        )
        with gen.indexes_deferred(Order._meta.db_table):
            step(
                "orders",
                gen.insert_select(
                    Order,
                    {
                        "id": "g",
                        "channel": "CASE WHEN g % 10 < 3 THEN 'store' ELSE 'tmall' END",
                        "order_no": "'H' || g",
                        "store_id": f"CASE WHEN g % 10 < 3 THEN 1 + g % {STORES} END",
                        "staff_id": f"CASE WHEN g % 10 < 3 THEN 1 + g % {staff} END",
                        "paid_at": "now() - ((g * 7919) % (365 * 24 * 60)) * interval '1 minute'",
                        "amount_fen": "1000 + (g * 104729) % 90000",
                        "member_id": f"CASE WHEN g % 5 <> 0 THEN 1 + (g * 2654435761) % {members} END",
                        "is_member_order": "g % 5 <> 0",
                    },
                    f"generate_series(1::bigint, {orders}) g",
                ),
            )
        with gen.indexes_deferred(Attribution._meta.db_table):
            step(
                "attributions",
                f"""
                INSERT INTO {Attribution._meta.db_table} (order_id, paid_at, member_id, staff_id, store_id, basis,
                    touch_kind, is_exclusive, rule_id, credited_fen, refunded_fen, created_at)
                SELECT o.id, o.paid_at, o.member_id, s.id, s.store_id,
                       CASE WHEN o.staff_id IS NOT NULL THEN 'serving' ELSE 'exclusive' END, '', o.staff_id IS NULL,
                       (SELECT max(id) FROM performance_attributionrule), o.amount_fen,
                       CASE WHEN o.id % 20 = 0 THEN o.amount_fen / 2 ELSE 0 END, o.paid_at
                FROM members_order o JOIN members_staff s ON s.id = COALESCE(o.staff_id, 1 + o.member_id % {staff})
                WHERE o.member_id IS NOT NULL OR o.staff_id IS NOT NULL""",
            )
        for table in ("members_store", "members_staff", "members_member", "members_order"):
            step(
                f"{table} id sequence", f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        step("analyze", "ANALYZE")


def backend_cpu_seconds() -> float:
    """CPU time of this connection's PostgreSQL backend (local server, /proc): with the process's own,
    what an order costs, which a loaded machine's wall-clock hides (bench/api_orders_cost.py)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + backend_cpu_seconds()


def _orders(rng: random.Random, count: int, *, members: int, staff: int, tag: str) -> list[OrderInput]:
    now = timezone.now()
    items = []
    for i in range(count):
        store = rng.random() < 0.3
        items.append(
            OrderInput(
                channel="store" if store else "tmall",
                order_no=f"{tag}-{i}",
                paid_at=now,
                amount_fen=rng.randint(1000, 90000),
                store_id=rng.randint(1, STORES) if store else None,
                staff_id=rng.randint(1, staff) if store else None,
                buyer_kind="wechat_unionid",
                buyer_value=f"pu{rng.randint(1, members)}",
            )
        )
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--staff", type=int, default=1_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--n", type=int, default=300, help="single orders per round and mode")
    parser.add_argument("--batch", type=int, default=2_000, help="orders per batch call")
    parser.add_argument("--regen", action="store_true")
    parser.add_argument("--report-only", action="store_true", help="skip the A/B, time the reports")
    parser.add_argument("--ab-only", action="store_true", help="the A/B only, no report")
    parser.add_argument("--no-refresh", action="store_true", help="time the reports on the rollups as they are")
    parser.add_argument("--no-export", action="store_true", help="skip the year export")
    parser.add_argument(
        "--previous", action="store_true", help="a third mode: the decision function of migration 0003 (prev)"
    )
    args = parser.parse_args()
    if args.regen or not Brand.objects.filter(schema_name=SLUG).exists():
        generate(members=args.members, staff=args.staff, orders=args.orders)
    rng = random.Random(7)
    riders = {RIDER_NAME: None, TOUCH_RIDER_NAME: None}
    modes = ["off", "on"] + (["prev"] if args.previous else [])

    def switch(mode: str) -> None:
        from performance.attribution import ATTRIBUTION_RIDER_SQL, FUNCTION_NAME, SERVED_TOUCH_RIDER_SQL

        for name in riders:
            order_insert_rider_unregister(name=name)
        if mode == "on":
            order_insert_rider_register(name=RIDER_NAME, sql=ATTRIBUTION_RIDER_SQL)
        elif mode == "prev":  # the decision as migration 0003 left it, under another name
            order_insert_rider_register(
                name=RIDER_NAME, sql=ATTRIBUTION_RIDER_SQL.replace(f"{FUNCTION_NAME}(", f"{FUNCTION_NAME}_prev(")
            )
        if mode != "off":
            order_insert_rider_register(name=TOUCH_RIDER_NAME, sql=SERVED_TOUCH_RIDER_SQL)

    single: dict[str, list[float]] = {m: [] for m in modes}
    batch: dict[str, list[float]] = {m: [] for m in modes}
    single_cpu: dict[str, list[float]] = {m: [] for m in modes}
    batch_cpu: dict[str, list[float]] = {m: [] for m in modes}
    with schema_context(SLUG):
        if args.previous:
            import importlib

            from performance.attribution import FUNCTION_NAME

            previous = importlib.import_module("performance.migrations.0003_decide_function").FUNCTION_SQL
            with connection.cursor() as cursor:
                cursor.execute(previous.replace(f"FUNCTION {FUNCTION_NAME}(", f"FUNCTION {FUNCTION_NAME}_prev(", 1))
        counts = {m: m.objects.count() for m in (Order, Attribution, Staff)}
        print(f"data: {counts[Order]:,} orders, {counts[Attribution]:,} attributions, {counts[Staff]:,} staff")
        for _ in range(0 if args.report_only else 3):  # warm up every mode
            for mode in modes:
                switch(mode)
                for item in _orders(rng, 20, members=args.members, staff=args.staff, tag=f"w{uuid.uuid4().hex[:8]}"):
                    order_post(
                        channel=item.channel,
                        order_no=item.order_no,
                        paid_at=item.paid_at,
                        amount_fen=item.amount_fen,
                        buyer_kind=item.buyer_kind,
                        buyer_value=item.buyer_value,
                        store=Store(pk=item.store_id) if item.store_id else None,
                        staff=Staff(pk=item.staff_id) if item.staff_id else None,
                        actor="bench",
                    )
        for r in range(0 if args.report_only else args.rounds):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                switch(mode)
                items = _orders(rng, args.n, members=args.members, staff=args.staff, tag=f"s{uuid.uuid4().hex[:8]}")
                start, cpu = time.perf_counter(), cpu_seconds()
                for item in items:
                    order_post(
                        channel=item.channel,
                        order_no=item.order_no,
                        paid_at=item.paid_at,
                        amount_fen=item.amount_fen,
                        buyer_kind=item.buyer_kind,
                        buyer_value=item.buyer_value,
                        store=Store(pk=item.store_id) if item.store_id else None,
                        staff=Staff(pk=item.staff_id) if item.staff_id else None,
                        actor="bench",
                    )
                single[mode].append((time.perf_counter() - start) / args.n * 1000)
                single_cpu[mode].append((cpu_seconds() - cpu) / args.n * 1000)
                items = _orders(rng, args.batch, members=args.members, staff=args.staff, tag=f"b{uuid.uuid4().hex[:8]}")
                start, cpu = time.perf_counter(), cpu_seconds()
                orders_post_batch(orders=items, actor="bench")
                batch[mode].append((time.perf_counter() - start) / args.batch * 1000)
                batch_cpu[mode].append((cpu_seconds() - cpu) / args.batch * 1000)
        switch("on")
        for label, figures in (
            ()
            if args.report_only
            else (
                ("order_post, wall ms per order", single),
                ("order_post, CPU ms per order (python + postgres)", single_cpu),
                (f"orders_post_batch ({args.batch}), wall ms per order", batch),
                (f"orders_post_batch ({args.batch}), CPU ms per order", batch_cpu),
            )
        ):
            med = {m: statistics.median(figures[m]) for m in modes}
            print(
                f"{label:<52} "
                + "  ".join(f"{m} {med[m]:7.3f}" for m in modes)
                + "  "
                + "  ".join(f"{m}/off {med[m] / med['off']:5.3f}" for m in modes if m != "off")
                + f"  (rounds { ({m: [round(x, 3) for x in figures[m]] for m in modes}) })",
                flush=True,
            )
        if args.ab_only:
            return
        today = timezone.localdate()
        month_end = today.replace(day=1) - dt.timedelta(days=1)
        month_start = month_end.replace(day=1)
        week_end = today - dt.timedelta(days=today.isoweekday())  # last Sunday
        week_start = week_end - dt.timedelta(days=6)
        all_stores, one_store = StoreScope(all_stores=True), StoreScope(all_stores=False, store_id=1)
        if not args.no_refresh:
            start = time.perf_counter()
            result = rollups_refresh()
            print(
                f"rollups refresh {result.first}..{result.through}: {result.day_rows:,} day rows, "
                f"{result.served_rows:,} served rows, {time.perf_counter() - start:.1f} s",
                flush=True,
            )

        def floor() -> float:
            """The same-run floor: one index-only pass counting the month's attributions (raw SQL)."""
            since, until = rollups.bounds(month_start, month_end)
            start = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FROM {Attribution._meta.db_table} WHERE paid_at >= %s AND paid_at < %s",
                    [since, until],
                )
                cursor.fetchone()
            return time.perf_counter() - start

        cases = [
            ("last month, all stores", all_stores, month_start, month_end),
            ("last month, one store (store manager)", one_store, month_start, month_end),
            ("last week Mon-Sun, all stores", all_stores, week_start, week_end),
            ("last 30 days incl. today, all stores", all_stores, today - dt.timedelta(days=29), today),
        ]
        floors = []
        for label, scope, first, last in cases:
            times = []
            for _ in range(5):
                floors.append(floor())
                start = time.perf_counter()
                rows = performance_report(scope=scope, start=first, end=last)
                times.append(time.perf_counter() - start)
            print(
                f"report {label:<40} {len(rows):5} rows  best {min(times) * 1000:6.0f} ms  "
                f"median {statistics.median(times) * 1000:6.0f} ms",
                flush=True,
            )
        print(
            "floor: count(*) of last month's attributions (raw SQL, index-only): "
            f"median {statistics.median(floors) * 1000:.0f} ms"
        )
        if args.no_export:
            return
        # A year as the background export builds it (the task's service, in this process).
        export = ReportExport.objects.create(
            requested_by="bench", all_stores=True, start=today - dt.timedelta(days=364), end=today, months_total=13
        )
        start = time.perf_counter()
        report_export_run(export_id=export.pk)
        export.refresh_from_db()
        print(f"year export (365 days, all stores): {export.rows} rows, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
