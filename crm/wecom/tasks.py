"""WeCom tasks: take ids, call a service. Retryable WeCom failures (45009/45033 rate limits,
timeouts, 5xx) are retried by celery with exponential backoff and full jitter, so a burst of
callbacks that hits the rate limit spreads out instead of hammering WeCom in lockstep."""

import random

from celery import shared_task
from celery.app.task import Task

from . import services
from .errors import WecomError

MAX_RETRIES = 8
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 600


def retry_countdown(retries: int) -> float:
    """Seconds before retry number `retries + 1`: uniform in [base, min(cap, base * 2**retries)]."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return random.uniform(BACKOFF_BASE_SECONDS, max(BACKOFF_BASE_SECONDS, ceiling))


@shared_task(bind=True, name="wecom.callback_event_process", max_retries=MAX_RETRIES)
def callback_event_process_task(self: Task, event_id: int) -> None:
    try:
        services.callback_event_process(event_id=event_id)
    except WecomError as exc:
        if exc.retryable and self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
        services.callback_event_fail(event_id=event_id, error=str(exc))
        raise
    except Exception as exc:
        services.callback_event_fail(event_id=event_id, error=f"{type(exc).__name__}: {exc}")
        raise
