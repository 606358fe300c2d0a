"""An occurrence's sending runs through the brand's bulk pump as a chain of numbered chunks
(campaigns/messaging.py SEND_CHAIN), SEND_CHUNK_BATCHES claimed batches a chunk: a big sending is
several chunks and sends what the whole send sends; a chunk delivered again sends nothing; a chunk
whose worker died is run again and sends the rest, and nothing is ever sent to a member twice."""

import datetime as dt

import pytest

from campaigns import messaging
from campaigns.messaging import SEND_LEASE, outbox_send, outbox_send_chunk, outbox_send_start
from campaigns.models import Occurrence, OutboxMessage
from campaigns.sms import LoggingSmsProvider
from campaigns.tasks import send_lost_messages, send_occurrence_messages
from crm.tenancy.models import BulkChunk
from tests.campaigns.scenes import consenting_member
from tests.campaigns.test_chunked_run import WorkerKilled, triggered
from tests.conftest import BRAND_A

SMS = {"message_channel": "sms", "message_template": "{name} 会员日快乐", "bonus_points": 0}
# Each test counts what it texted, not what earlier tests of the process did.
pytestmark = pytest.mark.usefixtures("sms_sent")


@pytest.fixture
def small_batches(monkeypatch) -> None:
    """Two messages a batch, one batch a chunk: nine members are five chunks."""
    monkeypatch.setattr(messaging, "SMS_CHUNK", 2)
    monkeypatch.setattr(messaging, "SEND_CHUNK_BATCHES", 1)


@pytest.fixture
def members9(in_brand_a, marketing_agreement) -> list[int]:
    return [consenting_member("marketing_sms", mobile=f"+86139000{n:05d}").pk for n in range(9)]


def outbox(occurrence: Occurrence) -> dict[int, str]:
    return dict(OutboxMessage.objects.filter(occurrence=occurrence).values_list("member_id", "status"))


def texted() -> list[str]:
    mobiles = [sms.mobile for sms in LoggingSmsProvider.sent]
    assert len(mobiles) == len(set(mobiles)), "a member was texted twice"
    return sorted(mobiles)


def send_chunks() -> list[list[int]]:
    return [c.args for c in BulkChunk.objects.filter(schema_name=BRAND_A, task=messaging.SEND_CHAIN.task_name)]


@pytest.mark.django_db
def test_a_big_sending_is_several_chunks_and_sends_what_the_whole_send_sends(
    members9, make_campaign, pump_inline, small_batches
):
    whole = triggered(make_campaign(name="整体", holdout_pct=0, **SMS))
    pump_inline()  # the run, then its sending
    whole.refresh_from_db()
    assert whole.summary["send_chunks"] == 5  # 2 + 2 + 2 + 2 + 1 messages
    sent_chunked = texted()
    assert len(sent_chunked) == 9 and set(outbox(whole).values()) == {OutboxMessage.Status.SENT}

    # The same audience sent whole (outbox_send in one call, as before the pump).
    LoggingSmsProvider.sent.clear()
    other = triggered(make_campaign(name="一次发完", holdout_pct=0, **SMS))
    BulkChunk.objects.all().delete()
    from campaigns.services import occurrence_run

    occurrence_run(occurrence_id=other.pk)
    BulkChunk.objects.all().delete()  # its send chunk, sent whole below instead
    outbox_send(occurrence_id=other.pk)
    assert texted() == sent_chunked
    assert sorted(outbox(other).items()) == sorted(outbox(whole).items())


