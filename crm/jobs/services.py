from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

from .models import JobRun


@contextmanager
def job_run_record(*, name: str) -> Iterator[JobRun]:
    """Record a job run in the current brand; the body may fill `run.summary`."""
    run = JobRun.objects.create(name=name)
    try:
        yield run
    except Exception as exc:
        run.status = JobRun.Status.FAILED
        run.summary = {**run.summary, "error": f"{type(exc).__name__}: {exc}"}
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "summary", "finished_at", "updated_at"])
        raise
    run.status = JobRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "summary", "finished_at", "updated_at"])
