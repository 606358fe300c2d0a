"""The current brand's time zone, wherever the code runs: a web request or a celery task (the
connection holds the Brand) or a `schema_context` block (it holds a stand-in without the brand's
fields, so the Brand row is read once per schema)."""

import functools
import zoneinfo

from django.conf import settings

from crm.db import connection


@functools.lru_cache(maxsize=256)
def _zone_of_schema(schema_name: str) -> str:
    from .models import Brand

    zone = Brand.objects.filter(schema_name=schema_name).values_list("time_zone", flat=True).first()
    return zone or settings.TIME_ZONE


def brand_zone() -> zoneinfo.ZoneInfo:
    name = getattr(connection.tenant, "time_zone", None) or _zone_of_schema(connection.schema_name)
    return zoneinfo.ZoneInfo(name)