@pytest.mark.django_db
def test_a_send_chunk_delivered_again_sends_nothing_and_a_killed_one_resumes(
    members9, make_campaign, pump_inline, small_batches, monkeypatch
):
    occurrence = triggered(make_campaign(holdout_pct=0, **SMS))
    pump_inline_runs_only_the_run(pump_inline, occurrence)
    LoggingSmsProvider.sent.clear()
    assert send_chunks() == [[occurrence.pk, 1, 0]]
    BulkChunk.objects.all().delete()  # run by hand here, as the worker would

    assert outbox_send_chunk(occurrence_id=occurrence.pk, chunk=1) == "continued"
    assert len(texted()) == 2 and send_chunks() == [[occurrence.pk, 2, 0]]
    # Chunk 1 delivered again: stale, nobody is texted again.
    assert outbox_send_chunk(occurrence_id=occurrence.pk, chunk=1) == "stale"
    assert len(texted()) == 2 and send_chunks() == [[occurrence.pk, 2, 0]]

    # Chunk 2's worker dies inside the provider call: the two members may have been texted, the
    # outcome was never recorded.
    real_send = LoggingSmsProvider.send_batch

    def sent_then_killed(self, messages):
        real_send(self, messages)
        raise WorkerKilled

    monkeypatch.setattr(LoggingSmsProvider, "send_batch", sent_then_killed)
    with pytest.raises(WorkerKilled):
        outbox_send_chunk(occurrence_id=occurrence.pk, chunk=2)
    monkeypatch.setattr(LoggingSmsProvider, "send_batch", real_send)
    in_doubt = {m for m, status in outbox(occurrence).items() if status == OutboxMessage.Status.SENDING}
    assert len(in_doubt) == 2 and len(texted()) == 4

    # The lost chunk comes back (redelivery, or the pump's sweep): it sends the rest, never the
    # two in doubt; once the send lease has passed they are recorded as failed.
    assert send_chunks() == [[occurrence.pk, 2, 0]]  # still in the pump: nobody heard it end
    pump_inline()
    assert len(texted()) == 9  # each member once
    OutboxMessage.objects.filter(member_id__in=in_doubt).update(updated_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    outbox_send_start(occurrence=occurrence)  # any later send (a sweep, a retry) settles them
    pump_inline()
    statuses = outbox(occurrence)
    assert {m for m, s in statuses.items() if s == OutboxMessage.Status.FAILED} == in_doubt
    assert sum(s == OutboxMessage.Status.SENT for s in statuses.values()) == 7
    assert len(texted()) == 9 and dt.timedelta(0) < SEND_LEASE


def pump_inline_runs_only_the_run(pump_inline, occurrence: Occurrence) -> None:
    """Run the occurrence's run chunks, leaving its send chunk waiting."""
    from campaigns.services import STEP_TASK

    while BulkChunk.objects.filter(task=STEP_TASK).exists():
        chunk = BulkChunk.objects.filter(task=STEP_TASK).order_by("id").first()
        assert chunk is not None
        BulkChunk.objects.filter(pk=chunk.pk).delete()
        from campaigns.services import occurrence_step

        occurrence_step(occurrence_id=occurrence.pk, chunk=chunk.args[1])
    occurrence.refresh_from_db()
    assert occurrence.status == Occurrence.Status.DONE


@pytest.mark.django_db
def test_the_lost_messages_sweep_leaves_a_sending_waiting_in_the_pump_alone(
    members9, make_campaign, pump_inline, small_batches
):
    occurrence = triggered(make_campaign(holdout_pct=0, **SMS))
    pump_inline_runs_only_the_run(pump_inline, occurrence)
    # Long queued behind other brands' work: still not lost, nothing submitted again.
    OutboxMessage.objects.filter(occurrence=occurrence).update(
        created_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), updated_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    )
    assert send_lost_messages() == 0
    assert send_chunks() == [[occurrence.pk, 1, 0]]
    # Its chunk lost for good (the pump's row gone): the sweep starts a fresh chain.
    BulkChunk.objects.all().delete()
    assert send_lost_messages() == 1
    assert send_chunks() == [[occurrence.pk, 2, 0]]
    # A message queued before the pump (campaigns.send_occurrence_messages) hands it on too; the
    # older chunk goes stale, one chain sends.
    assert send_occurrence_messages(occurrence.pk) == "submitted"
    LoggingSmsProvider.sent.clear()
    pump_inline()
    assert len(texted()) == 9
    assert set(outbox(occurrence).values()) == {OutboxMessage.Status.SENT}
