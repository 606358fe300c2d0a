"""Celery tasks of the coupons app: take ids, call a service. Nothing else."""

from celery import shared_task

from crm.jobs.services import job_run_record


@shared_task(name="coupons.expire")
def expire_coupons() -> dict[str, int]:
    """Every unused coupon past its end → EXPIRED, with its history (set-based)."""
    from .services import coupons_expire_due

    with job_run_record(name="coupons.expire") as run:
        run.summary = {"expired": coupons_expire_due()}
    return run.summary
