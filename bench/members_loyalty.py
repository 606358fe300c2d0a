"""Loyalty benchmarks on the brand made by bench/members_data.py:

1. order ingest through the service (`order_post`, one order per call, points + tier evaluation),
   in one process and then in `--workers` processes at once (as API workers would);
2. the set-based batch path (`orders_post_batch`, 5,000 orders per call);
3. capture-rate query (whole year by day and by channel) — from the aggregates;
4. the nightly expiry job over the lots due;
5. the nightly tier re-evaluation over the members due.

    DATABASE_URL=... .venv/bin/python bench/members_loyalty.py [--service 3000] [--batch 50000]

Jobs 4 and 5 change the data; re-generate to repeat them, or pass --make-due.
"""

import argparse
import datetime as dt
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")

import django

django.setup()

from django.db import connection, connections  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from members.services.capture_rate import capture_rate  # noqa: E402
from members.services.orders import OrderInput, order_post, orders_post_batch  # noqa: E402
from members.services.points import ledger_audit, points_expire_due  # noqa: E402
from members.services.tiers import tiers_reevaluate_due  # noqa: E402

SLUG = "benchloyalty"


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        return cursor.fetchone()[0]


def make_due_again() -> None:
    """Let the nightly jobs be timed again without re-generating: the seeded lots that have not
    expired yet get yesterday as their expiry, and the generator's silver-or-better quarter of the
    members gets its tier back, valid until yesterday (bench data only: no TierChange is logged)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE members_pointslot SET expires_at = now() - interval '1 day'
               WHERE entry_id IN (SELECT id FROM members_pointsentry WHERE reference = 'seed')
                 AND remaining > 0 AND NOT expired AND expires_at > now()"""
        )
        lots = cursor.rowcount
        cursor.execute("SELECT id FROM members_tier ORDER BY rank")
        tier_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """UPDATE members_member SET tier_id = (%s::bigint[])[2 + id %% 3],
                      tier_expires_at = now() - interval '1 day'
               WHERE id %% 4 = 0 AND member_no LIKE 'B%%'""",
            [tier_ids],
        )
        members = cursor.rowcount
        cursor.execute("ANALYZE members_pointslot")
        cursor.execute("ANALYZE members_member")
    print(f"made due again: {lots:,} lots, {members:,} members' tiers")


def post_orders(*, run: int, now: dt.datetime, members: int, first: int, n: int) -> None:
    for i in range(first, first + n):
        order_post(
            channel="store",
            order_no=f"S{run}-{i}",
            paid_at=now - dt.timedelta(minutes=i % 600),
            amount_fen=5_000 + i % 20_000,
            buyer_kind="wechat_unionid" if i % 5 else None,
            buyer_value=f"bu{1 + (i * 7919) % members}" if i % 5 else None,
            actor="bench",
        )


def post_orders_worker(run: int, now: dt.datetime, members: int, first: int, n: int) -> None:
    connections.close_all()  # the forked child opens its own connection
    with schema_context(SLUG):
        post_orders(run=run, now=now, members=members, first=first, n=n)


def main(
    service_n: int, batch_n: int, batch_size: int, run_jobs: bool, audit: bool, workers: int, make_due: bool
) -> None:
    with schema_context(SLUG):
        members = count("members_member")
        print(
            f"brand {SLUG}: {members:,} members, {count('members_order'):,} orders, {count('members_pointslot'):,} lots"
        )
        run = int(time.time())
        now = timezone.now()

        start = time.perf_counter()
        post_orders(run=run, now=now, members=members, first=0, n=service_n)
        elapsed = time.perf_counter() - start
        print(f"1. order_post (1 per call): {service_n:>8,} orders {elapsed:7.2f} s  {service_n / elapsed:9,.0f}/s")
        if workers > 1:
            # What an API deployment does: several worker processes, each posting one order per call.
            connection.close()
            context = multiprocessing.get_context("fork")
            per_worker = service_n // workers
            processes = [
                context.Process(target=post_orders_worker, args=(run, now, members, (w + 1) * service_n, per_worker))
                for w in range(workers)
            ]
            start = time.perf_counter()
            for process in processes:
                process.start()
            for process in processes:
                process.join()
            elapsed = time.perf_counter() - start
            total = per_worker * workers
            print(
                f"1b. order_post, {workers} processes:  {total:>8,} orders {elapsed:7.2f} s  {total / elapsed:9,.0f}/s"
            )

        start = time.perf_counter()
        done = 0
        while done < batch_n:
            items = [
                OrderInput(
                    channel="tmall",
                    order_no=f"B{run}-{done + i}",
                    paid_at=now - dt.timedelta(minutes=i % 600),
                    amount_fen=5_000 + i % 20_000,
                    buyer_kind="wechat_unionid" if i % 5 else "",
                    buyer_value=f"bu{1 + ((done + i) * 104729) % members}" if i % 5 else "",
                )
                for i in range(min(batch_size, batch_n - done))
            ]
            results = orders_post_batch(orders=items, actor="bench")
            assert all(r.created for r in results)
            done += len(items)
        elapsed = time.perf_counter() - start
        print(f"2. batch ({batch_size:,}/call): {batch_n:>8,} orders {elapsed:7.2f} s  {batch_n / elapsed:9,.0f}/s")

        today = timezone.localdate()
        for label, group_by in (("by day", ("day",)), ("by channel", ("channel",)), ("by store", ("store",))):
            samples = []
            for _ in range(5):
                start = time.perf_counter()
                capture_rate(date_from=today - dt.timedelta(days=365), date_to=today, group_by=group_by)
                samples.append(time.perf_counter() - start)
            print(
                f"3. capture_rate 1y {label:<10} best {min(samples) * 1e3:6.1f} ms worst {max(samples) * 1e3:6.1f} ms"
            )

        if run_jobs:
            if make_due:
                make_due_again()
            start = time.perf_counter()
            summary = points_expire_due()
            print(f"4. points_expire_due:                    {summary} {time.perf_counter() - start:7.2f} s")
            start = time.perf_counter()
            summary = tiers_reevaluate_due()
            print(f"5. tiers_reevaluate_due:                 {summary} {time.perf_counter() - start:7.2f} s")
        if audit:
            start = time.perf_counter()
            drifts = ledger_audit()
            print(
                f"6. ledger_audit:                         {len(drifts)} drifted  {time.perf_counter() - start:7.2f} s"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", type=int, default=3_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--no-jobs", action="store_true")
    parser.add_argument("--audit", action="store_true")
    parser.add_argument("--workers", type=int, default=4, help="processes for the concurrent order_post run")
    parser.add_argument("--make-due", action="store_true", help="make lots and tiers due again before the jobs")
    args = parser.parse_args()
    main(args.service, args.batch, args.batch_size, not args.no_jobs, args.audit, args.workers, args.make_due)
