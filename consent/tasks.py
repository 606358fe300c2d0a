"""Nightly consent job (one public beat entry fans it out to every ready brand)."""

from celery import shared_task

from crm.jobs.services import job_run_record


@shared_task(name="consent.state_audit")
def consent_state_audit_nightly() -> dict[str, int]:
    """Prove the current-state table agrees with the consent history; if it ever does not, the
    history wins (rows rewritten) and the run records how many, for someone to find out why."""
    from .services import consent_state_audit, consent_state_repair

    with job_run_record(name="consent.state_audit") as run:
        mismatches = consent_state_audit()
        repaired = consent_state_repair() if mismatches else 0
        run.summary = {"mismatches": len(mismatches), "repaired": repaired}
    return run.summary
