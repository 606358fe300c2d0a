"""A campaign's life in words: draft → scheduled → running → finished (a one-off after its run)
→ ended. A finished campaign has no due slot left."""

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors import campaign_status_label
from campaigns.services import SLOT_TASK, campaign_end, campaign_publish, occurrence_ensure, occurrence_run
from crm.tenancy.models import DueSlot
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_a_one_off_finishes_after_its_run_and_can_then_be_ended(in_brand_a, make_campaign):
    MemberFactory.create_batch(2)
    run_at = (timezone.now() + dt.timedelta(hours=2)).replace(microsecond=0)
    campaign = make_campaign(frequency=Campaign.Frequency.ONCE, run_at=run_at, day_of_month=None)
    campaign_publish(campaign_id=campaign.pk)
    assert campaign_status_label(Campaign.objects.get(pk=campaign.pk)) == "已排期"

    occurrence, _ = occurrence_ensure(campaign=campaign, slot=run_at)
    occurrence_run(occurrence_id=occurrence.pk)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED and campaign_status_label(campaign) == "已完成"
    assert not DueSlot.objects.filter(task=SLOT_TASK, key=campaign.pk).exists()
    assert campaign_end(campaign_id=campaign.pk).status == Campaign.Status.ENDED


def test_a_monthly_campaign_stays_scheduled_after_a_run(in_brand_a, make_campaign):
    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    slot = dt.datetime.combine(timezone.now().date().replace(day=8), dt.time(10), tzinfo=dt.UTC)

    occurrence, _ = occurrence_ensure(campaign=campaign, slot=slot)
    occurrence_run(occurrence_id=occurrence.pk)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
