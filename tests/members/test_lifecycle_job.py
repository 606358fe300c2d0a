"""The daily lifecycle job: members drop back a stage when their purchases leave the window; the
brand's own clock decides the day; chunks cover every member and a crashed run resumes after its
last finished chunk; one brand's run touches no other brand; beat sends a registered task; and
the job runs through the real celery path. Every run here is given its `now`: nothing depends on
today's date."""

import datetime as dt
import itertools
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.celery import app
from crm.db import connection
from crm.jobs.models import JobRun
from members.models import Member, Order
from members.services import lifecycle
from members.services.lifecycle import LIFECYCLE_JOB, lifecycle_day_due, members_lifecycle_refresh_all
from tests.factories import MemberFactory

from .loyalty_scene import program, throwaway_brand, tiers

jobs_brand = throwaway_brand

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# A Tuesday, 05:00 in the brand (Asia/Shanghai): past the job's hour, so its day is 10 March.
NOW = dt.datetime(2026, 3, 10, 5, 0, tzinfo=SHANGHAI)
WINDOW = dt.timedelta(days=365)
LIFECYCLE = Member.Lifecycle
_order_numbers = itertools.count(1)


def buy(member: Member, *, paid_at: dt.datetime, refunded: bool = False) -> Order:
    """An order written as a scene (order ingest would set the stage by today's clock)."""
    return Order.objects.create(
        channel="store",
        order_no=f"LC{next(_order_numbers):08d}",
        paid_at=paid_at,
        amount_fen=10_000,
        refunded_fen=10_000 if refunded else 0,
        member=member,
        is_member_order=True,
    )


def stages(*members: Member) -> list[str]:
    by_id = dict(Member.objects.filter(pk__in=[m.pk for m in members]).values_list("pk", "lifecycle_stage"))
    return [by_id[m.pk] for m in members]


def runs() -> list[JobRun]:
    return list(JobRun.objects.filter(name=LIFECYCLE_JOB).order_by("created_at", "pk"))


@pytest.fixture
def rules(in_brand_a) -> None:
    """A purchase counts for 365 days; two of them make a loyal member."""
    program(purchase_window_days=365, loyalty_min_purchases=2)


# --- the drop ---------------------------------------------------------------------------------


def test_a_member_drops_back_a_stage_the_day_their_purchase_leaves_the_window(rules):
    # Given a buyer whose only purchase is inside the window on 10 March and outside on 11 March
    lapsing = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE)
    buy(lapsing, paid_at=NOW - WINDOW + dt.timedelta(hours=12))

    # When the job runs on 10 March, nothing changes for them
    assert members_lifecycle_refresh_all(now=NOW)["changed"] == 0
    assert stages(lapsing) == [LIFECYCLE.PURCHASE]

    # Then on 11 March the purchase has left the window and they drop back to interest
    summary = members_lifecycle_refresh_all(now=NOW + dt.timedelta(days=1))
    assert stages(lapsing) == [LIFECYCLE.INTEREST]
    assert (summary["day"], summary["changed"]) == ("2026-03-11", 1)
    assert [(run.status, run.summary["day"]) for run in runs()] == [
        (JobRun.Status.SUCCEEDED, "2026-03-10"),
        (JobRun.Status.SUCCEEDED, "2026-03-11"),
    ]


def test_every_stage_follows_the_purchases_in_the_window(rules):
    top = tiers()["gold"]
    loyal_to_purchase = MemberFactory(lifecycle_stage=LIFECYCLE.LOYALTY)
    buy(loyal_to_purchase, paid_at=NOW - dt.timedelta(days=10))
    buy(loyal_to_purchase, paid_at=NOW - dt.timedelta(days=400))
    still_loyal = MemberFactory(lifecycle_stage=LIFECYCLE.LOYALTY)
    buy(still_loyal, paid_at=NOW - dt.timedelta(days=10))
    buy(still_loyal, paid_at=NOW - dt.timedelta(days=300))
    refunded = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE)
    buy(refunded, paid_at=NOW - dt.timedelta(days=3), refunded=True)
    top_tier = MemberFactory(lifecycle_stage=LIFECYCLE.LOYALTY, tier=top)  # the top tier is loyal
    lapsed_buyer = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE)
    buy(lapsed_buyer, paid_at=NOW - dt.timedelta(days=366))
    erased = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE, status=Member.Status.ERASED)
    prospect = MemberFactory(lifecycle_stage=LIFECYCLE.AWARENESS)

    summary = members_lifecycle_refresh_all(now=NOW)

    assert stages(loyal_to_purchase, still_loyal, refunded, top_tier, lapsed_buyer, erased, prospect) == [
        LIFECYCLE.PURCHASE,
        LIFECYCLE.LOYALTY,
        LIFECYCLE.INTEREST,
        LIFECYCLE.LOYALTY,
        LIFECYCLE.INTEREST,
        LIFECYCLE.PURCHASE,  # erased members are out of all processing
        LIFECYCLE.AWARENESS,  # never assigned by behaviour
    ]
    assert summary["changed"] == 3


