"""When a campaign is due, in the brand's time zone. Pure functions over a Campaign; the services
decide when to call them (and keep the campaign's due slot, crm/tenancy/slots.py, at the next)."""

import datetime as dt
from zoneinfo import ZoneInfo

from .models import Campaign

# How far back to look for the previous slot of a schedule: a monthly slot on the 31st can be
# two months back (February, April...).
_LOOKBACK_DAYS = 62
_LOOKAHEAD_DAYS = 366 * 2


def _day_matches(campaign: Campaign, day: dt.date) -> bool:
    if campaign.start_date and day < campaign.start_date:
        return False
    if campaign.end_date and day > campaign.end_date:
        return False
    if campaign.frequency == Campaign.Frequency.DAILY:
        return True
    if campaign.frequency == Campaign.Frequency.WEEKLY:
        return day.isoweekday() in campaign.weekdays
    if campaign.frequency == Campaign.Frequency.MONTHLY:
        # A month without that day (the 31st in April) has no slot, as with cron.
        return day.day == campaign.day_of_month
    return False


def _slot_on(campaign: Campaign, day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, campaign.time_of_day, tzinfo=tz)


def next_slots(campaign: Campaign, *, after: dt.datetime, tz: ZoneInfo, limit: int = 5) -> list[dt.datetime]:
    """The next `limit` scheduled moments strictly after `after` (aware, in `tz`)."""
    if campaign.frequency == Campaign.Frequency.ONCE:
        return [campaign.run_at.astimezone(tz)] if campaign.run_at and campaign.run_at > after else []
    slots: list[dt.datetime] = []
    first_day = after.astimezone(tz).date()
    for offset in range(_LOOKAHEAD_DAYS):
        day = first_day + dt.timedelta(days=offset)
        if campaign.end_date and day > campaign.end_date:
            break
        if _day_matches(campaign, day):
            slot = _slot_on(campaign, day, tz)
            if slot > after:
                slots.append(slot)
                if len(slots) == limit:
                    break
    return slots


def previous_slot(campaign: Campaign, *, at: dt.datetime, tz: ZoneInfo) -> dt.datetime | None:
    """The latest scheduled moment at or before `at`: the slot a trigger firing at `at` is for."""
    if campaign.frequency == Campaign.Frequency.ONCE:
        return campaign.run_at.astimezone(tz) if campaign.run_at and campaign.run_at <= at else None
    last_day = at.astimezone(tz).date()
    for offset in range(_LOOKBACK_DAYS):
        day = last_day - dt.timedelta(days=offset)
        if _day_matches(campaign, day):
            slot = _slot_on(campaign, day, tz)
            if slot <= at:
                return slot
    return None


def occurrence_window(slot: dt.datetime, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The local calendar day of the slot: orders paid in it get the campaign multiplier."""
    day = slot.astimezone(tz).date()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)
