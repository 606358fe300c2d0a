"""Growth value (成长值): a second ledger, non-spendable and append-only, that tiers may qualify on
(Tier.Basis.GROWTH). Fed by spend (per yuan paid, reversed pro rata on refunds) and by activities
(check-in, ladder, birthday) capped per brand month, so activity helps but never buys a tier.

LOCK ORDER (after members' order, see members/services/points.py): 1. the member row (members'
step 1, FOR NO KEY UPDATE) — every writer here holds it; then 2. the growth account row (upsert),
3. the member's activity month row (conditional UPDATE up to the cap).
"""

# Raw SQL names tables from model meta only; every value is a parameter.
# ruff: noqa: S608

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.utils import timezone

from crm.db.arrays import pg_array
from crm.tenancy.zones import brand_date
from engagement.models import EngagementSettings, GrowthAccount, GrowthActivityMonth, GrowthEntry
from members.hooks import OrderRefunded, OrdersPosted, QualifyingBasis
from members.models import Member

from .settings import engagement_settings_get

_ENTRY = GrowthEntry._meta.db_table
_ACCOUNT = GrowthAccount._meta.db_table
_MONTH = GrowthActivityMonth._meta.db_table
_SETTINGS = EngagementSettings._meta.db_table


def _account_add(*, member_id: int, value: int) -> int:
    """Add `value` to the member's account (created at 0); the balance after."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {_ACCOUNT} (member_id, balance, updated_at) VALUES (%s, %s, %s)
                ON CONFLICT (member_id) DO UPDATE SET balance = {_ACCOUNT}.balance + EXCLUDED.balance,
                    updated_at = EXCLUDED.updated_at
                RETURNING balance""",
            [member_id, value, timezone.now()],
        )
        return int(cursor.fetchone()[0])


def growth_balance(*, member_id: int) -> int:
    return GrowthAccount.objects.filter(member_id=member_id).values_list("balance", flat=True).first() or 0


def _entry_write_locked(
    *, member_id: int, kind: str, value: int, reference: str, reason: str, activity: bool, order_id: int | None = None
) -> GrowthEntry:
    balance = _account_add(member_id=member_id, value=value)
    return GrowthEntry.objects.create(
        member_id=member_id,
        kind=kind,
        value=value,
        balance_after=balance,
        activity=activity,
        reason=reason,
        reference=reference,
        order_id=order_id,
    )


