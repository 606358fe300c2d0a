"""Benchmark: what staff-performance attribution adds to order ingest, and the month report.

    DATABASE_URL=... .venv/bin/python bench/performance_attribution.py --members 50000 --staff 1000 \\
        --orders 1000000 --n 100 --batch 1000 --ab-only [--rounds 30] [--parts] [--previous] [--regen]
    DATABASE_URL=... .venv/bin/python bench/performance_attribution.py --lead [--previous]   # the lead's A/B

Data (brand `benchperf`, generated set-based once, `--regen` to rebuild): `--staff` staff in 50
stores, `--members` members each with a unionid, an owner (专属导购) and its assignment history,
two touches each over the last 60 days, and `--orders` historical orders over the last 365 days
(80 % by members) with their attribution rows (generated directly, as the ingest would have left
them), so the report reads a table of that size.

A/B in one run, built for a shared, loaded machine: the attribution riders (members/hooks.py) are
switched off and on in `--rounds` short paired rounds (each round runs every mode back to back, the
order rotating: AB BA AB ...): `order_post` one order per call (`--n` per round and mode, 30 % store
orders with a serving staff member, the rest online) and one `orders_post_batch` of `--batch`.
Per round and mode: wall time, CPU time of this process and of its PostgreSQL backend (the backend's
own getrusage() to the microsecond, through log_statement_stats: needs a superuser), shared-buffer
accesses (pg_stat_database of the bench's own database, autovacuum paused on the bench schema
meanwhile) and statements. The figure is the ratio on/off within each round: its median over the
rounds, their interquartile range and a bootstrap 95 % interval of the median. Buffers and
statements do not depend on the load; CPU time does a little (shared caches), wall time a lot.
`--parts` adds the two riders alone (attr, touch); `--main` the riders as session 19 left them
(main: the owner at payment time read from the assignment history, by performance 0013's and
0014's functions; `on` takes it from the member row the ingest locked, performance 0015). `--lead`
is the lead's A/B: 150 short rounds (20 single orders and one batch of 1,000 per mode), intervals
of ±1–2.5 % in 3–4 minutes. Then the month report (performance_report over the last 30 brand days,
every store) is timed, unless `--ab-only`. DEBUG is off, as in production.
"""

# Generated SQL: table/column names from model meta and integers from the command line only.
# ruff: noqa: S608

import argparse
import contextlib
import datetime as dt
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Before Django is set up (members_data does it): DEBUG records every query and renders its SQL with
# its parameters, Python work production does not do — it inflated the single-order floor by ~1 ms.
os.environ["DEBUG"] = "false"

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
        gen.owner_changes_fill()
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
    with connection.cursor() as cursor:  # outside a transaction: no autovacuum pass during the A/B
        cursor.execute(f'SET search_path = "{SLUG}"')
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("RESET search_path")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


_USAGE = re.compile(r"\[([0-9.]+) s user, ([0-9.]+) s system total\]")


class BackendClock:
    """CPU time of this connection's PostgreSQL backend, to the microsecond: with log_statement_stats
    on, a statement's end reports the backend's getrusage() totals as a LOG message, sent to the
    client (client_min_messages) and kept out of the server log (log_min_messages). /proc's ticks
    (10 ms) were as large as a round's differences."""

    def __init__(self) -> None:
        connection.ensure_connection()
        self.total: float | None = None
        connection.connection.add_notice_handler(self._notice)
        with connection.cursor() as cursor:
            cursor.execute("SET client_min_messages = log")
            cursor.execute("SET log_min_messages = fatal")

    def _notice(self, diag: Any) -> None:
        found = _USAGE.search(diag.message_detail or "")
        if found:
            self.total = float(found[1]) + float(found[2])

    def seconds(self) -> float:
        self.total = None
        with connection.cursor() as cursor:
            cursor.execute("SET log_statement_stats = on")
            cursor.execute("RESET log_statement_stats")  # starts with the setting on: reports at its end
        if self.total is None:
            raise RuntimeError("no usage report from the backend (log_statement_stats needs a superuser)")
        return self.total


_clock: BackendClock | None = None


def backend_seconds() -> float:
    """The CPU time of this connection's PostgreSQL backend (the local server)."""
    global _clock
    if _clock is None:
        _clock = BackendClock()
    return _clock.seconds()


