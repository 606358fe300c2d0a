"""Capture rate (会员交易占比) read from the daily aggregates — never from the orders table.

The aggregates are kept by order ingest and refunds (members.services.orders.capture_rate_add):
an order counts on its paid day (brand time zone); a refund lowers the GMV of the order's paid day,
not the count, so the share of a day does not move when a refund arrives weeks later.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from django.db.models import Sum

from crm.errors import AppError
from members.models import CaptureRateDaily

from .. import error_codes

GroupBy = Literal["day", "channel", "store"]
_GROUP_FIELDS = {"day": "day", "channel": "channel", "store": "store_id"}


@dataclass(frozen=True)
class CaptureRateRow:
    key: dict[str, object]
    orders_total: int
    orders_member: int
    gmv_total_fen: int
    gmv_member_fen: int

    @property
    def order_rate_pct(self) -> float | None:
        """Share of orders placed by members, in percent (display only, never stored)."""
        return round(100 * self.orders_member / self.orders_total, 2) if self.orders_total else None

    @property
    def gmv_rate_pct(self) -> float | None:
        return round(100 * self.gmv_member_fen / self.gmv_total_fen, 2) if self.gmv_total_fen else None


def capture_rate(
    *,
    date_from: dt.date,
    date_to: dt.date,
    group_by: tuple[GroupBy, ...] = ("day",),
    channel: str | None = None,
    store_id: int | None = None,
) -> list[CaptureRateRow]:
    """Orders and GMV, total and by members, per group, for days date_from..date_to inclusive.
    `group_by=()` gives one total row."""
    if date_from > date_to:
        raise AppError(
            error_codes.CAPTURE_RATE_INVALID, "开始日期不能晚于结束日期。", fields={"date_from": ["不能晚于结束日期。"]}
        )
    unknown = set(group_by) - set(_GROUP_FIELDS)
    if unknown:
        raise AppError(error_codes.CAPTURE_RATE_INVALID, f"不支持的分组：{', '.join(sorted(unknown))}。")
    qs = CaptureRateDaily.objects.filter(day__gte=date_from, day__lte=date_to)
    if channel:
        qs = qs.filter(channel=channel)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    fields = [_GROUP_FIELDS[g] for g in group_by]
    totals = {
        "t": Sum("orders_total"),
        "m": Sum("orders_member"),
        "gt": Sum("gmv_total_fen"),
        "gm": Sum("gmv_member_fen"),
    }
    if not fields:
        row = qs.aggregate(**totals)
        return [CaptureRateRow({}, row["t"] or 0, row["m"] or 0, row["gt"] or 0, row["gm"] or 0)]
    rows = qs.values(*fields).annotate(**totals).order_by(*fields)
    return [
        CaptureRateRow(
            key={g: row[_GROUP_FIELDS[g]] for g in group_by},
            orders_total=row["t"] or 0,
            orders_member=row["m"] or 0,
            gmv_total_fen=row["gt"] or 0,
            gmv_member_fen=row["gm"] or 0,
        )
        for row in rows
    ]
