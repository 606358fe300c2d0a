import datetime as dt
import logging
import random

from celery import shared_task
from django.conf import settings
from django.utils import timezone

# Tasks import the services inside their bodies; the services import these tasks at the top
# (HackSoft's rule), so no cycle needs hiding.

logger = logging.getLogger(__name__)

# Sending calls WeCom (and an SMS gateway): each call is bounded by crm.egress, these bound the
# task (a send chunk run by the pump is bounded by SEND_CHUNK_BATCHES, campaigns/messaging.py).
SEND_SOFT_LIMIT, SEND_HARD_LIMIT = 1800, 1860
POLL_SOFT_LIMIT, POLL_HARD_LIMIT = 600, 660


def catch_up_grace() -> dt.timedelta:
    """How late a missed slot may still run (beat down, broker down): CAMPAIGN_CATCH_UP_GRACE_MINUTES."""
    return dt.timedelta(minutes=getattr(settings, "CAMPAIGN_CATCH_UP_GRACE_MINUTES", 6 * 60))


@shared_task(name="campaigns.slot_due")
def slot_due(slots: list[tuple[int, str]]) -> dict[str, int]:
    """Sent by the due-slot dispatcher (crm/tenancy/slots.py) into the brand, with its campaigns
    due: `[[campaign_id, due_at], …]`. Each in its own transaction: ensure the slot's occurrence
    (exactly once) and start it through the brand's bulk pump. One campaign failing leaves the
    others fired; its slot is sent again when its lease has passed."""
    from .services import campaign_slot_fire

    counts = {"started": 0, "nothing_due": 0, "failed": 0}
    for campaign_id, due_at in slots:
        try:
            occurrence = campaign_slot_fire(
                campaign_id=campaign_id,
                due_at=dt.datetime.fromisoformat(due_at),
                now=timezone.now(),
                grace=catch_up_grace(),
            )
        except Exception:
            logger.exception("campaign %s: slot %s not fired", campaign_id, due_at)
            counts["failed"] += 1
            continue
        counts["started" if occurrence is not None else "nothing_due"] += 1
    return counts


@shared_task(name="campaigns.trigger_occurrence")
def trigger_occurrence(campaign_id: int) -> str:
    """What a campaign's django-celery-beat entry sent before due slots replaced them: a message
    (or a beat process with the old entries loaded) from before the change still works, as a
    slot firing now. Exactly once in effect: the occurrence is unique per slot."""
    from .services import campaign_slot_fire

    occurrence = campaign_slot_fire(campaign_id=campaign_id, due_at=None, now=timezone.now(), grace=catch_up_grace())
    return "started" if occurrence is not None else "nothing_due"


@shared_task(name="campaigns.occurrence_step")
def occurrence_step(occurrence_id: int, chunk: int | None = None) -> str:
    """A bulk chunk (run by the pump, crm/tenancy/pump.py): the occurrence's next member id
    ranges; `chunk`, the run's chunk number it was submitted with."""
    from .services import occurrence_step as step

    return step(occurrence_id=occurrence_id, chunk=chunk)


@shared_task(name="campaigns.catch_up")
def catch_up() -> int:
    """Starts again the occurrences of the grace period that failed or never got going (every
    10 minutes, in each brand). Missed slots need no sweep: their due slot stays due until the
    dispatcher claims it."""
    from .services import occurrences_resume

    return occurrences_resume(now=timezone.now(), grace=catch_up_grace())


# Sending again after a WeCom frequency limit or a transport failure: 30 s, 1, 2, 4 ... minutes,
# at most an hour, each plus up to 30 s so brands limited at the same moment do not retry in step.
SEND_RETRY_BASE_SECONDS = 30
SEND_RETRY_CAP_SECONDS = 3600
SEND_RETRY_JITTER_SECONDS = 30


def send_retry_countdown(retries: int) -> int:
    """Seconds before retry number `retries + 1` of an occurrence's sending."""
    backoff = min(SEND_RETRY_CAP_SECONDS, SEND_RETRY_BASE_SECONDS * 2**retries)
    return backoff + random.randint(0, SEND_RETRY_JITTER_SECONDS)


# A retryable failure hands the sending to the pump again at most this many times.
SEND_MAX_RETRIES = 8


@shared_task(
    name="campaigns.send_occurrence_messages",
    max_retries=SEND_MAX_RETRIES,
    soft_time_limit=SEND_SOFT_LIMIT,
    time_limit=SEND_HARD_LIMIT,
)
def send_occurrence_messages(occurrence_id: int, attempt: int = 0) -> str:
    """Hands an occurrence's sending to the brand's bulk pump, which sends a chunk at a time
    (campaigns.send_chunk): sent after a WeCom frequency limit or transport failure's backoff
    (`attempt`: how many so far), by the lost-messages sweep, or queued before the pump."""
    from .messaging import outbox_send_submit

    return outbox_send_submit(occurrence_id=occurrence_id, attempt=attempt)


@shared_task(name="campaigns.send_chunk", soft_time_limit=SEND_SOFT_LIMIT, time_limit=SEND_HARD_LIMIT)
def send_chunk(occurrence_id: int, chunk: int, attempt: int = 0) -> str:
    """A bulk chunk (run by the pump, crm/tenancy/pump.py): the occurrence's next batches of
    messages (campaigns/messaging.py)."""
    from .messaging import outbox_send_chunk

    return outbox_send_chunk(occurrence_id=occurrence_id, chunk=chunk, attempt=attempt)


@shared_task(name="campaigns.send_lost_messages")
def send_lost_messages() -> int:
    """Sends again the occurrences whose send task was lost (every 10 minutes, in each brand)."""
    from .messaging import occurrences_with_unsent_messages, outbox_send_submit

    occurrence_ids = occurrences_with_unsent_messages(now=timezone.now())
    for occurrence_id in occurrence_ids:
        logger.warning("occurrence %s: messages never sent, sending them now", occurrence_id)
        outbox_send_submit(occurrence_id=occurrence_id)
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
