"""Celery tasks of one item, one code: they take ids, load rows and call a service."""

from celery import shared_task


@shared_task(name="scancodes.import_run")
def import_run(job_id: int) -> str:
    """Imports (or resumes) one uploaded dealer or printer's code file (scancodes/imports.py)."""
    from .imports import code_import_run

    return code_import_run(job_id=job_id)


@shared_task(name="scancodes.diversion_digest_send")
def diversion_digest_send() -> dict[str, object]:
    """Sent hourly in every brand; sends the brand's digest of yesterday once its hour has come
    in the brand's own time, once per day (scancodes/digest.py)."""
    from .digest import diversion_digest_send_due

    return diversion_digest_send_due()
