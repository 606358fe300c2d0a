"""Imports as background jobs (members/services/import_jobs.py; issue 21: a 5,000-row import took
51 s in one request). The upload is checked and stored in the brand's schema and nothing is
imported in the request; chunks through the brand's bulk pump import it, recording progress and
row results as they go; the admin's result page refreshes itself until the job ends, then shows the
counts and the row errors in Chinese; a job whose worker died resumes after the last recorded
line without writing anything twice; only the uploader and brand-wide roles see a job."""

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.db import connection
from members.imports import MemberRows
from members.models import ImportJob, ImportJobRow, Member
from members.roles import STORE_MANAGER
from members.services import import_jobs
from members.services.import_jobs import import_job_run, members_import_start
from tests.conftest import brand_admin_email, logged_in_client
from tests.factories import StoreFactory

from .conftest import staff_user_create
from .import_jobs import import_job_followed, job_id_of, job_rows
from .loyalty_scene import throwaway_brand

jobs_brand = throwaway_brand

HEADER = "手机号,姓名,门店编码,同意会员协议,授权凭证编号\n"


def _csv(*rows: str) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode("utf-8-sig")


FIVE_ROWS = _csv(
    "13800000001,张伟,SH001,是,P-1",
    "13800000002,李娜,SH001,是,P-2",
    "12345,坏号码,SH001,是,P-3",  # line 4: bad mobile
    "13800000004,王芳,SH001,是,P-4",
    "13800000005,赵磊,SH001,是,P-5",
)
FIVE_ROWS_IMPORTED = [(2, "created"), (3, "created"), (4, "error"), (5, "created"), (6, "created")]


@pytest.fixture
def brand_admin_user(in_brand_a):
    return get_user_model().objects.get(username=brand_admin_email("alpha"))


def _start(user, content=FIVE_ROWS):
    return members_import_start(content=content, filename="members.csv", user=user, staff=None, actor="admin")


def test_the_upload_only_queues_and_the_task_imports_in_chunks_recording_progress(
    brand_admin_user, agreement_version_a, store_a, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(MemberRows, "chunk_rows", 2)
    with django_capture_on_commit_callbacks() as sent:
        job = _start(brand_admin_user)

    assert len(sent) == 1  # the task, once the job is committed
    assert (job.status, job.rows_total, job.rows_done) == (ImportJob.Status.QUEUED, 5, 0)
    assert not Member.objects.exists()  # nothing imported in the request

    progress = []
    record = import_jobs._record

    def recording(job, **kwargs):
        record(job, **kwargs)
        progress.append((job.rows_done, job.last_line))

    monkeypatch.setattr(import_jobs, "_record", recording)
    assert import_job_run(job_id=job.pk) == "done"

    assert progress == [(2, 3), (4, 5), (5, 6)]
    job.refresh_from_db()
    assert (job.status, job.rows_total, job.rows_done, job.created, job.existing, job.errors) == (
        ImportJob.Status.SUCCEEDED,
        5,
        5,
        4,
        0,
        1,
    )
    assert bytes(job.content) == b""  # the file (personal data) is dropped once imported
    assert [(row.line, row.status) for row in job_rows(job)] == FIVE_ROWS_IMPORTED
    assert "手机号" in job_rows(job)[2].message
    assert Member.objects.count() == 4
    assert import_job_run(job_id=job.pk) == "already_done"
    assert Member.objects.count() == 4


def test_a_job_goes_through_the_bulk_pump_a_chunk_of_rows_at_a_time_and_a_repeated_chunk_is_stale(
    brand_admin_user, agreement_version_a, store_a, monkeypatch, pump_inline
):
    """Each pump chunk imports IMPORT_CHUNK_ROWS rows and submits the next with its last record,
    so a big file takes turns on the bulk queue with other brands' work."""
    from crm.tenancy.models import BulkChunk

    monkeypatch.setattr(MemberRows, "chunk_rows", 2)
    monkeypatch.setattr(import_jobs, "IMPORT_CHUNK_ROWS", 2)
    job = _start(brand_admin_user)
    (first,) = BulkChunk.objects.filter(task=import_jobs.CHUNK_TASK)
    assert first.args == [job.pk, 1]

    assert import_jobs.import_job_chunk(job_id=job.pk, chunk=1) == "continued"  # lines 2-3
    job.refresh_from_db()
    assert (job.rows_done, job.last_line, job.options["chunks"]) == (2, 3, 2)
    # Chunk 1 delivered again (its worker died before the pump heard it end): nothing happens.
    assert import_jobs.import_job_chunk(job_id=job.pk, chunk=1) == "stale"
    job.refresh_from_db()
    assert (job.rows_done, job.last_line) == (2, 3)

    BulkChunk.objects.filter(pk=first.pk).delete()  # what the pump does once a chunk has run
    assert pump_inline() == 2  # lines 4-5, then line 6 and the end
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.created, job.errors) == (ImportJob.Status.SUCCEEDED, 5, 4, 1)
    assert [(row.line, row.status) for row in job_rows(job)] == FIVE_ROWS_IMPORTED
    assert Member.objects.count() == 4
    assert not BulkChunk.objects.exists()


