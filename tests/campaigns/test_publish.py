"""Publishing writes the campaign's due slot (public schema, keyed by the brand, at the next slot
in the brand's zone); pausing and ending remove it, editing moves it; bad campaigns are refused and
nothing changes."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from campaigns.models import Campaign
from campaigns.services import SLOT_TASK, campaign_end, campaign_pause, campaign_publish, campaign_save
from crm.db import connection
from crm.errors import AppError
from crm.tenancy.models import DueSlot
from tests.conftest import BRAND_A

SHANGHAI = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.django_db


def slot_of(campaign: Campaign) -> DueSlot | None:
    return DueSlot.objects.filter(schema_name=connection.schema_name, task=SLOT_TASK, key=campaign.pk).first()


def test_publish_writes_the_due_slot_of_this_brand_at_its_next_slot(in_brand_a, make_campaign):
    campaign = make_campaign()

    with time_machine.travel(dt.datetime(2027, 3, 2, 9, 0, tzinfo=SHANGHAI), tick=False):
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

    slot = slot_of(campaign)
    assert (slot.schema_name, slot.task, slot.key) == (BRAND_A, "campaigns.slot_due", campaign.pk)
    assert slot.due_at == dt.datetime(2027, 3, 8, 10, 0, tzinfo=SHANGHAI)  # the 8th, 10:00 in the brand's zone
    assert slot.leased_until is None
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED


def test_the_due_slot_lives_in_the_public_schema_and_no_beat_entry_is_written(in_brand_a, make_campaign):
    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM public.tenancy_dueslot WHERE key = %s", [campaign.pk])
        assert cursor.fetchone()[0] == 1
        cursor.execute("SELECT count(*) FROM public.django_celery_beat_periodictask WHERE task LIKE 'campaigns.%%'")
        assert cursor.fetchone()[0] == 0


def test_pause_and_end_remove_the_slot_and_publishing_again_writes_it(in_brand_a, make_campaign):
    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

    campaign_pause(campaign_id=campaign.pk)
    assert slot_of(campaign) is None

    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    assert slot_of(campaign) is not None

    campaign_end(campaign_id=campaign.pk)
    assert slot_of(campaign) is None
    with pytest.raises(AppError) as error:
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    assert error.value.code == "campaign_invalid_status"


def test_editing_a_scheduled_campaign_moves_its_slot(in_brand_a, make_campaign):
    campaign = make_campaign()
    with time_machine.travel(dt.datetime(2027, 3, 2, 9, 0, tzinfo=SHANGHAI), tick=False):
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        campaign.refresh_from_db()

        campaign.frequency = Campaign.Frequency.WEEKLY
        campaign.weekdays = [3]
        campaign.time_of_day = dt.time(20, 30)
        campaign_save(campaign=campaign)

    # 2027-03-02 is a Tuesday: the next Wednesday, 20:30.
    assert slot_of(campaign).due_at == dt.datetime(2027, 3, 3, 20, 30, tzinfo=SHANGHAI)


def test_an_invalid_edit_changes_neither_campaign_nor_slot(in_brand_a, make_campaign):
    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    campaign.refresh_from_db()
    due_at = slot_of(campaign).due_at

    campaign.frequency = Campaign.Frequency.WEEKLY
    campaign.weekdays = []
    with pytest.raises(AppError):
        campaign_save(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.frequency == Campaign.Frequency.MONTHLY
    assert slot_of(campaign).due_at == due_at


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"message_channel": Campaign.MessageChannel.SMS, "message_template": ""}, "message_template"),
        ({"bonus_points": 0}, "bonus_points"),
        ({"end_date": dt.date(2020, 1, 31), "start_date": dt.date(2020, 1, 1)}, "end_date"),
    ],
)
def test_publishing_a_bad_campaign_is_refused(in_brand_a, make_campaign, fields, field):
    campaign = make_campaign(**fields)

    with pytest.raises(AppError) as error:
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

    assert field in error.value.fields
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert slot_of(campaign) is None


def test_brands_have_separate_entries(brand_a, brand_b, make_campaign):
    from django.db import connection

    names = []
    for brand in (brand_a, brand_b):
        connection.set_tenant(brand)
        campaign = make_campaign()
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        names.append((connection.schema_name, campaign.pk))
    connection.set_schema_to_public()

    slots = set(DueSlot.objects.filter(task=SLOT_TASK).values_list("schema_name", "key"))
    assert slots == set(names)
    assert {schema for schema, _ in slots} == {"alpha", "beta"}
