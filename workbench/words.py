"""How the workbench says things to people: money in yuan, brand-local dates, and each timeline
entry as a sentence ("5 月 8 日 会员日活动赠送 20 积分"). Templates call these; nothing in the
workbench formats fen or a UTC time by hand."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from crm.errors import AppError
from crm.tenancy.zones import brand_zone

from . import error_codes


def yuan_shown(fen: int | None) -> str:
    """`125800` → `¥1,258.00`; negative amounts keep their sign before the ¥."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) / 100:,.2f}"


def fen_from_yuan(text: str) -> int:
    """What a person typed in yuan (`1258`, `1,258.5`, `¥1258.00`) → fen; refused unless > 0 with at
    most two decimals."""
    cleaned = (text or "").replace(",", "").replace("¥", "").replace("￥", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")) or value > 10_000_000:
        raise AppError(
            error_codes.AMOUNT_INVALID,
            str(error_codes.TEXTS[error_codes.AMOUNT_INVALID].zh),
            fields={"amount": ["invalid"]},
        )
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def local(at: dt.datetime) -> dt.datetime:
    return at.astimezone(brand_zone())


def day_shown(at: dt.datetime | dt.date | None) -> str:
    """`5 月 8 日` in the brand's zone; the year too when it is not this year's."""
    if at is None:
        return "—"
    day = local(at).date() if isinstance(at, dt.datetime) else at
    this_year = dt.datetime.now(tz=brand_zone()).year
    prefix = f"{day.year} 年 " if day.year != this_year else ""
    return f"{prefix}{day.month} 月 {day.day} 日"


def time_shown(at: dt.datetime | None) -> str:
    """`5 月 8 日 14:05` in the brand's zone."""
    if at is None:
        return "—"
    return f"{day_shown(at)} {local(at):%H:%M}"


def points_signed(points: int) -> str:
    return f"+{points}" if points > 0 else str(points)