# --- brand time -------------------------------------------------------------------------------


def test_the_day_is_decided_by_the_brand_clock(rules, brand_a):
    hour = settings.MEMBERS_LIFECYCLE_BRAND_HOUR
    before = dt.datetime(2026, 3, 10, hour - 1, 59, tzinfo=SHANGHAI)
    at = dt.datetime(2026, 3, 10, hour, 0, tzinfo=SHANGHAI)
    assert lifecycle_day_due(now=before) == dt.date(2026, 3, 9)
    assert lifecycle_day_due(now=at) == dt.date(2026, 3, 10)

    # The same instant is still 9 March, early afternoon, for a brand in Los Angeles.
    brand_a.time_zone = "America/Los_Angeles"  # the connection's brand, not saved
    assert lifecycle_day_due(now=at) == dt.date(2026, 3, 9)
    brand_a.time_zone = "Asia/Shanghai"


def test_hourly_ticks_run_the_brand_day_once(rules):
    member = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE)
    day = dt.datetime(2026, 3, 10, tzinfo=SHANGHAI)

    first = members_lifecycle_refresh_all(now=day + dt.timedelta(hours=4, minutes=5))
    later_ticks = [
        members_lifecycle_refresh_all(now=day + dt.timedelta(hours=h, minutes=5)) for h in (5, 13, 23, 24, 27)
    ]

    assert (first["day"], first["changed"]) == ("2026-03-10", 1)
    assert stages(member) == [LIFECYCLE.INTEREST]
    # Until 04:00 on 11 March the due day stays 10 March, which is done: no run, no JobRun.
    assert later_ticks == [{"day": "2026-03-10", "outcome": "already_done"}] * 5
    assert len(runs()) == 1

    next_day = members_lifecycle_refresh_all(now=day + dt.timedelta(hours=28, minutes=5))
    assert (next_day["day"], next_day["changed"]) == ("2026-03-11", 0)
    assert len(runs()) == 2


def wait_until_locks_released(pid: int) -> None:
    """The server ends a closed session's backend a moment after the client hangs up; its locks
    go with the backend, not with the hang-up (CI once caught the job still "busy")."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} still holds locks 10 s after its session closed")


def test_a_run_under_way_in_another_worker_is_left_alone(rules):
    member = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE)
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # another worker's session
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"{LIFECYCLE_JOB}:{connection.schema_name}"]
            )
        other_pid = other.connection.info.backend_pid
        assert members_lifecycle_refresh_all(now=NOW) == {"day": "2026-03-10", "outcome": "busy"}
    finally:
        other.close()  # PostgreSQL drops a session's locks with it, as when a worker dies
    wait_until_locks_released(other_pid)
    assert stages(member) == [LIFECYCLE.PURCHASE] and runs() == []
    assert members_lifecycle_refresh_all(now=NOW)["changed"] == 1


# --- chunks and resuming ----------------------------------------------------------------------


class ChunkSpy:
    """Records each chunk's first id; while `fail_at` is set, crashes (as a dying worker would)
    when chunk number `fail_at` (1-based, counted from `starts`) begins, before it writes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> None:
        self.real: Callable[..., int] = lifecycle._lifecycle_refresh_chunk_in_transaction
        self.starts: list[int] = []
        self.fail_at = fail_at
        monkeypatch.setattr(lifecycle, "_lifecycle_refresh_chunk_in_transaction", self)

    def __call__(self, **kwargs: Any) -> int:
        self.starts.append(kwargs["lo"])
        if self.fail_at is not None and len(self.starts) == self.fail_at:
            raise RuntimeError("worker lost")
        return self.real(**kwargs)


def test_chunks_cover_every_member_across_chunk_boundaries(rules, monkeypatch):
    members = MemberFactory.create_batch(7, lifecycle_stage=LIFECYCLE.PURCHASE)
    ids = sorted(m.pk for m in members)
    spy = ChunkSpy(monkeypatch)

    summary = members_lifecycle_refresh_all(now=NOW, chunk=2)

    assert stages(*members) == [LIFECYCLE.INTEREST] * 7
    assert spy.starts == list(range(ids[0], ids[-1] + 1, 2))  # contiguous [lo, lo + 2) ranges
    assert (summary["chunks"], summary["changed"], summary["next_id"]) == (len(spy.starts), 7, spy.starts[-1] + 2)


