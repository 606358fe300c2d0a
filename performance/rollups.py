"""Rollups of staff performance, so that a report over any range of a 10M-order brand reads
thousands of rows, not a million (issue 29: a month's report ≤ 2 s at 1,000 staff and 10M
orders, arbitrary ranges too).

- DayFigures: per closed brand day, staff member and credited store — credited orders, GMV and
  refunds (sums add up over any range of whole days);
- ServedDay: per closed brand day, staff member and store, the sorted distinct member ids served
  that day (a credited order or a touch) as one array: a range's members served is a distinct
  count over its days' arrays (~25 ids a row), which reads a thirtieth of the rows of the raw
  tables for a ragged range;
- ServedMonth: per closed calendar month, the distinct (staff, store, member) served — a whole
  month needs no de-duplication at all;
- RollupState.through: the last brand day they hold; refreshed_at: when they were built.

`rollups_refresh` rebuilds, set-based and in one transaction, every day from the one after
`through` to the last day that ended an hour ago (LATE_LAG), the last REBUILD_DAYS again, and
every older day that received a late row since the previous build. A late row — an attribution
created more than LATE_LAG after its payment, a touch recorded more than LATE_LAG after it
happened — is found by its own partial index (`perf_attr_late`, `perf_touch_late`: on-time rows,
nearly all, write no entry there). Reports add the late rows created since the build to what
the rollups hold (`late_rows`), so an order paid months ago and arriving today is counted at once,
not after a rebuild. Any row of a rolled-up day that the build did not see was created after it
(`refreshed_at`) and more than LATE_LAG after its day ended, i.e. is late: nothing falls between.
A refund of a rolled-up day is applied to DayFigures in the refund's own transaction
(services.attribution_refund_in_transaction) unless the order is one of those late rows.
"""

# SQL built from model meta only; every value is a parameter.
# ruff: noqa: S608

import datetime as dt
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from crm.db.locks import PERFORMANCE_ROLLUPS, session_advisory_lock
from crm.tenancy.zones import brand_zone
from members.models import Staff

from .models import Attribution, DayFigures, RollupState, ServedDay, ServedMonth, Touch

_ATTR = Attribution._meta.db_table
_TOUCH = Touch._meta.db_table
_STAFF = Staff._meta.db_table
DAY = DayFigures._meta.db_table
SERVED = ServedMonth._meta.db_table
SERVED_DAY = ServedDay._meta.db_table
REBUILD_DAYS = 2  # the last days again: a row committed while the previous build ran
LATE_LAG = dt.timedelta(hours=1)
# Rows created after a build for a day it holds; the same expressions as the partial indexes'
# predicates (migration 0008), so the planner reads those indexes.
LATE_ATTR = "a.created_at - a.paid_at > interval '1 hour'"
LATE_TOUCH = "t.created_at - t.touched_at > interval '1 hour'"
# A build does not see what committed after its snapshot; the next one looks back this far.
BUILD_MARGIN = dt.timedelta(minutes=10)


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


def last_closed_day(now: dt.datetime) -> dt.date:
    """The last brand day that ended at least LATE_LAG before `now`."""
    return (now - LATE_LAG).astimezone(brand_zone()).date() - dt.timedelta(days=1)


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
class RollupState_:
    through: dt.date | None
    built_at: dt.datetime | None


def rollups_state() -> RollupState_:
    row = RollupState.objects.filter(pk=1).values_list("through", "refreshed_at").first()
    return RollupState_(*row) if row else RollupState_(None, None)


def rollups_through() -> dt.date | None:
    return rollups_state().through


@dataclass
class LateRows:
    """Rows of rolled-up days created after the build (reports add them to the rollups)."""

    sums: list[tuple[int, int | None, int, int, int]]  # staff, store, orders, credited, refunded
    served: list[tuple[int, int | None, int]]  # staff, store, member


