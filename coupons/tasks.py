"""Celery tasks of the coupons app: take ids, call a service. Nothing else."""

from typing import Any

from celery import shared_task

from crm.jobs.services import job_run_record


@shared_task(name="coupons.expire")
def expire_coupons() -> dict[str, int]:
    """Every unused coupon past its end → EXPIRED, with its history (set-based); held manual
    issues nobody decided in time → EXPIRED, their reserved stock given back."""
    from .manual_issue import coupon_issue_requests_expire
    from .services import coupons_expire_due

    with job_run_record(name="coupons.expire") as run:
        run.summary = {"expired": coupons_expire_due(), "requests_expired": coupon_issue_requests_expire()}
    return run.summary


@shared_task(name="coupons.pool_job_run")
def run_pool_job(job_id: int) -> str:
    """What was queued for a code pool job before the pump: hands the job to the brand's bulk
    pump, which runs it a chunk at a time (coupons/pool_jobs.py)."""
    from .pool_jobs import coupon_pool_job_submit

    return coupon_pool_job_submit(job_id=job_id)


@shared_task(name="coupons.pool_job_chunk")
def pool_job_chunk(job_id: int, chunk: int) -> str:
    """A bulk chunk (run by the pump, crm/tenancy/pump.py): the job's next part of codes."""
    from .pool_jobs import coupon_pool_job_chunk

    return coupon_pool_job_chunk(job_id=job_id, chunk=chunk)


@shared_task(name="coupons.remind_expiring", soft_time_limit=540, time_limit=600)
def remind_expiring() -> dict[str, Any]:
    """Expiry reminders of this brand: written once per (member, template, end day) from the
    brand's reminder hour (brand time), then sent through the registered channel."""
    from .reminders import coupon_reminders_send, coupon_reminders_write

    with job_run_record(name="coupons.remind_expiring") as run:
        run.summary = {**coupon_reminders_write(), **coupon_reminders_send()}
    return run.summary
