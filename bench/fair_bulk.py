"""Benchmark: fairness of bulk work between brands — a big brand's campaign run and a small
brand's, started together, through the real path: occurrence → per-brand pump → bulk queue → a
real celery worker (`celery -A crm worker -Q <bulk queue>`, started here as a subprocess).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hb_beat CELERY_BROKER_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/fair_bulk.py --big 1000000 --small 1000 [--skip-generate] \\
        [--concurrency 2] [--cap 1] [--big-runs 1] [--run-chunk 50000]

It (re)creates two brands with bench/campaign_occurrence.py's generator (members with consent,
set-based): `benchfairbig` with `--big` members and `benchfairsmall` with `--small`. Then, each
run a new bonus-points campaign (10 % hold-out) whose occurrence is started as the dispatcher's
slot task starts it (`occurrence_start`: through the brand's pump, a chunk per `--run-chunk`
member ids — the small run is one chunk):
1. the small brand's run alone, three times (its solo time: the median);
2. `--big-runs` runs of the big brand started, then at once the small brand's: the small one's
   time against its solo time (target ≤ 2×), and the big ones' times.
`--cap` is BULK_CHUNKS_IN_FLIGHT_PER_BRAND for the bench and the worker; `--concurrency` the bulk
worker's processes; `--run-chunk` the worker's CAMPAIGN_RUN_MEMBER_CHUNK (member ids per pump chunk
of a run; 1000000000 makes every run one chunk: the A/B floor of no chunking). CPU of the worker's
processes and of the database's backends (from /proc) during step 2 is printed, with the load
average, and how many pump chunks each big run took.
"""

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ.setdefault("CELERY_BULK_QUEUE", "bench-fair-bulk")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--cap", type=int, default=1)
    parser.add_argument("--big-runs", type=int, default=1)
    parser.add_argument("--run-chunk", type=int, default=50_000)
    return parser.parse_args()


ARGS = parse()
os.environ["BULK_CHUNKS_IN_FLIGHT_PER_BRAND"] = str(ARGS.cap)
os.environ["CAMPAIGN_RUN_MEMBER_CHUNK"] = str(ARGS.run_chunk)

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

import bench.campaign_occurrence as generator  # noqa: E402
from campaigns.models import Campaign, Occurrence  # noqa: E402
from campaigns.services import occurrence_ensure, occurrence_start  # noqa: E402
from crm.tenancy.models import BulkChunk  # noqa: E402

BIG, SMALL = "benchfairbig", "benchfairsmall"
TICKS = os.sysconf("SC_CLK_TCK")


def start_run(schema_name: str, label: str) -> tuple[str, int, float]:
    with schema_context(schema_name):
        campaign = Campaign.objects.create(
            name=f"公平基准 {label}",
            frequency="daily",
            time_of_day=dt.time(10),
            bonus_points=20,
            holdout_pct=10,
            status=Campaign.Status.SCHEDULED,
        )
        started = time.monotonic()
        with transaction.atomic():
            occurrence, _ = occurrence_ensure(campaign=campaign, slot=timezone.now().replace(microsecond=0))
            occurrence_start(occurrence=occurrence)
    return schema_name, occurrence.pk, started


class CpuSampler:
    """CPU of the worker's processes and of this database's backends, sampled while runs go on
    (a backend that ends between two samples loses at most one interval of its CPU)."""

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.backend_pids: set[int] = set()

    def sample(self) -> None:
        db_pids = backends()
        self.backend_pids.update(db_pids)
        for pid in [*descendants(self.worker_pid), *db_pids]:
            cpu = process_cpu([pid])
            self.first.setdefault(pid, cpu)
            self.last[pid] = cpu

    def used(self) -> tuple[float, float]:
        spent = {pid: self.last[pid] - self.first[pid] for pid in self.last}
        database = sum(cpu for pid, cpu in spent.items() if pid in self.backend_pids)
        return sum(spent.values()) - database, database


def wait(runs: list[tuple[str, int, float]], sampler: "CpuSampler | None" = None) -> list[float]:
    """Seconds from start to DONE of each run (polled every 50 ms)."""
    done: dict[int, float] = {}
    deadline = time.monotonic() + 3600
    polls = 0
    while len(done) < len(runs) and time.monotonic() < deadline:
        for index, (schema_name, occurrence_id, started) in enumerate(runs):
            if index in done:
                continue
            with schema_context(schema_name):
                status = Occurrence.objects.filter(pk=occurrence_id).values_list("status", flat=True).first()
            if status == Occurrence.Status.FAILED:
                raise SystemExit(f"run {occurrence_id} of {schema_name} failed")
            if status == Occurrence.Status.DONE:
                done[index] = time.monotonic() - started
        polls += 1
        if sampler is not None and polls % 10 == 0:
            sampler.sample()
        time.sleep(0.05)
    return [done[index] for index in range(len(runs))]


def occurrence_chunks(schema_name: str, occurrence_id: int) -> int:
    with schema_context(schema_name):
        summary = Occurrence.objects.get(pk=occurrence_id).summary
    return int(summary.get("chunks", 0))


def process_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found.extend(descendants(int(child)))
    return found


def backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def main() -> None:
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not ARGS.skip_generate:
        for slug, members in ((BIG, ARGS.big), (SMALL, ARGS.small)):
            generator.SLUG = slug
            started = time.monotonic()
            generator.generate(members)
            print(f"generated {slug}: {members:,} members in {time.monotonic() - started:.0f} s")
    BulkChunk.objects.filter(schema_name__in=[BIG, SMALL]).delete()
    worker = subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "crm",
            "--quiet",
            "worker",
            "--loglevel=WARNING",
            f"--concurrency={ARGS.concurrency}",
            "-Q",
            os.environ["CELERY_BULK_QUEUE"],
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    try:
        time.sleep(8)  # the worker's processes start and connect
        wait([start_run(SMALL, "warm-up")])
        solo = [wait([start_run(SMALL, f"solo {n}")])[0] for n in range(3)]
        solo_time = statistics.median(solo)
        print(f"small alone: {', '.join(f'{s:.2f}' for s in solo)} s (median {solo_time:.2f} s)")

        sampler = CpuSampler(worker.pid)
        sampler.sample()
        load = os.getloadavg()[0]
        big_runs = [start_run(BIG, f"big {n}") for n in range(ARGS.big_runs)]
        small_run = start_run(SMALL, "together")
        (small_time,) = wait([small_run], sampler)
        big_times = wait(big_runs, sampler)
        sampler.sample()
        cpu_worker, cpu_db = sampler.used()
        chunks = [occurrence_chunks(schema_name, occurrence_id) for schema_name, occurrence_id, _ in big_runs]
        print(
            f"together (cap {ARGS.cap}, {ARGS.concurrency} bulk processes, run chunk {ARGS.run_chunk:,} ids, "
            f"{ARGS.big_runs} big run(s) of "
            f"{ARGS.big:,} + one of {ARGS.small:,}): small {small_time:.2f} s = {small_time / solo_time:.2f}× solo; "
            f"big {', '.join(f'{s:.1f}' for s in big_times)} s in {', '.join(map(str, chunks))} chunks"
        )
        print(
            f"CPU during it: worker processes {cpu_worker:.1f} s, PostgreSQL backends {cpu_db:.1f} s over "
            f"{max([*big_times, small_time]):.1f} s; load average {load:.2f} → {os.getloadavg()[0]:.2f}"
        )
    finally:
        worker.terminate()
        worker.wait(60)
        BulkChunk.objects.filter(schema_name__in=[BIG, SMALL]).delete()


if __name__ == "__main__":
    main()
