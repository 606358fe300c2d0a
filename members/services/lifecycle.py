"""Lifecycle stage (AIPL) from behaviour, per the brand's LoyaltyProgram thresholds:

- Interest: a member without a purchase in the window (joining is the interest);
- Purchase: at least one purchase in the last `purchase_window_days`;
- Loyalty:  at least `loyalty_min_purchases` purchases in the window, or the top tier.

A purchase is an order not fully refunded. Order ingest updates the stage of the buyers at once
(members.services.orders); the daily job below moves everyone else as time passes.
"""

import datetime as dt

from django.db import connection, models, transaction
from django.utils import timezone

from members.models import LoyaltyProgram, Member, Order, Tier

from .points import loyalty_program_get


def lifecycle_stage_for(*, purchases_in_window: int, is_top_tier: bool, program: LoyaltyProgram) -> str:
    if is_top_tier or purchases_in_window >= max(program.loyalty_min_purchases, 1):
        return Member.Lifecycle.LOYALTY
    if purchases_in_window > 0:
        return Member.Lifecycle.PURCHASE
    return Member.Lifecycle.INTEREST


def lifecycle_refresh_all(*, program: LoyaltyProgram, now: dt.datetime | None = None) -> int:
    """Recompute every member's stage in one statement; returns how many changed. Awareness is
    never assigned here: it is for prospects the brand knows of before they join."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=program.purchase_window_days)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH purchases AS (
                SELECT member_id, COUNT(*) AS n FROM {Order._meta.db_table}
                WHERE member_id IS NOT NULL AND paid_at >= %(since)s AND amount_fen > refunded_fen
                GROUP BY member_id
            ),
            top_tier AS (SELECT id FROM {Tier._meta.db_table} ORDER BY rank DESC LIMIT 1),
            staged AS (
                SELECT m.id,
                       CASE WHEN m.tier_id IN (SELECT id FROM top_tier) OR COALESCE(p.n, 0) >= %(loyal)s
                                THEN 'loyalty'
                            WHEN COALESCE(p.n, 0) > 0 THEN 'purchase'
                            ELSE 'interest' END AS stage
                FROM {Member._meta.db_table} m LEFT JOIN purchases p ON p.member_id = m.id
                WHERE m.status <> 'erased' AND m.merged_into_id IS NULL AND m.lifecycle_stage <> 'awareness'
            )
            UPDATE {Member._meta.db_table} m SET lifecycle_stage = s.stage, updated_at = %(now)s
            FROM staged s WHERE m.id = s.id AND m.lifecycle_stage <> s.stage
            """,  # noqa: S608 (table names come from model meta, values are parameters)
            {"since": since, "loyal": max(program.loyalty_min_purchases, 1), "now": now},
        )
        return cursor.rowcount


def member_lifecycle_refresh(*, member: Member, now: dt.datetime | None = None) -> str:
    """Recompute one member's stage after an order or refund (called by order ingest inside its
    transaction, with the member already locked). Writes only when the stage changed."""
    if member.status in (Member.Status.ERASED, Member.Status.MERGED) or (
        member.lifecycle_stage == Member.Lifecycle.AWARENESS
    ):
        return member.lifecycle_stage
    program = loyalty_program_get()
    since = (now or timezone.now()) - dt.timedelta(days=program.purchase_window_days)
    purchases = Order.objects.filter(
        member_id=member.pk, paid_at__gte=since, amount_fen__gt=models.F("refunded_fen")
    ).count()
    top_tier_id = Tier.objects.order_by("-rank").values_list("pk", flat=True).first()
    stage = lifecycle_stage_for(
        purchases_in_window=purchases,
        is_top_tier=top_tier_id is not None and member.tier_id == top_tier_id,
        program=program,
    )
    if stage != member.lifecycle_stage:
        member.lifecycle_stage = stage
        member.save(update_fields=["lifecycle_stage", "updated_at"])
    return stage


def members_lifecycle_refresh_all(*, now: dt.datetime | None = None) -> int:
    """The daily job: every member's stage, set-based, with the brand's thresholds."""
    return lifecycle_refresh_all(program=loyalty_program_get(), now=now)
