"""Imports as background jobs. A 5,000-row member import took 51 s in one web request (issue 21);
now the request only checks the file and queues it:

- `members_import_start` / `orders_import_start` (the admin's upload): the file is checked at once
  — its bounds before anything is parsed, its header, the importer's rights (members/imports.py,
  members/order_imports.py) — so a file that cannot be imported is refused on the upload page.
  It is then stored as an ImportJob in the brand's own schema, and its first chunk is submitted
  to the brand's bulk pump (crm/tenancy/pump.py) in the same transaction.
- `import_job_chunk` (a pump chunk, `members.import_job_chunk`): imports up to IMPORT_CHUNK_ROWS
  rows, a record at a time, with the very code of the synchronous imports (each member row its
  own enrolment, orders in batches), and records each record's row results with the job's
  progress in one transaction: the result page shows how far it got. The chunk that reaches
  its budget submits the next one in its last record's transaction, so a big file takes its
  turn on the bulk queue with the other brands' work instead of holding a worker to its end.
  Chunks are numbered (`options["chunks"]`): one delivered again after it handed on is stale.
  At the end the stored file is dropped (it holds personal data; the results stay).
  `import_job_run` (task `members.import_job_run`, what was queued before the pump) runs a
  whole job in one call.
- Resuming: the job records the last sheet line it has imported. A job whose worker died is
  continued from the line after it by celery's redelivery (tasks are acknowledged late), the
  pump's sweep, or 继续导入 on the result page once it has made no progress for STALLED_AFTER
  (a fresh chunk number: any chunk still around goes stale); a session advisory lock keeps two
  workers off one job. Rows imported but not yet recorded when the worker died are
  imported again, which the imports' own rule makes harmless: they are reported as 已是会员 /
  已存在 (and an order repeated in the file is then 已存在 rather than "same as line n").
"""

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.db.locks import MEMBER_IMPORT, session_advisory_lock
from crm.errors import AppError
from crm.tenancy.pump import BulkChain

from .. import error_codes, imports, order_imports
from ..imports import MemberRows, RowResult
from ..models import ImportJob, ImportJobRow, Staff
from ..order_imports import OrderRowResult, OrderRows
from ..tasks import import_job_chunk as chunk_task

STALLED_AFTER = dt.timedelta(minutes=5)
# Rows per pump chunk: ~10 s of member enrolments (~10 ms a row), less of orders.
IMPORT_CHUNK_ROWS = 1000
CHUNK_TASK = chunk_task.name  # "members.import_job_chunk", run by the pump
# The job's chain of chunks, numbered in options["chunks"].
CHAIN = BulkChain(CHUNK_TASK, ImportJob, field="options", key="chunks")


def members_import_start(*, content: bytes, filename: str, user: Any, staff: Staff | None, actor: str) -> ImportJob:
    """Check a member file and queue its import (module docstring). AppError(import_invalid, or
    the consent gate's) for a file that cannot be imported at all."""
    job = ImportJob(
        kind=ImportJob.Kind.MEMBERS,
        filename=filename[:255],
        content=content,
        options={"staff_id": staff.pk if staff else None},
        user=user,
        actor=actor,
    )
    return _start(job)


def orders_import_start(*, content: bytes, filename: str, user: Any, earn_points: bool, actor: str) -> ImportJob:
    """Check a historical-order file and the importer's rights, and queue its import."""
    job = ImportJob(
        kind=ImportJob.Kind.ORDERS,
        filename=filename[:255],
        content=content,
        options={"earn_points": earn_points},
        user=user,
        actor=actor,
    )
    return _start(job)


def _start(job: ImportJob) -> ImportJob:
    with imports.import_sheet_open(content=bytes(job.content), filename=job.filename, max_rows=_max_rows(job)) as sheet:
        _rows_for(job, headers=sheet.headers)  # the header and the rights, as the job will see them
        job.rows_total = sheet.data_rows
    with transaction.atomic():
        job.save()
        _chunk_submit(job)
    return job


def _chunk_submit(job: ImportJob) -> None:
    """Submit the job's next pump chunk, numbered, in the current transaction."""
    CHAIN.submit_next(job)


def import_job_run(*, job_id: int) -> str:
    """Import (or resume) a whole job in this call: "done", "failed" (the file could not be
    imported; the reason is on the job), "already_done", or "busy" (another worker holds it)."""
    return _job_run(job_id=job_id, chunk=None)


def import_job_chunk(*, job_id: int, chunk: int) -> str:
    """One pump chunk of a job: up to IMPORT_CHUNK_ROWS rows, then the next chunk is submitted
    with the last record. "continued", "stale" (a later chunk was submitted), or as
    import_job_run."""
    return _job_run(job_id=job_id, chunk=chunk)


