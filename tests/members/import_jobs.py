"""Following an import through the admin: the upload page redirects to the job's result page;
these run the job to its end as the worker would (the task's service, in the brand's schema) and
read the page and the job."""

from typing import Any

from django.http import HttpResponse
from django.test import Client

from crm.db import connection
from crm.tenancy.models import Brand
from members.models import ImportJob, ImportJobRow
from members.services.import_jobs import import_job_run


def job_id_of(upload_response: HttpResponse) -> int:
    assert upload_response.status_code == 302, "the upload was refused"
    return int(upload_response["Location"].rstrip("/").rsplit("/", 1)[1])


def import_job_followed(client: Client, upload_response: Any, brand: Brand) -> tuple[ImportJob, Any]:
    """(the finished job, its result page) for the upload page's response."""
    job_id = job_id_of(upload_response)
    connection.set_tenant(brand)
    assert import_job_run(job_id=job_id) in ("done", "failed")
    page = client.get(upload_response["Location"])
    assert page.status_code == 200
    connection.set_tenant(brand)
    return ImportJob.objects.get(pk=job_id), page


def job_rows(job: ImportJob) -> list[ImportJobRow]:
    return list(job.rows.order_by("line"))
