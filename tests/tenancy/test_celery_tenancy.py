"""A real worker (not eager mode) on the real broker: a task runs in the schema of the brand that
sent it, also when sent on commit and when triggered by a beat entry; beat skips brands that are
not ready."""

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_tenants.utils import schema_context

from crm.celery import app, send_on_commit
from crm.jobs.models import JobRun
from crm.jobs.tasks import heartbeat
from crm.tenancy.models import Brand
from crm.tenancy.scheduler import BrandAwareScheduler
from tests.conftest import BRAND_A, BRAND_B

pytestmark = pytest.mark.worker


def heartbeats(slug: str, label: str) -> list[JobRun]:
    with schema_context(slug):
        return list(JobRun.objects.filter(name="heartbeat", summary__label=label))


def wait_for_heartbeat(slug: str, label: str, timeout: float = 30.0) -> JobRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = heartbeats(slug, label)
        if runs:
            return runs[0]
        time.sleep(0.2)
    raise AssertionError(f"no heartbeat {label!r} in schema {slug!r} within {timeout}s")


@pytest.fixture
def label(committed_db) -> Iterator[str]:
    value = f"t-{uuid.uuid4().hex[:8]}"
    yield value
    for slug in (BRAND_A, BRAND_B):
        with schema_context(slug):
            JobRun.objects.filter(summary__label=value).delete()


def test_task_sent_from_a_brand_runs_in_that_brand(celery_worker, label):
    with schema_context(BRAND_A):
        heartbeat.delay(label)

    run = wait_for_heartbeat(BRAND_A, label)

    assert run.summary["schema"] == BRAND_A
    assert run.status == JobRun.Status.SUCCEEDED
    assert heartbeats(BRAND_B, label) == []


def test_send_on_commit_keeps_the_brand_even_if_the_commit_happens_in_public(celery_worker, label):
    with transaction.atomic(), schema_context(BRAND_B):
        send_on_commit(heartbeat, label)
        # Leaving schema_context puts the connection back on public before the commit fires.
    run = wait_for_heartbeat(BRAND_B, label)

    assert run.summary["schema"] == BRAND_B
    assert heartbeats(BRAND_A, label) == []


def test_send_on_commit_sends_nothing_when_the_transaction_rolls_back(celery_worker, label):
    with pytest.raises(RuntimeError), transaction.atomic(), schema_context(BRAND_A):
        send_on_commit(heartbeat, label)
        raise RuntimeError("rolled back")
    # A task sent afterwards overtakes nothing: once it ran, the rolled-back one would have too.
    with schema_context(BRAND_A):
        heartbeat.delay(f"{label}-after")
    wait_for_heartbeat(BRAND_A, f"{label}-after")
    try:
        assert heartbeats(BRAND_A, label) == []
    finally:
        with schema_context(BRAND_A):
            JobRun.objects.filter(summary__label=f"{label}-after").delete()


def heartbeat_entry(name: str, label: str, slug: str) -> PeriodicTask:
    """A beat entry, every minute, of the heartbeat task in brand `slug` (in the current database)."""
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name=name,
        task="jobs.heartbeat",
        interval=every_minute,
        args=json.dumps([label]),
        headers=json.dumps({"_schema_name": slug}),
    )


@pytest.fixture
def beat_entry(label) -> Iterator[callable]:  # type: ignore[valid-type]
    """Creates beat entries in the public schema (where the schedule lives) for a brand."""
    created: list[PeriodicTask] = []

    def make(slug: str) -> PeriodicTask:
        task = heartbeat_entry(f"heartbeat {label} {slug}", label, slug)
        created.append(task)
        return task

    yield make
    PeriodicTask.objects.filter(pk__in=[task.pk for task in created]).delete()


def fire(periodic_task: PeriodicTask) -> None:
    """What beat does when the entry is due: apply it through our scheduler."""
    scheduler = BrandAwareScheduler(app=app, lazy=True)
    entry = scheduler.Entry(periodic_task, app=app)
    with app.producer_or_acquire() as producer:
        scheduler.apply_entry(entry, producer=producer)


def test_beat_entry_runs_in_the_brand_named_in_its_headers(celery_worker, beat_entry, label):
    fire(beat_entry(BRAND_A))

    run = wait_for_heartbeat(BRAND_A, label)

    assert run.summary["schema"] == BRAND_A
    assert heartbeats(BRAND_B, label) == []


def test_beat_skips_a_brand_that_is_not_ready(celery_worker, beat_entry, label):
    Brand.objects.filter(schema_name=BRAND_B).update(ready=False)
    try:
        fire(beat_entry(BRAND_B))
        fire(beat_entry(BRAND_A))  # sent after the skipped one; once it ran, B's would have too
        wait_for_heartbeat(BRAND_A, label)
        assert heartbeats(BRAND_B, label) == []
    finally:
        Brand.objects.filter(schema_name=BRAND_B).update(ready=True)


def test_run_in_every_brand_sends_the_job_into_each_ready_brand(celery_worker, label):
    from crm.tenancy.tasks import run_in_every_brand

    Brand.objects.filter(schema_name=BRAND_B).update(ready=False)
    try:
        run_in_every_brand.delay("jobs.heartbeat", label)  # sent from the public schema, like beat
        run = wait_for_heartbeat(BRAND_A, label)
        assert run.summary["schema"] == BRAND_A
        assert heartbeats(BRAND_B, label) == []
    finally:
        Brand.objects.filter(schema_name=BRAND_B).update(ready=True)
    run_in_every_brand.delay("jobs.heartbeat", f"{label}-all")
    try:
        assert wait_for_heartbeat(BRAND_A, f"{label}-all") and wait_for_heartbeat(BRAND_B, f"{label}-all")
    finally:
        for slug in (BRAND_A, BRAND_B):
            with schema_context(slug):
                JobRun.objects.filter(summary__label=f"{label}-all").delete()
