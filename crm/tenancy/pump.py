"""The per-brand pump of bulk work: a brand's bulk chunks reach the bulk queue a few at a time.

The bulk queue is FIFO: a brand that queued a thousand chunks (a million-member campaign run, a
coupon-code pool) would make every other brand's small run wait behind all of them. So bulk work
is not sent to the queue directly: `bulk_submit` records a chunk (`BulkChunk`, public schema, in
the caller's transaction) and `bulk_pump` sends the brand's oldest chunks while the brand has
fewer than BULK_CHUNKS_IN_FLIGHT_PER_BRAND on the queue or running. When a chunk finishes, the
pump sends the brand's next one, which joins the queue behind the other brands' chunks: brands
take turns, each with at most its cap of workers.

A chunk is `task(*args)` run synchronously inside `tenancy.bulk_chunk_run` (on the bulk queue), in
the brand. It must be safe to run twice: a chunk whose message was lost or whose worker died is
queued again after BULK_CHUNK_LEASE by `bulk_sweep` (a fixed beat entry). Long work is a chain
(`BulkChain`): a chunk does a part and submits the next part in the transaction that records its
last piece of work, numbered, so a chunk run twice neither writes twice nor forks the chain.
"""

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from crm.db import connection
from crm.db.locks import BULK_PUMP, xact_advisory_lock

from .models import BulkChunk

logger = logging.getLogger(__name__)

CHUNK_TASK = "tenancy.bulk_chunk_run"
# A chunk on the queue or running longer than this is taken for lost and queued again (it must be
# idempotent). Longer than a chunk normally runs; one that does run longer (a printer's code file is
# one uncut chunk) is sent again, finds its job busy and waits (bulk_chunk_run): never run twice,
# though the brand then has one more chunk going than its cap until it ends.
BULK_CHUNK_LEASE = dt.timedelta(hours=1)


def chunks_in_flight_cap() -> int:
    return int(getattr(settings, "BULK_CHUNKS_IN_FLIGHT_PER_BRAND", 1))


def bulk_submit(task_name: str, *args: Any) -> int:
    """Queue `task_name(*args)` as a bulk chunk of the current brand; the pump sends it once the
    caller's transaction commits. Returns the chunk's id."""
    schema_name = connection.schema_name
    chunk = BulkChunk.objects.create(schema_name=schema_name, task=task_name, args=list(args))
    transaction.on_commit(lambda: bulk_pump(schema_name))
    return chunk.pk


def bulk_pump(schema_name: str) -> int:
    """Send the brand's oldest queued chunks while it has places left; returns how many were sent.
    One pump per brand at a time (a transaction advisory lock), so the cap holds under races."""
    with transaction.atomic():
        xact_advisory_lock(BULK_PUMP, schema_name)
        chunks = BulkChunk.objects.filter(schema_name=schema_name)
        free = chunks_in_flight_cap() - chunks.filter(state=BulkChunk.State.SENT).count()
        if free <= 0:
            return 0
        ids = list(chunks.filter(state=BulkChunk.State.QUEUED).order_by("id").values_list("pk", flat=True)[:free])
        BulkChunk.objects.filter(pk__in=ids).update(state=BulkChunk.State.SENT, sent_at=timezone.now())
    for chunk_id in ids:
        try:
            _send(schema_name, chunk_id)
        except Exception:
            # Left as sent: bulk_sweep queues it again after the lease.
            logger.exception(
                "bulk chunk %s of %s not sent; queued again after %s", chunk_id, schema_name, BULK_CHUNK_LEASE
            )
    return len(ids)


def _send(schema_name: str, chunk_id: int) -> None:
    # To the bulk queue by the task's route (settings CELERY_TASK_ROUTES), into the brand.
    current_app.send_task(CHUNK_TASK, args=[chunk_id], headers={"_schema_name": schema_name})


# What a chunk's task returns when another worker holds its job (a session advisory lock).
BUSY = "busy"


def bulk_chunk_run(chunk_id: int) -> str:
    """Run one chunk in the current brand, then free its place and pump the brand's next chunk.

    Two outcomes keep the chunk instead, queued again without a place (not run now, not lost):
    its job is `busy` in another worker — the chunk that handed on to it still finishing, with a
    cap above one, or a run of the job outside the pump — and a task this worker does not know
    (a worker of the previous release during a rolling deploy). The brand's next pump sends it
    again: the holder's own end, or `bulk_sweep` within a minute."""
    schema_name = connection.schema_name
    chunk = BulkChunk.objects.filter(pk=chunk_id, schema_name=schema_name).first()
    if chunk is None:
        return "gone"  # already run (a redelivered message)
    task = current_app.tasks.get(chunk.task)
    if task is None:
        logger.warning(
            "bulk chunk %s of %s: task %s unknown to this worker; queued again", chunk_id, schema_name, chunk.task
        )
        _requeue(chunk_id)
        return "unknown_task"
    try:
        outcome = task(*chunk.args)
    except BaseException:
        BulkChunk.objects.filter(pk=chunk_id).delete()
        bulk_pump(schema_name)
        raise
    if outcome == BUSY:
        _requeue(chunk_id)  # not pumped now: it would come straight back while the holder runs
        return BUSY
    BulkChunk.objects.filter(pk=chunk_id).delete()
    bulk_pump(schema_name)
    return "done"


