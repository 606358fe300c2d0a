"""Benchmark: the due-slot dispatcher (crm/tenancy/slots.py) with 10,000 scheduled campaigns.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hb_beat CELERY_BROKER_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/dispatcher_lag.py [--campaigns 10000] [--brands 1000] [--tick 2]

The public schema is migrated (once) and `--brands` ready brand rows are written (rows only: the
dispatcher reads the public schema, never a brand's). Two scenarios, each with `--campaigns` slot
rows of the real task `campaigns.slot_due`: "burst" — every campaign due in the same second (a
member day at 10:00 for everyone), the worst case — and "spread" — due evenly over a minute. Beat
is emulated as it runs: the dispatcher every `--tick` seconds, at a phase unrelated to the slots.
Lag = the moment the claim committed − the slot's due_at. The messages really go to the broker
(a queue of the benchmark's own, purged at the end). CPU: the Python process (getrusage) and the
PostgreSQL backend serving it (/proc/<pid>/stat), per claimed slot.
"""

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")

import django

django.setup()

from celery import current_app  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.tenancy import slots  # noqa: E402
from crm.tenancy.models import Brand, DueSlot  # noqa: E402

QUEUE = "bench-dispatcher"
TASK = "campaigns.slot_due"
TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def prepare(brands: int) -> list[str]:
    if "tenancy_dueslot" not in connection.introspection.table_names():
        call_command("migrate_schemas", "--shared", "--noinput", verbosity=0)
    names = [f"bd{i:05d}" for i in range(brands)]
    existing = set(Brand.objects.filter(schema_name__in=names).values_list("schema_name", flat=True))
    Brand.objects.bulk_create(
        Brand(schema_name=name, name=f"调度基准 {name}", ready=True) for name in names if name not in existing
    )
    return names


def scenario(name: str, brands: list[str], campaigns: int, spread_seconds: float, tick: float) -> dict[str, float]:
    DueSlot.objects.filter(schema_name__startswith="bd").delete()
    first_due = timezone.now() + dt.timedelta(seconds=3)
    DueSlot.objects.bulk_create(
        (
            DueSlot(
                schema_name=brands[i % len(brands)],
                task=TASK,
                key=i + 1,
                due_at=first_due + dt.timedelta(seconds=spread_seconds * i / campaigns),
            )
            for i in range(campaigns)
        ),
        batch_size=5000,
    )
    connection.cursor().execute("ANALYZE tenancy_dueslot")
    lags: list[float] = []
    real_claim = slots.slots_claim_due

    def claim(**kwargs):  # type: ignore[no-untyped-def]
        claimed = real_claim(**kwargs)
        now = timezone.now()
        lags.extend((now - slot.due_at).total_seconds() for slot in claimed)
        return claimed

    slots.slots_claim_due = claim
    cpu, pg_cpu = own_cpu(), backend_cpu()
    start = time.monotonic()
    next_tick = start + tick * 0.37  # beat's phase has nothing to do with the slots'
    try:
        while len(lags) < campaigns and time.monotonic() - start < 300:
            time.sleep(max(0.0, next_tick - time.monotonic()))
            next_tick += tick
            slots.slots_dispatch()
    finally:
        slots.slots_claim_due = real_claim
    cpu, pg_cpu = own_cpu() - cpu, backend_cpu() - pg_cpu
    lags.sort()
    result = {
        "claimed": len(lags),
        "lag_p50": statistics.median(lags),
        "lag_p99": lags[int(len(lags) * 0.99) - 1],
        "lag_max": lags[-1],
        "python_cpu_ms_per_slot": 1000 * cpu / len(lags),
        "pg_cpu_ms_per_slot": 1000 * pg_cpu / len(lags),
    }
    print(
        f"{name:6}: {result['claimed']:,} claimed; lag p50 {result['lag_p50']:.2f} s, p99 {result['lag_p99']:.2f} s, "
        f"max {result['lag_max']:.2f} s; CPU per slot: dispatcher {result['python_cpu_ms_per_slot']:.3f} ms, "
        f"PostgreSQL {result['pg_cpu_ms_per_slot']:.3f} ms"
    )
    return result


def idle_tick(samples: int = 200) -> None:
    """A tick with nothing due, 10,000 rows scheduled for tomorrow: what beat costs between slots."""
    DueSlot.objects.filter(schema_name__startswith="bd").update(due_at=timezone.now() + dt.timedelta(days=1))
    connection.cursor().execute("ANALYZE tenancy_dueslot")  # as autovacuum would: the rows are tomorrow's
    cpu, pg_cpu, start = own_cpu(), backend_cpu(), time.perf_counter()
    for _ in range(samples):
        slots.slots_dispatch()
    wall = (time.perf_counter() - start) / samples
    cpu, pg_cpu = (own_cpu() - cpu) / samples, (backend_cpu() - pg_cpu) / samples
    print(
        f"idle tick: {1000 * wall:.2f} ms wall, CPU: dispatcher {1000 * cpu:.2f} ms, PostgreSQL {1000 * pg_cpu:.2f} ms"
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + slots._CLAIM_SQL, {"now": now, "lease_until": now, "limit": 1000})
        print("   plan: " + " / ".join(row[0].strip() for row in cursor.fetchall() if "Scan" in row[0]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--brands", type=int, default=1_000)
    parser.add_argument("--tick", type=float, default=2.0, help="the beat entry's interval (DUE_SLOT_DISPATCH_SECONDS)")
    args = parser.parse_args()
    current_app.conf.task_default_queue = QUEUE
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    brands = prepare(args.brands)
    try:
        scenario("burst", brands, args.campaigns, 0.0, args.tick)
        scenario("spread", brands, args.campaigns, 60.0, args.tick)
        idle_tick()
    finally:
        DueSlot.objects.filter(schema_name__startswith="bd").delete()
        with current_app.connection_for_write() as broker:
            broker.default_channel.queue_purge(QUEUE)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
