from celery import shared_task

from crm.jobs.services import job_run_record
from crm.tenancy.tasks import run_in_every_brand


@shared_task(name="api.idempotency_cleanup")
def idempotency_cleanup() -> None:
    """Remove stored Idempotency-Key responses past their retention in this brand."""
    from .services import idempotency_records_purge

    with job_run_record(name="api.idempotency_cleanup") as run:
        run.summary = {"deleted": idempotency_records_purge()}


@shared_task(name="api.idempotency_cleanup_all_brands")
def idempotency_cleanup_all_brands() -> int:
    """The hourly beat entry (public schema): one cleanup per ready brand, in that brand's schema,
    through the platform's fan-out."""
    return run_in_every_brand("api.idempotency_cleanup")