def late_rows(
    *,
    built_at: dt.datetime,
    since: dt.datetime,
    until: dt.datetime,
    attr_filter: tuple[str, list[Any]],
    touch_filter: tuple[str, list[Any]],
) -> LateRows:
    """The late attributions and touches created at or after `built_at`, paid / touched in
    [since, until) (until: the end of the last rolled-up day at most). Two reads of the partial
    indexes, a handful of rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT a.staff_id, a.store_id, a.member_id, a.credited_fen, a.refunded_fen FROM {_ATTR} a
                WHERE a.created_at >= %s AND {LATE_ATTR} AND a.paid_at >= %s AND a.paid_at < %s
                  AND a.staff_id IS NOT NULL{attr_filter[0]}""",
            [built_at, since, until, *attr_filter[1]],
        )
        attributions = cursor.fetchall()
        cursor.execute(
            f"""SELECT t.staff_id, s.store_id, t.member_id FROM {_TOUCH} t JOIN {_STAFF} s ON s.id = t.staff_id
                WHERE t.created_at >= %s AND {LATE_TOUCH} AND t.touched_at >= %s AND t.touched_at < %s
                {touch_filter[0]}""",
            [built_at, since, until, *touch_filter[1]],
        )
        touches = cursor.fetchall()
    return LateRows(
        sums=[(st, so, 1, credited, refunded) for st, so, _m, credited, refunded in attributions],
        served=[(st, so, m) for st, so, m, _c, _r in attributions if m is not None] + list(touches),
    )


@dataclass(frozen=True)
class RefreshResult:
    first: dt.date | None
    through: dt.date | None
    day_rows: int = 0
    served_rows: int = 0
    late_days: int = 0