def test_a_run_that_crashed_after_chunk_k_resumes_at_chunk_k_plus_1(rules, monkeypatch):
    members = sorted(MemberFactory.create_batch(6, lifecycle_stage=LIFECYCLE.PURCHASE), key=lambda m: m.pk)
    first_id = members[0].pk
    spy = ChunkSpy(monkeypatch, fail_at=3)

    # Given a run that finished chunks 1 and 2 (k = 2), then died in chunk 3
    with pytest.raises(RuntimeError, match="worker lost"):
        members_lifecycle_refresh_all(now=NOW, chunk=2)
    (crashed,) = runs()
    assert crashed.status == JobRun.Status.FAILED
    assert (crashed.summary["chunks"], crashed.summary["changed"], crashed.summary["next_id"]) == (2, 4, first_id + 4)
    # chunks 1 and 2 committed; chunk 3 rolled back
    assert stages(*members) == [LIFECYCLE.INTEREST] * 4 + [LIFECYCLE.PURCHASE] * 2

    # When the next tick of the same day runs
    spy.fail_at, spy.starts = None, []
    resumed = members_lifecycle_refresh_all(now=NOW + dt.timedelta(hours=1), chunk=2)

    # Then it starts at chunk 3, measures the window from the first attempt's clock, and finishes
    assert spy.starts == [first_id + 4]
    assert (resumed["resumed_from"], resumed["as_of"]) == (crashed.pk, NOW.isoformat())
    assert (resumed["chunks"], resumed["changed"], resumed["next_id"]) == (1, 6, first_id + 6)
    assert stages(*members) == [LIFECYCLE.INTEREST] * 6
    assert [run.status for run in runs()] == [JobRun.Status.FAILED, JobRun.Status.SUCCEEDED]
    # And the finished day is not run again.
    assert members_lifecycle_refresh_all(now=NOW + dt.timedelta(hours=2), chunk=2)["outcome"] == "already_done"
    assert spy.starts == [first_id + 4]


def test_a_run_whose_worker_died_is_marked_failed_and_continued(rules):
    members = sorted(MemberFactory.create_batch(3, lifecycle_stage=LIFECYCLE.PURCHASE), key=lambda m: m.pk)
    # A worker killed after its first chunk committed: the run is left "running" (nothing could
    # record the failure), with its progress.
    dead = JobRun.objects.create(
        name=LIFECYCLE_JOB,
        summary={"day": "2026-03-10", "as_of": NOW.isoformat(), "next_id": members[1].pk, "chunks": 1, "changed": 1},
    )
    Member.objects.filter(pk=members[0].pk).update(lifecycle_stage=LIFECYCLE.INTEREST)

    summary = members_lifecycle_refresh_all(now=NOW + dt.timedelta(hours=1))

    dead.refresh_from_db()
    assert dead.status == JobRun.Status.FAILED and dead.finished_at is not None
    assert (summary["resumed_from"], summary["changed"]) == (dead.pk, 3)
    assert stages(*members) == [LIFECYCLE.INTEREST] * 3


# --- tenancy ----------------------------------------------------------------------------------


def test_brand_b_is_untouched_when_brand_a_runs(brand_a, brand_b):
    connection.set_tenant(brand_b)
    program(purchase_window_days=365)
    in_b = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE)
    connection.set_tenant(brand_a)
    program(purchase_window_days=365)
    in_a = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE)

    members_lifecycle_refresh_all(now=NOW)

    assert stages(in_a) == [LIFECYCLE.INTEREST]
    connection.set_tenant(brand_b)
    assert stages(in_b) == [LIFECYCLE.PURCHASE]
    assert runs() == []
    # Brand B's own run is its own day, not "already done" because A ran.
    assert members_lifecycle_refresh_all(now=NOW)["changed"] == 1


# --- scheduling and the real celery path --------------------------------------------------------


def test_beat_sends_a_registered_task_to_every_brand_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["members-refresh-lifecycle"]

    assert entry["task"] == "tenancy.run_in_every_brand" and entry["args"] == ["members.refresh_lifecycle"]
    schedule: Any = entry["schedule"]
    assert schedule.hour == set(range(24)) and len(schedule.minute) == 1  # hourly: each brand decides
    app.loader.import_default_modules()
    assert {"tenancy.run_in_every_brand", "members.refresh_lifecycle"} <= set(app.tasks)


@pytest.mark.worker
def test_the_job_runs_through_the_worker_in_the_brand(jobs_brand, celery_worker):
    with schema_context(jobs_brand.schema_name):
        program(purchase_window_days=365)
        member = MemberFactory(lifecycle_stage=LIFECYCLE.PURCHASE)
        buy(member, paid_at=timezone.now() - dt.timedelta(days=400))  # relative to the worker's clock

    # What run_in_every_brand (the beat entry's task) sends to each brand — here only to the
    # throw-away one, so the shared test brands get no committed job rows.
    app.send_task("members.refresh_lifecycle", headers={"_schema_name": jobs_brand.schema_name})

    deadline = time.monotonic() + 60
    run = None
    while time.monotonic() < deadline and run is None:
        with schema_context(jobs_brand.schema_name):
            run = JobRun.objects.filter(name=LIFECYCLE_JOB, status=JobRun.Status.SUCCEEDED).first()
        time.sleep(0.3)
    assert run is not None, "the lifecycle job did not run in the brand"
    assert run.summary["changed"] == 1
    with schema_context(jobs_brand.schema_name):
        assert stages(member) == [LIFECYCLE.INTEREST]
