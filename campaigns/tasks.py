import datetime as dt
import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from .models import Campaign, Occurrence

# Tasks import the services inside their bodies; the services import these tasks at the top
# (HackSoft's rule), so no cycle needs hiding.

logger = logging.getLogger(__name__)

# Sending calls WeCom (and an SMS gateway): each call is bounded by crm.egress, these bound the
# task. A send cut short by the soft limit continues in a retry (send_occurrence_messages).
SEND_SOFT_LIMIT, SEND_HARD_LIMIT = 1800, 1860
POLL_SOFT_LIMIT, POLL_HARD_LIMIT = 600, 660


def catch_up_grace() -> dt.timedelta:
    """How late a missed slot may still run (beat down, broker down): CAMPAIGN_CATCH_UP_GRACE_MINUTES."""
    return dt.timedelta(minutes=getattr(settings, "CAMPAIGN_CATCH_UP_GRACE_MINUTES", 6 * 60))


@shared_task(name="campaigns.trigger_occurrence")
def trigger_occurrence(campaign_id: int) -> str:
    """Sent by the campaign's beat entry (in the brand's schema). Exactly once in effect: the
    occurrence is unique per slot and its run is resumable, so a duplicate or retried trigger
    only finds the work done."""
    from .services import occurrence_for_trigger, occurrence_run

    occurrence = occurrence_for_trigger(campaign_id=campaign_id, now=timezone.now(), grace=catch_up_grace())
    if occurrence is None:
        logger.info("campaign %s: nothing due", campaign_id)
        return "nothing_due"
    return occurrence_run(occurrence_id=occurrence.pk)


@shared_task(name="campaigns.catch_up")
def catch_up() -> int:
    """Runs occurrences whose trigger was missed (or that crashed) within the grace period."""
    from .services import occurrence_for_trigger, occurrence_run

    now = timezone.now()
    started = 0
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SCHEDULED).values_list("pk", flat=True):
        occurrence = occurrence_for_trigger(campaign_id=campaign_id, now=now, grace=catch_up_grace())
        if occurrence is None or occurrence.status == Occurrence.Status.DONE:
            continue
        try:
            if occurrence_run(occurrence_id=occurrence.pk) == "done":
                started += 1
        except Exception:
            # The occurrence is marked failed with its error; one broken campaign must not keep
            # every campaign after it from being caught up.
            logger.exception("catch-up of occurrence %s failed", occurrence.pk)
    return started


# Sending again after a WeCom frequency limit or a transport failure: 30 s, 1, 2, 4 ... minutes,
# at most an hour, each plus up to 30 s so brands limited at the same moment do not retry in step.
SEND_RETRY_BASE_SECONDS = 30
SEND_RETRY_CAP_SECONDS = 3600
SEND_RETRY_JITTER_SECONDS = 30


def send_retry_countdown(retries: int) -> int:
    """Seconds before retry number `retries + 1` of an occurrence's sending."""
    backoff = min(SEND_RETRY_CAP_SECONDS, SEND_RETRY_BASE_SECONDS * 2**retries)
    return backoff + random.randint(0, SEND_RETRY_JITTER_SECONDS)


@shared_task(
    name="campaigns.send_occurrence_messages",
    bind=True,
    max_retries=8,
    soft_time_limit=SEND_SOFT_LIMIT,
    time_limit=SEND_HARD_LIMIT,
)
def send_occurrence_messages(self, occurrence_id: int) -> dict[str, int]:
    """Sends an occurrence's queued messages. WeCom frequency limits and transport failures are
    retried later with exponential backoff and jitter, never in a hot loop."""
    from wecom.errors import WecomError

    from .messaging import outbox_send

    try:
        return outbox_send(occurrence_id=occurrence_id)
    except SoftTimeLimitExceeded as exc:
        # outbox_send put the chunk in hand back to queued: a fresh task sends the rest.
        raise self.retry(exc=exc, countdown=send_retry_countdown(0)) from exc
    except WecomError as exc:
        if not exc.retryable:
            raise
        raise self.retry(exc=exc, countdown=send_retry_countdown(self.request.retries)) from exc


@shared_task(name="campaigns.send_lost_messages")
def send_lost_messages() -> int:
    """Sends again the occurrences whose send task was lost (every 10 minutes, in each brand)."""
    from .messaging import occurrences_with_unsent_messages

    occurrence_ids = occurrences_with_unsent_messages(now=timezone.now())
    for occurrence_id in occurrence_ids:
        logger.warning("occurrence %s: messages never sent, sending them now", occurrence_id)
        send_occurrence_messages.delay(occurrence_id)
    return len(occurrence_ids)


@shared_task(
    name="campaigns.poll_wecom_results",
    bind=True,
    max_retries=5,
    soft_time_limit=POLL_SOFT_LIMIT,
    time_limit=POLL_HARD_LIMIT,
)
def poll_wecom_results(self) -> dict[str, int]:
    """Records which WeCom group messages reached their members (scheduled every 15 minutes)."""
    from wecom.errors import WecomError

    from .messaging import wecom_results_poll

    try:
        return wecom_results_poll()
    except WecomError as exc:
        if not exc.retryable:
            raise
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries + random.randint(0, 30)) from exc
