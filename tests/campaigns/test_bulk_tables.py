"""Recipients and outbox messages have no database FK to the member (campaigns/models.py says
why): the run's INSERT ... SELECTs must therefore only ever write real members, and the ORM must
still refuse to delete a member an occurrence refers to."""

import pytest
from django.db.models.deletion import ProtectedError

from campaigns.models import OutboxMessage, Recipient
from members.models import Member
from tests.campaigns.scenes import consenting_member, run_now
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_every_recipient_and_message_references_a_real_member(in_brand_a, make_campaign, marketing_agreement):
    for _ in range(4):
        consenting_member("marketing_sms")
    MemberFactory(status=Member.Status.ERASED)  # never selected, so never referenced
    occurrence = run_now(make_campaign(message_channel="sms", message_template="会员日快乐"))

    members = Member.objects.values("pk")
    recipients = Recipient.objects.filter(occurrence=occurrence)
    messages = OutboxMessage.objects.filter(occurrence=occurrence)
    assert recipients.count() == 4 and messages.count() == 4
    assert not recipients.exclude(member_id__in=members).exists()
    assert not messages.exclude(member_id__in=members).exists()


def test_a_member_an_occurrence_refers_to_cannot_be_deleted(in_brand_a, make_campaign):
    member = MemberFactory()
    run_now(make_campaign())

    with pytest.raises(ProtectedError):
        member.delete()
