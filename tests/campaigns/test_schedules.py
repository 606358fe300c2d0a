"""Slots are computed in the brand's time zone: the 8th at 10:00 in Shanghai is 02:00 UTC."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import Campaign
from campaigns.schedules import next_slots, occurrence_window, previous_slot

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def campaign(**fields: object) -> Campaign:
    values: dict[str, object] = {"frequency": Campaign.Frequency.MONTHLY, "day_of_month": 8, "time_of_day": dt.time(10)}
    values.update(fields)
    return Campaign(**values)


def test_monthly_slots_are_local_wall_time():
    slots = next_slots(campaign(), after=dt.datetime(2026, 11, 22, tzinfo=UTC), tz=SHANGHAI, limit=3)

    assert slots == [
        dt.datetime(2026, 12, 8, 10, tzinfo=SHANGHAI),
        dt.datetime(2027, 1, 8, 10, tzinfo=SHANGHAI),
        dt.datetime(2027, 2, 8, 10, tzinfo=SHANGHAI),
    ]
    assert slots[0].astimezone(UTC) == dt.datetime(2026, 12, 8, 2, tzinfo=UTC)


def test_monthly_on_the_31st_skips_short_months():
    slots = next_slots(campaign(day_of_month=31), after=dt.datetime(2027, 1, 1, tzinfo=UTC), tz=SHANGHAI, limit=3)
    assert [slot.date() for slot in slots] == [dt.date(2027, 1, 31), dt.date(2027, 3, 31), dt.date(2027, 5, 31)]


def test_weekly_on_several_weekdays():
    weekly = campaign(frequency=Campaign.Frequency.WEEKLY, weekdays=[3, 7], day_of_month=None)
    # 2026-11-22 is a Sunday; 10:00 has passed in Shanghai at 03:00 UTC.
    slots = next_slots(weekly, after=dt.datetime(2026, 11, 22, 3, tzinfo=UTC), tz=SHANGHAI, limit=3)
    assert [slot.date() for slot in slots] == [dt.date(2026, 11, 25), dt.date(2026, 11, 29), dt.date(2026, 12, 2)]


def test_daily_respects_start_and_end_dates():
    daily = campaign(
        frequency=Campaign.Frequency.DAILY,
        day_of_month=None,
        start_date=dt.date(2026, 12, 1),
        end_date=dt.date(2026, 12, 3),
    )
    slots = next_slots(daily, after=dt.datetime(2026, 11, 22, tzinfo=UTC), tz=SHANGHAI, limit=5)
    assert [slot.date() for slot in slots] == [dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 3)]


def test_one_off():
    run_at = dt.datetime(2026, 12, 12, 20, tzinfo=SHANGHAI)
    once = campaign(frequency=Campaign.Frequency.ONCE, run_at=run_at, day_of_month=None)
    assert next_slots(once, after=dt.datetime(2026, 12, 1, tzinfo=UTC), tz=SHANGHAI) == [run_at]
    assert next_slots(once, after=dt.datetime(2026, 12, 13, tzinfo=UTC), tz=SHANGHAI) == []
    assert previous_slot(once, at=dt.datetime(2026, 12, 13, tzinfo=UTC), tz=SHANGHAI) == run_at


@pytest.mark.parametrize(
    ("utc_moment", "expected_local_day"),
    [
        (dt.datetime(2026, 12, 8, 2, 0, 5, tzinfo=UTC), dt.date(2026, 12, 8)),  # 10:00:05 in Shanghai
        (dt.datetime(2026, 12, 8, 1, 59, tzinfo=UTC), dt.date(2026, 11, 8)),  # 09:59: still November's
        (dt.datetime(2026, 12, 7, 18, 0, tzinfo=UTC), dt.date(2026, 11, 8)),  # the 8th in Shanghai, 02:00
    ],
)
def test_previous_slot_is_the_one_a_trigger_is_for(utc_moment, expected_local_day):
    slot = previous_slot(campaign(), at=utc_moment, tz=SHANGHAI)
    assert slot is not None and slot.date() == expected_local_day and slot.hour == 10


def test_window_is_the_local_calendar_day():
    start, end = occurrence_window(dt.datetime(2026, 12, 8, 10, tzinfo=SHANGHAI), SHANGHAI)
    assert start.astimezone(UTC) == dt.datetime(2026, 12, 7, 16, tzinfo=UTC)
    assert end.astimezone(UTC) == dt.datetime(2026, 12, 8, 16, tzinfo=UTC)