def growth_activity_credit_locked(*, member: Member, kind: str, value: int, reference: str, reason: str) -> int:
    """Activity growth for a member whose row the caller holds locked (in the caller's
    transaction), up to what is left of the brand month's cap; idempotent per (member, kind,
    reference). Returns the growth granted (0 when the cap is reached or it was granted before)."""
    if value <= 0:
        return 0
    if GrowthEntry.objects.filter(member_id=member.pk, kind=kind, reference=reference).exists():
        return 0  # under the member lock: a retry, not a race
    month = brand_date(timezone.now()).replace(day=1)
    cap = engagement_settings_get().growth_activity_cap_per_month
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {_MONTH} (member_id, month, total) VALUES (%s, %s, 0)
                ON CONFLICT (member_id, month) DO NOTHING""",
            [member.pk, month],
        )
        # Conditional raise: never past the cap, whatever runs beside it.
        cursor.execute(
            f"""WITH old AS (SELECT id, total FROM {_MONTH} WHERE member_id = %s AND month = %s FOR UPDATE)
                UPDATE {_MONTH} m SET total = LEAST(old.total + %s, %s)
                FROM old WHERE m.id = old.id AND old.total < %s
                RETURNING m.total - old.total""",
            [member.pk, month, value, cap, cap],
        )
        row = cursor.fetchone()
    granted = int(row[0]) if row else 0
    if granted <= 0:
        return 0
    if granted < value:
        reason = f"{reason}（本月活动成长值已达上限 {cap}，实得 {granted}）"
    _entry_write_locked(
        member_id=member.pk, kind=kind, value=granted, reference=reference, reason=reason, activity=True
    )
    return granted


def growth_activity_credit_bulk_locked(
    *, member_ids: Sequence[int], kind: str, value: int, reference: str, reason: str
) -> list[int]:
    """`growth_activity_credit_locked` for many members at once, set-based (the birthday job's
    growth gift: ≈ 2,700 members a day at 1M): the members whose rows the caller holds locked
    (members' step 1, ascending) get `value` each, up to what is left of their brand month's cap
    (said in the entry's reason when cut), once per (member, kind, reference) — a member who has
    the entry already gets nothing. Four statements whatever the number of members; the same rows
    and the same order of locks (account, then month) as the single-member path. Returns the
    members granted more than 0."""
    if value <= 0 or not member_ids:
        return []
    month = brand_date(timezone.now()).replace(day=1)
    cap = engagement_settings_get().growth_activity_cap_per_month
    ids = pg_array(sorted(member_ids))
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {_MONTH} (member_id, month, total)
                SELECT m, %s, 0 FROM unnest(%s::bigint[]) m ORDER BY m
                ON CONFLICT (member_id, month) DO NOTHING""",
            [month, ids],
        )
        # The months raised, then the accounts and the entries from what was raised, as three
        # statements: one statement with the last two as data-modifying CTEs over `raised` is what
        # Citus cannot run (its coordinator copies the CTE's rows to the worker in binary and the
        # worker reads them as text: "invalid input syntax for type bigint: PGCOPY").
        cursor.execute(
            f"""WITH due AS (
                    SELECT m AS member_id FROM unnest(%s::bigint[]) m
                    WHERE NOT EXISTS (SELECT 1 FROM {_ENTRY} e WHERE e.member_id = m AND e.kind = %s
                                      AND e.reference = %s)),
                old AS (
                    SELECT mo.id, mo.member_id, mo.total FROM {_MONTH} mo JOIN due USING (member_id)
                    WHERE mo.month = %s AND mo.total < %s ORDER BY mo.member_id FOR UPDATE OF mo)
                UPDATE {_MONTH} mo SET total = LEAST(old.total + %s, %s) FROM old WHERE mo.id = old.id
                RETURNING mo.member_id, mo.total - old.total AS granted""",
            [ids, kind, reference, month, cap, value, cap],
        )
        raised = sorted((int(member_id), int(granted)) for member_id, granted in cursor.fetchall())
        if not raised:
            return []
        members, granted = pg_array([m for m, _g in raised]), pg_array([g for _m, g in raised])
        cursor.execute(
            f"""INSERT INTO {_ACCOUNT} (member_id, balance, updated_at)
                SELECT r.member_id, r.granted, %s
                FROM unnest(%s::bigint[], %s::integer[]) AS r(member_id, granted) ORDER BY r.member_id
                ON CONFLICT (member_id) DO UPDATE SET balance = {_ACCOUNT}.balance + EXCLUDED.balance,
                    updated_at = EXCLUDED.updated_at
                RETURNING member_id, balance""",
            [now, members, granted],
        )
        balances = dict(cursor.fetchall())
        cursor.execute(
            f"""INSERT INTO {_ENTRY} (member_id, kind, value, balance_after, activity, reason, reference,
                                      actor, created_at)
                SELECT r.member_id, %s, r.granted, r.balance, true,
                       CASE WHEN r.granted < %s THEN %s || '（本月活动成长值已达上限 ' || %s || '，实得 '
                            || r.granted || '）' ELSE %s END,
                       %s, 'system', %s
                FROM unnest(%s::bigint[], %s::integer[], %s::integer[]) AS r(member_id, granted, balance)
                RETURNING member_id""",
            [
                kind,
                value,
                reason,
                cap,
                reason,
                reference,
                now,
                members,
                granted,
                pg_array([balances[m] for m, _g in raised]),
            ],
        )
        return [int(row[0]) for row in cursor.fetchall()]


def growth_activity_reverse_locked(*, member: Member, kind: str, reference: str, reason: str) -> int:
    """Take back the activity growth granted under (kind, reference) — a referral reversed by a
    refund — for a member whose row the caller holds locked: a negative entry with the reference
    `<reference>:reverse` (so a second call writes nothing), never below 0. Returns what was taken."""
    granted = (
        GrowthEntry.objects.filter(member_id=member.pk, kind=kind, reference=reference)
        .values_list("value", flat=True)
        .first()
    )
    if not granted or granted <= 0:
        return 0
    back = f"{reference}:reverse"
    if GrowthEntry.objects.filter(member_id=member.pk, kind=kind, reference=back).exists():
        return 0
    take = min(granted, growth_balance(member_id=member.pk))
    if take <= 0:
        return 0
    if take < granted:
        reason = f"{reason}（应扣 {granted}，成长值不足只扣 {take}）"
    _entry_write_locked(member_id=member.pk, kind=kind, value=-take, reference=back, reason=reason, activity=True)
    return take


def growth_spend_ctes(event: OrdersPosted) -> tuple[str, list[Any]] | None:
    """The common table expressions that spend growth for every new member order of an ingest
    (the buyers are locked by the ingest), or None when no order earns any: the last one,
    `growth_spent`, writes the entries. engagement/services/orders.py runs them in the one
    statement engagement adds to an ingest. The rate is read by the statement itself (the brand's
    settings row, 1 per yuan without one)."""
    rows = [(o.member_id, o.amount_fen, o.order_id) for o in event.orders if o.amount_fen > 0]
    if not rows:
        return None
    now = timezone.now()
    return (
        f"""
        rate AS (
            SELECT COALESCE((SELECT growth_per_yuan FROM {_SETTINGS} LIMIT 1), 1)::bigint AS per_yuan
        ),
        v AS (
            SELECT member_id, (amount_fen * rate.per_yuan / 100)::integer AS value, order_id, ord
            FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])
                 WITH ORDINALITY AS v(member_id, amount_fen, order_id, ord)
            CROSS JOIN rate
            WHERE amount_fen * rate.per_yuan / 100 > 0
        ),
        acct AS (
            INSERT INTO {_ACCOUNT} (member_id, balance, updated_at)
            SELECT member_id, SUM(value), %s FROM v GROUP BY member_id
            ON CONFLICT (member_id) DO UPDATE SET balance = {_ACCOUNT}.balance + EXCLUDED.balance,
                updated_at = EXCLUDED.updated_at
            RETURNING member_id, balance
        ),
        growth_spent AS (
            INSERT INTO {_ENTRY} (member_id, kind, value, balance_after, activity, reason, reference, order_id,
                                  actor, created_at)
            SELECT v.member_id, 'spend', v.value,
                   a.balance - COALESCE(SUM(v.value) OVER (PARTITION BY v.member_id ORDER BY v.ord
                                        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0),
                   false, '消费获得成长值', 'order:' || v.order_id, v.order_id, 'system', %s
            FROM v JOIN acct a ON a.member_id = v.member_id
            RETURNING 1
        )""",
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], now, now],
    )


