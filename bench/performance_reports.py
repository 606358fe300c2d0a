"""Staff performance reports at 1,000 staff / 10M orders (issue 29), on the brand `benchreports`
of bench/reports_data.py (generate it once):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hb_rep .venv/bin/python bench/performance_reports.py \\
        [--rebuild] [--repeat 5] [--no-export]

1. `rollups_refresh()`: the first build of a year (`--rebuild`, or when the rollups are empty),
   then the nightly build (the new day and the last two again).
2. `performance_report` for: last month (all stores; one store, a store manager's), last week
   Mon–Sun, 30 days across two months (ragged, wholly rolled up), the last 30 days up to today
   (today read raw), each `--repeat` times: median wall time, and CPU time of this process and
   of its PostgreSQL backend (/proc: machine-independent); against the floor measured in the
   same run — one index-only count of last month's attributions (raw SQL), and the same report
   read wholly raw (the rollups put aside, what the report was before them).
3. An order paid 60 days ago arriving now: the reports over its day count it at once.
4. A year as the background export builds it (the task's service in this process: 365 days up to
   yesterday, one row per month × staff × store) — wall time and rows.
"""

# ruff: noqa: S608

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import members_data  # noqa: F401 - sets Django up
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from bench.inprocess import backend_cpu_seconds
from members.models import Order, Staff, Store
from members.scoping import StoreScope
from members.services.orders import order_post
from performance import rollups
from performance.models import Attribution, ReportExport, RollupState
from performance.selectors import performance_report
from performance.services import report_export_run

SLUG = "benchreports"


def process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def measure(fn: Callable[[], object], repeat: int) -> tuple[float, float, float, object]:
    """(median wall s, median process CPU s, median PostgreSQL backend CPU s, last result)."""
    walls, cpus, pgs, result = [], [], [], None
    for _ in range(repeat):
        wall, cpu, pg = time.perf_counter(), process_cpu(), backend_cpu_seconds()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(process_cpu() - cpu)
        pgs.append(backend_cpu_seconds() - pg)
    return statistics.median(walls), statistics.median(cpus), statistics.median(pgs), result


def line(label: str, figures: tuple[float, float, float, object], floor: float | None = None) -> None:
    wall, cpu, pg, result = figures
    rows = f"{len(result):6,} rows" if isinstance(result, list) else " " * 11
    ratio = f"  {wall / floor:5.1f}× floor" if floor else ""
    print(
        f"  {label:<52} {rows}  wall {wall * 1000:7.0f} ms  CPU python {cpu * 1000:6.0f} ms + postgres "
        f"{pg * 1000:6.0f} ms{ratio}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rebuild", action="store_true", help="build the rollups from the first order")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    with schema_context(SLUG):
        with connection.cursor() as cursor:
            # One backend does all the work, so its CPU time (/proc) is the whole cost (parallel
            # workers would be other processes); on 2 cores that is also the fair measure.
            cursor.execute("SET max_parallel_workers_per_gather = 0")
        counts = {m.__name__: m.objects.count() for m in (Order, Attribution, Staff, Store)}
        print("data:", ", ".join(f"{n:,} {name}" for name, n in counts.items()))
        if args.rebuild or rollups.rollups_through() is None:
            RollupState.objects.update(through=None, refreshed_at=None)
            line("rollups: first build (every day from the first order)", measure(rollups.rollups_refresh, 1))
        yesterday = rollups.last_closed_day(timezone.now())
        RollupState.objects.update(through=yesterday - dt.timedelta(days=1))
        line("rollups: nightly build (a new day, the last two again)", measure(rollups.rollups_refresh, 1))
        today = timezone.localdate()
        month_end = today.replace(day=1) - dt.timedelta(days=1)
        month_start = month_end.replace(day=1)
        week_end = today - dt.timedelta(days=today.isoweekday())
        all_stores = StoreScope(all_stores=True)
        one_store = StoreScope(all_stores=False, store_id=Store.objects.order_by("pk").values_list("pk", flat=True)[0])

        def floor() -> int:
            since, until = rollups.bounds(month_start, month_end)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FROM {Attribution._meta.db_table} WHERE paid_at >= %s AND paid_at < %s",
                    [since, until],
                )
                return cursor.fetchone()[0]

        floor_figures = measure(floor, args.repeat)
        line("floor: count(*) of last month's attributions (raw SQL)", floor_figures)
        cases = [
            ("last month, all stores", all_stores, month_start, month_end),
            ("last month, one store (store manager)", one_store, month_start, month_end),
            ("last week Mon-Sun, all stores", all_stores, week_end - dt.timedelta(days=6), week_end),
            (
                "30 days across two months, all stores",
                all_stores,
                month_start + dt.timedelta(days=14),
                month_start + dt.timedelta(days=43),
            ),
            ("last 30 days incl. today, all stores", all_stores, today - dt.timedelta(days=29), today),
        ]
        results = {}
        for label, scope, first, last in cases:
            figures = measure(lambda s=scope, f=first, e=last: performance_report(scope=s, start=f, end=e), args.repeat)
            results[label] = figures[3]
            line(f"report {label}", figures, floor_figures[0])
        state = RollupState.objects.get()
        RollupState.objects.update(through=None)
        try:
            for label, scope, first, last in cases[:1] + cases[3:4]:
                figures = measure(lambda s=scope, f=first, e=last: performance_report(scope=s, start=f, end=e), 1)
                same = sorted(map(astuple, figures[3])) == sorted(map(astuple, results[label]))
                line(f"raw tables: {label} (same figures: {same})", figures, floor_figures[0])
        finally:
            RollupState.objects.update(through=state.through)
        paid = timezone.now() - dt.timedelta(days=60)
        staff = Staff.objects.order_by("pk").first()
        first, last = paid.date() - dt.timedelta(days=3), paid.date() + dt.timedelta(days=3)
        before = performance_report(scope=all_stores, start=first, end=last, staff_id=staff.pk)
        order_post(
            channel="store",
            order_no=f"LATE-{time.time_ns()}",
            paid_at=paid,
            amount_fen=12_300,
            buyer_kind="wechat_unionid",
            buyer_value="bu7",
            store=staff.store,
            staff=staff,
            actor="bench",
        )
        after = performance_report(scope=all_stores, start=first, end=last, staff_id=staff.pk)
        moved = sum(f.orders for f in after) - sum(f.orders for f in before)
        print(f"  an order paid 60 days ago, arriving now: counted at once: {moved == 1}")
        if args.no_export:
            return
        export = ReportExport.objects.create(
            requested_by="bench",
            all_stores=True,
            start=yesterday - dt.timedelta(days=364),
            end=yesterday,
            months_total=13,
        )
        line("year export (365 days, all stores, XLSX)", measure(lambda: report_export_run(export_id=export.pk), 1))
        export.refresh_from_db()
        print(f"  export: {export.rows:,} rows, status {export.status}, {len(export.content):,} bytes")


if __name__ == "__main__":
    main()
