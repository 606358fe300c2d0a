"""Data generator for the members/loyalty benchmarks: one brand (`benchloyalty`) with N members,
M orders, one points lot per member (a share of them due to expire) and tiers due for
re-evaluation — all generated set-based with generate_series, no Python loop per row.

    DATABASE_URL=... .venv/bin/python bench/members_data.py --members 1000000 --orders 10000000

Re-running drops and re-creates the brand's schema (ledger rows cannot be deleted otherwise).
"""

# Generated SQL: table/column names from model meta and integers from the command line only.
# ruff: noqa: S608

import argparse
import contextlib
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import NOT_PROVIDED  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.tenancy.models import Brand, Domain  # noqa: E402
from crm.tenancy.services import brand_provision  # noqa: E402
from members.demo_loyalty import seed_loyalty  # noqa: E402
from members.models import (  # noqa: E402
    CaptureRateDaily,
    Identity,
    Member,
    Order,
    PointsEntry,
    PointsLot,
    Staff,
    Store,
)

SLUG = "benchloyalty"
STORES = 200
CHANNELS = ["store", "mini_program", "tmall", "jd", "douyin"]


def insert_select(model: type, exprs: dict[str, str], source: str) -> str:
    """INSERT ... SELECT for `model`, with `exprs` for the columns we care about and each other
    column's model default (or NULL) — so other engineers' new fields do not break the generator."""
    cols, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in exprs:
            continue
        cols.append(field.column)
        if field.column in exprs:
            values.append(exprs[field.column])
        elif field.null:
            values.append("NULL")
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values.append("now()")
        elif field.default is not NOT_PROVIDED:
            default = field.get_default()
            if isinstance(default, bool):
                values.append("true" if default else "false")
            elif isinstance(default, int):
                values.append(str(default))
            elif isinstance(default, list):
                values.append("'{}'")
            elif isinstance(default, dict):
                values.append("'{}'::jsonb")
            elif hasattr(default, "isoformat"):
                values.append("now()")
            else:
                values.append("'" + str(default).replace("'", "''") + "'")
        else:
            values.append("''")
    return f"INSERT INTO {model._meta.db_table} ({', '.join(cols)}) SELECT {', '.join(values)} FROM {source}"


def storage_options_restore(schema: str) -> None:
    """Give a freshly provisioned brand's tables the storage parameters its migrations set (e.g.
    members_member fillfactor 80 for HOT balance updates). Provisioning clones the template schema
    with CREATE TABLE ... LIKE ... INCLUDING ALL, which copies indexes and constraints but not
    reloptions; without this the benchmark would measure a table the migrations did not ask for."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, array_to_string(c.reloptions, ', ') FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND c.relkind = 'r' AND c.reloptions IS NOT NULL""",
            [settings.TENANT_BASE_SCHEMA],
        )
        for table, options in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{schema}"."{table}" SET ({options})')


@contextlib.contextmanager
def indexes_deferred(table: str) -> Iterator[None]:
    """Bulk-load `table` without its secondary indexes and unique constraints, then build each in
    one sorted pass (several times cheaper than millions of single-row index inserts); re-adding
    a unique constraint still verifies it over the loaded rows. The primary key stays."""
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")  # sorts of the index builds in memory
        cursor.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = current_schema() AND i.tablename = %s
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid = %s::regclass AND contype = 'u'""",
            [table],
        )
        uniques = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for name, _ in uniques:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield
    for name, definition in indexes:
        step(f"  index {name}", definition)
    for name, definition in uniques:
        step(f"  unique {name}", f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


@contextlib.contextmanager
def foreign_key_checks_off() -> Iterator[None]:
    """Load without queueing a foreign-key check per inserted row (Django's constraints are
    DEFERRABLE INITIALLY DEFERRED, so 10M orders queue 20M checks run at COMMIT). Every key the
    generator writes points at a row it writes in the same run, by construction; `replica` mode
    skips the RI triggers for this session only (the bench connects as a superuser)."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")


def owner_changes_fill() -> None:
    """members_member.owner_changed_at / _to for the assignment history just loaded: the trigger
    that keeps them (members 0021) does not fire in `replica` mode, and the brand's backfill
    (0022) ran before the data was there. The same batches as that migration."""
    backfill = importlib.import_module("members.migrations.0022_member_owner_changed_at_backfill")
    start = time.perf_counter()
    backfill.backfill(None, SimpleNamespace(connection=connection))
    print(f"  owner changes on the member rows: {time.perf_counter() - start:.1f} s", flush=True)


def step(label: str, sql: str, params: list[object] | None = None) -> None:
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.rowcount
    print(f"  {label:<40} {rows:>11,} rows  {time.perf_counter() - start:7.1f} s", flush=True)


# Names for the workbench's name search (members_find: the start of a name): a common surname and
# two given-name characters, so one surname is ~1 in 30 members and a surname + first character
# ~1 in 1,200, as in a real brand.
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹")
GIVEN = list("小晓子欣雨思梓佳嘉宇浩俊文博一明志建国伟芳丽静敏婷雪琳颖慧玉兰春秋海天云")
STAFF_PER_STORE = 5


