"""The per-brand pump (crm/tenancy/pump.py): a brand has at most its cap of bulk chunks on the
bulk queue, so another brand's chunk queued later runs before the first brand's backlog — through
the real worker and broker, on the bulk queue; lost chunks are queued again by the sweep."""

import datetime as dt
import threading
import time

import pytest
from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.celery import app
from crm.tenancy import pump
from crm.tenancy.models import BulkChunk
from tests.conftest import BRAND_A, BRAND_B

FINISHED: list[tuple[str, int]] = []
_finished_lock = threading.Lock()


@shared_task(name="tests.pump_chunk")
def pump_chunk(label: str, number: int, seconds: float) -> None:
    from crm.db import connection

    time.sleep(seconds)
    with _finished_lock:
        FINISHED.append((f"{label}:{connection.schema_name}", number))


def test_chunks_run_on_the_bulk_queue():
    route = app.amqp.router.route({}, pump.CHUNK_TASK)
    assert route["queue"].name == settings.CELERY_BULK_QUEUE != settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.mark.django_db
def test_the_pump_keeps_each_brand_to_its_cap_and_runs_chunks_in_order(in_brand_a, pump_inline, settings):
    settings.BULK_CHUNKS_IN_FLIGHT_PER_BRAND = 2
    sent: list[tuple[str, int]] = []
    real_send = pump._send
    pump._send = lambda schema_name, chunk_id: sent.append((schema_name, chunk_id))
    try:
        ids = [pump.bulk_submit("tests.pump_chunk", "cap", number, 0) for number in range(5)]
        assert pump.bulk_pump(BRAND_A) == 2
        assert pump.bulk_pump(BRAND_A) == 0  # full: two in flight
        assert sent == [(BRAND_A, ids[0]), (BRAND_A, ids[1])]
        with schema_context(BRAND_B):
            assert pump.bulk_pump(BRAND_B) == 0
    finally:
        pump._send = real_send
    BulkChunk.objects.filter(pk__in=ids[:2]).update(state=BulkChunk.State.QUEUED)  # as if never sent
    FINISHED.clear()
    assert pump_inline() == 5
    assert [(f"cap:{BRAND_A}", number) for number in range(5)] == FINISHED
    assert not BulkChunk.objects.exists()


HOLDER_BUSY: list[bool] = []


@shared_task(name="tests.pump_busy_chunk")
def pump_busy_chunk(label: str) -> str:
    """A chunk whose job another worker holds while HOLDER_BUSY says so (as a job's session lock)."""
    if HOLDER_BUSY and HOLDER_BUSY[0]:
        return pump.BUSY
    with _finished_lock:
        FINISHED.append((label, 1))
    return "done"


@pytest.mark.django_db
def test_a_chunk_whose_job_is_busy_elsewhere_is_kept_and_runs_once_the_holder_lets_go(in_brand_a, pump_inline):
    chunk_id = pump.bulk_submit("tests.pump_busy_chunk", "busy")
    HOLDER_BUSY[:] = [True]
    FINISHED.clear()
    try:
        assert pump_inline() == 1
        # Not run, not dropped: queued again, without a place (nothing sends it while the holder runs).
        assert BulkChunk.objects.get(pk=chunk_id).state == BulkChunk.State.QUEUED
        assert FINISHED == []
    finally:
        HOLDER_BUSY[:] = [False]
    assert pump_inline() == 1  # the holder's end (or the sweep) pumps the brand
    assert FINISHED == [("busy", 1)] and not BulkChunk.objects.exists()


@pytest.mark.django_db
def test_a_chunk_of_a_task_this_worker_does_not_know_is_kept_for_a_worker_that_does(in_brand_a, pump_inline):
    """A rolling deploy: a worker of the previous release receives a chunk of a task new in this one."""
    chunk_id = pump.bulk_submit("tests.pump_task_of_the_next_release", "new")

    assert pump_inline() == 1

    chunk = BulkChunk.objects.get(pk=chunk_id)
    assert chunk.state == BulkChunk.State.QUEUED and chunk.sent_at is None


@pytest.mark.django_db
def test_the_sweep_queues_again_a_chunk_lost_on_the_way(in_brand_a, pump_inline):
    chunk_id = pump.bulk_submit("tests.pump_chunk", "lost", 1, 0)
    BulkChunk.objects.filter(pk=chunk_id).update(
        state=BulkChunk.State.SENT, sent_at=timezone.now() - pump.BULK_CHUNK_LEASE - dt.timedelta(seconds=1)
    )
    FINISHED.clear()
    assert pump.bulk_sweep() == {"requeued": 1, "sent": 1}
    assert pump_inline() == 1  # what the sweep sent
    assert [(f"lost:{BRAND_A}", 1)] == FINISHED


@pytest.mark.worker
def test_a_small_brand_is_not_starved_by_a_big_brands_backlog(celery_worker, committed_db):
    """One worker process (pool solo) on both queues: brand A queues six chunks, then brand B one.
    Sent straight to the queue, B's would run seventh; through the pump (cap 1) it runs second."""
    FINISHED.clear()
    try:
        with schema_context(BRAND_A):
            for number in range(6):
                pump.bulk_submit("tests.pump_chunk", "fair", number, 0.2)
        with schema_context(BRAND_B):
            pump.bulk_submit("tests.pump_chunk", "fair", 0, 0.2)
        deadline = time.monotonic() + 60
        while len(FINISHED) < 7 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(FINISHED) == 7, FINISHED
        assert FINISHED.index((f"fair:{BRAND_B}", 0)) <= 1, FINISHED
        assert [number for label, number in FINISHED if label == f"fair:{BRAND_A}"] == list(range(6))
    finally:
        BulkChunk.objects.filter(task="tests.pump_chunk").delete()
