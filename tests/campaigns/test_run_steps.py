"""What an occurrence does: bonus points once per member, messages queued once per member and
sent after commit, consent checked again at send time, withdrawal cancelling what is queued,
the points multiplier on orders in the occurrence's local day, and the preview's counts.

Each test's transaction is rolled back, never committed, so the send the messages step dispatches
on commit never leaves: these tests call `outbox_send` themselves. test_send_task.py has a real
worker run what a committed run dispatches."""

import datetime as dt

import pytest

from campaigns import services
from campaigns.messaging import outbox_send
from campaigns.models import OutboxMessage, Recipient
from campaigns.selectors import campaign_preview
from campaigns.sms import LoggingSmsProvider
from consent.services.records import consent_withdraw
from members.models import Identity, Member, PointsEntry
from members.services.orders import order_post
from tests.campaigns.scenes import ADMIN, consenting_member, run_now
from tests.factories import MemberFactory, StaffFactory, TierFactory

pytestmark = pytest.mark.django_db


def test_bonus_points_are_awarded_once_even_when_the_step_runs_again(in_brand_a, make_campaign):
    members = MemberFactory.create_batch(3)
    occurrence = run_now(make_campaign(bonus_points=88))

    services._step_awards(occurrence)  # a resumed run repeating the step

    for member in members:
        member.refresh_from_db()
        assert member.points_balance == 88
        assert PointsEntry.objects.filter(member=member, kind="bonus").count() == 1
    assert occurrence.summary["awards"]["awarded_members"] == 3
    assert occurrence.summary["awards"]["points_each"] == 88


def test_hold_out_members_get_nothing(in_brand_a, make_campaign):
    MemberFactory.create_batch(60)
    occurrence = run_now(make_campaign(bonus_points=10, holdout_pct=50))

    holdout = Recipient.objects.filter(occurrence=occurrence, holdout=True).values("member_id")
    assert Member.objects.filter(pk__in=holdout).exists()
    assert not PointsEntry.objects.filter(member_id__in=holdout).exists()
    assert PointsEntry.objects.filter(reference=f"campaign:{occurrence.pk}").count() == 60 - holdout.count()


def test_sms_messages_are_rendered_queued_once_and_sent_after_commit(
    in_brand_a, make_campaign, marketing_agreement, django_capture_on_commit_callbacks
):
    gold = TierFactory(name="金卡")
    reachable = consenting_member("marketing_sms", name="李雷", tier=gold, points_balance=0)
    consenting_member()  # member, but no SMS consent
    LoggingSmsProvider.sent.clear()
    campaign = make_campaign(
        bonus_points=20, message_channel="sms", message_template="{name}，您是{tier}会员，积分{balance}"
    )

    with django_capture_on_commit_callbacks() as callbacks:
        occurrence = run_now(campaign)

    # Sending is dispatched after the messages step commits, not inside the run (captured here, not
    # run: test_send_task.py has a worker take what the commit dispatches); sent by hand below.
    assert len(callbacks) == 1
    message = OutboxMessage.objects.get(occurrence=occurrence)
    assert message.member_id == reachable.pk
    assert message.body == "李雷，您是金卡会员，积分20"  # rendered after the award
    assert message.address == reachable.mobile
    outbox_send(occurrence_id=occurrence.pk)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert [sms.mobile for sms in LoggingSmsProvider.sent] == [reachable.mobile]

    # Sending again sends nothing more.
    outbox_send(occurrence_id=occurrence.pk)
    assert len(LoggingSmsProvider.sent) == 1


def test_consent_withdrawn_between_snapshot_and_send_stops_the_message(in_brand_a, make_campaign, marketing_agreement):
    member = consenting_member("marketing_sms")
    LoggingSmsProvider.sent.clear()
    occurrence = run_now(make_campaign(message_channel="sms", message_template="会员日快乐"))
    assert OutboxMessage.objects.get(occurrence=occurrence).status == OutboxMessage.Status.QUEUED

    consent_withdraw(member_id=member.pk, purpose="marketing_sms", evidence=ADMIN, actor="member")

    assert OutboxMessage.objects.get(occurrence=occurrence).status == OutboxMessage.Status.CANCELLED
    outbox_send(occurrence_id=occurrence.pk)
    assert LoggingSmsProvider.sent == []


