from celery import shared_task

from crm.db import connection


@shared_task(name="jobs.heartbeat")
def heartbeat(label: str = "") -> None:
    """Records that the worker ran a task in this brand. Used by health monitoring and by the tests
    that prove tasks run in the schema of the brand that sent them."""
    from .services import job_run_record

    with job_run_record(name="heartbeat") as run:
        run.summary = {"label": label, "schema": connection.schema_name}


@shared_task(name="jobs.exports_expire")
def exports_expire() -> dict[str, dict[str, int]]:
    """Hourly, in every brand: background export files past the brand's export_keep_days are
    deleted, and exports a killed worker left running are failed (crm/jobs/exports.py)."""
    from django.utils import timezone

    from .exports import export_keep_days, exports_interrupted_fail
    from .exports import exports_expire as expire
    from .services import job_run_record

    with job_run_record(name="jobs.exports_expire") as run:
        now = timezone.now()
        run.summary = {
            "expired": expire(now=now, keep_days=export_keep_days(fresh=True)),
            "interrupted": exports_interrupted_fail(now=now),
        }
    return run.summary