def shared_blocks() -> int:
    """Shared-buffer accesses (hits + reads) of this database so far, this backend's included: the
    first statement makes the backend flush its pending statistics when it goes idle (PG 15), the
    second reads them. Only this benchmark connects to its database, so between two calls the
    difference is this connection's work (and an autovacuum worker's, if one ran: the median of
    the rounds drops it). It does not depend on the machine's load."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = current_database()")
        (blocks,) = cursor.fetchone()
    return int(blocks)


MEASURES = ("wall ms", "CPU ms", "pg CPU ms", "buffers", "statements")


class Meter:
    """Wall time, CPU time (this process + its PostgreSQL backend), shared-buffer accesses and
    statements of what runs inside the block."""

    def __enter__(self) -> "Meter":
        self.statements = 0
        self._wrapper = connection.execute_wrapper(self._count)
        self.blocks = shared_blocks()
        self._wrapper.__enter__()
        self.wall, self.python, self.backend = time.perf_counter(), time.process_time(), backend_seconds()
        return self

    def _count(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc: Any) -> None:
        self.backend = backend_seconds() - self.backend
        self.python = time.process_time() - self.python
        self.wall = time.perf_counter() - self.wall
        self._wrapper.__exit__(*exc)
        self.blocks = shared_blocks() - self.blocks

    def add_to(self, figures: dict[str, list[float]], orders: int) -> None:
        figures["wall ms"].append(self.wall / orders * 1000)
        figures["CPU ms"].append((self.python + self.backend) / orders * 1000)
        figures["pg CPU ms"].append(self.backend / orders * 1000)
        figures["buffers"].append(self.blocks / orders)
        figures["statements"].append(self.statements / orders)


@contextlib.contextmanager
def autovacuum_paused() -> Iterator[None]:
    """The A/B starts from a vacuumed, analysed schema and no autovacuum worker runs in it meanwhile:
    a worker's buffer accesses would land in one round's count (pg_stat_database is per database),
    and an ANALYZE of a table would make both plans (the order insert's, the decision's) re-plan."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [SLUG])
        tables = [f'"{SLUG}"."{name}"' for (name,) in cursor.fetchall()]
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")


def _post_singles(items: list[OrderInput]) -> None:
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


