"""The suite's one clock, and the instants it is proved at.

Scenes take "now" from Python's clock (`timezone.now()`, `timezone.localdate()`, or the helpers
below), never from a date written into a test. `--clock INSTANT` (tests/conftest.py) moves that
clock for a whole pytest run with time-machine, ticking from the instant; the database keeps its own
`now()`, which the code only uses for bookkeeping columns.

`python3 dev.py test` runs the whole suite on today's clock, then the modules marked
`pytest.mark.clock` (the ones whose scenes reckon with days, months, slots and windows) once at each
of SWEEP_INSTANTS: a test that passes today but not on the 31st, at 23:30 brand time or on a
leap day fails there, whatever day it is run on.
"""

import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Each names what it catches. Brand time is Asia/Shanghai (UTC+8), so 00:00-08:00 brand time is
# the previous day in UTC.
SWEEP_INSTANTS = [
    # the last minute of a 31-day month at 23:59:59 brand time: month ends, per-minute windows
    "2027-01-31T23:59:59.400+08:00",
    # New Year's Day 00:30 brand time: still 31 Dec in UTC, a new year in the brand
    "2028-01-01T00:30:00+08:00",
    # 29 February of a leap year, 07:00 brand time (still the 28th in UTC)
    "2028-02-29T07:00:00+08:00",
    # the 8th, member day, three minutes after the usual 10:00 slot
    "2027-03-08T10:03:00+08:00",
]

# The modules whose scenes reckon with days, months, member-day slots, expiry, due dates and
# rate windows on the suite's clock: marked `clock` (tests/conftest.py) and run at each instant.
SWEEP_MODULES = [
    "tests/api/test_errors_and_limits.py",
    "tests/campaigns/test_occurrences.py",
    "tests/campaigns/test_run_steps.py",
    "tests/consent/test_contactable.py",
    "tests/consent/test_data_requests.py",
    "tests/consent/test_records.py",
    "tests/dashboard/test_figures.py",
    "tests/members/test_lifecycle_job.py",
    "tests/members/test_order_import.py",
    "tests/members/test_orders.py",
    "tests/members/test_points.py",
    "tests/members/test_tiers.py",
    "tests/wecom/test_offboarding.py",
]


def brand_today() -> dt.date:
    """Today in the brand's (the test brands') time zone, on the suite's clock."""
    from django.utils import timezone

    return timezone.now().astimezone(SHANGHAI).date()


def parse_instant(text: str) -> dt.datetime:
    instant = dt.datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"--clock needs an instant with its UTC offset, e.g. 2028-02-29T07:00:00+08:00, not {text}")
    return instant
