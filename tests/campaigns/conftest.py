import datetime as dt

import pytest

from campaigns.models import Campaign


@pytest.fixture
def make_campaign():  # type: ignore[no-untyped-def]
    """An unsaved-then-saved campaign with sensible defaults (monthly member day on the 8th 10:00)."""

    def make(**fields: object) -> Campaign:
        values: dict[str, object] = {
            "name": "会员日",
            "frequency": Campaign.Frequency.MONTHLY,
            "day_of_month": 8,
            "time_of_day": dt.time(10, 0),
            "bonus_points": 50,
        }
        values.update(fields)
        return Campaign.objects.create(**values)

    return make
