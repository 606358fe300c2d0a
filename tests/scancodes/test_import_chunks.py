"""Dealer imports run through the brand's bulk pump as a chain of numbered chunks
(scancodes/imports.py CHAIN), DEALER_ROWS_PER_CHUNK rows a chunk: the dealers and the row errors
are what the whole import gives (a code repeated across chunks included); a chunk delivered again
writes nothing; a chunk killed half-way is run again to the same end. Through the real worker, a
second brand's small import is not behind all of the first brand's chunks (the pump's cap)."""

import time

import pytest
from django_tenants.utils import schema_context

from crm.tenancy.models import BulkChunk
from scancodes import imports
from scancodes.models import CodeImport, Dealer
from tests.conftest import BRAND_A, BRAND_B

HEADER = "经销商编码,经销商名称,销售区域,区域包含的省市\n"


class WorkerKilled(BaseException):
    """Stands for the worker process dying: no `except Exception` sees it, nothing is recorded."""


def dealer_file(rows: int, prefix: str = "D", *, with_errors: bool = True) -> bytes:
    lines = [f"{prefix}-{n:03d},经销商{n},华东区,浙江、上海\n" for n in range(rows)]
    if with_errors:
        lines[3] = ",缺名称,华东区,浙江\n"  # an error row
        lines[-2] = f"{prefix}-001,重复的编码,华南区,广东\n"  # repeats line 3's code, chunks apart
    return (HEADER + "".join(lines)).encode()


def start(content: bytes) -> CodeImport:
    return imports.code_import_start(kind=CodeImport.Kind.DEALERS, content=content, filename="d.csv", actor="boss")


def outcome(job: CodeImport) -> tuple[object, ...]:
    job.refresh_from_db()
    dealers = sorted(Dealer.objects.values_list("code", "name", "region_name", "region_areas"))
    return (job.status, job.rows_done, job.errors, job.created, job.updated, job.row_errors, dealers)


def chunks_waiting() -> list[list[int]]:
    return [c.args for c in BulkChunk.objects.filter(task=imports.CHAIN.task_name).order_by("id")]


@pytest.fixture
def small_chunks(monkeypatch) -> None:
    """Two rows a transaction, five a pump chunk."""
    monkeypatch.setitem(imports.CHUNK_ROWS, CodeImport.Kind.DEALERS, 2)
    monkeypatch.setattr(imports, "DEALER_ROWS_PER_CHUNK", 5)


@pytest.mark.django_db
def test_a_dealer_file_cut_in_chunks_imports_what_the_whole_import_does(pump_inline, small_chunks, monkeypatch):
    content = dealer_file(23)
    with schema_context(BRAND_B):
        whole = start(content)
        BulkChunk.objects.all().delete()
        assert imports.code_import_run(job_id=whole.pk) == "done"
        whole_outcome = outcome(whole)
    assert whole_outcome[:5] == ("succeeded", 23, 2, 21, 0)
    assert [e["line"] for e in whole_outcome[5]] == [5, 23]  # the blank name, the repeated code

    with schema_context(BRAND_A):
        job = start(content)
        assert chunks_waiting() == [[job.pk, 1]]
        assert pump_inline() == 4  # 6 + 6 + 6 + 5 rows: whole transactions of 2, at least 5 a chunk
        assert outcome(job) == whole_outcome
        assert job.options["chunks"] == 4


