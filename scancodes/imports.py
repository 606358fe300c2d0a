"""Imports of one item, one code, as background jobs: dealers with their regions, and a printer's
own code file. The admin's upload (`code_import_start`) checks the file's bounds and header at
once — with the bounded reader of the member imports (crm/spreadsheets/reading.py: size, XLSX
unpacked size and parts, rows, columns, cell length, all before parsing) — stores it as a
CodeImport in the brand's schema and submits it, in the same transaction, to the brand's bulk pump
(crm/tenancy/pump.py), which runs it as numbered chunks (`scancodes.import_chunk`, CHAIN, the
number in `options["chunks"]`; a chunk delivered again after it handed on is stale and writes
nothing). `scancodes.import_run`, what was queued before the pump, hands the job to it. The result
page shows the progress and the row errors in Chinese.

- Dealers: each row is created or updated by its code (经销商编码) on its own, a chunk at a time,
  each chunk committed with the job's progress; a row with an error writes nothing, the others
  are imported. A pump chunk imports DEALER_ROWS_PER_CHUNK rows and submits its successor with
  the last of them; each chunk first reads the codes of the lines before it again (a code
  repeated in the file is an error whichever chunk its rows fall in). Re-running a file (or a job
  redelivered after its worker died, resuming after the last recorded line) is harmless: an
  upsert by code.
- A printer's codes are all or nothing (a partly imported batch would be printed and half of it
  grant nothing): first every row is checked (serial, secret of ≥ 80 bits, repeated in the file,
  already held by another batch), chunk by chunk with progress; one bad row fails the job with
  every row error listed and nothing written. Then one transaction creates the batch, COPYs the
  codes (secrets as keyed hashes only, claim_keys.py) and marks the job done with the batch; a
  retried job whose batch exists is done already. The file's name and SHA-256 stay on the batch.
  Being all or nothing, it is one pump chunk, not cut: it holds one of the brand's places on the
  bulk queue for its whole length (a million rows checked, then COPYed; not measured).
"""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.db import connection
from crm.db.locks import SCANCODE_IMPORT, session_advisory_lock
from crm.errors import AppError
from crm.spreadsheets.reading import MB, Sheet, SheetLimits, SheetRefused, sheet_open
from crm.tenancy.pump import BulkChain
from members.imports import cell_text
from members.models import Store

from . import claim_keys, error_codes
from .models import Code, CodeBatch, CodeImport, Dealer
from .tasks import import_chunk

DEALER_LIMITS = SheetLimits(max_rows=20_000, max_columns=20)
# A printer's file: one code per row, ~35 bytes a CSV row. The whole file is held by the job row
# and checked in memory (a set of serials): a million codes is a few tens of MB.
CODE_LIMITS = SheetLimits(max_rows=1_000_000, max_columns=10, max_cell_chars=200, max_upload_bytes=48 * MB)
CHUNK_ROWS = {CodeImport.Kind.DEALERS: 500, CodeImport.Kind.CODES: 20_000}
# Dealer rows per pump chunk (ten transactions of CHUNK_ROWS): a 20,000-row file is four chunks.
DEALER_ROWS_PER_CHUNK = 5_000
# A job's chain of pump chunks.
CHAIN = BulkChain(import_chunk.name, CodeImport, field="options", key="chunks")
ERRORS_KEPT = 2_000
STALLED_AFTER_MINUTES = 5