def test_a_job_whose_worker_died_resumes_after_the_last_recorded_line(
    brand_admin_user, agreement_version_a, store_a, monkeypatch
):
    monkeypatch.setattr(MemberRows, "chunk_rows", 2)
    job = _start(brand_admin_user)
    record = import_jobs._record
    calls = []

    def dies_on_the_second_chunk(job, **kwargs):
        calls.append(kwargs["last_line"])
        if len(calls) == 2:
            raise RuntimeError("worker lost")  # lines 4-5 imported, not yet recorded
        record(job, **kwargs)

    monkeypatch.setattr(import_jobs, "_record", dies_on_the_second_chunk)
    with pytest.raises(RuntimeError):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.last_line) == (ImportJob.Status.RUNNING, 2, 3)

    monkeypatch.setattr(import_jobs, "_record", record)
    assert import_job_run(job_id=job.pk) == "done"  # what celery's redelivery does

    job.refresh_from_db()
    # Line 5 was enrolled before the worker died: the rerun finds the member and says so.
    assert [(row.line, row.status) for row in job_rows(job)] == [
        (2, "created"),
        (3, "created"),
        (4, "error"),
        (5, "existing"),
        (6, "created"),
    ]
    assert (job.rows_done, job.created, job.existing, job.errors) == (5, 3, 1, 1)
    assert Member.objects.count() == 4  # nobody twice


def test_the_result_page_refreshes_itself_until_the_job_ends_then_shows_counts_and_errors(
    admin_client_a, in_brand_a, agreement_version_a, store_a, brand_a
):
    upload = SimpleUploadedFile("members.csv", FIVE_ROWS, content_type="text/csv")
    response = admin_client_a.post(reverse("admin:members_member_import"), {"file": upload})
    page_url = response["Location"]

    waiting = admin_client_a.get(page_url).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "排队中" in waiting and 'id="rows-done">0<' in waiting and 'id="rows-total">5<' in waiting
    assert "自动刷新" in waiting

    job, page = import_job_followed(admin_client_a, response, brand_a)

    html = page.content.decode()
    assert 'http-equiv="refresh"' not in html
    assert "导入完成：新入会 4 人，已是会员 0 人，错误 1 行。" in html
    assert 'id="count-created">4<' in html and 'id="count-errors">1<' in html
    assert 'id="import-errors"' in html and job_rows(job)[2].message in html
    # The upload page lists it among the recent imports.
    listing = admin_client_a.get(reverse("admin:members_member_import")).content.decode()
    assert reverse("admin:members_member_import_job", args=[job.pk]) in listing


