"""Publishing creates the beat entry (public schema, brand in its headers, crontab in the brand's
zone); pausing disables it, ending removes it; bad campaigns are refused and nothing changes."""

import datetime as dt
import json

import pytest
from django_celery_beat.models import PeriodicTask

from campaigns.models import Campaign
from campaigns.services import beat_entry_name, campaign_end, campaign_pause, campaign_publish, campaign_save
from crm.errors import AppError
from tests.conftest import BRAND_A

pytestmark = pytest.mark.django_db


def test_publish_creates_the_beat_entry_for_this_brand(in_brand_a, make_campaign):
    campaign = make_campaign()

    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

    entry = PeriodicTask.objects.get(name=beat_entry_name(campaign))
    assert entry.name == f"campaign:{BRAND_A}:{campaign.pk}"
    assert entry.task == "campaigns.trigger_occurrence"
    assert json.loads(entry.args) == [campaign.pk]
    assert json.loads(entry.headers) == {"_schema_name": BRAND_A}
    assert entry.enabled
    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_month) == ("0", "10", "8")
    assert str(entry.crontab.timezone) == "Asia/Shanghai"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED


def test_the_beat_entry_lives_in_the_public_schema(in_brand_a, make_campaign):
    from django.db import connection

    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM public.django_celery_beat_periodictask WHERE name = %s", [beat_entry_name(campaign)]
        )
        assert cursor.fetchone()[0] == 1


def test_pause_disables_and_end_removes_the_entry(in_brand_a, make_campaign):
    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

    campaign_pause(campaign_id=campaign.pk)
    assert PeriodicTask.objects.get(name=beat_entry_name(campaign)).enabled is False

    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    assert PeriodicTask.objects.get(name=beat_entry_name(campaign)).enabled is True

    campaign_end(campaign_id=campaign.pk)
    assert not PeriodicTask.objects.filter(name=beat_entry_name(campaign)).exists()
    with pytest.raises(AppError) as error:
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    assert error.value.code == "campaign_invalid_status"


def test_editing_a_scheduled_campaign_updates_its_entry(in_brand_a, make_campaign):
    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    campaign.refresh_from_db()

    campaign.frequency = Campaign.Frequency.WEEKLY
    campaign.weekdays = [3]
    campaign.time_of_day = dt.time(20, 30)
    campaign_save(campaign=campaign)

    crontab = PeriodicTask.objects.get(name=beat_entry_name(campaign)).crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.day_of_week) == ("30", "20", "*", "3")


def test_an_invalid_edit_changes_neither_campaign_nor_entry(in_brand_a, make_campaign):
    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    campaign.refresh_from_db()

    campaign.frequency = Campaign.Frequency.WEEKLY
    campaign.weekdays = []
    with pytest.raises(AppError):
        campaign_save(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.frequency == Campaign.Frequency.MONTHLY
    assert PeriodicTask.objects.get(name=beat_entry_name(campaign)).crontab.day_of_month == "8"


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
    assert not PeriodicTask.objects.filter(name=beat_entry_name(campaign)).exists()


def test_brands_have_separate_entries(brand_a, brand_b, make_campaign):
    from django.db import connection

    names = []
    for brand in (brand_a, brand_b):
        connection.set_tenant(brand)
        campaign = make_campaign()
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        names.append(beat_entry_name(campaign))
    connection.set_schema_to_public()

    assert len(set(names)) == 2
    headers = {json.loads(PeriodicTask.objects.get(name=name).headers)["_schema_name"] for name in names}
    assert headers == {"alpha", "beta"}
