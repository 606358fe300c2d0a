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


# The zones Chinese brands run in, as their staff name them; any other zone reads as its
# UTC offset beside its identifier.
_ZONE_WORDS = {
    "Asia/Shanghai": "北京时间",
    "Asia/Chongqing": "北京时间",
    "Asia/Harbin": "北京时间",
    "PRC": "北京时间",
    "Asia/Hong_Kong": "香港时间",
    "Asia/Macau": "澳门时间",
    "Asia/Taipei": "台北时间",
    "Asia/Singapore": "新加坡时间",
    "Asia/Tokyo": "东京时间",
    "Asia/Seoul": "首尔时间",
}


def zone_shown(zone: zoneinfo.ZoneInfo, at: dt.datetime | None = None) -> str:
    """A time zone as a page says it: 北京时间, or `Europe/Paris（UTC+01:00）` for a zone without
    a common Chinese name (the offset at `at`, default now: summer time moves it)."""
    words = _ZONE_WORDS.get(zone.key)
    if words:
        return words
    offset = (at or dt.datetime.now(dt.UTC)).astimezone(zone).strftime("%z")
    return f"{zone.key}（UTC{offset[:3]}:{offset[3:]}）"


def brand_zone_shown() -> str:
    """The current brand's time zone in words (campaign previews, the publish step, code files)."""
    return zone_shown(brand_zone())


def brand_date(at: dt.datetime) -> dt.date:
    """The brand's business day of an aware instant: the calendar date in the brand's time zone
    (23:59 brand time and 00:01 the next morning are two days, whatever the date in UTC)."""
    return at.astimezone(brand_zone()).date()


def brand_time_shown(at: dt.datetime | None) -> str:
    """An instant as people at the brand read it: `2027-01-31 23:59` in the brand's time zone."""
    return at.astimezone(brand_zone()).strftime("%Y-%m-%d %H:%M") if at is not None else "—"