def test_a_stalled_job_is_resumed_from_its_page(
    admin_client_a, in_brand_a, brand_a, agreement_version_a, store_a, django_capture_on_commit_callbacks
):
    user = get_user_model().objects.get(username=brand_admin_email("alpha"))
    job = _start(user)
    page_url = reverse("admin:members_member_import_job", args=[job.pk])
    assert "继续导入" not in admin_client_a.get(page_url).content.decode()  # fresh: not stalled

    connection.set_tenant(brand_a)
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=10))
    assert "继续导入" in admin_client_a.get(page_url).content.decode()

    with django_capture_on_commit_callbacks() as sent:
        response = admin_client_a.post(page_url)

    assert response.status_code == 302 and len(sent) == 1
    assert "继续导入" not in admin_client_a.get(page_url).content.decode()


def test_a_job_refused_when_it_runs_fails_with_the_reason_and_drops_the_file(
    brand_admin_user, admin_client_a, agreement_version_a, store_a, staff_a, brand_a
):
    job = members_import_start(content=FIVE_ROWS, filename="m.csv", user=brand_admin_user, staff=staff_a, actor="a")
    ImportJob.objects.filter(pk=job.pk).update(options={"staff_id": staff_a.pk + 1000})

    assert import_job_run(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and "经办导购已不存在" in job.error
    assert bytes(job.content) == b"" and not Member.objects.exists()
    page = admin_client_a.get(reverse("admin:members_member_import_job", args=[job.pk])).content.decode()
    assert "导入中止" in page and "经办导购已不存在" in page


def test_a_job_is_seen_by_its_uploader_and_brand_wide_roles_only(
    in_brand_a, brand_a, agreement_version_a, store_a, admin_client_b
):
    other = StoreFactory(code="HZ001", name="杭州店")
    staff_user_create(store=store_a, role=STORE_MANAGER, username="sh@alpha.example")
    staff_user_create(store=other, role=STORE_MANAGER, username="hz@alpha.example")
    uploader = logged_in_client("alpha", "sh@alpha.example")
    response = uploader.post(
        reverse("admin:members_member_import"),
        {"file": SimpleUploadedFile("m.csv", _csv("13800000001,本店,,是,P-1"), content_type="text/csv")},
    )
    page_url = response["Location"]
    job_id = job_id_of(response)

    assert uploader.get(page_url).status_code == 200
    assert logged_in_client("alpha", "hz@alpha.example").get(page_url).status_code == 404
    assert logged_in_client("alpha", brand_admin_email("alpha")).get(page_url).status_code == 200
    assert admin_client_b.get(page_url).status_code == 404  # the same id in the other brand: nothing
    connection.set_tenant(brand_a)
    assert ImportJob.objects.filter(pk=job_id, user__username="sh@alpha.example").exists()


@pytest.mark.worker
def test_an_upload_through_the_admin_runs_on_the_real_worker_and_the_page_shows_the_counts(jobs_brand, celery_worker):
    slug = jobs_brand.schema_name
    with schema_context(slug):
        StoreFactory.create(code="SH001", name="上海静安店")
    client = logged_in_client(slug, brand_admin_email(slug))
    upload = SimpleUploadedFile(
        "members.csv",
        "手机号,姓名,门店编码,同意会员协议,授权凭证编号\n13800000001,张伟,SH001,是,P-1\n"
        "13800000002,李娜,SH001,是,P-2\n12345,坏号码,SH001,是,P-3\n".encode(),
        content_type="text/csv",
    )

    response = client.post(reverse("admin:members_member_import"), {"file": upload})

    job_id = job_id_of(response)
    deadline = time.monotonic() + 60
    html = ""
    while time.monotonic() < deadline:
        html = client.get(response["Location"]).content.decode()
        if "导入完成" in html:
            break
        time.sleep(0.3)
    assert "导入完成：新入会 2 人，已是会员 0 人，错误 1 行。" in html, html[-3000:]
    assert 'id="rows-done">3<' in html and '<tr class="error"><td>4</td>' in html and "手机号" in html
    with schema_context(slug):
        assert Member.objects.count() == 2
        assert ImportJobRow.objects.filter(job_id=job_id).count() == 3
    with schema_context("alpha"):
        assert not ImportJob.objects.exists()  # the job ran in its own brand only