DEALER_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("经销商编码", "编码", "code"),
    "name": ("经销商名称", "名称", "name"),
    "region_name": ("销售区域", "区域", "region"),
    "areas": ("区域包含的省市", "省市", "areas"),
    "store_code": ("门店编码", "store_code"),
    "assign_owner": ("分配给门店导购", "assign_owner"),
    "is_active": ("有效", "is_active"),
}
DEALER_COLUMNS_HELP = [
    ("经销商编码", "必填，最多 32 个字符；已有的经销商按编码更新"),
    ("经销商名称", "必填"),
    ("销售区域", "如 华东区，显示在预警和报表中"),
    ("区域包含的省市", "省份或城市名，以顿号、逗号或空格分隔，如 浙江、上海、苏州；留空则不做窜货判断"),
    ("门店编码", "可选，经销商自己的门店（须已在门店中建好）"),
    ("分配给门店导购", "是/否：扫码会员没有专属导购时分配给该门店的导购（须填门店编码）"),
    ("有效", "是/否，留空为是"),
]
CODE_COLUMNS: dict[str, tuple[str, ...]] = {"serial": ("序列号", "serial"), "secret": ("验证码", "secret")}
CODE_COLUMNS_HELP = [
    ("序列号", "必填，正整数，在本品牌内唯一"),
    ("验证码", "必填，至少 16 位字母数字（≥ 80 位随机性），大小写、空格和 - 不计"),
]
_YES = {"是", "y", "yes", "true", "1", "√"}
_NO = {"否", "n", "no", "false", "0", ""}


def import_limits(kind: str) -> SheetLimits:
    return DEALER_LIMITS if kind == CodeImport.Kind.DEALERS else CODE_LIMITS


def _refused(message: str) -> AppError:
    return AppError(error_codes.IMPORT_INVALID, message, fields={"file": [message]})


@contextmanager
def _sheet(job: CodeImport) -> Iterator[Sheet]:
    try:
        with sheet_open(content=bytes(job.content), filename=job.filename, limits=import_limits(job.kind)) as sheet:
            yield sheet
    except SheetRefused as exc:
        raise AppError(error_codes.IMPORT_INVALID, exc.message, fields={"file": [exc.message]}) from exc


