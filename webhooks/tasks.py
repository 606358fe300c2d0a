"""Celery tasks of partner webhooks. The names keep their old `api.` prefix: messages queued and
retries scheduled before webhooks became an app of their own must still find their task.

Tasks import the services inside their bodies and the services import this module at the top
(HackSoft's rule), so the two modules need no hidden cycle."""

import time
from datetime import datetime

from celery import shared_task

from crm.jobs.services import job_run_record
from crm.tenancy.tasks import run_in_every_brand

# Bounds on the worker every brand shares (issue 21). One attempt is bounded by
# settings.API_WEBHOOK_DEADLINE_SECONDS (15 s; name resolution comes on top); a batch attempts
# deliveries for BATCH_BUDGET_SECONDS and hands the rest on, so the celery limits below are only the
# backstop for what the deadline cannot see (a hung resolver, a stuck database).
ATTEMPT_SOFT_LIMIT, ATTEMPT_HARD_LIMIT = 60, 90
BATCH_BUDGET_SECONDS = 120
BATCH_SOFT_LIMIT, BATCH_HARD_LIMIT = 240, 300


@shared_task(
    bind=True,
    name="api.webhook_deliver",
    max_retries=None,
    soft_time_limit=ATTEMPT_SOFT_LIMIT,
    time_limit=ATTEMPT_HARD_LIMIT,
)
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
    `webhook_deliver` retry chain. Past BATCH_BUDGET_SECONDS (slow receivers in the batch) the
    rest goes to another task rather than running into the time limit."""
    from .services import webhook_delivery_attempt

    started = time.monotonic()
    for index, delivery_id in enumerate(delivery_ids):
        if time.monotonic() - started > BATCH_BUDGET_SECONDS:
            webhook_redeliver.delay(delivery_ids[index:])
            return
        outcome = webhook_delivery_attempt(delivery_id=delivery_id)
        if outcome.retry_in is not None:
            # Sent from inside this brand's schema, so the retry keeps the brand.
            webhook_deliver.apply_async(args=(delivery_id,), countdown=outcome.retry_in)


@shared_task(name="api.webhook_dispatch", soft_time_limit=BATCH_SOFT_LIMIT, time_limit=BATCH_HARD_LIMIT)
def webhook_dispatch(first_id: int, last_id: int, created_at: str) -> None:
    """First attempts of a batch of deliveries recorded set-based (webhook_emit_select)."""
    from .services import webhook_deliveries_undispatched

    _attempt_each(
        webhook_deliveries_undispatched(
            first_id=first_id, last_id=last_id, created_at=datetime.fromisoformat(created_at)
        )
    )


@shared_task(name="api.webhook_redeliver", soft_time_limit=BATCH_SOFT_LIMIT, time_limit=BATCH_HARD_LIMIT)
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