def test_send_time_check_cancels_members_no_longer_contactable(in_brand_a, make_campaign, marketing_agreement):
    member = consenting_member("marketing_sms")
    LoggingSmsProvider.sent.clear()
    occurrence = run_now(make_campaign(message_channel="sms", message_template="会员日快乐"))
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)  # no consent hook for this

    assert outbox_send(occurrence_id=occurrence.pk)["cancelled"] == 1
    assert LoggingSmsProvider.sent == []


def test_wecom_messages_need_the_members_own_staff_and_external_contact(in_brand_a, make_campaign, marketing_agreement):
    staff = StaffFactory(wecom_userid="zhangsan")
    with_contact = consenting_member("marketing_wecom", assigned_staff=staff)
    Identity.objects.create(member=with_contact, kind="wecom_external_userid", value="wmEXT001")
    consenting_member("marketing_wecom", assigned_staff=staff)  # no WeCom relation: left out
    consenting_member("marketing_wecom")  # no staff: left out
    campaign = make_campaign(bonus_points=0, multiplier_pct=100, message_channel="wecom", message_template="hi")

    preview = campaign_preview(campaign)
    occurrence = run_now(campaign)

    rows = {m.member_id: m for m in OutboxMessage.objects.filter(occurrence=occurrence)}
    assert set(rows) == {with_contact.pk}
    assert rows[with_contact.pk].address == "wmEXT001" and rows[with_contact.pk].staff_id == staff.pk
    assert preview.audience == 1 and preview.excluded == {"no_staff": 1, "no_wecom": 1}
    assert occurrence.summary["snapshot"]["excluded"] == {"no_staff": 1, "no_wecom": 1}


def test_preview_counts_exclusions_by_reason(in_brand_a, make_campaign, marketing_agreement):
    consenting_member("marketing_sms")
    for status in (Member.Status.FROZEN, Member.Status.ERASED):
        Member.objects.filter(pk=consenting_member("marketing_sms").pk).update(status=status)
    consenting_member()  # no SMS consent
    withdrawn = consenting_member("marketing_sms")
    consent_withdraw(member_id=withdrawn.pk, purpose="marketing_sms", evidence=ADMIN, actor="member")
    campaign = make_campaign(bonus_points=100, message_channel="sms", message_template="x")

    preview = campaign_preview(campaign)

    assert preview.matching == 5
    assert preview.audience == 1
    assert preview.excluded == {"frozen": 1, "erased": 1, "no_consent": 2}
    assert preview.points_liability == 100


def test_points_multiplier_applies_to_recipients_orders_on_the_local_day(in_brand_a, make_campaign):
    member = MemberFactory()
    Identity.objects.create(member=member, kind="pos_card", value="CARD-1")
    occurrence = run_now(make_campaign(bonus_points=0, multiplier_pct=300))
    slot = occurrence.slot

    on_the_day = order_post(
        channel="store",
        order_no="A1",
        paid_at=slot + dt.timedelta(hours=3),
        amount_fen=10000,
        buyer_kind="pos_card",
        buyer_value="CARD-1",
        actor="test",
    )
    # 23:30 on the 7th in Shanghai is already the 8th in... no: it is the 7th locally, outside.
    day_before = order_post(
        channel="store",
        order_no="A2",
        paid_at=occurrence.window_start - dt.timedelta(minutes=30),
        amount_fen=10000,
        buyer_kind="pos_card",
        buyer_value="CARD-1",
        actor="test",
    )

    assert on_the_day.points_earned == 3 * day_before.points_earned > 0


def test_messages_stranded_by_a_dead_worker_fail_instead_of_staying_in_sending(
    in_brand_a, make_campaign, marketing_agreement
):
    from django.utils import timezone

    from campaigns.messaging import SEND_LEASE

    consenting_member("marketing_sms")
    occurrence = run_now(make_campaign(message_channel="sms", message_template="会员日快乐"))
    # A worker claimed the row and died before recording the provider's answer.
    OutboxMessage.objects.filter(occurrence=occurrence).update(
        status=OutboxMessage.Status.SENDING, updated_at=timezone.now() - SEND_LEASE * 2
    )
    LoggingSmsProvider.sent.clear()

    outbox_send(occurrence_id=occurrence.pk)

    message = OutboxMessage.objects.get(occurrence=occurrence)
    assert message.status == OutboxMessage.Status.FAILED and "interrupted" in message.error
    assert LoggingSmsProvider.sent == []  # never sent a second time
