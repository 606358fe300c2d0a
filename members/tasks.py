"""Celery tasks of the members app: the loyalty part's nightly jobs, each run in one brand's schema
(the beat entry fans out with tenancy.run_in_every_brand), which call one set-based service and
record the run; and the import jobs the admin queues."""

from celery import shared_task

from crm.jobs.services import job_run_record

# Tasks import the services they call inside their bodies; services import tasks at the top
# (crm/tests check the rule), so the two never form an import cycle.


@shared_task(name="members.expire_points")
def expire_points() -> dict[str, int]:
    from .services.points import points_expire_due

    with job_run_record(name="members.expire_points") as run:
        run.summary = points_expire_due()
    return run.summary


@shared_task(name="members.release_pending_points")
def release_pending_points() -> dict[str, int]:
    from .services.points import points_release_pending

    with job_run_record(name="members.release_pending_points") as run:
        run.summary = points_release_pending()
    return run.summary


@shared_task(name="members.reevaluate_tiers")
def reevaluate_tiers() -> dict[str, int]:
    from .services.tiers import tiers_reevaluate_due

    with job_run_record(name="members.reevaluate_tiers") as run:
        run.summary = tiers_reevaluate_due()
    return run.summary


@shared_task(name="members.refresh_lifecycle")
def refresh_lifecycle() -> dict[str, object]:
    """Sent every hour; runs, resumes or skips the brand's day by the brand's own clock and
    records its runs itself (members/services/lifecycle.py), so no job_run_record here."""
    from .services.lifecycle import members_lifecycle_refresh_all

    return members_lifecycle_refresh_all()


@shared_task(name="members.import_job_run")
def run_import_job(job_id: int) -> str:
    """Imports (or resumes) one uploaded member or order file in one go: what uploads queued
    before their chunks went through the bulk pump (members/services/import_jobs.py)."""
    from .services.import_jobs import import_job_run

    return import_job_run(job_id=job_id)


@shared_task(name="members.import_job_chunk")
def import_job_chunk(job_id: int, chunk: int) -> str:
    """A bulk chunk (run by the pump, crm/tenancy/pump.py): the job's next IMPORT_CHUNK_ROWS rows."""
    from .services.import_jobs import import_job_chunk as run_chunk

    return run_chunk(job_id=job_id, chunk=chunk)
