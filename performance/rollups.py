"""Rollups of staff performance, so that a report over a month of a 10M-order brand reads
thousands of rows, not a million (issue 29: a month's report ≤ 2 s at 1,000 staff and 10M orders).

- DayFigures: per closed brand day, staff member and credited store — credited orders, GMV and
  refunds (sums add up over any range of whole days);
- ServedMonth: per closed calendar month, the distinct (staff, store, member) served (a credited
  order or a touch) — a distinct count cannot be summed from days;
- RollupState.through: the last brand day they hold.

`rollups_refresh` rebuilds, set-based and in one transaction, every day from the one after
`through` to yesterday, and again the last REBUILD_DAYS days (orders arrive late: a store's batch
of last week); a refund of a rolled-up day is applied to DayFigures in the refund's own
transaction (services.attribution_refund_in_transaction), so refunds never wait. Reports
(selectors.performance_report) read the rollups for the days they hold and the attribution and
touch tables for the rest (today, and the edges of a range that are not whole months for members
served), so a range's figures are the same whichever way they are read.
"""

# SQL built from model meta only; every value is a parameter.
# ruff: noqa: S608

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from crm.tenancy.zones import brand_zone
from members.models import Staff

from .models import Attribution, DayFigures, RollupState, ServedMonth, Touch

_ATTR = Attribution._meta.db_table
_TOUCH = Touch._meta.db_table
_STAFF = Staff._meta.db_table
DAY = DayFigures._meta.db_table
SERVED = ServedMonth._meta.db_table
REBUILD_DAYS = 35


def bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in the brand's zone."""
    tz = brand_zone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def month_first(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_last(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def whole_months(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the calendar months lying wholly inside [start, end]."""
    months = []
    first = start if start.day == 1 else month_first(start + dt.timedelta(days=32 - start.day))
    while month_last(first) <= end:
        months.append(first)
        first = month_last(first) + dt.timedelta(days=1)
    return months


# (staff, store, member) served in a period: a credited order (the credited store) or a touch
# (the staff member's store). {attr_when} / {touch_when}: conditions on a.paid_at / t.touched_at.
SERVED_RAW = f"""
    SELECT a.staff_id, a.store_id, a.member_id FROM {_ATTR} a
    WHERE ({{attr_when}}) AND a.staff_id IS NOT NULL AND a.member_id IS NOT NULL{{attr_filter}}
    UNION ALL
    SELECT t.staff_id, s.store_id, t.member_id FROM {_TOUCH} t JOIN {_STAFF} s ON s.id = t.staff_id
    WHERE ({{touch_when}}){{touch_filter}}
"""


@dataclass(frozen=True)
class RefreshResult:
    first: dt.date | None
    through: dt.date | None
    day_rows: int = 0
    served_rows: int = 0


def rollups_through() -> dt.date | None:
    return RollupState.objects.filter(pk=1).values_list("through", flat=True).first()


def rollups_refresh(*, through: dt.date | None = None) -> RefreshResult:
    """Rebuild the rollups up to `through` (default: yesterday, the last closed brand day)."""
    tz = brand_zone()
    through = through or timezone.localdate(timezone=tz) - dt.timedelta(days=1)
    with transaction.atomic(), connection.cursor() as cursor:
        state, _ = RollupState.objects.select_for_update().get_or_create(pk=1)  # one refresh at a time
        if state.through is None:
            cursor.execute(f"SELECT min(paid_at) FROM {_ATTR}")
            (earliest,) = cursor.fetchone()
            if earliest is None:
                return RefreshResult(None, state.through)
            first = earliest.astimezone(tz).date()
        else:
            first = min(state.through + dt.timedelta(days=1), through - dt.timedelta(days=REBUILD_DAYS - 1))
        if first > through:
            return RefreshResult(None, state.through)
        since, until = bounds(first, through)
        cursor.execute(f"DELETE FROM {DAY} WHERE day BETWEEN %s AND %s", [first, through])
        cursor.execute(
            f"""INSERT INTO {DAY} (day, staff_id, store_id, orders, credited_fen, refunded_fen)
                SELECT (a.paid_at AT TIME ZONE %s)::date, a.staff_id, a.store_id, count(*),
                       sum(a.credited_fen), sum(a.refunded_fen)
                FROM {_ATTR} a WHERE a.paid_at >= %s AND a.paid_at < %s AND a.staff_id IS NOT NULL
                GROUP BY 1, 2, 3""",
            [tz.key, since, until],
        )
        day_rows = cursor.rowcount
        served_rows = 0
        for month in whole_months(month_first(first), through):
            m_since, m_until = bounds(month, month_last(month))
            cursor.execute(f"DELETE FROM {SERVED} WHERE month = %s", [month])
            cursor.execute("SET LOCAL work_mem = '128MB'")
            raw = SERVED_RAW.format(
                attr_when="a.paid_at >= %s AND a.paid_at < %s",
                touch_when="t.touched_at >= %s AND t.touched_at < %s",
                attr_filter="",
                touch_filter="",
            )
            cursor.execute(
                f"""INSERT INTO {SERVED} (month, staff_id, store_id, member_id)
                    SELECT DISTINCT %s::date, staff_id, store_id, member_id FROM ({raw}) u""",
                [month, m_since, m_until, m_since, m_until],
            )
            served_rows += cursor.rowcount
        state.through = max(through, state.through or through)
        state.refreshed_at = timezone.now()
        state.save(update_fields=["through", "refreshed_at"])
    return RefreshResult(first, through, day_rows, served_rows)
