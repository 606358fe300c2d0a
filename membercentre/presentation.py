"""How the member centre shows things to a person: yuan from fen, brand-local times, masked
mobiles. One helper per thing; templates call these (templatetags) and never format by hand."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

from crm.db import connection


def yuan(fen: int | None) -> str:
    """`¥1,258.00` from integer fen (negative: `-¥3.50`)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def brand_tz() -> dt.tzinfo:
    tenant = getattr(connection, "tenant", None)
    name = getattr(tenant, "time_zone", "") or "Asia/Shanghai"
    return ZoneInfo(name)


def local(value: dt.datetime | None) -> dt.datetime | None:
    return timezone.localtime(value, brand_tz()) if value is not None else None


def local_text(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = local(value)
    return moment.strftime(fmt) if moment is not None else ""


def local_date_text(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        moment = local(value)
        assert moment is not None
        value = moment.date()
    return f"{value.year}年{value.month}月{value.day}日"


def mobile_masked(mobile: str) -> str:
    digits = mobile.removeprefix("+86")
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "****"
