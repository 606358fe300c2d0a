"""One brand for the dashboard (issue 24) and staff performance reports (issue 29): both read the
same large data, so they are measured on the same brand `benchreports`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hb_rep .venv/bin/python bench/reports_data.py \\
        [--members 1000000] [--orders 10000000] [--stores 100] [--staff-per-store 10] [--days 395]

bench/members_data.py's generator (set-based, indexes built after the load) with: 100 stores of
10 staff (1,000), 1M members (member numbers M…, 7 in 10 with an exclusive staff member, enrolled
by a staff member of their home store), 10M orders over ~13 months, store orders by members too
and served by a staff member of the store, the members' bonus entries spread over the same
months; then what staff performance adds: each owner's assignment, two touches per member over
the months, and each order's attribution as the ingest would have decided it (serving staff for
store orders, else the exclusive staff member). Rollups and dashboard aggregates are left to the
benchmarks (bench/dashboard_page.py, bench/performance_reports.py), which time them.
"""

# Generated SQL: table/column names from model meta and integers from the command line only.
# ruff: noqa: S608

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import members_data as gen  # sets Django up
from django.db import connection

from members.models import MemberAssignment
from performance.models import Attribution, Touch

SLUG = "benchreports"


def performance_tables(*, members: int, days: int) -> None:
    step = gen.step
    step(
        "assignments (each owner since enrolment)",
        gen.insert_select(
            MemberAssignment,
            {
                "member_id": "m.id",
                "to_staff_id": "m.assigned_staff_id",
                "reason": "'enrolment'",
                "created_at": "m.enrolled_at",
                "updated_at": "m.enrolled_at",
            },
            "members_member m WHERE m.assigned_staff_id IS NOT NULL",
        ),
    )
    gen.owner_changes_fill()
    with gen.indexes_deferred(Touch._meta.db_table):
        step(
            "touches (two per member)",
            gen.insert_select(
                Touch,
                {
                    "staff_id": "(SELECT min(id) FROM members_staff) + (g * 7) % (SELECT count(*) FROM members_staff)",
                    "member_id": f"1 + g % {members}",
                    "kind": "(ARRAY['coupon','share_link','channel_qr','group_message'])[1 + g % 4]",
                    "touched_at": f"now() - (g % {days}) * interval '1 day' - (g % 1440) * interval '1 minute'",
                    "key": "'bench:' || g",
                    # recorded when they happened (a late touch is the exception: performance/rollups.py)
                    "created_at": f"now() - (g % {days}) * interval '1 day' - (g % 1440) * interval '1 minute'",
                },
                f"generate_series(1::bigint, {2 * members}) g",
            ),
        )
    with gen.indexes_deferred(Attribution._meta.db_table):
        step("work_mem", "SET work_mem = '256MB'")
        step(
            "attributions (serving staff, else the exclusive one)",
            f"""
            INSERT INTO {Attribution._meta.db_table} (order_id, paid_at, member_id, staff_id, store_id, basis,
                touch_kind, is_exclusive, rule_id, credited_fen, refunded_fen, created_at)
            SELECT o.id, o.paid_at, o.member_id, s.id, s.store_id,
                   CASE WHEN o.staff_id IS NOT NULL THEN 'serving' WHEN s.id IS NOT NULL THEN 'exclusive' ELSE '' END,
                   '', o.staff_id IS NULL AND s.id IS NOT NULL,
                   (SELECT max(id) FROM performance_attributionrule),
                   CASE WHEN s.id IS NOT NULL THEN o.amount_fen ELSE 0 END,
                   CASE WHEN s.id IS NOT NULL AND o.id % 20 = 0 THEN o.amount_fen / 2 ELSE 0 END, o.paid_at
            FROM members_order o LEFT JOIN members_member m ON m.id = o.member_id
            LEFT JOIN members_staff s ON s.id = COALESCE(o.staff_id, m.assigned_staff_id)""",
        )
    step("vacuum (analyze) performance", f"VACUUM (ANALYZE) {Attribution._meta.db_table}, {Touch._meta.db_table}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--stores", type=int, default=100)
    parser.add_argument("--staff-per-store", type=int, default=10)
    parser.add_argument("--days", type=int, default=395)
    args = parser.parse_args()
    start = time.perf_counter()
    staff_of_store = (
        f"(SELECT min(id) FROM members_staff) + (g % {args.staff_per_store}) * {args.stores} + g % {args.stores}"
    )
    gen.generate(
        args.members,
        args.orders,
        "M",
        slug=SLUG,
        stores=args.stores,
        staff_per_store=args.staff_per_store,
        order_days=args.days,
        store_orders_by_members=True,
        ledger_spread_days=args.days,
        member_extra={"enrolled_by_id": staff_of_store, "enrolled_at": f"now() - (g % {args.days}) * interval '1 day'"},
        extra=lambda: performance_tables(members=args.members, days=args.days),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"database size {cursor.fetchone()[0]}; all in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
