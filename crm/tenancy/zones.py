"""The current brand's time zone, wherever the code runs: a web request or a celery task (the
connection holds the Brand) or a `schema_context` block (it holds a stand-in without the brand's
fields, so the Brand row is read once per schema)."""

import datetime as dt
import functools
import zoneinfo

from django.conf import settings

from crm.db import connection
from crm.memos import memo_register


@functools.lru_cache(maxsize=256)
def _zone_of_schema(schema_name: str) -> str:
    from .models import Brand

    zone = Brand.objects.filter(schema_name=schema_name).values_list("time_zone", flat=True).first()
    return zone or settings.TIME_ZONE


def brand_zones_forget() -> None:
    """A brand's details were saved (its zone may have changed): read the zones again. Other
    processes keep theirs until they restart, like the celery workers' brand (a zone changes
    before a brand opens, not during a campaign)."""
    _zone_of_schema.cache_clear()


memo_register("brand time zones by schema", brand_zones_forget)


def brand_zone() -> zoneinfo.ZoneInfo:
    name = getattr(connection.tenant, "time_zone", None) or _zone_of_schema(connection.schema_name)
    return zoneinfo.ZoneInfo(name)


def brand_date(at: dt.datetime) -> dt.date:
    """The brand's business day of an aware instant: the calendar date in the brand's time zone
    (23:59 brand time and 00:01 the next morning are two days, whatever the date in UTC)."""
    return at.astimezone(brand_zone()).date()


def brand_time_shown(at: dt.datetime | None) -> str:
    """An instant as people at the brand read it: `2027-01-31 23:59` in the brand's time zone."""
    return at.astimezone(brand_zone()).strftime("%Y-%m-%d %H:%M") if at is not None else "—"
