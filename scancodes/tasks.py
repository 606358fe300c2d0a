"""Celery tasks of one item, one code: they take ids, load rows and call a service."""

from celery import shared_task


@shared_task(name="scancodes.import_run")
def import_run(job_id: int) -> str:
    """What was queued for an uploaded dealer or printer's code file before the pump: hands the
    job to the brand's bulk pump, which runs it in chunks (scancodes/imports.py)."""
    from .imports import code_import_submit

    return code_import_submit(job_id=job_id)


@shared_task(name="scancodes.import_chunk")
def import_chunk(job_id: int, chunk: int) -> str:
    """A bulk chunk (run by the pump, crm/tenancy/pump.py): the import's next part."""
    from .imports import code_import_chunk

    return code_import_chunk(job_id=job_id, chunk=chunk)


@shared_task(name="scancodes.diversion_digest_send")
def diversion_digest_send() -> dict[str, object]:
    """Sent hourly in every brand; sends the brand's digest of yesterday once its hour has come
    in the brand's own time, once per day (scancodes/digest.py)."""
    from .digest import diversion_digest_send_due

    return diversion_digest_send_due()
