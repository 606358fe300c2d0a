"""An occurrence's messages are sent even when its sending stopped before claiming them (its pump
chunk gone: the chain ended on an error, a hand-over after a backoff was lost on the way). The
sweep picks up only messages no send ever claimed and no send chunk waits for in the pump, so a
send that WeCom refused or is backing off from is left to its own retries, and one waiting its
turn behind other brands' work is not started twice."""

import datetime as dt

import pytest
from django.utils import timezone

from campaigns import messaging
from campaigns.messaging import (
    SEND_CHAIN,
    SEND_LEASE,
    SEND_LOST_AFTER,
    occurrences_with_unsent_messages,
    outbox_send,
)
from campaigns.models import OutboxMessage
from campaigns.tasks import send_lost_messages
from crm.tenancy.models import BulkChunk
from tests.campaigns.scenes import consenting_member, run_now
from tests.campaigns.test_send_task import messaging_brand, statuses, wait_for, wecom_campaign

__all__ = ["messaging_brand"]  # the fixture, used by name below


def queued_minutes_ago(occurrence_id: int, minutes: float) -> None:
    """As if the messages had been queued `minutes` ago and nothing touched them since."""
    then = timezone.now() - dt.timedelta(minutes=minutes)
    OutboxMessage.objects.filter(occurrence_id=occurrence_id).update(created_at=then, updated_at=then)


def sending_lost() -> None:
    """The occurrences' send chunks are gone from the pump (none ever ran)."""
    BulkChunk.objects.filter(task=SEND_CHAIN.task_name).delete()


def test_messages_nobody_sent_are_found_once_the_send_had_time_to_run(make_campaign, marketing_agreement):
    # In a rolled-back test the commit never happens: the send chunk waits in the pump for good.
    consenting_member("marketing_sms")
    occurrence = run_now(make_campaign(message_channel="sms", message_template="会员日快乐"))
    assert statuses(occurrence.pk) and set(statuses(occurrence.pk).values()) == {OutboxMessage.Status.QUEUED}
    now = timezone.now()
    later = now + SEND_LOST_AFTER + dt.timedelta(seconds=1)

    assert occurrences_with_unsent_messages(now=later) == []  # its send chunk is waiting its turn
    sending_lost()
    assert occurrences_with_unsent_messages(now=now) == []  # just queued: its send may be on its way
    assert occurrences_with_unsent_messages(now=later) == [occurrence.pk]


def test_a_send_that_claimed_the_messages_owns_them(make_campaign, marketing_agreement):
    consenting_member("marketing_sms")
    occurrence = run_now(make_campaign(message_channel="sms", message_template="会员日快乐"))
    sending_lost()
    queued_minutes_ago(occurrence.pk, 60)
    # A send claimed them and put them back (WeCom refused, or it is waiting out a limit).
    OutboxMessage.objects.filter(occurrence_id=occurrence.pk).update(updated_at=timezone.now())

    assert occurrences_with_unsent_messages(now=timezone.now()) == []


def test_old_occurrences_and_finished_messages_are_left_alone(make_campaign, marketing_agreement):
    consenting_member("marketing_sms")
    occurrence = run_now(make_campaign(message_channel="sms", message_template="会员日快乐"))
    sending_lost()
    queued_minutes_ago(occurrence.pk, 60)
    OutboxMessage.objects.filter(occurrence_id=occurrence.pk).update(status=OutboxMessage.Status.CANCELLED)

    assert occurrences_with_unsent_messages(now=timezone.now()) == []


def test_messages_a_dead_worker_left_sending_are_found_after_the_lease_and_failed_not_resent(
    make_campaign, marketing_agreement
):
    consenting_member("marketing_sms")
    occurrence = run_now(make_campaign(message_channel="sms", message_template="会员日快乐"))
    sending_lost()
    # The worker claimed the last (only) chunk and died: no send of this occurrence is left.
    claimed = timezone.now() - SEND_LEASE - dt.timedelta(seconds=1)
    OutboxMessage.objects.filter(occurrence_id=occurrence.pk).update(
        status=OutboxMessage.Status.SENDING, created_at=claimed, updated_at=claimed
    )
    assert occurrences_with_unsent_messages(now=claimed + SEND_LEASE) == []  # still within its lease
    assert occurrences_with_unsent_messages(now=timezone.now()) == [occurrence.pk]

    assert outbox_send(occurrence_id=occurrence.pk)["attempted"] == 0  # what the sweep's task runs
    assert set(statuses(occurrence.pk).values()) == {OutboxMessage.Status.FAILED}
    assert occurrences_with_unsent_messages(now=timezone.now()) == []


@pytest.mark.worker
def test_the_sweep_sends_what_a_lost_task_left_queued(celery_worker, messaging_brand, fake, monkeypatch):
    campaign = wecom_campaign(fake, "wmOne", "wmTwo")
    # The sending is never handed to the pump (as if its chain had ended before claiming anything).
    monkeypatch.setattr(messaging, "outbox_send_start", lambda **kwargs: None)
    occurrence = run_now(campaign)
    queued_minutes_ago(occurrence.pk, 20)
    assert set(statuses(occurrence.pk).values()) == {OutboxMessage.Status.QUEUED}

    send_lost_messages.delay()  # as beat's entry does, in the brand

    wait_for(lambda: set(statuses(occurrence.pk).values()) == {OutboxMessage.Status.SENT})
    assert sorted(m.external_userids[0] for m in fake.messages.values()) == ["wmOne", "wmTwo"]
