"""Celery tasks of the engagement app: the birthday job, run in one brand's schema (the beat entry
fans out with tenancy.run_in_every_brand)."""

from celery import shared_task

from crm.jobs.services import job_run_record


@shared_task(name="engagement.birthday_release")
def birthday_release() -> dict[str, object]:
    from .services.birthday import birthday_release_due

    with job_run_record(name="engagement.birthday_release") as run:
        run.summary = birthday_release_due()
    return run.summary
