"""The campaign points multiplier, plugged into earning (members.services.points registers
providers). An order earns a campaign's multiplier when it was paid within an occurrence's window
(the slot's local day in the brand's zone) by a non-hold-out recipient of that occurrence.
A member-day campaign also honours the member's tier member-day multiplier; the higher applies.

Orders paid in the window before the occurrence's snapshot (e.g. at 09:00 for a 10:00 member
day) are not multiplied: schedule a multiplier campaign at 00:00 to cover the whole day.
"""

import datetime as dt
from collections.abc import Sequence

from django.db import connection

from crm.db.arrays import StatementParams
from members.models import Member, Tier

from .models import Campaign, Occurrence, Recipient


def campaign_multipliers_for_orders(*, orders: Sequence[tuple[int, dt.datetime]]) -> list[int]:
    if not orders:
        return []
    member_ids = sorted({member_id for member_id, _ in orders})
    earliest = min(paid_at for _, paid_at in orders)
    latest = max(paid_at for _, paid_at in orders)
    # Raw SQL: order ingest calls this once per order on the single-order path, where building
    # the equivalent ORM query (five joins, an aggregate over Greatest/Case) cost more CPU than
    # running it.
    params = StatementParams()
    day = Campaign.Type.MEMBER_DAY
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.member_id, o.window_start, o.window_end,
                   MAX(GREATEST(c.multiplier_pct,
                                -- Only member-day campaigns use the tier's member-day multiplier.
                                CASE WHEN c.type = {params.value(day)} THEN COALESCE(t.member_day_multiplier_pct, 100)
                                     ELSE 100 END))
            FROM {Recipient._meta.db_table} r
            JOIN {Occurrence._meta.db_table} o ON o.id = r.occurrence_id
            JOIN {Campaign._meta.db_table} c ON c.id = o.campaign_id
            JOIN {Member._meta.db_table} m ON m.id = r.member_id
            LEFT JOIN {Tier._meta.db_table} t ON t.id = m.tier_id
            WHERE NOT r.holdout AND r.member_id = ANY({params.array(member_ids, "bigint")})
              AND o.window_start <= {params.value(latest)} AND o.window_end > {params.value(earliest)}
              AND (c.multiplier_pct > 100 OR (c.type = {params.value(day)} AND t.member_day_multiplier_pct > 100))
            GROUP BY r.member_id, o.window_start, o.window_end
            """,  # noqa: S608 (table names from model meta; values are parameters)
            params.values,
        )
        windows = cursor.fetchall()
    by_member: dict[int, list[tuple[dt.datetime, dt.datetime, int]]] = {}
    for member_id, start, end, pct in windows:
        by_member.setdefault(member_id, []).append((start, end, pct))
    result = []
    for member_id, paid_at in orders:
        applicable = [pct for start, end, pct in by_member.get(member_id, []) if start <= paid_at < end]
        result.append(max(applicable, default=100))
    return result
