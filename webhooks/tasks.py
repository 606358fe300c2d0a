"""Celery tasks of partner webhooks. The names keep their old `api.` prefix: messages queued and
retries scheduled before webhooks became an app of their own must still find their task.

Tasks import the services inside their bodies and the services import this module at the top
(HackSoft's rule), so the two modules need no hidden cycle."""

from datetime import datetime

from celery import shared_task

from crm.jobs.services import job_run_record
from crm.tenancy.tasks import run_in_every_brand


@shared_task(bind=True, name="api.webhook_deliver", max_retries=None)
def webhook_deliver(self, delivery_id: int) -> None:
    """One attempt at a webhook delivery; a failure is retried with exponential backoff until
    settings.API_WEBHOOK_MAX_ATTEMPTS (the service decides, and records each attempt)."""
    from .services import webhook_delivery_attempt

    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        # The retry message is sent from inside this brand's schema, so it keeps the brand.
        raise self.retry(countdown=outcome.retry_in)


def _attempt_each(delivery_ids: list[int]) -> None:
    """One attempt at each delivery, one after the other; a failed one continues as its own
    `webhook_deliver` retry chain."""
    from .services import webhook_delivery_attempt

    for delivery_id in delivery_ids:
        outcome = webhook_delivery_attempt(delivery_id=delivery_id)
        if outcome.retry_in is not None:
            # Sent from inside this brand's schema, so the retry keeps the brand.
            webhook_deliver.apply_async(args=(delivery_id,), countdown=outcome.retry_in)


@shared_task(name="api.webhook_dispatch")
def webhook_dispatch(first_id: int, last_id: int, created_at: str) -> None:
    """First attempts of a batch of deliveries recorded set-based (webhook_emit_select)."""
    from .services import webhook_deliveries_undispatched

    _attempt_each(
        webhook_deliveries_undispatched(
            first_id=first_id, last_id=last_id, created_at=datetime.fromisoformat(created_at)
        )
    )


@shared_task(name="api.webhook_redeliver")
def webhook_redeliver(delivery_ids: list[int]) -> None:
    """Another attempt at deliveries the sweep found stalled."""
    _attempt_each(delivery_ids)


@shared_task(name="api.webhook_sweep")
def webhook_sweep() -> None:
    """Send again, in batches, the deliveries of this brand whose task was lost."""
    from .services import WEBHOOK_DISPATCH_BATCH, webhook_deliveries_stalled

    with job_run_record(name="api.webhook_sweep") as run:
        stalled = webhook_deliveries_stalled()
        for start in range(0, len(stalled), WEBHOOK_DISPATCH_BATCH):
            webhook_redeliver.delay(stalled[start : start + WEBHOOK_DISPATCH_BATCH])
        run.summary = {"requeued": len(stalled)}


@shared_task(name="api.webhook_sweep_all_brands")
def webhook_sweep_all_brands() -> int:
    """The beat entry (public schema): one sweep per ready brand, in that brand's schema."""
    return run_in_every_brand("api.webhook_sweep")
