"""Campaigns of the demo brand (run by crm.demo after the members, consent and WeCom seeders):
a member day that ran 20 days ago with a 20 % hold-out, so the results page has figures and a
lift to read, and a monthly member day in draft for the marketer to preview and publish.
Idempotent: campaigns are keyed by name, the past run by its (campaign, slot), its day's orders by
the member."""

import datetime as dt
import random

from django.utils import timezone

from crm.tenancy.zones import brand_zone
from members.models import Member, SalesChannel
from members.services.orders import order_post

from .models import Campaign, Occurrence, Recipient
from .services import occurrence_ensure, occurrence_run

# Who bought on the member day: more of the audience (double points and 50 more brought them in)
# than of the hold-out, as a member day does — without these the 90 days' random orders leave
# one or two buyers in its window, and the lift reads as chance (or as a loss).
BUY_RATE = {False: 0.3, True: 0.12}
AMOUNTS_FEN = [2_600, 3_200, 4_500, 8_800, 12_800]

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
    _member_day_orders(occurrence)
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


def _member_day_orders(occurrence: Occurrence) -> int:
    """Orders of the past member day in its window (the multiplier applies to them, as it would
    have on the day); numbered by member, so a second seed posts nothing new. Returns how many."""
    now = timezone.now()
    holdout_of = dict(Recipient.objects.filter(occurrence=occurrence).values_list("member_id", "holdout"))
    members = Member.objects.filter(pk__in=list(holdout_of)).exclude(mobile="").order_by("member_no")
    posted = 0
    for member in members.only("pk", "member_no", "mobile", "home_store_id"):
        rng = random.Random(f"member-day-{member.member_no}")
        if rng.random() >= BUY_RATE[holdout_of[member.pk]]:
            continue
        paid_at = occurrence.window_start + dt.timedelta(hours=rng.randint(10, 20), minutes=rng.randint(0, 59))
        order_post(
            channel=SalesChannel.STORE,
            order_no=f"DEMO-MD-{member.member_no}",
            paid_at=min(paid_at, now - dt.timedelta(minutes=5)),
            amount_fen=rng.choice(AMOUNTS_FEN),
            store=member.home_store,
            buyer_kind="mobile",
            buyer_value=member.mobile,
            actor="demo",
        )
        posted += 1
    return posted