def _job_run(*, job_id: int, chunk: int | None) -> str:
    with session_advisory_lock(MEMBER_IMPORT, job_id) as locked:
        if not locked:
            return "busy"
        job = ImportJob.objects.select_related("user").get(pk=job_id)
        if job.finished:
            return "already_done"
        if CHAIN.stale(job, chunk):
            return "stale"
        job.status = ImportJob.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at", "updated_at"])
        try:
            handed_on = _import(job, rows_budget=IMPORT_CHUNK_ROWS if chunk is not None else None)
        except AppError as exc:
            _finish(job, status=ImportJob.Status.FAILED, error=exc.message)
            return "failed"
        if handed_on:
            return "continued"
        _finish(job, status=ImportJob.Status.SUCCEEDED)
        return "done"


def import_job_resume(*, job: ImportJob) -> bool:
    """Queue a stalled job again (its worker died, or the message never reached the broker).
    False, and nothing queued, when the job has finished or is still making progress."""
    if not import_job_stalled(job):
        return False
    with transaction.atomic():
        # Touched, so the page stops offering to resume while the chunk is on its way.
        ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now())
        _chunk_submit(job)
    return True


def import_job_stalled(job: ImportJob) -> bool:
    return not job.finished and timezone.now() - job.updated_at > STALLED_AFTER


def _import(job: ImportJob, *, rows_budget: int | None = None) -> bool:
    """Import the rows after the job's last line, a record at a time. With `rows_budget`: stop
    once that many are recorded, submitting the next chunk with the last record; True then."""
    done = 0
    with imports.import_sheet_open(content=bytes(job.content), filename=job.filename, max_rows=_max_rows(job)) as sheet:
        rows = _rows_for(job, headers=sheet.headers)
        chunk: list[tuple[int, list[Any]]] = []
        for line, values in sheet.rows(after_line=job.last_line):
            chunk.append((line, values))
            if len(chunk) >= rows.chunk_rows:
                done += len(chunk)
                if rows_budget is not None and done >= rows_budget:
                    _record(job, results=rows.import_rows(chunk), last_line=line, then=lambda: _chunk_submit(job))
                    return True
                _record(job, results=rows.import_rows(chunk), last_line=line)
                chunk = []
        if chunk:
            _record(job, results=rows.import_rows(chunk), last_line=chunk[-1][0])
    return False


def _max_rows(job: ImportJob) -> int:
    # Read when used, not imported by value: the modules own their limits (and tests lower them).
    return imports.MAX_ROWS if job.kind == ImportJob.Kind.MEMBERS else order_imports.MAX_ROWS


def _rows_for(job: ImportJob, *, headers: list[Any]) -> MemberRows | OrderRows:
    """The kind's row importer for the job's file, its user and options. AppError if the header
    or the user's rights do not allow the import."""
    if job.kind == ImportJob.Kind.MEMBERS:
        staff = None
        if job.options.get("staff_id"):
            staff = Staff.objects.select_related("store").filter(pk=job.options["staff_id"]).first()
            if staff is None:
                raise AppError(error_codes.STAFF_INVALID, "所选经办导购已不存在，请重新导入。")
        return MemberRows(headers=headers, user=job.user, staff=staff, actor=job.actor, filename=job.filename)
    return OrderRows(headers=headers, user=job.user, earn_points=bool(job.options.get("earn_points")), actor=job.actor)


def _record(
    job: ImportJob,
    *,
    results: Sequence[RowResult | OrderRowResult],
    last_line: int,
    then: Callable[[], None] | None = None,
) -> None:
    """One record's row results and the job's progress, together (and `then`, in the same
    transaction: the next chunk's submission)."""
    counts = Counter(result.status for result in results)
    with transaction.atomic():
        ImportJobRow.objects.bulk_create(
            [
                ImportJobRow(
                    job=job,
                    line=result.line,
                    status=result.status,
                    order_no=getattr(result, "order_no", "")[:64],
                    member_no=result.member_no,
                    points_earned=getattr(result, "points_earned", 0),
                    column=getattr(result, "column", ""),
                    message=result.message,
                )
                for result in results
            ],
            ignore_conflicts=True,
        )
        job.rows_done += len(results)
        job.created += counts["created"]
        job.existing += counts["existing"]
        job.errors += counts["error"]
        job.last_line = last_line
        job.save(update_fields=["rows_done", "created", "existing", "errors", "last_line", "updated_at"])
        if then is not None:
            then()


def _finish(job: ImportJob, *, status: str, error: str = "") -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    if status == ImportJob.Status.SUCCEEDED:
        # The scan counted rows with any text; rows whose cells are all blank spaces are skipped.
        job.rows_total = job.rows_done
    job.content = b""  # the file holds personal data; the row results are what stays
    job.save(update_fields=["status", "error", "finished_at", "rows_total", "content", "updated_at"])
