"""Code pool jobs run through the brand's bulk pump as a chain of numbered chunks
(coupons/pool_jobs.py): a big job is several chunks, each one part committed with the job's
progress and its successor's submission; the pool ends as the job run whole would leave it; a
chunk delivered again adds nothing, and a chunk killed half-way is run again to the same end."""

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from coupons import pool_jobs
from coupons.models import CouponCode, CouponPoolJob, CouponTemplate
from coupons.pool_jobs import coupon_pool_generate_start, coupon_pool_import_start, coupon_pool_job_run
from crm.db import connection
from crm.tenancy.models import BulkChunk
from tests.conftest import BRAND_A, BRAND_B, brand_admin_email

from .scene import audit_clean, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]

CSV = ("券码\n" + "".join(f"BRAND{n:05d}XY\n" for n in range(11))).encode()


class WorkerKilled(BaseException):
    """Stands for the worker process dying: no `except Exception` sees it, nothing is recorded."""


def admin() -> object:
    """The brand's admin (users are per brand)."""
    return get_user_model().objects.get(username=brand_admin_email(connection.schema_name))


def imported_pool() -> CouponPoolJob:
    tpl = template(code_mode=CouponTemplate.CodeMode.IMPORTED, generic_code="")
    return coupon_pool_import_start(template_id=tpl.pk, content=CSV, filename="codes.csv", user=admin())


def pool(job: CouponPoolJob) -> tuple[object, ...]:
    job.refresh_from_db()
    tpl = CouponTemplate.objects.get(pk=job.template_id)
    hashes = sorted(CouponCode.objects.filter(template_id=tpl.pk).values_list("code_hash", flat=True))
    return (job.status, job.done, job.checked, job.errors, tpl.stock_total, tpl.stock_left, hashes)


def chunks_waiting() -> list[list[int]]:
    return [c.args for c in BulkChunk.objects.filter(schema_name=BRAND_A, task=pool_jobs.CHAIN.task_name)]


@pytest.mark.django_db
def test_a_big_generation_is_several_chunks_through_the_pump(in_brand_a, pump_inline, monkeypatch):
    monkeypatch.setattr(pool_jobs, "GENERATE_CHUNK", 30)
    tpl = template(code_mode=CouponTemplate.CodeMode.GENERATED, generic_code="")
    job = coupon_pool_generate_start(template_id=tpl.pk, count=100, user=admin())
    assert chunks_waiting() == [[job.pk, 1]] and not CouponCode.objects.exists()

    assert pump_inline() == 4  # 30 + 30 + 30 + 10
    job.refresh_from_db()
    tpl.refresh_from_db()
    assert (job.status, job.done, job.chunks) == ("succeeded", 100, 4)
    assert (tpl.stock_total, tpl.stock_left, CouponCode.objects.filter(template=tpl).count()) == (100, 100, 100)
    assert not BulkChunk.objects.exists()
    audit_clean()


@pytest.mark.django_db
def test_an_import_cut_in_chunks_leaves_the_pool_the_whole_job_leaves(pump_inline, monkeypatch):
    with schema_context(BRAND_B):  # the same file, whole, in the other brand
        whole = imported_pool()
        BulkChunk.objects.all().delete()
        assert coupon_pool_job_run(job_id=whole.pk) == "done"
        whole_pool = pool(whole)

    monkeypatch.setattr(pool_jobs, "IMPORT_CHUNK", 3)
    with schema_context(BRAND_A):
        job = imported_pool()
        assert pump_inline() == 4  # 3 + 3 + 3 + 2 rows
        assert pool(job) == whole_pool and job.chunks == 4
        assert whole_pool[:2] == ("succeeded", 11)
        audit_clean()


@pytest.mark.django_db
def test_a_chunk_delivered_again_adds_nothing_and_a_killed_one_resumes(in_brand_a, pump_inline, monkeypatch):
    monkeypatch.setattr(pool_jobs, "IMPORT_CHUNK", 3)
    job = imported_pool()
    BulkChunk.objects.all().delete()  # the chunks are run by hand here, as the worker would

    assert pool_jobs.coupon_pool_job_chunk(job_id=job.pk, chunk=1) == "continued"
    assert chunks_waiting() == [[job.pk, 2]]
    after_first = pool(job)
    assert after_first[1] == 3
    # Chunk 1 delivered again (its worker died before the pump heard it end): stale, nothing added.
    assert pool_jobs.coupon_pool_job_chunk(job_id=job.pk, chunk=1) == "stale"
    assert pool(job) == after_first and chunks_waiting() == [[job.pk, 2]]

    # Chunk 2's worker dies after adding its codes, before its transaction commits.
    real_import = pool_jobs.coupon_codes_import

    def import_then_killed(**kwargs):
        real_import(**kwargs)
        raise WorkerKilled

    monkeypatch.setattr(pool_jobs, "coupon_codes_import", import_then_killed)
    with pytest.raises(WorkerKilled):
        pool_jobs.coupon_pool_job_chunk(job_id=job.pk, chunk=2)
    monkeypatch.setattr(pool_jobs, "coupon_codes_import", real_import)
    assert pool(job)[1:] == after_first[1:]  # nothing of chunk 2 is left, not even its successor
    assert chunks_waiting() == [[job.pk, 2]]

    pump_inline()  # chunk 2 comes back (redelivery, or the sweep after the lease) and the chain ends
    final = pool(job)
    assert final[:2] == ("succeeded", 11) and len(final[-1]) == len(set(final[-1])) == 11
    assert (final[4], final[5]) == (11, 11)
    audit_clean()


@pytest.mark.django_db
def test_a_message_queued_before_the_pump_hands_the_job_to_it(in_brand_a, pump_inline):
    from coupons.tasks import run_pool_job

    tpl = template(code_mode=CouponTemplate.CodeMode.GENERATED, generic_code="")
    job = coupon_pool_generate_start(template_id=tpl.pk, count=5, user=admin())
    BulkChunk.objects.all().delete()  # as if queued as coupons.pool_job_run, before the pump
    assert run_pool_job(job.pk) == "submitted"
    assert chunks_waiting() == [[job.pk, 2]]
    assert pump_inline() == 1
    job.refresh_from_db()
    assert (job.status, job.done) == ("succeeded", 5)
    assert run_pool_job(job.pk) == "already_done"