def generate(
    members: int,
    orders: int,
    member_prefix: str = "B",
    *,
    slug: str = SLUG,
    stores: int = STORES,
    staff_per_store: int = STAFF_PER_STORE,
    order_days: int = 3 * 365,
    store_orders_by_members: bool = False,
    ledger_spread_days: int = 0,
    member_extra: dict[str, str] | None = None,
    extra: Callable[[], None] | None = None,
) -> None:
    """`store_orders_by_members`: store orders are bought by members too (by default every fifth
    order is a tourist's and so is every store order); `ledger_spread_days`: the members' bonus
    entries spread over that many recent days instead of all 400 days ago (the dashboard's range
    figures read the last year); `member_extra`: more
    member columns (SQL over g, the member id); `extra`: more tables, filled in the brand before the VACUUM."""
    SLUG = slug
    STORES = stores
    STAFF_PER_STORE = staff_per_store
    member_of_order = "(g / 5) % 5 <> 0" if store_orders_by_members else "g % 5 <> 0"
    if Brand.objects.filter(schema_name=SLUG).exists():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{SLUG}" CASCADE')
        Domain.objects.filter(tenant__schema_name=SLUG).delete()
        Brand.objects.filter(schema_name=SLUG).delete()
    brand_provision(slug=SLUG, name="Loyalty bench", domain=f"{SLUG}.localhost", admin_email="bench@bench.example")
    storage_options_restore(SLUG)
    total = time.perf_counter()
    with schema_context(SLUG), foreign_key_checks_off():
        seed_loyalty()
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM members_tier ORDER BY rank")
            tier_ids = [row[0] for row in cursor.fetchall()]
        step(
            "stores",
            insert_select(Store, {"code": "'B' || g", "name": "'门店' || g"}, f"generate_series(1, {STORES}) g"),
        )
        # Staff: STAFF_PER_STORE a store, ids in store order within each round (see assigned_staff_id).
        step(
            "staff",
            insert_select(
                Staff,
                {
                    "store_id": f"(SELECT min(id) FROM members_store) + (g - 1) % {STORES}",
                    "name": "'导购' || g",
                    "wecom_userid": "'bs' || g",
                    "status": "'active'",
                },
                f"generate_series(1, {STORES * STAFF_PER_STORE}) g",
            ),
        )
        # Orders over the last ~3 years: 80% by members 1..N (spread evenly), the rest tourists.
        # Loaded before the members, which take their last purchase and lifecycle stage from them
        # (no foreign-key checks during the load, see foreign_key_checks_off).
        with indexes_deferred(Order._meta.db_table):
            step(
                "orders",
                insert_select(
                    Order,
                    {
                        "channel": f"(ARRAY{CHANNELS})[1 + g % {len(CHANNELS)}]",
                        "order_no": "'G' || g",
                        "store_id": f"CASE WHEN g % {len(CHANNELS)} = 0 THEN "
                        f"(SELECT min(id) FROM members_store) + g % {STORES} END",
                        # the serving staff of a store order: one of its store's staff
                        "staff_id": f"CASE WHEN g % {len(CHANNELS)} = 0 THEN (SELECT min(id) FROM members_staff) "
                        f"+ (g % {STAFF_PER_STORE}) * {STORES} + g % {STORES} END",
                        "paid_at": f"now() - ((g * 7919) % ({order_days} * 24 * 60)) * interval '1 minute'",
                        "amount_fen": "1000 + (g * 104729) % 90000",
                        "member_id": f"CASE WHEN {member_of_order} THEN 1 + (g * 2654435761) % {members} END",
                        "is_member_order": member_of_order,
                        "points_earned": f"CASE WHEN {member_of_order} THEN (1000 + (g * 104729) % 90000) / 100 "
                        "ELSE 0 END",
                    },
                    f"generate_series(1::bigint, {orders}) g",
                ),
            )
        # Members (after their orders): ids 1..N; a quarter silver or better; every tier due for
        # re-evaluation yesterday except the entry tier (which never expires).
        step("work_mem", "SET work_mem = '256MB'")  # the 1M-group aggregate below in memory
        step(
            "members' purchases (from the orders)",
            """CREATE TEMPORARY TABLE bought AS
               SELECT member_id, max(paid_at) AS last_paid_at,
                      count(*) FILTER (WHERE paid_at >= now() - interval '365 days') AS recent
               FROM members_order WHERE member_id IS NOT NULL GROUP BY member_id""",
        )
        with indexes_deferred(Member._meta.db_table):
            step(
                "members",
                insert_select(
                    Member,
                    {
                        "id": "g",
                        "member_no": f"'{member_prefix}' || lpad(g::text, 9, '0')",
                        "name": f"(ARRAY{SURNAMES})[1 + g % {len(SURNAMES)}] || "
                        f"(ARRAY{GIVEN})[1 + (g / {len(SURNAMES)}) % {len(GIVEN)}] || "
                        f"(ARRAY{GIVEN})[1 + (g / {len(SURNAMES) * len(GIVEN)}) % {len(GIVEN)}]",
                        "mobile": "'+86139' || lpad(g::text, 8, '0')",
                        # 7 in 10 members have an exclusive staff member at their home store (the
                        # rest are the workbench's "无专属导购" task).
                        "assigned_staff_id": f"CASE WHEN g % 10 < 7 THEN (SELECT min(id) FROM members_staff) "
                        f"+ (g % {STAFF_PER_STORE}) * {STORES} + g % {STORES} END",
                        # Birthdays spread over the year (the workbench's "birthdays this week").
                        "birthday": "date '1970-01-01' + ((g * 7919) % 14000)::int",
                        "home_store_id": f"(SELECT min(id) FROM members_store) + g % {STORES}",
                        "enrolled_at": "now() - (g % 1000) * interval '1 day'",
                        "tier_id": f"(ARRAY{tier_ids})[1 + (CASE WHEN g % 4 = 0 THEN 1 + g % 3 ELSE 0 END)]",
                        "tier_expires_at": "CASE WHEN g % 4 = 0 THEN now() - interval '1 day' END",
                        "points_balance": "100",
                        # As order ingest and the lifecycle job leave them: a member's next order
                        # then changes no indexed column (a HOT update), as in production.
                        "last_purchase_at": "b.last_paid_at",
                        "lifecycle_stage": "CASE WHEN b.recent >= 2 THEN 'loyalty' WHEN b.recent = 1 THEN 'purchase' "
                        "ELSE 'interest' END",
                    }
                    | (member_extra or {}),
                    f"generate_series(1::bigint, {members}) g LEFT JOIN bought b ON b.member_id = g",
                ),
            )
        step("member id sequence", "SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [members])
        step(
            "identities (unionid per member)",
            insert_select(
                Identity,
                {"member_id": "g", "kind": "'wechat_unionid'", "value": "'bu' || g"},
                f"generate_series(1::bigint, {members}) g",
            ),
        )
        # One 100-point bonus entry + lot per member; 1 in 2 lots expired yesterday.
        with indexes_deferred(PointsEntry._meta.db_table):
            step(
                "ledger entries",
                insert_select(
                    PointsEntry,
                    {
                        "id": "g",
                        "member_id": "g",
                        "kind": "'bonus'",
                        "points": "100",
                        "balance_after": "100",
                        "reference": "'seed'",
                        "created_at": f"now() - (g % {ledger_spread_days}) * interval '1 day' - (g % 1440) * interval "
                        "'1 minute'"
                        if ledger_spread_days
                        else "now() - interval '400 days'",
                    },
                    f"generate_series(1::bigint, {members}) g",
                ),
            )
        step("entry id sequence", "SELECT setval(pg_get_serial_sequence('members_pointsentry', 'id'), %s)", [members])
        with indexes_deferred(PointsLot._meta.db_table):
            step(
                "points lots",
                insert_select(
                    PointsLot,
                    {
                        "member_id": "g",
                        "entry_id": "g",
                        "points": "100",
                        "remaining": "100",
                        "earned_at": "now() - interval '400 days'",
                        "available_at": "now() - interval '400 days'",
                        # 1 in 10 expire in the coming days (the workbench's "本月积分到期" task).
                        "expires_at": "CASE WHEN g % 2 = 0 THEN now() - interval '1 day' "
                        "WHEN g % 10 = 1 THEN now() + interval '2 days' ELSE now() + interval '200 days' END",
                    },
                    f"generate_series(1::bigint, {members}) g",
                ),
            )
        step(
            "capture-rate aggregates",
            f"""INSERT INTO {CaptureRateDaily._meta.db_table}
                    (day, channel, store_id, orders_total, orders_member, gmv_total_fen, gmv_member_fen)
                SELECT (paid_at AT TIME ZONE 'Asia/Shanghai')::date, channel, store_id, count(*),
                       count(*) FILTER (WHERE is_member_order), sum(amount_fen),
                       COALESCE(sum(amount_fen) FILTER (WHERE is_member_order), 0)
                FROM members_order GROUP BY 1, 2, 3""",
        )
        if extra is not None:
            extra()
        # What autovacuum does after a bulk load in production (it is off on the shared benchmark
        # server): statistics, and the visibility map that lets the covering order index answer
        # qualifying-spend queries without visiting the heap.
        step(
            "vacuum (analyze) the loaded tables",
            "VACUUM (ANALYZE) "
            + ", ".join(
                m._meta.db_table for m in (Staff, Order, Member, Identity, PointsEntry, PointsLot, CaptureRateDaily)
            ),
        )
        step("analyze", "ANALYZE")
    print(f"generated in {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    # The workbench's search reads "M…" as a member number (bench/workbench_pages.py passes M).
    parser.add_argument("--member-prefix", default="B")
    args = parser.parse_args()
    generate(args.members, args.orders, args.member_prefix)