def _columns(headers: Sequence[Any], wanted: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """field → column index by the header's names (Chinese, short or English)."""
    names = [cell_text(header).lower() for header in headers]
    found = {}
    for name, aliases in wanted.items():
        for alias in aliases:
            if alias.lower() in names:
                found[name] = names.index(alias.lower())
                break
    return found


def _code_columns(headers: Sequence[Any]) -> tuple[dict[str, int], bool]:
    """The code file's columns, and whether its first line is data (a printer's file often has no
    header: serial,secret)."""
    if headers and cell_text(headers[0]).isdigit():
        return {"serial": 0, "secret": 1}, True
    columns = _columns(headers, CODE_COLUMNS)
    if set(columns) != set(CODE_COLUMNS):
        raise _refused("表头须包含：序列号、验证码（或没有表头，第一列序列号、第二列验证码）。")
    return columns, False


def _header_check(kind: str, headers: Sequence[Any]) -> None:
    if kind == CodeImport.Kind.DEALERS:
        columns = _columns(headers, DEALER_COLUMNS)
        if "code" not in columns or "name" not in columns:
            raise _refused("表头须包含：经销商编码、经销商名称（可下载导入模板）。")
    else:
        _code_columns(headers)


# --- starting, running, resuming ------------------------------------------------------------------


def code_import_start(
    *, kind: str, content: bytes, filename: str, actor: str, options: dict[str, str] | None = None
) -> CodeImport:
    """Check the file (bounds, header; for codes the SKU and product) and queue its import.
    AppError(scancodes_import_invalid) for a file that cannot be imported at all."""
    job = _job_new(kind=kind, content=content, filename=filename, actor=actor, options=options)
    with transaction.atomic():
        job.save()
        CHAIN.submit_next(job)
    return job


def _job_new(*, kind: str, content: bytes, filename: str, actor: str, options: dict[str, str] | None) -> CodeImport:
    if kind not in CodeImport.Kind.values:
        raise _refused("未知的导入类型。")
    options = {key: (value or "").strip() for key, value in (options or {}).items()}
    if kind == CodeImport.Kind.CODES:
        if not options.get("sku") or not options.get("product_name"):
            raise AppError(error_codes.BATCH_INVALID, "SKU 和商品名称必填。", fields={"sku": ["SKU 和商品名称必填。"]})
        if len(options["sku"]) > 64 or len(options["product_name"]) > 100:
            raise AppError(error_codes.BATCH_INVALID, "SKU 最多 64 个字符，商品名称最多 100 个字符。")
    job = CodeImport(
        kind=kind,
        filename=filename[:255],
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        options=options,
        actor=actor[:150],
    )
    with _sheet(job) as sheet:
        _header_check(kind, sheet.headers)
        job.rows_total = sheet.data_rows + (
            1 if kind == CodeImport.Kind.CODES and _code_columns(sheet.headers)[1] else 0
        )
    return job


def code_import_run(*, job_id: int) -> str:
    """Import (or resume) a whole job in this call: "done", "failed" (the reason and the row
    errors are on the job), "already_done", or "busy" (another worker holds it)."""
    return _job_run(job_id=job_id, chunk=None)


def code_import_chunk(*, job_id: int, chunk: int) -> str:
    """One pump chunk of a job (a dealer file's next DEALER_ROWS_PER_CHUNK rows, a printer's file
    whole): "continued" (the next chunk submitted), "stale" (a later chunk was submitted), or as
    code_import_run."""
    return _job_run(job_id=job_id, chunk=chunk)


def code_import_submit(*, job_id: int) -> str:
    """Hand a job to the brand's pump (a `scancodes.import_run` message from before the pump):
    "submitted", or "already_done"."""
    return CHAIN.restart(job_id, done=lambda job: job.finished)


def _job_run(*, job_id: int, chunk: int | None) -> str:
    with session_advisory_lock(SCANCODE_IMPORT, job_id) as locked:
        if not locked:
            return "busy"
        job = CodeImport.objects.get(pk=job_id)
        if job.finished:
            return "already_done"
        if CHAIN.stale(job, chunk):
            return "stale"
        CodeImport.objects.filter(pk=job.pk).update(started_at=job.started_at or timezone.now())
        try:
            if job.kind == CodeImport.Kind.DEALERS:
                if _dealers_run(job, one_part=chunk is not None):
                    return "continued"
            else:
                _codes_run(job)
        except AppError as exc:
            _finish(job, status=CodeImport.Status.FAILED, error=exc.message)
            return "failed"
        job.refresh_from_db()
        return "done" if job.status == CodeImport.Status.SUCCEEDED else "failed"


def code_import_stalled(job: CodeImport) -> bool:
    return not job.finished and (timezone.now() - job.updated_at).total_seconds() > STALLED_AFTER_MINUTES * 60


def code_import_resume(*, job: CodeImport) -> bool:
    """Queue a stalled job again (its worker died, or the message never reached the broker)."""
    if not code_import_stalled(job):
        return False
    with transaction.atomic():
        CodeImport.objects.filter(pk=job.pk).update(updated_at=timezone.now())
        CHAIN.submit_next(job)
    return True


def _finish(job: CodeImport, *, status: str, error: str = "", batch: CodeBatch | None = None) -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.content = b""  # the results stay; the file is not needed any more
    if batch is not None:
        job.batch = batch
    job.save(update_fields=["status", "error", "finished_at", "content", "batch", "updated_at"])


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


def _record(
    job: CodeImport, *, done: int, errors: list[RowError], last_line: int, created: int = 0, updated: int = 0
) -> None:
    """One chunk's outcome and the job's progress, committed together (the caller's transaction)."""
    room = max(0, ERRORS_KEPT - len(job.row_errors))
    job.row_errors = [*job.row_errors, *({"line": e.line, "message": e.message} for e in errors[:room])]
    job.rows_done += done
    job.errors += len(errors)
    job.created += created
    job.updated += updated
    job.last_line = last_line
    job.save(
        update_fields=["row_errors", "rows_done", "errors", "created", "updated", "last_line", "status", "updated_at"]
    )


def _chunks(
    sheet: Sheet, *, after_line: int, size: int, header_is_data: bool = False
) -> Iterator[list[tuple[int, list[Any]]]]:
    chunk: list[tuple[int, list[Any]]] = []
    if header_is_data and after_line < sheet.header_line:
        chunk.append((sheet.header_line, list(sheet.headers)))
    for line, values in sheet.rows(after_line=after_line):
        if not any(cell_text(value) for value in values):
            continue
        chunk.append((line, values))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- dealers ----------------------------------------------------------------------------------------


def _yes_no(text: str) -> bool | None:
    lowered = text.lower()
    return True if lowered in _YES else False if lowered in _NO else None


def _dealers_run(job: CodeImport, *, one_part: bool = False) -> bool:
    """Import the rows after the job's last line. `one_part`: DEALER_ROWS_PER_CHUNK rows, the
    next chunk submitted with the last of them; True then."""
    job.status = CodeImport.Status.RUNNING
    stores = {store.code.upper(): store for store in Store.objects.all()}
    done = 0
    with _sheet(job) as sheet:
        columns = _columns(sheet.headers, DEALER_COLUMNS)
        seen = _dealers_seen(sheet, columns, stores, through_line=job.last_line)
        chunks = _chunks(sheet, after_line=job.last_line, size=CHUNK_ROWS[CodeImport.Kind.DEALERS])
        for chunk, more in _with_more(chunks):
            done += len(chunk)
            hand_on = one_part and done >= DEALER_ROWS_PER_CHUNK and more
            errors: list[RowError] = []
            dealers: list[Dealer] = []
            for line, values in chunk:
                cells = _dealer_cells(values, columns)
                message = _dealer_row_error(cells, stores, seen, line)
                if message:
                    errors.append(RowError(line, message))
                    continue
                seen[cells["code"]] = line
                store = stores.get(cells.get("store_code", "").upper())
                dealers.append(
                    Dealer(
                        code=cells["code"],
                        name=cells["name"],
                        region_name=cells.get("region_name", ""),
                        region_areas=_areas(cells.get("areas", "")),
                        store=store,
                        assign_owner=bool(_yes_no(cells.get("assign_owner", ""))),
                        is_active=not cells.get("is_active") or bool(_yes_no(cells["is_active"])),
                    )
                )
            with transaction.atomic():
                existing = set(Dealer.objects.filter(code__in=[d.code for d in dealers]).values_list("code", flat=True))
                if dealers:
                    now = timezone.now()
                    for dealer in dealers:
                        dealer.created_at = dealer.updated_at = now
                    Dealer.objects.bulk_create(
                        dealers,
                        update_conflicts=True,
                        unique_fields=["code"],
                        update_fields=[
                            "name",
                            "region_name",
                            "region_areas",
                            "store",
                            "assign_owner",
                            "is_active",
                            "updated_at",
                        ],
                    )
                _record(
                    job,
                    done=len(chunk),
                    errors=errors,
                    last_line=chunk[-1][0],
                    created=len(dealers) - len(existing),
                    updated=len(existing),
                )
                if hand_on:
                    CHAIN.submit_next(job)
            if hand_on:
                return True
    _finish(job, status=CodeImport.Status.SUCCEEDED)
    return False


def _with_more(chunks: Iterator[list[tuple[int, list[Any]]]]) -> Iterator[tuple[list[tuple[int, list[Any]]], bool]]:
    """Each chunk with whether another follows (read one ahead): the last part hands on to nobody."""
    current = next(chunks, None)
    while current is not None:
        following = next(chunks, None)
        yield current, following is not None
        current = following


def _dealer_cells(values: list[Any], columns: dict[str, int]) -> dict[str, str]:
    return {name: cell_text(values[i]) if i < len(values) else "" for name, i in columns.items()}


def _dealers_seen(
    sheet: Sheet, columns: dict[str, int], stores: dict[str, Store], *, through_line: int
) -> dict[str, int]:
    """The dealer codes of the valid rows up to `through_line` (imported by earlier chunks), by
    line: what a chunk needs to find a code repeated in the file."""
    seen: dict[str, int] = {}
    for chunk in _chunks(sheet, after_line=0, size=CHUNK_ROWS[CodeImport.Kind.DEALERS]):
        for line, values in chunk:
            if line > through_line:
                return seen
            cells = _dealer_cells(values, columns)
            if not _dealer_row_error(cells, stores, seen, line):
                seen[cells["code"]] = line
    return seen


def _areas(text: str) -> list[str]:
    for separator in ("、", "，", ",", "；", ";", "/"):
        text = text.replace(separator, " ")
    return [area for area in text.split() if area]


def _dealer_row_error(cells: dict[str, str], stores: dict[str, Store], seen: dict[str, int], line: int) -> str:
    code, name = cells.get("code", ""), cells.get("name", "")
    if not code or not name:
        return "经销商编码和经销商名称必填。"
    if len(code) > 32:
        return f"经销商编码“{code[:40]}”超过 32 个字符。"
    if len(name) > 100:
        return "经销商名称超过 100 个字符。"
    if code in seen:
        return f"经销商编码 {code} 与第 {seen[code]} 行重复。"
    if len(cells.get("region_name", "")) > 50:
        return "销售区域超过 50 个字符。"
    if any(len(area) > 32 for area in _areas(cells.get("areas", ""))):
        return "区域包含的省市中有超过 32 个字符的名称，请用顿号、逗号或空格分隔。"
    store_code = cells.get("store_code", "")
    if store_code and store_code.upper() not in stores:
        return f"门店编码 {store_code} 不存在，请先在门店中建好。"
    for column, label in (("assign_owner", "分配给门店导购"), ("is_active", "有效")):
        if _yes_no(cells.get(column, "")) is None:
            return f"“{label}”请填 是 或 否（现为“{cells[column][:20]}”）。"
    if _yes_no(cells.get("assign_owner", "")) and not store_code:
        return "分配给门店导购须同时填写门店编码。"
    return ""


# --- a printer's codes -------------------------------------------------------------------------------


def _code_row(values: list[Any], columns: dict[str, int]) -> tuple[int, str] | str:
    """(serial, normalised secret) or the row's error."""
    cells = [cell_text(values[i]) if i < len(values) else "" for i in (columns["serial"], columns["secret"])]
    serial_text, secret = cells[0], claim_keys.secret_normalize(cells[1])
    if not serial_text.isdigit() or not 0 < int(serial_text) < 2**62:
        return f"序列号须为正整数（现为“{serial_text[:30]}”）。"
    # A printer's secret must carry as much as ours: 16 base32 characters are 80 bits.
    if len(secret) < 16:
        return "验证码至少 16 位字母数字（≥ 80 位随机性）。"
    return int(serial_text), secret


def _codes_run(job: CodeImport) -> None:
    if job.batch_id:  # the write committed before the worker died: nothing left to do
        _finish(job, status=CodeImport.Status.SUCCEEDED)
        return
    # Checking writes nothing but the job's progress, so a resumed job checks from the start again.
    job.status = CodeImport.Status.CHECKING
    job.rows_done = job.errors = job.last_line = 0
    job.row_errors = []
    seen: dict[int, int] = {}
    with _sheet(job) as sheet:
        columns, header_is_data = _code_columns(sheet.headers)
        for chunk in _chunks(
            sheet, after_line=0, size=CHUNK_ROWS[CodeImport.Kind.CODES], header_is_data=header_is_data
        ):
            errors: list[RowError] = []
            fresh: dict[int, int] = {}
            for line, values in chunk:
                row = _code_row(values, columns)
                if isinstance(row, str):
                    errors.append(RowError(line, row))
                elif row[0] in seen or row[0] in fresh:
                    errors.append(RowError(line, f"序列号 {row[0]} 与第 {seen.get(row[0]) or fresh[row[0]]} 行重复。"))
                else:
                    fresh[row[0]] = line
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT serial FROM {Code._meta.db_table} WHERE serial = ANY(%s)", [list(fresh)])
                for (taken,) in cursor.fetchall():
                    errors.append(RowError(fresh.pop(taken), f"序列号 {taken} 已被其他批次使用。"))
            seen.update(fresh)
            errors.sort(key=lambda error: error.line)
            with transaction.atomic():
                _record(job, done=len(chunk), errors=errors, last_line=chunk[-1][0])
        if job.errors:
            _finish(
                job,
                status=CodeImport.Status.FAILED,
                error=f"文件中有 {job.errors} 行错误，整份文件未导入。请改正后重新上传。",
            )
            return
        if not seen:
            raise _refused("文件中没有码。")
        CodeImport.objects.filter(pk=job.pk).update(status=CodeImport.Status.RUNNING, updated_at=timezone.now())
        job.status = CodeImport.Status.RUNNING
        first, last = min(seen), max(seen)
        del seen
        try:
            with transaction.atomic():
                batch = CodeBatch.objects.create(
                    batch_no=f"IMP-{job.pk}-{job.options['sku'][:16]}"[:32],
                    sku=job.options["sku"],
                    product_name=job.options["product_name"],
                    category=job.options.get("category", "")[:50],
                    quantity=job.rows_done,
                    first_serial=first,
                    last_serial=last,
                    origin=CodeBatch.Origin.IMPORTED,
                    created_by=job.actor,
                    import_filename=job.filename,
                    import_sha256=job.sha256,
                    import_note=job.options.get("note", "")[:255],
                )
                _codes_copy(sheet, columns=columns, header_is_data=header_is_data, batch=batch)
                job.created = job.rows_done
                job.save(update_fields=["created", "updated_at"])
                _finish(job, status=CodeImport.Status.SUCCEEDED, batch=batch)
        except IntegrityError as exc:
            # A serial taken by another batch between the check and the write.
            raise _refused("文件中有序列号刚被其他批次使用，整份文件未导入。请重新上传以查看是哪些行。") from exc


def _codes_copy(sheet: Sheet, *, columns: dict[str, int], header_is_data: bool, batch: CodeBatch) -> None:
    """COPY the checked rows: serial, batch, the keyed hash of the secret."""
    hash_of = claim_keys.imported_secret_hash
    with connection.cursor() as cursor:
        copy_sql = f"COPY {Code._meta.db_table} (serial, batch_id, secret_hash, scan_count, first_city) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for chunk in _chunks(
                sheet, after_line=0, size=CHUNK_ROWS[CodeImport.Kind.CODES], header_is_data=header_is_data
            ):
                for _line, values in chunk:
                    row = _code_row(values, columns)
                    assert not isinstance(row, str)  # checked above
                    copy.write_row((row[0], batch.pk, hash_of(row[0], row[1]), 0, ""))


def import_template_csv(kind: str) -> bytes:
    """The upload page's template: the header and one example row."""
    out = io.StringIO()
    writer = csv.writer(out)
    if kind == CodeImport.Kind.DEALERS:
        writer.writerow([aliases[0] for aliases in DEALER_COLUMNS.values()])
        writer.writerow(["D-ZJ-001", "杭州示例商贸", "华东区", "浙江、上海", "", "否", "是"])
    else:
        writer.writerow([aliases[0] for aliases in CODE_COLUMNS.values()])
        writer.writerow(["900000000001", "ABCDEFGHJKLMNPQRSTUV"])
    return ("\ufeff" + out.getvalue()).encode()


# --- the synchronous form (services, tests, small files) ---------------------------------------------


def code_import_now(
    *, kind: str, content: bytes, filename: str, actor: str, options: dict[str, str] | None = None
) -> CodeImport:
    """Import a file at once in this process (no queue): the same checks and the same job row."""
    job = _job_new(kind=kind, content=content, filename=filename, actor=actor, options=options)
    job.save()
    code_import_run(job_id=job.pk)
    job.refresh_from_db()
    return job
