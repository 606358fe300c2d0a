"""The campaign sending as it runs in production: the run's messages step submits it to the brand's
bulk pump when it commits, a real worker takes its chunk from the broker in the campaign's brand
and sends to the fake WeCom server over HTTP. A WeCom frequency limit is waited out with
exponential backoff and jitter, never retried in a loop; a permanent refusal is not retried."""

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from campaigns import tasks
from campaigns.messaging import wecom_text
from campaigns.models import Campaign, OutboxMessage
from campaigns.tasks import send_occurrence_messages, send_retry_countdown
from crm.tenancy.models import Brand
from members.models import Identity
from tests.campaigns.scenes import consenting_member, marketing_agreement_publish, run_now
from tests.factories import StaffFactory
from wecom.errors import NoPermission
from wecom.fake.server import FakeWecom


def test_sending_retries_30_seconds_doubling_to_an_hour_plus_up_to_30_seconds(monkeypatch):
    # The range each retry's wait is drawn from, as (low, high).
    ranges = []
    for end in (0, 1):
        monkeypatch.setattr(tasks, "random", SimpleNamespace(randint=lambda low, high, end=end: (low, high)[end]))
        ranges.append([send_retry_countdown(retries) for retries in range(9)])
    monkeypatch.undo()

    assert list(zip(*ranges, strict=True)) == [
        (30, 60),
        (60, 90),
        (120, 150),
        (240, 270),
        (480, 510),
        (960, 990),
        (1920, 1950),
        (3600, 3630),
        (3600, 3630),
    ]
    assert len({send_retry_countdown(3) for _ in range(30)}) > 1  # jittered, not in step
    assert send_occurrence_messages.max_retries == 8


def backoffs_recorded(monkeypatch) -> list[int]:
    """The waits drawn before the sending is handed to the pump again, in order."""
    waits: list[int] = []
    real = tasks.send_retry_countdown

    def recorded(retries: int) -> int:
        waits.append(real(retries))
        return waits[-1]

    monkeypatch.setattr(tasks, "send_retry_countdown", recorded)
    return waits


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def messaging_brand(wecom_brand: Brand) -> Brand:
    """A committed brand (a run's consent records and ledger entries cannot be deleted) with WeCom
    on the fake and a published marketing agreement; the connection stays in it."""
    marketing_agreement_publish()
    return wecom_brand


def wecom_campaign(fake: FakeWecom, *externals: str) -> Campaign:
    """A member-day WeCom message to members of zhangsan who follow him on WeCom."""
    staff = StaffFactory(wecom_userid="zhangsan")
    for ext in externals:
        member = consenting_member("marketing_wecom", assigned_staff=staff)
        Identity.objects.create(member=member, kind="wecom_external_userid", value=ext)
        fake.add_contact(ext)
        fake.add_follow("zhangsan", ext)
    return Campaign.objects.create(
        name="会员日",
        frequency=Campaign.Frequency.MONTHLY,
        day_of_month=8,
        message_channel=Campaign.MessageChannel.WECOM,
        message_template="{name}，会员日快乐",
    )


def statuses(occurrence_id: int) -> dict[str, str]:
    return dict(OutboxMessage.objects.filter(occurrence_id=occurrence_id).values_list("address", "status"))


@pytest.mark.worker
def test_the_runs_commit_sends_through_the_worker_which_waits_out_a_frequency_limit(
    celery_worker, messaging_brand, fake, monkeypatch, retry_countdowns
):
    # The first wait shortened from 30-60 s to 1 s (the schedule itself is specified above).
    monkeypatch.setattr(tasks, "SEND_RETRY_BASE_SECONDS", 1)
    monkeypatch.setattr(tasks, "SEND_RETRY_JITTER_SECONDS", 0)
    waits = backoffs_recorded(monkeypatch)
    campaign = wecom_campaign(fake, "wmOne", "wmTwo")  # bodies differ by name: one group message each
    fake.inject("externalcontact/add_msg_template")  # the first goes through,
    fake.inject("externalcontact/add_msg_template", errcode=45009)  # the second hits WeCom's frequency limit

    occurrence = run_now(campaign)  # each step commits; the messages step's commit dispatches the send

    sent = wait_for(lambda: set(statuses(occurrence.pk).values()) == {OutboxMessage.Status.SENT})
    # One wait, then the sending handed to the pump again (no celery retry of a task holding a worker).
    assert sent and waits == [1] and retry_countdowns == []
    assert fake.calls["externalcontact/add_msg_template"] == 3  # one refused, retried once
    # Each member's message went out once: the retry sent only what the limit had held back.
    messages = sorted(fake.messages.values(), key=lambda m: m.external_userids)
    assert [(m.sender, m.external_userids) for m in messages] == [("zhangsan", ["wmOne"]), ("zhangsan", ["wmTwo"])]
    rows = {row.address: row for row in OutboxMessage.objects.filter(occurrence=occurrence)}
    assert [
        (rows[m.external_userids[0]].provider_msgid, wecom_text(rows[m.external_userids[0]].body)) for m in messages
    ] == [(m.msgid, m.text) for m in messages]
    assert all("，会员日快乐\n\n不想再收到此类消息？" in m.text for m in messages)  # with the preferences footer


@pytest.mark.worker
def test_a_permanent_refusal_is_not_retried_and_leaves_the_messages_queued(
    celery_worker, messaging_brand, fake, retry_countdowns, monkeypatch
):
    waits = backoffs_recorded(monkeypatch)
    failures: list[BaseException] = []
    from celery.signals import task_failure

    def record(sender: Any = None, exception: BaseException | None = None, **kwargs: Any) -> None:
        if exception is not None:
            failures.append(exception)

    task_failure.connect(record, weak=False)
    try:
        campaign = wecom_campaign(fake, "wmOne")
        fake.inject("externalcontact/add_msg_template", errcode=48002)  # the app lacks the permission

        occurrence = run_now(campaign)

        wait_for(lambda: failures)
    finally:
        task_failure.disconnect(record)
    assert [type(exc) for exc in failures] == [NoPermission] and retry_countdowns == [] == waits
    assert fake.calls["externalcontact/add_msg_template"] == 1 and fake.messages == {}
    assert statuses(occurrence.pk) == {"wmOne": OutboxMessage.Status.QUEUED}
