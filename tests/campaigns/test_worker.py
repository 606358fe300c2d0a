"""The campaign's due slot, claimed by beat's dispatcher, reaches a real worker through the broker
and runs the occurrence in the campaign's brand — never in the other brand —, a step per bulk
chunk through the brand's pump on the bulk queue."""

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, Occurrence, Recipient
from campaigns.services import SLOT_TASK, campaign_end, campaign_publish
from crm.celery import app
from crm.tenancy.models import Brand, BulkChunk, DueSlot
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.worker


# A fixed hour of a fixed day, ticking: the slot is "a minute ago", and which slot and day that is
# must not depend on when the suite runs (around midnight it is yesterday's).
@time_machine.travel(dt.datetime(2027, 3, 9, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai")), tick=True)
def test_the_dispatcher_runs_the_due_slot_in_its_brand_through_the_bulk_pump(celery_worker):
    alpha = Brand.objects.get(schema_name="alpha")
    beta = Brand.objects.get(schema_name="beta")
    connection.set_tenant(alpha)
    member = MemberFactory(member_no="WORKER001")
    # A daily campaign whose slot was a minute ago (local time), so a trigger now is for it.
    slot_time = (timezone.localtime() - dt.timedelta(minutes=1)).time().replace(second=0, microsecond=0)
    campaign = Campaign.objects.create(
        name="每日双倍积分", frequency="daily", time_of_day=slot_time, bonus_points=0, multiplier_pct=200
    )
    campaign_publish(campaign_id=campaign.pk)
    assert DueSlot.objects.filter(schema_name="alpha", task=SLOT_TASK, key=campaign.pk, due_at__lte=timezone.now())
    connection.set_schema_to_public()
    try:
        # What beat's fixed entry does every few seconds, through the broker.
        app.send_task("tenancy.dispatch_due_slots")

        connection.set_tenant(alpha)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            occurrence = Occurrence.objects.filter(campaign=campaign, status=Occurrence.Status.DONE).first()
            if occurrence and not BulkChunk.objects.filter(schema_name="alpha").exists():
                break
            time.sleep(0.2)
        assert occurrence is not None, "the occurrence did not run in brand alpha"
        assert list(Recipient.objects.filter(occurrence=occurrence).values_list("member_id", flat=True)) == [member.pk]
        assert occurrence.trigger_count == 1
        # Moved on to tomorrow's slot, lease cleared; the pump's chunks are all gone.
        slot = DueSlot.objects.get(schema_name="alpha", task=SLOT_TASK, key=campaign.pk)
        assert slot.due_at == occurrence.slot + dt.timedelta(days=1) and slot.leased_until is None
        assert not BulkChunk.objects.filter(schema_name="alpha").exists()
        connection.set_tenant(beta)
        assert not Occurrence.objects.exists()
    finally:
        connection.set_tenant(alpha)
        Recipient.objects.filter(occurrence__campaign=campaign).delete()
        Occurrence.objects.filter(campaign=campaign).delete()
        campaign_end(campaign_id=campaign.pk)
        campaign.delete()
        Member.objects.filter(pk=member.pk).delete()
        connection.set_schema_to_public()