def _runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as runs of consecutive days: [(first, last), ...]."""
    ordered = sorted(set(days))
    return [
        (group[0], group[-1])
        for _k, g in groupby(enumerate(ordered), key=lambda item: item[1] - dt.timedelta(days=item[0]))
        for group in [[day for _i, day in g]]
    ]


def _late_days(cursor: Any, *, tz: str, since: dt.datetime, before: dt.datetime) -> list[dt.date]:
    """Days before `before` that received a late row created since `since` (the partial indexes)."""
    cursor.execute(
        f"""SELECT (a.paid_at AT TIME ZONE %s)::date FROM {_ATTR} a
            WHERE a.created_at >= %s AND {LATE_ATTR} AND a.paid_at < %s
            UNION
            SELECT (t.touched_at AT TIME ZONE %s)::date FROM {_TOUCH} t
            WHERE t.created_at >= %s AND {LATE_TOUCH} AND t.touched_at < %s""",
        [tz, since, before, tz, since, before],
    )
    return [row[0] for row in cursor.fetchall()]


def _rebuild_days(cursor: Any, *, tz: str, first: dt.date, last: dt.date) -> tuple[int, int]:
    since, until = bounds(first, last)
    cursor.execute(f"DELETE FROM {DAY} WHERE day BETWEEN %s AND %s", [first, last])
    cursor.execute(
        f"""INSERT INTO {DAY} (day, staff_id, store_id, orders, credited_fen, refunded_fen)
            SELECT (a.paid_at AT TIME ZONE %s)::date, a.staff_id, a.store_id, count(*),
                   sum(a.credited_fen), sum(a.refunded_fen)
            FROM {_ATTR} a WHERE a.paid_at >= %s AND a.paid_at < %s AND a.staff_id IS NOT NULL
            GROUP BY 1, 2, 3""",
        [tz, since, until],
    )
    day_rows = cursor.rowcount
    cursor.execute(f"DELETE FROM {SERVED_DAY} WHERE day BETWEEN %s AND %s", [first, last])
    cursor.execute(
        f"""INSERT INTO {SERVED_DAY} (day, staff_id, store_id, member_ids)
            SELECT day, staff_id, store_id, array_agg(DISTINCT member_id ORDER BY member_id) FROM (
                SELECT (a.paid_at AT TIME ZONE %s)::date AS day, a.staff_id, a.store_id, a.member_id FROM {_ATTR} a
                WHERE a.paid_at >= %s AND a.paid_at < %s AND a.staff_id IS NOT NULL AND a.member_id IS NOT NULL
                UNION ALL
                SELECT (t.touched_at AT TIME ZONE %s)::date, t.staff_id, s.store_id, t.member_id
                FROM {_TOUCH} t JOIN {_STAFF} s ON s.id = t.staff_id
                WHERE t.touched_at >= %s AND t.touched_at < %s
            ) u GROUP BY 1, 2, 3""",
        [tz, since, until, tz, since, until],
    )
    return day_rows, cursor.rowcount


def _rebuild_month(cursor: Any, month: dt.date) -> int:
    """A whole month's distinct (staff, store, member), from its days' arrays."""
    cursor.execute(f"DELETE FROM {SERVED} WHERE month = %s", [month])
    cursor.execute(
        f"""INSERT INTO {SERVED} (month, staff_id, store_id, member_id)
            SELECT DISTINCT %s::date, d.staff_id, d.store_id, m.member_id
            FROM {SERVED_DAY} d CROSS JOIN LATERAL unnest(d.member_ids) AS m(member_id)
            WHERE d.day BETWEEN %s AND %s""",
        [month, month, month_last(month)],
    )
    return cursor.rowcount


def rollups_refresh(*, through: dt.date | None = None, now: dt.datetime | None = None) -> RefreshResult:
    """Rebuild the rollups up to `through` (default: the last brand day that ended an hour ago).
    One build at a time (a second one answers at once, building nothing); the build reads one
    snapshot (REPEATABLE READ) and records as its time an instant after that snapshot was taken,
    so a row created at or after it is one the build did not see (late_rows), and none it saw."""
    tz = brand_zone()
    through = through or last_closed_day(now or timezone.now())
    with session_advisory_lock(PERFORMANCE_ROLLUPS) as locked:
        if not locked:
            return RefreshResult(None, None)
        outermost = not connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:
            if outermost:  # (a test's transaction is already under way: its own snapshot rules)
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            state, _ = RollupState.objects.get_or_create(pk=1)  # the snapshot is taken here
            built_at = timezone.now()
            return _refresh(cursor, state, tz=tz.key, through=through, built_at=built_at)


def _refresh(cursor: Any, state: RollupState, *, tz: str, through: dt.date, built_at: dt.datetime) -> RefreshResult:
    cursor.execute("SET LOCAL work_mem = '128MB'")
    late: list[dt.date] = []
    if state.through is None:
        cursor.execute(f"SELECT min(paid_at), (SELECT min(touched_at) FROM {_TOUCH}) FROM {_ATTR}")
        earliest = [t for t in cursor.fetchone() if t is not None]
        if not earliest:
            return RefreshResult(None, state.through)
        first = min(earliest).astimezone(brand_zone()).date()
    else:
        first = min(state.through + dt.timedelta(days=1), through - dt.timedelta(days=REBUILD_DAYS - 1))
        if state.refreshed_at is not None:
            before = bounds(first, first)[0]
            late = _late_days(cursor, tz=tz, since=state.refreshed_at - BUILD_MARGIN, before=before)
    if first > through and not late:
        return RefreshResult(None, state.through)
    day_rows = served_rows = 0
    days = [first + dt.timedelta(days=i) for i in range((through - first).days + 1)] + late
    for run_first, run_last in _runs(days):
        rows = _rebuild_days(cursor, tz=tz, first=run_first, last=run_last)
        day_rows += rows[0]
        served_rows += rows[1]
    held = max(through, state.through or through)
    for month in sorted({month_first(d) for d in days}):
        if month_last(month) <= held:
            _rebuild_month(cursor, month)
    state.through = held
    state.refreshed_at = built_at
    state.save(update_fields=["through", "refreshed_at"])
    return RefreshResult(first, through, day_rows, served_rows, len(late))
