"""Code pools filled in the background from the back office: generate N codes for a generated
pool, or import the brand's own file of codes (CSV/XLSX) into an imported pool. A pool of a
million codes is minutes of work, so the page only checks and queues (a CouponPoolJob) and the
brand's bulk pump (crm/tenancy/pump.py) runs it as a chain of chunks (`coupons.pool_job_chunk`):
each adds one part (GENERATE_CHUNK codes, IMPORT_CHUNK rows) and commits it with the job's
progress and the submission of the next chunk, numbered (`CouponPoolJob.chunks`), so a big pool
takes its turn on the bulk queue with the other brands' work, and a chunk run twice (delivered
again, retried) finds itself stale and adds nothing. The page shows how far it got, and a job
whose worker died goes on from there (celery's redelivery, the pump's sweep, or 继续 on the page
once it made no progress for STALLED_AFTER: a fresh chunk number, any older chunk goes stale; a
session advisory lock keeps two workers off one job). `coupons.pool_job_run`, what was queued
before the pump, hands the job to the pump.

- Generating calls coupons.services.coupon_codes_generate per chunk (80-bit codes of the
  alphabet without 0/O/1/I; a collision is redrawn), so a resumed job adds only what is missing.
- Importing reads the file within the bounds of the member imports (crm/spreadsheets/reading.py:
  size, unzipped size, rows, cells — refused before anything is parsed), then checks EVERY row
  before adding one: a malformed code, a code twice in the file, or a code already in any pool
  refuses the whole file with the rows named (the first ROW_ERRORS_KEPT), and nothing is added —
  as coupon_codes_import does for one call. Then the codes are added in chunks through
  coupon_codes_import (stored hashed, the last 4 characters in clear). The file is dropped when
  the job ends: its codes are bearer secrets.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.db.locks import COUPON_POOL_JOB, session_advisory_lock
from crm.errors import AppError
from crm.spreadsheets.reading import SheetLimits, SheetRefused, sheet_open
from crm.tenancy.pump import BulkChain

from . import error_codes, rules
from .error_codes import coupon_error
from .models import CouponCode, CouponPoolJob, CouponTemplate
from .services import coupon_codes_generate, coupon_codes_import
from .tasks import pool_job_chunk

STALLED_AFTER = dt.timedelta(minutes=5)
GENERATE_MAX = 2_000_000
GENERATE_CHUNK = 50_000
IMPORT_CHUNK = 10_000
ROW_ERRORS_KEPT = 200
# One code per row, a few columns at most: far smaller bounds per row than a member file.
IMPORT_LIMITS = SheetLimits(max_rows=200_000, max_columns=10, max_cell_chars=200, bytes_per_row=256)
CODE_HEADERS = {"券码", "优惠券码", "code", "codes", "coupon_code", "券号"}

BAD_CODE = "券码须为 6–32 位字母或数字"
# The job's chain of pump chunks, each one part (a transaction) of codes.
CHAIN = BulkChain(pool_job_chunk.name, CouponPoolJob, field="chunks")


def _template_in_mode(template_id: int, mode: str) -> CouponTemplate:
    template = CouponTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise coupon_error(error_codes.TEMPLATE_INVALID, "优惠券不存在。")
    if template.code_mode != mode:
        words = "系统生成券码" if mode == CouponTemplate.CodeMode.GENERATED else "导入券码"
        raise coupon_error(error_codes.TEMPLATE_INVALID, f"该券不是“{words}”方式，不能这样添加券码。")
    return template


def coupon_pool_generate_start(*, template_id: int, count: int, user: Any) -> CouponPoolJob:
    """Check and queue the generation of `count` codes (1–2,000,000) for a generated pool."""
    _template_in_mode(template_id, CouponTemplate.CodeMode.GENERATED)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= GENERATE_MAX:
        raise coupon_error(error_codes.CODE_IMPORT_INVALID, fields={"count": [f"数量须为 1–{GENERATE_MAX:,}。"]})
    with transaction.atomic():
        job = CouponPoolJob.objects.create(
            template_id=template_id, kind=CouponPoolJob.Kind.GENERATE, count=count, user=user
        )
        CHAIN.submit_next(job)
    return job


def coupon_pool_import_start(*, template_id: int, content: bytes, filename: str, user: Any) -> CouponPoolJob:
    """Check a file of codes (its bounds and its header; the rows are checked by the job) and
    queue its import into an imported pool."""
    _template_in_mode(template_id, CouponTemplate.CodeMode.IMPORTED)
    with _sheet(content, filename) as (rows_total, _column, _rows):
        pass
    with transaction.atomic():
        job = CouponPoolJob.objects.create(
            template_id=template_id,
            kind=CouponPoolJob.Kind.IMPORT,
            count=rows_total,
            filename=filename[:255],
            content=content,
            user=user,
        )
        CHAIN.submit_next(job)
    return job


class _Opened:
    """A file of codes as (rows with content, the code column, the rows after a line)."""

    def __init__(self, content: bytes, filename: str) -> None:
        self.content, self.filename = content, filename
        self._context: Any = None

    def __enter__(self) -> tuple[int, int, Any]:
        self._context = sheet_open(content=self.content, filename=self.filename, limits=IMPORT_LIMITS)
        try:
            sheet = self._context.__enter__()
        except SheetRefused as exc:
            raise coupon_error(error_codes.CODE_IMPORT_INVALID, exc.message) from exc
        headers = [str(h or "").strip().lower() for h in sheet.headers]
        named = [i for i, h in enumerate(headers) if h in CODE_HEADERS]
        if named:
            column = named[0]
        elif sum(1 for h in headers if h) == 1:
            column = next(i for i, h in enumerate(headers) if h)
        else:
            raise coupon_error(
                error_codes.CODE_IMPORT_INVALID, "找不到券码列：请把第一行（表头）写为“券码”，每行一个券码。"
            )
        if not sheet.data_rows:
            raise coupon_error(error_codes.CODE_IMPORT_INVALID, "文件中没有券码（表头下没有数据行）。")

        def rows(after_line: int = 0) -> Iterator[tuple[int, str]]:
            try:
                for line, values in sheet.rows(after_line=after_line):
                    cell = values[column] if column < len(values) else None
                    text = "" if cell is None else str(cell).strip()
                    if text or any(v not in (None, "") for v in values):
                        yield line, text
            except SheetRefused as exc:
                raise coupon_error(error_codes.CODE_IMPORT_INVALID, exc.message) from exc

        return sheet.data_rows, column, rows

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)


def _sheet(content: bytes, filename: str) -> _Opened:
    return _Opened(content, filename)


def coupon_pool_job_run(*, job_id: int) -> str:
    """Run (or resume) a whole job in this call: "done", "failed" (the reason and any row errors
    are on the job), "already_done", or "busy" (another worker holds it)."""
    return _job_run(job_id=job_id, chunk=None)


def coupon_pool_job_chunk(*, job_id: int, chunk: int) -> str:
    """One pump chunk of a job: one part, committed with the job's progress and, if more is left,
    the next chunk's submission. "continued", "stale" (a later chunk was submitted), or as
    coupon_pool_job_run."""
    return _job_run(job_id=job_id, chunk=chunk)


def coupon_pool_job_submit(*, job_id: int) -> str:
    """Hand a job to the brand's pump (a `coupons.pool_job_run` message from before the pump):
    "submitted", or "already_done"."""
    return CHAIN.restart(job_id, done=lambda job: job.finished)


def _job_run(*, job_id: int, chunk: int | None) -> str:
    with session_advisory_lock(COUPON_POOL_JOB, job_id) as locked:
        if not locked:
            return "busy"
        job = CouponPoolJob.objects.get(pk=job_id)
        if job.finished:
            return "already_done"
        if CHAIN.stale(job, chunk):
            return "stale"
        job.status = CouponPoolJob.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at", "updated_at"])
        one_part = chunk is not None
        try:
            if job.kind == CouponPoolJob.Kind.GENERATE:
                handed_on = _generate(job, one_part=one_part)
            else:
                handed_on = _import(job, one_part=one_part)
        except AppError as exc:
            _finish(job, status=CouponPoolJob.Status.FAILED, error=exc.message)
            return "failed"
        if handed_on:
            return "continued"
        _finish(job, status=CouponPoolJob.Status.SUCCEEDED)
        return "done"


def _generate(job: CouponPoolJob, *, one_part: bool) -> bool:
    """Add the codes still missing, a part at a time. `one_part`: only the next part; True if more
    is left then (the next chunk submitted with the part)."""
    while job.done < job.count:
        with transaction.atomic():
            job.done += coupon_codes_generate(
                template_id=job.template_id, count=min(GENERATE_CHUNK, job.count - job.done)
            )
            job.save(update_fields=["done", "updated_at"])
            if one_part and job.done < job.count:
                CHAIN.submit_next(job)
                return True
    return False


def _import(job: CouponPoolJob, *, one_part: bool) -> bool:
    """Add the rows after the job's last line, a part at a time (every row checked first, while
    nothing is added). `one_part`: only the next part; True if rows are left then (the next chunk
    submitted with the part)."""
    with _sheet(bytes(job.content), job.filename) as (_total, _column, rows):
        if not job.last_line:  # nothing added yet: every row is checked first
            _check(job, rows())
        chunk: list[str] = []
        last = job.last_line
        for line, code in rows(after_line=job.last_line):
            if len(chunk) >= IMPORT_CHUNK:  # a full part, and a row after it
                _add(job, chunk, last, hand_on=one_part)
                if one_part:
                    return True
                chunk = []
            chunk.append(code)
            last = line
        if chunk:
            _add(job, chunk, last)
    return False


def _add(job: CouponPoolJob, codes: list[str], last_line: int, *, hand_on: bool = False) -> None:
    with transaction.atomic():
        job.done += coupon_codes_import(template_id=job.template_id, codes=codes)
        job.last_line = last_line
        job.save(update_fields=["done", "last_line", "updated_at"])
        if hand_on:
            CHAIN.submit_next(job)


def _check(job: CouponPoolJob, rows: Iterator[tuple[int, str]]) -> None:
    """Every row: a well-formed code, not twice in the file, not in any pool. Raises (after
    recording the rows) if any is wrong; nothing has been added then."""
    seen: dict[str, int] = {}
    errors: list[list[Any]] = []
    count = 0
    pending: dict[str, int] = {}  # hash → line, checked against the pools a batch at a time

    def note(line: int, message: str) -> None:
        nonlocal count
        count += 1
        if len(errors) < ROW_ERRORS_KEPT:
            errors.append([line, message])

    def against_pools() -> None:
        if not pending:
            return
        found = CouponCode.objects.filter(code_hash__in=list(pending)).values_list("code_hash", flat=True)
        for code_hash in found:
            note(pending[code_hash], "券码已存在于券码池中（本券或其他优惠券），不能重复导入。")
        pending.clear()

    checked = 0
    for line, raw in rows:
        checked += 1
        code = rules.code_normalize(raw)
        if not code:
            note(line, "缺少券码。")
        elif not (6 <= len(code) <= 32 and code.isascii() and code.isalnum()):
            other = "" if code.isascii() and code.isalnum() else "，含其他符号"
            note(line, f"{BAD_CODE}（本行为 {len(code)} 个字符{other}）。")
        elif code in seen:
            note(line, f"与第 {seen[code]} 行的券码重复。")
        else:
            seen[code] = line
            pending[rules.code_hash(code)] = line
            if len(pending) >= 5_000:
                against_pools()
        if checked % IMPORT_CHUNK == 0:
            CouponPoolJob.objects.filter(pk=job.pk).update(checked=checked, updated_at=timezone.now())
    against_pools()
    errors.sort(key=lambda e: e[0])
    job.checked = checked
    job.errors = count
    job.row_errors = errors
    job.save(update_fields=["checked", "errors", "row_errors", "updated_at"])
    if count:
        raise coupon_error(
            error_codes.CODE_IMPORT_INVALID, f"文件中有 {count} 行有误，未导入任何券码；请改正后重新上传。"
        )


def _finish(job: CouponPoolJob, *, status: str, error: str = "") -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.content = b""  # the codes are secrets; the pool keeps their hashes
    job.save(update_fields=["status", "error", "finished_at", "content", "updated_at"])


def coupon_pool_job_resume(*, job: CouponPoolJob) -> bool:
    """Queue a stalled job again. False, and nothing queued, when it has finished or moves."""
    if not coupon_pool_job_stalled(job):
        return False
    with transaction.atomic():
        CouponPoolJob.objects.filter(pk=job.pk).update(updated_at=timezone.now())
        CHAIN.submit_next(job)
    return True


def coupon_pool_job_stalled(job: CouponPoolJob) -> bool:
    return not job.finished and timezone.now() - job.updated_at > STALLED_AFTER