@pytest.mark.django_db
def test_a_dealer_chunk_delivered_again_writes_nothing_and_a_killed_one_resumes(
    in_brand_a, pump_inline, small_chunks, monkeypatch
):
    content = dealer_file(23)
    job = start(content)
    BulkChunk.objects.all().delete()  # run by hand here, as the worker would

    assert imports.code_import_chunk(job_id=job.pk, chunk=1) == "continued"
    first = outcome(job)
    assert first[1] == 6 and chunks_waiting() == [[job.pk, 2]]  # three transactions of two rows
    assert imports.code_import_chunk(job_id=job.pk, chunk=1) == "stale"
    assert outcome(job) == first and chunks_waiting() == [[job.pk, 2]]

    # Chunk 2 dies in its second transaction, after writing its dealers, before committing.
    real_record = imports._record
    calls = []

    def record_then_killed(job, **kwargs):
        real_record(job, **kwargs)
        calls.append(kwargs["last_line"])
        if len(calls) == 2:
            raise WorkerKilled

    monkeypatch.setattr(imports, "_record", record_then_killed)
    with pytest.raises(WorkerKilled):
        imports.code_import_chunk(job_id=job.pk, chunk=2)
    monkeypatch.setattr(imports, "_record", real_record)
    killed = outcome(job)
    assert killed[1] == 8  # the first transaction of chunk 2 is in, the second is not

    pump_inline()  # chunk 2 again (redelivery or the sweep), then the rest
    with schema_context(BRAND_B):
        whole = start(content)
        BulkChunk.objects.all().delete()
        imports.code_import_run(job_id=whole.pk)
        whole_outcome = outcome(whole)
    assert outcome(job) == whole_outcome


@pytest.mark.django_db
def test_a_message_queued_before_the_pump_hands_the_import_to_it(in_brand_a, pump_inline):
    from scancodes.tasks import import_run

    job = start(dealer_file(6))
    BulkChunk.objects.all().delete()  # as if queued as scancodes.import_run, before the pump
    assert import_run(job.pk) == "submitted"
    assert chunks_waiting() == [[job.pk, 2]]
    assert pump_inline() == 1
    assert outcome(job)[:3] == ("succeeded", 6, 2)
    assert import_run(job.pk) == "already_done"


@pytest.mark.worker
def test_a_small_brands_import_is_not_behind_all_of_a_big_brands_chunks(celery_worker, monkeypatch, settings):
    """One worker process on both queues, cap 1: brand A's import is eight chunks, brand B's one,
    started just after A's. Through the pump, B's runs while A still has most of its chunks to go."""
    settings.BULK_CHUNKS_IN_FLIGHT_PER_BRAND = 1
    monkeypatch.setitem(imports.CHUNK_ROWS, CodeImport.Kind.DEALERS, 2)
    monkeypatch.setattr(imports, "DEALER_ROWS_PER_CHUNK", 2)
    finished: list[tuple[str, int]] = []
    real_chunk = imports.code_import_chunk

    def chunk_noted(*, job_id: int, chunk: int) -> str:
        from crm.db import connection

        result = real_chunk(job_id=job_id, chunk=chunk)
        finished.append((connection.schema_name, chunk))
        return result

    monkeypatch.setattr(imports, "code_import_chunk", chunk_noted)
    try:
        with schema_context(BRAND_A):
            big = start(dealer_file(16, prefix="BIG"))
        with schema_context(BRAND_B):
            small = start(dealer_file(2, prefix="SMALL", with_errors=False))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with schema_context(BRAND_A):
                big.refresh_from_db()
            with schema_context(BRAND_B):
                small.refresh_from_db()
            if big.finished and small.finished:
                break
            time.sleep(0.2)
        assert big.status == small.status == CodeImport.Status.SUCCEEDED, (big.error, small.error)
        a_chunks = [number for schema, number in finished if schema == BRAND_A]
        assert a_chunks == list(range(1, 9)), finished
        # Sent straight to the queue B's import would wait for A's backlog; through the pump it
        # runs second, while A has seven chunks to go.
        b_at = finished.index((BRAND_B, 1))
        assert b_at <= 1 and small.options["chunks"] == 1, finished
        assert sum(schema == BRAND_A for schema, _ in finished[b_at:]) >= 7, finished
    finally:
        for schema in (BRAND_A, BRAND_B):
            with schema_context(schema):
                Dealer.objects.filter(code__regex=r"^(BIG|SMALL)-").delete()
                CodeImport.objects.filter(pk__in=[big.pk] if schema == BRAND_A else [small.pk]).delete()
        BulkChunk.objects.filter(task=imports.CHAIN.task_name).delete()
