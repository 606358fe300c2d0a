"""WeCom tasks: take ids, call a service. Retryable WeCom failures (45009/45033 rate limits,
timeouts, 5xx) are retried by celery with exponential backoff and full jitter, so a burst of
callbacks that hits the rate limit spreads out instead of hammering WeCom in lockstep.

Tasks import what they call inside their bodies; the services import the tasks at the top
(HackSoft's rule), so no cycle needs hiding."""

import random

from celery import shared_task
from celery.app.task import Task

from crm.jobs.services import job_run_record

from .errors import WecomError

MAX_RETRIES = 8
# Every task here calls the WeCom API. One call is bounded by crm.egress (address, size, and
# settings.WECOM_API_DEADLINE_SECONDS); these limits bound a task's many calls, so one brand's
# stuck run cannot hold a worker every brand shares. Work cut short is picked up again: failed
# callbacks are retried, transfers and links polled, unsent tags marked on the next run.
TASK_SOFT_LIMIT, TASK_HARD_LIMIT = 600, 660
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 600


def retry_countdown(retries: int) -> float:
    """Seconds before retry number `retries + 1`: uniform in [base, min(cap, base * 2**retries)]."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return random.uniform(BACKOFF_BASE_SECONDS, max(BACKOFF_BASE_SECONDS, ceiling))


@shared_task(
    bind=True,
    name="wecom.callback_event_process",
    max_retries=MAX_RETRIES,
    soft_time_limit=TASK_SOFT_LIMIT,
    time_limit=TASK_HARD_LIMIT,
)
def callback_event_process_task(self: Task, event_id: int) -> None:
    from . import services

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


def _retrying(task: Task, exc: WecomError) -> None:
    if exc.retryable and task.request.retries < MAX_RETRIES:
        raise task.retry(exc=exc, countdown=retry_countdown(task.request.retries)) from exc
    raise exc


@shared_task(
    bind=True,
    name="wecom.transfers_send",
    max_retries=MAX_RETRIES,
    soft_time_limit=TASK_SOFT_LIMIT,
    time_limit=TASK_HARD_LIMIT,
)
def transfers_send_task(self: Task, handover_id: int, kind: str) -> dict[str, int]:
    from .transfers import transfers_send

    try:
        return transfers_send(handover_id=handover_id, kind=kind)
    except WecomError as exc:
        _retrying(self, exc)
        raise


@shared_task(name="wecom.transfers_poll", soft_time_limit=TASK_SOFT_LIMIT, time_limit=TASK_HARD_LIMIT)
def transfers_poll_task() -> dict[str, int]:
    """Scheduled (beat): a rate limit here just waits for the next run, no retry storm."""
    from .transfers import transfers_poll

    with job_run_record(name="wecom.transfers_poll") as run:
        run.summary = transfers_poll()
    return run.summary


@shared_task(name="wecom.members_unassigned_distribute", soft_time_limit=TASK_SOFT_LIMIT, time_limit=TASK_HARD_LIMIT)
def members_unassigned_distribute_task() -> dict[str, int]:
    from .assignment import members_unassigned_distribute

    with job_run_record(name="wecom.members_unassigned_distribute") as run:
        run.summary = members_unassigned_distribute()
    return run.summary


@shared_task(name="wecom.prospects_link_pending", soft_time_limit=TASK_SOFT_LIMIT, time_limit=TASK_HARD_LIMIT)
def prospects_link_pending_task() -> dict[str, int]:
    from .assignment import prospects_link_pending

    with job_run_record(name="wecom.prospects_link_pending") as run:
        run.summary = prospects_link_pending()
    return run.summary


@shared_task(
    bind=True,
    name="wecom.member_tags_mark",
    max_retries=MAX_RETRIES,
    soft_time_limit=TASK_SOFT_LIMIT,
    time_limit=TASK_HARD_LIMIT,
)
def member_tags_mark_task(self: Task, member_ids: list[int], tag_id: int, added: bool) -> dict[str, int]:
    from .channels import member_tags_mark

    try:
        return member_tags_mark(member_ids=member_ids, tag_id=tag_id, added=added)
    except WecomError as exc:
        _retrying(self, exc)
        raise


@shared_task(name="wecom.prospects_link_member", soft_time_limit=TASK_SOFT_LIMIT, time_limit=TASK_HARD_LIMIT)
def prospects_link_member_task(member_id: int) -> int:
    """Link the prospects waiting for this member's unionid (sent after enrolment or a bind)."""
    from members.models import Member

    from .assignment import prospects_link_for_member

    member = Member.objects.filter(pk=member_id).first()
    return prospects_link_for_member(member=member) if member is not None else 0
