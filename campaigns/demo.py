"""Campaigns of the demo brand (run by crm.demo after the members, consent and WeCom seeders):
a member day that ran 20 days ago with a 20 % hold-out, so the results page has figures and a
lift to read, and a monthly member day in draft for the marketer to preview and publish.
Idempotent: campaigns are keyed by name, the past run by its (campaign, slot)."""

import datetime as dt

from django.utils import timezone

from crm.tenancy.zones import brand_zone

from .models import Campaign
from .services import occurrence_ensure, occurrence_run

PAST_MEMBER_DAY = "上月会员日（演示）"
NEXT_MEMBER_DAY = "每月 8 日会员日"


def seed() -> None:
    zone = brand_zone()
    day = (timezone.now() - dt.timedelta(days=20)).astimezone(zone).date()
    slot = dt.datetime.combine(day, dt.time(10), tzinfo=zone)
    past, _ = Campaign.objects.get_or_create(
        name=PAST_MEMBER_DAY,
        defaults={
            "type": Campaign.Type.MEMBER_DAY,
            "frequency": Campaign.Frequency.ONCE,
            "run_at": slot,
            "holdout_pct": 20,
            "bonus_points": 50,
            "multiplier_pct": 200,
        },
    )
    # History, not a launch: publishing refuses a run time in the past, so the demo records the
    # campaign as finished and runs its one slot directly (the run itself is the real one).
    Campaign.objects.filter(pk=past.pk).update(status=Campaign.Status.FINISHED)
    occurrence, _ = occurrence_ensure(campaign=past, slot=past.run_at or slot)
    occurrence_run(occurrence_id=occurrence.pk)
    Campaign.objects.get_or_create(
        name=NEXT_MEMBER_DAY,
        defaults={
            "type": Campaign.Type.MEMBER_DAY,
            "frequency": Campaign.Frequency.MONTHLY,
            "day_of_month": 8,
            "holdout_pct": 10,
            "bonus_points": 88,
            "multiplier_pct": 200,
            "message_channel": Campaign.MessageChannel.SMS,
            "message_template": "{name}，本月 8 日会员日：全天双倍积分，再送 88 积分！退订回 T",
        },
    )