def growth_on_order_refunded(event: OrderRefunded) -> None:
    """members.hooks handler (member and order locked by the refund): take back the order's spend
    growth pro rata — cumulatively floor(earned × refunded / paid), so partial refunds never take
    back more than the order gave — never below 0 (the shortfall is said in the entry's reason)."""
    if event.member_id is None:  # a tourist's order earned no growth
        return
    earned, reversed_so_far = 0, 0
    for kind, value in GrowthEntry.objects.filter(order_id=event.order_id).values_list("kind", "value"):
        if kind == GrowthEntry.Kind.SPEND:
            earned += value
        elif kind == GrowthEntry.Kind.REFUND:
            reversed_so_far -= value
    if earned <= 0 or event.order_amount_fen <= 0:
        return
    due = earned * event.refunded_fen // event.order_amount_fen - reversed_so_far
    balance = growth_balance(member_id=event.member_id)
    take = min(due, balance)
    if take <= 0:
        return
    reason = f"退款扣回成长值（{event.refund_no}）"
    if take < due:
        reason += f"，应扣 {due}，成长值不足只扣 {take}"
    _entry_write_locked(
        member_id=event.member_id,
        kind=GrowthEntry.Kind.REFUND,
        value=-take,
        reference=f"refund:{event.refund_id}",
        reason=reason,
        activity=False,
        order_id=event.order_id,
    )


# --- the tier basis (members.hooks.QualifyingBasis) -------------------------------------------


def growth_in_windows(
    *, member_ids: Sequence[int], windows: Sequence[int], now: dt.datetime
) -> dict[tuple[int, int], int]:
    """Growth value entered in each rolling window ending `now`, per member."""
    if not member_ids or not windows:
        return {}
    columns = ", ".join("COALESCE(SUM(value) FILTER (WHERE created_at >= %s), 0)" for _ in windows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT member_id, {columns} FROM {_ENTRY}
                WHERE member_id = ANY(%s::bigint[]) AND created_at >= %s GROUP BY member_id""",
            [*(now - dt.timedelta(days=w) for w in windows), list(member_ids), now - dt.timedelta(days=max(windows))],
        )
        return {
            (row[0], window): int(value)
            for row in cursor.fetchall()
            for window, value in zip(windows, row[1:], strict=True)
        }


GROWTH_BASIS = QualifyingBasis(
    basis="growth",
    amounts=growth_in_windows,
    chunk_sql=f"""SELECT 'growth'::text AS basis, e.member_id, w.window_days, SUM(e.value)::bigint AS total
        FROM {_ENTRY} e JOIN due d ON d.id = e.member_id
        JOIN windows w ON w.basis = 'growth' AND e.created_at >= %(now)s - make_interval(days => w.window_days)
        GROUP BY e.member_id, w.window_days""",
)


# --- audit ------------------------------------------------------------------------------------


def growth_audit() -> list[tuple[int, int, int]]:
    """(member_id, account balance, sum of entries) for every member where they disagree."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH e AS (SELECT member_id, SUM(value) AS total FROM {_ENTRY} GROUP BY member_id)
                SELECT COALESCE(a.member_id, e.member_id), COALESCE(a.balance, 0), COALESCE(e.total, 0)
                FROM {_ACCOUNT} a FULL JOIN e ON e.member_id = a.member_id
                WHERE COALESCE(a.balance, 0) <> COALESCE(e.total, 0) OR COALESCE(a.balance, 0) < 0
                ORDER BY 1"""
        )
        return [tuple(row) for row in cursor.fetchall()]
