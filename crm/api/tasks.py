from celery import shared_task
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from crm.jobs.services import job_run_record

from .services import idempotency_records_purge, webhook_delivery_attempt


@shared_task(bind=True, name="api.webhook_deliver", max_retries=None)
def webhook_deliver(self, delivery_id: int) -> None:  # type: ignore[no-untyped-def]
    """One attempt at a webhook delivery; a failure is retried with exponential backoff until
    settings.API_WEBHOOK_MAX_ATTEMPTS (the service decides, and records each attempt)."""
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        # The retry message is sent from inside this brand's schema, so it keeps the brand.
        raise self.retry(countdown=outcome.retry_in)


@shared_task(name="api.idempotency_cleanup")
def idempotency_cleanup() -> None:
    """Remove stored Idempotency-Key responses past their retention in this brand."""
    with job_run_record(name="api.idempotency_cleanup") as run:
        run.summary = {"deleted": idempotency_records_purge()}


@shared_task(name="api.idempotency_cleanup_all_brands")
def idempotency_cleanup_all_brands() -> None:
    """Beat entry (public schema): one cleanup task per ready brand, each in its own schema."""
    from crm.tenancy.models import Brand

    for schema_name in (
        Brand.objects.filter(ready=True)
        .exclude(schema_name=get_public_schema_name())
        .values_list("schema_name", flat=True)
    ):
        with schema_context(schema_name):
            idempotency_cleanup.apply_async(headers={"_schema_name": connection.schema_name})
