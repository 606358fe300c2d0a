"""Scene builders of the engagement tests: fixed brand-time instants, settings, ladder steps."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import time_machine

from engagement.models import CheckinLadderStep, EngagementSettings, RewardKind
from tests.clock import SHANGHAI


def at(text: str) -> dt.datetime:
    """An instant in brand time (Asia/Shanghai), e.g. at("2027-01-31 23:59:59")."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@contextmanager
def clock(text: str) -> Iterator[dt.datetime]:
    instant = at(text)
    with time_machine.travel(instant, tick=False):
        yield instant


def rules(**overrides: object) -> EngagementSettings:
    values: dict[str, object] = {
        "checkin_cycle": EngagementSettings.CheckinCycle.MONTH,
        "checkin_daily_points": 5,
        "checkin_daily_growth": 1,
        "makeup_window_days": 3,
        "makeup_cost_points": 20,
        "makeup_cap_per_cycle": 2,
        "growth_per_yuan": 1,
        "growth_activity_cap_per_month": 100,
        **overrides,
    }
    obj, _ = EngagementSettings.objects.update_or_create(singleton=True, defaults=values)
    return obj


def ladder(*steps: tuple[int, str, int]) -> None:
    for days, kind, amount in steps:
        CheckinLadderStep.objects.create(days=days, reward_kind=kind, amount=amount)


POINTS, GROWTH, COUPON = RewardKind.POINTS, RewardKind.GROWTH, RewardKind.COUPON
