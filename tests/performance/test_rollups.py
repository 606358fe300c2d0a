"""The report rollups: per-day sums and per-month distinct members served, rebuilt up to
yesterday. A report reads them for the days they hold and the raw tables for the rest, and says
the same figures as a report read wholly raw — for a whole month, a range across months, today,
after a refund of a rolled-up day, and after a late order for a closed day and the next refresh."""

import dataclasses
import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from members.scoping import StoreScope
from members.services.orders import order_refund
from performance.models import DayFigures, RollupState, ServedDay, ServedMonth, TouchKind
from performance.rollups import last_closed_day, rollups_refresh, whole_months
from performance.selectors import performance_report
from performance.services import touch_record
from tests.coupons.scene import NOW
from tests.factories import MemberFactory, StaffFactory, StoreFactory
from tests.members.loyalty_scene import member_with_unionid, program
from tests.members.test_orders import post


@pytest.fixture
def fixed_clock():
    """The suite's instant, ticking: a row created after a build is later than the build."""
    with time_machine.travel(NOW, tick=True):
        yield NOW


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())


def report(start: dt.date, end: dt.date, **kw) -> list[tuple]:
    rows = performance_report(scope=kw.pop("scope", StoreScope(all_stores=True)), start=start, end=end, **kw)
    return sorted(dataclasses.astuple(r) for r in rows)


def raw(start: dt.date, end: dt.date, **kw) -> list[tuple]:
    """The same report with the rollups out of the way."""
    state = RollupState.objects.get()
    RollupState.objects.filter(pk=1).update(through=None)
    try:
        return report(start, end, **kw)
    finally:
        RollupState.objects.filter(pk=1).update(through=state.through)


@pytest.fixture
def months(fixed_clock, in_brand_a):
    program()
    north, south = StoreFactory(name="北店"), StoreFactory(name="南店")
    zhang, wang = StaffFactory(name="张三", store=north), StaffFactory(name="王五", store=south)
    today = timezone.localdate()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    before = (last_month - dt.timedelta(days=1)).replace(day=1)
    buyers = [member_with_unionid(f"u-{i}") for i in range(4)]
    n = 0
    for month in (before, last_month):
        for day in (1, 2, 15, 28):
            for i in range(len(buyers)):
                n += 1
                staff, store = (zhang, north) if i % 2 else (wang, south)
                post(
                    f"O{n}",
                    1_000 * (i + 1) + day,
                    f"u-{i}",
                    channel="store",
                    store=store,
                    staff=staff,
                    paid_at=at(month.replace(day=day), 9 + i),
                )
    touch_record(
        staff=zhang, member=MemberFactory(), kind=TouchKind.COUPON, touched_at=at(last_month.replace(day=3)), key="t1"
    )
    post(
        "TODAY",
        7_700,
        "u-0",
        channel="store",
        store=north,
        staff=zhang,
        paid_at=timezone.now() - dt.timedelta(minutes=1),
    )
    return today, last_month, before, north, zhang


def test_reports_read_from_the_rollups_say_what_the_raw_tables_say(months):
    today, last_month, before, north, zhang = months
    result = rollups_refresh()

    assert result.through == last_closed_day(timezone.now())  # yesterday, once it ended an hour ago
    assert DayFigures.objects.exists() and ServedMonth.objects.filter(month=last_month).exists()
    assert ServedDay.objects.filter(day=last_month.replace(day=15)).exists()
    month_end = today.replace(day=1) - dt.timedelta(days=1)
    manager = StoreScope(all_stores=False, store_id=north.pk)
    for start, end, kw in [
        (last_month, month_end, {}),  # one whole month: the Monday-morning report
        (before + dt.timedelta(days=1), last_month + dt.timedelta(days=20), {}),  # across months, ragged ends
        (last_month, today, {}),  # today is not rolled up yet
        (last_month, month_end, {"scope": manager}),
        (before, month_end, {"staff_id": zhang.pk}),
    ]:
        assert report(start, end, allow_long=True, **kw) == raw(start, end, allow_long=True, **kw), (start, end)
    assert report(last_month, month_end) != []


def test_a_refund_of_a_rolled_up_day_and_a_late_order_keep_the_figures_true(months):
    today, last_month, _before, north, _zhang = months
    rollups_refresh()
    month_end = today.replace(day=1) - dt.timedelta(days=1)

    order_refund(channel="store", order_no="O20", refund_no="R1", amount_fen=500, refunded_at=timezone.now(), actor="t")
    assert report(last_month, month_end) == raw(last_month, month_end)

    post(
        "LATE",
        3_300,
        "u-1",
        channel="store",
        store=north,
        staff=StaffFactory(store=north),
        paid_at=at(last_month.replace(day=20)),
    )  # a closed day's order, arriving late
    assert report(last_month, month_end) == raw(last_month, month_end)  # at once, no rebuild
    rollups_refresh()  # the next night folds it in
    assert report(last_month, month_end) == raw(last_month, month_end)


def test_an_order_arriving_months_late_is_counted_at_once_and_after_the_next_build(months):
    """Paid before the last two months, it arrives today: no rebuild window reaches its day, yet
    every report over that day counts it at once (the late rows), its refund too, and the next
    build folds it into the rollups (its day is found by the late rows' index)."""
    today, last_month, before, north, zhang = months
    rollups_refresh()
    month_end = today.replace(day=1) - dt.timedelta(days=1)
    paid = at(before.replace(day=2), 20)
    cases = [(before, month_end), (before + dt.timedelta(days=1), last_month + dt.timedelta(days=9))]
    counted = {case: report(*case, allow_long=True) for case in cases}

    post("LATE-90", 9_900, "u-2", channel="store", store=north, staff=zhang, paid_at=paid)

    for case in cases:
        assert report(*case, allow_long=True) == raw(*case, allow_long=True) != counted[case], case
    order_refund(
        channel="store", order_no="LATE-90", refund_no="R9", amount_fen=3_300, refunded_at=timezone.now(), actor="t"
    )
    for case in cases:
        assert report(*case, allow_long=True) == raw(*case, allow_long=True), case
    assert rollups_refresh().late_days >= 1  # its day (and the margin's: rows of the previous build's last minutes)
    assert DayFigures.objects.filter(day=paid.date(), staff_id=zhang.pk).exists()
    for case in cases:
        assert report(*case, allow_long=True) == raw(*case, allow_long=True), case


def test_whole_months_of_a_range():
    assert whole_months(dt.date(2027, 1, 15), dt.date(2027, 4, 29)) == [dt.date(2027, 2, 1), dt.date(2027, 3, 1)]
    assert whole_months(dt.date(2027, 2, 1), dt.date(2027, 2, 28)) == [dt.date(2027, 2, 1)]
    assert whole_months(dt.date(2027, 2, 2), dt.date(2027, 2, 28)) == []
