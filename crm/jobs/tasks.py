from celery import shared_task

from crm.db import connection


@shared_task(name="jobs.heartbeat")
def heartbeat(label: str = "") -> None:
    """Records that the worker ran a task in this brand. Used by health monitoring and by the tests
    that prove tasks run in the schema of the brand that sent them."""
    from .services import job_run_record

    with job_run_record(name="heartbeat") as run:
        run.summary = {"label": label, "schema": connection.schema_name}
