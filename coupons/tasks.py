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


@shared_task(name="coupons.pool_job_run", acks_late=True, soft_time_limit=3_300, time_limit=3_600)
def run_pool_job(job_id: int) -> str:
    """Generates or imports one code pool job (coupons/pool_jobs.py); resumes where it stopped."""
    from .pool_jobs import coupon_pool_job_run

    return coupon_pool_job_run(job_id=job_id)


@shared_task(name="coupons.remind_expiring", soft_time_limit=540, time_limit=600)
def remind_expiring() -> dict[str, Any]:
    """Expiry reminders of this brand: written once per (member, template, end day) from the
    brand's reminder hour (brand time), then sent through the registered channel."""
    from .reminders import coupon_reminders_send, coupon_reminders_write

    with job_run_record(name="coupons.remind_expiring") as run:
        run.summary = {**coupon_reminders_write(), **coupon_reminders_send()}
    return run.summary