def _quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def _report(label: str, figures: dict[str, dict[str, list[float]]], modes: list[str]) -> None:
    """Per measure: the median per order of each mode, and for each mode against `off` the median
    of the per-round ratios with their interquartile range and a bootstrap 95 % interval of that
    median (rounds resampled, fixed seed)."""
    boot = random.Random(29)
    print(label)
    for measure in MEASURES:
        line = f"  {measure:<11}" + "".join(f" {m} {statistics.median(figures[m][measure]):8.3f}" for m in modes)
        for mode in modes[1:]:
            ratios = [a / b for a, b in zip(figures[mode][measure], figures["off"][measure], strict=True) if b]
            if len(ratios) < 2:
                continue
            q1, q3 = _quartiles(ratios)
            medians = sorted(statistics.median(boot.choices(ratios, k=len(ratios))) for _ in range(2000))
            line += (
                f"  {mode}/off {statistics.median(ratios):.3f} (IQR {q1:.3f}–{q3:.3f}, "
                f"95 % CI {medians[50]:.3f}–{medians[1949]:.3f})"
            )
        print(line, flush=True)


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
    parser.add_argument("--rounds", type=int, default=30, help="paired rounds (every mode once in each)")
    parser.add_argument("--n", type=int, default=100, help="single orders per round and mode")
    parser.add_argument(
        "--lead",
        action="store_true",
        help="the lead's A/B: --ab-only --rounds 150 --n 20 --batch 1000 (short rounds, many of them: a tight "
        "interval in under 10 minutes on the idle machine)",
    )
    parser.add_argument("--batch", type=int, default=1_000, help="orders per batch call")
    parser.add_argument("--regen", action="store_true")
    parser.add_argument("--report-only", action="store_true", help="skip the A/B, time the reports")
    parser.add_argument("--ab-only", action="store_true", help="the A/B only, no report")
    parser.add_argument("--no-refresh", action="store_true", help="time the reports on the rollups as they are")
    parser.add_argument("--no-export", action="store_true", help="skip the year export")
    parser.add_argument(
        "--previous",
        action="store_true",
        help="a third mode: the decision function before session 17, migration 0011 (prev)",
    )
    parser.add_argument(
        "--main",
        action="store_true",
        help="a third mode: the riders as session 19 left them (main: the owner at payment time read from the "
        "assignment history; one order by performance_decide_one, migration 0014, a batch by performance_decide, 0013)",
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="two more modes: the attribution rider alone (attr), the served touch alone",
    )
    args = parser.parse_args()
    if args.lead:
        args.ab_only, args.rounds, args.n, args.batch = True, 150, 20, 1_000
    started = time.perf_counter()
    if args.regen or not Brand.objects.filter(schema_name=SLUG).exists():
        generate(members=args.members, staff=args.staff, orders=args.orders)
    rng = random.Random(7)
    riders = {RIDER_NAME: None, TOUCH_RIDER_NAME: None}
    modes = (
        ["off", "on"]
        + (["main"] if args.main else [])
        + (["prev"] if args.previous else [])
        + (["attr", "touch"] if args.parts else [])
    )

    def switch(mode: str) -> None:
        from performance.attribution import (
            _ATTRIBUTION_INSERT,
            _INPUT,
            ATTRIBUTION_RIDER_ONE_SQL,
            ATTRIBUTION_RIDER_PREVIOUS_SQL,
            ATTRIBUTION_RIDER_SQL,
            FUNCTION_NAME,
            ONE_FUNCTION_NAME,
            PREVIOUS_FUNCTION_NAME,
            PREVIOUS_ONE_FUNCTION_NAME,
            SERVED_TOUCH_RIDER_ONLY_WITH,
            SERVED_TOUCH_RIDER_SQL,
        )

        for name in riders:
            order_insert_rider_unregister(name=name)
        if mode in ("on", "attr"):
            order_insert_rider_register(
                name=RIDER_NAME,
                sql=ATTRIBUTION_RIDER_SQL,
                one_order_sql=ATTRIBUTION_RIDER_ONE_SQL,
                reads_owners=True,
                needs=(FUNCTION_NAME, ONE_FUNCTION_NAME),
                previous_sql=ATTRIBUTION_RIDER_PREVIOUS_SQL,
            )
        elif mode == "prev":  # the decision as migration 0011 left it, under another name
            order_insert_rider_register(
                name=RIDER_NAME,
                sql=ATTRIBUTION_RIDER_PREVIOUS_SQL.replace(
                    f"{PREVIOUS_FUNCTION_NAME}(", f"{PREVIOUS_FUNCTION_NAME}_prev("
                ),
            )
        elif mode == "main":  # as session 19 left them: the owner from the history (0013's and 0014's functions)
            order_insert_rider_register(
                name=RIDER_NAME,
                sql=ATTRIBUTION_RIDER_PREVIOUS_SQL,
                one_order_sql=f"""{_ATTRIBUTION_INSERT}
FROM o CROSS JOIN LATERAL {PREVIOUS_ONE_FUNCTION_NAME}({", ".join(f"o.{name}" for name, _ in _INPUT)}) d
WHERE d.own_staff_id IS NOT NULL OR d.staff_id IS NOT NULL""",
            )
        if mode in ("on", "prev", "main", "touch"):
            order_insert_rider_register(
                name=TOUCH_RIDER_NAME, sql=SERVED_TOUCH_RIDER_SQL, only_with=SERVED_TOUCH_RIDER_ONLY_WITH
            )

    with schema_context(SLUG):
        import importlib

        from performance.attribution import PREVIOUS_FUNCTION_NAME

        if args.previous:  # the decision function as migration 0011 left it, as performance_decide_prev
            text = importlib.import_module("performance.migrations.0011_lighter_ingest_writes").FUNCTION_SQL
            with connection.cursor() as cursor:
                cursor.execute(
                    text.replace(f"FUNCTION {PREVIOUS_FUNCTION_NAME}(", f"FUNCTION {PREVIOUS_FUNCTION_NAME}_prev(", 1)
                )
        counts = {m: m.objects.count() for m in (Order, Attribution, Staff)}
        print(f"data: {counts[Order]:,} orders, {counts[Attribution]:,} attributions, {counts[Staff]:,} staff")
        print(f"load average before: {_load()}", flush=True)
        paused = contextlib.ExitStack()
        if not args.report_only:
            paused.enter_context(autovacuum_paused())
        for _ in range(0 if args.report_only else 3):  # warm up every mode (and psycopg's prepared statements)
            for mode in modes:
                switch(mode)
                _post_singles(_orders(rng, 20, members=args.members, staff=args.staff, tag=f"w{uuid.uuid4().hex[:8]}"))
                orders_post_batch(
                    orders=_orders(rng, 50, members=args.members, staff=args.staff, tag=f"v{uuid.uuid4().hex[:8]}"),
                    actor="bench",
                )
        # Paired rounds: in each, every mode runs once, back to back (the order rotates), so the modes
        # of a round share the machine's state of that moment; the figure is the ratio within rounds.
        got: dict[str, dict[str, dict[str, list[float]]]] = {
            path: {m: {k: [] for k in MEASURES} for m in modes} for path in ("single", "batch")
        }
        for r in range(0 if args.report_only else args.rounds):
            for mode in modes[r % len(modes) :] + modes[: r % len(modes)]:
                switch(mode)
                items = _orders(rng, args.n, members=args.members, staff=args.staff, tag=f"s{uuid.uuid4().hex[:8]}")
                with Meter() as meter:
                    _post_singles(items)
                meter.add_to(got["single"][mode], args.n)
                items = _orders(rng, args.batch, members=args.members, staff=args.staff, tag=f"b{uuid.uuid4().hex[:8]}")
                with Meter() as meter:
                    orders_post_batch(orders=items, actor="bench")
                meter.add_to(got["batch"][mode], args.batch)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%%INSERT INTO members_order%%'"
            )
            plans = cursor.fetchall()
        paused.close()  # an ALTER TABLE: psycopg forgets its prepared statements
        switch("on")
        if not args.report_only:
            print(
                f"{args.rounds} paired rounds; per mode and round {args.n} single orders (order_post) and one "
                f"orders_post_batch of {args.batch}; load average after: {_load()}"
            )
            _report("order_post", got["single"], modes)
            _report(f"orders_post_batch ({args.batch})", got["batch"], modes)
            print(f"prepared order inserts (generic, custom plans): {plans}")
            print(f"A/B took {time.perf_counter() - started:.0f} s")
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