def _requeue(chunk_id: int) -> None:
    BulkChunk.objects.filter(pk=chunk_id).update(state=BulkChunk.State.QUEUED, sent_at=None)


def bulk_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Queue again the chunks sent longer than the lease ago, and pump every brand with queued
    chunks (a pump lost with its process)."""
    now = now or timezone.now()
    requeued = BulkChunk.objects.filter(state=BulkChunk.State.SENT, sent_at__lt=now - BULK_CHUNK_LEASE).update(
        state=BulkChunk.State.QUEUED, sent_at=None
    )
    schemas = list(
        BulkChunk.objects.filter(state=BulkChunk.State.QUEUED).values_list("schema_name", flat=True).distinct()
    )
    sent = sum(bulk_pump(schema_name) for schema_name in schemas)
    if requeued:
        logger.warning("bulk sweep: %d chunks taken for lost, queued again", requeued)
    return {"requeued": requeued, "sent": sent}


class BulkChain:
    """A job run as a chain of numbered pump chunks, `task(job_id, number, *extra)`: chunk n does a
    bounded part of the job and, in the transaction that records its last piece of work, moves the
    job's chunk number on to n + 1 and submits chunk n + 1 (`submit_next`). A chunk whose number is
    no longer the job's (`stale`: delivered again after it handed on, or a resume started a fresh
    chain) does nothing, so a job has one chain at a time, and a chunk's work is never done twice.

    The number lives on the job's row: an integer column `field`, or the integer at `key` of the
    JSON column `field`."""

    def __init__(self, task_name: str, model: type[models.Model], *, field: str, key: str | None = None) -> None:
        self.task_name, self.model, self.field, self.key = task_name, model, field, key

    def current(self, row: models.Model) -> int:
        """The chunk number `row` (as loaded) holds."""
        value = getattr(row, self.field)
        return int((value or {}).get(self.key, 0)) if self.key is not None else int(value or 0)

    def stale(self, row: models.Model, chunk: int | None) -> bool:
        """Whether a chunk submitted with number `chunk` is not the job's latest (None: a whole-job
        run, or a chunk from before the chain was numbered: never stale)."""
        return chunk is not None and self.current(row) != chunk

    def submit_next(self, row: models.Model, *extra: Any, after: int | None = None) -> int | None:
        """In the current transaction, with the job's row locked: move its chunk number on and
        submit that chunk (`task(row.pk, number, *extra)`); `row` is given the new number too, so
        saving it later keeps it. With `after` (the chunk handing on): nothing happens, and None
        is returned, if the job's number is no longer `after` — a fresh chain was started since."""
        with transaction.atomic():
            locked = self.model._default_manager.select_for_update().get(pk=row.pk)
            number = self.current(locked)
            if after is not None and number != after:
                return None
            number += 1
            if self.key is None:
                value: Any = number
            else:
                value = {**(getattr(locked, self.field) or {}), self.key: number}
                setattr(row, self.field, {**(getattr(row, self.field) or {}), self.key: number})
            self.model._default_manager.filter(pk=row.pk).update(**{self.field: value})
            if self.key is None:
                setattr(row, self.field, number)
            bulk_submit(self.task_name, row.pk, number, *extra)
        return number

    def restart(self, pk: int, *extra: Any, done: Callable[[Any], bool]) -> str:
        """Hand job `pk` to the pump on a fresh chain (a message queued before the job went through
        the pump, a retry after a backoff): "submitted", or "already_done" if `done(row)`."""
        with transaction.atomic():
            row = self.model._default_manager.select_for_update().get(pk=pk)
            if done(row):
                return "already_done"
            self.submit_next(row, *extra)
        return "submitted"

    def waiting(self) -> set[int]:
        """The ids of the current brand's jobs with a chunk of this chain in the pump (queued,
        on the queue, or running): a sweep restarting stalled jobs leaves those alone."""
        rows = BulkChunk.objects.filter(schema_name=connection.schema_name, task=self.task_name)
        return {args[0] for args in rows.values_list("args", flat=True) if args}
