"""Tiers: immediate upgrade on orders, the daily re-evaluation at validity end, manual floors,
and progress to the next tier. Follows the lock order in members/services/points.py.

Qualifying amount of a member for a tier, within the tier's rolling window ending now:
- basis `spend`:  paid − refunded (fen) of the member's orders paid in the window;
- basis `points`: points earned by orders (earn + reverse entries) created in the window;
- basis `growth`: growth value (成长值) in the window, from the ledger an app above members keeps
  and registers with `members.hooks.qualifying_basis_register` (engagement). Never the spendable
  points balance.
The member's tier is the highest tier whose threshold its qualifying amount reaches, never below
the manual floor, never below the lowest tier. The lowest tier never expires.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from crm.db.arrays import StatementParams
from crm.errors import AppError
from members import error_codes
from members.hooks import LoyaltyChange, LoyaltyChanged, loyalty_changed_notify_in_transaction, qualifying_bases
from members.models import Member, Order, PointsEntry, Tier, TierChange

from .actors import actor_name
from .points import chunk_settings, loyalty_points, loyalty_program_get, member_id_ranges, member_lock

# The webhook `cause` of the tier changes that _tier_set writes.
_CAUSE_OF_REASON: dict[str, str] = {
    TierChange.Reason.MANUAL_GRANT: "manual_grant",
    TierChange.Reason.MANUAL_REMOVAL: "manual_removal",
    TierChange.Reason.REFUND: "refund",
    # tier_lift_locked: growth value earned outside an order (engagement's check-ins and activities).
    TierChange.Reason.UPGRADE: "growth",
    TierChange.Reason.ENROLMENT: "growth",
}


def tier_changed_notify(*, member: Member, from_tier_id: int | None, cause: str) -> None:
    """Tell the loyalty-change hook that `member` (saved) moved from `from_tier_id` to its tier."""
    points = loyalty_points(member)
    loyalty_changed_notify_in_transaction(
        LoyaltyChanged(
            cause=cause,
            changes=(
                LoyaltyChange(
                    member_id=member.pk,
                    tier_before=from_tier_id,
                    tier_after=member.tier_id,
                    points_before=points,
                    points_after=points,
                ),
            ),
        )
    )


# Points that qualify for a points-based tier: those earned, less earned points taken back by
# refunds (negative `reverse`). A positive `reverse` gives back points a member had spent as cash
# on a refunded order (points_cash): they were never earned, so they do not qualify.
QUALIFYING_POINTS_SQL = "(kind = 'earn' OR (kind = 'reverse' AND points < 0))"


def tiers_ranked() -> list[Tier]:
    return list(Tier.objects.order_by("rank"))


@dataclass
class Qualifying:
    """A member's qualifying amounts keyed by (basis, window_days), plus purchase count."""

    amounts: dict[tuple[str, int], int]
    purchases: int = 0

    def for_tier(self, tier: Tier) -> int:
        return self.amounts.get((tier.basis, tier.window_days), 0)


def qualifying_for_members(
    *, member_ids: Sequence[int], tiers: Sequence[Tier], purchase_window_days: int, now: dt.datetime
) -> dict[int, Qualifying]:
    """Qualifying amounts for a set of members in one or two aggregate queries (index
    order_member_recent serves the orders part)."""
    result = {member_id: Qualifying(amounts={}) for member_id in member_ids}
    if not member_ids:
        return result
    spend_windows = sorted({t.window_days for t in tiers if t.basis == Tier.Basis.SPEND})
    oldest = now - dt.timedelta(days=max([*spend_windows, purchase_window_days]))
    params = StatementParams()
    since = {w: params.value(now - dt.timedelta(days=w)) for w in spend_windows}
    columns = ", ".join(
        f"COALESCE(SUM(amount_fen - refunded_fen) FILTER (WHERE paid_at >= {since[w]}), 0)" for w in spend_windows
    )
    purchases_since = params.value(now - dt.timedelta(days=purchase_window_days))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT member_id, COUNT(*) FILTER (WHERE paid_at >= {purchases_since} AND amount_fen > refunded_fen)
                       {", " + columns if columns else ""}
                FROM {Order._meta.db_table}
                WHERE member_id = ANY({params.array(member_ids, "bigint")}) AND paid_at >= {params.value(oldest)}
                GROUP BY member_id""",  # noqa: S608 (identifiers from model meta; values are parameters)
            params.values,
        )
        for row in cursor.fetchall():
            q = result[row[0]]
            q.purchases = row[1]
            for window, value in zip(spend_windows, row[2:], strict=True):
                q.amounts[(Tier.Basis.SPEND, window)] = int(value)
        points_windows = sorted({t.window_days for t in tiers if t.basis == Tier.Basis.POINTS})
        if points_windows:
            params = StatementParams()
            columns = ", ".join(
                f"COALESCE(SUM(points) FILTER (WHERE created_at >= {params.value(now - dt.timedelta(days=w))}), 0)"
                for w in points_windows
            )
            cursor.execute(
                f"""SELECT member_id, {columns} FROM {PointsEntry._meta.db_table}
                    WHERE member_id = ANY({params.array(member_ids, "bigint")}) AND {QUALIFYING_POINTS_SQL}
                        AND created_at >= {params.value(now - dt.timedelta(days=max(points_windows)))}
                    GROUP BY member_id""",  # noqa: S608
                params.values,
            )
            for row in cursor.fetchall():
                for window, value in zip(points_windows, row[1:], strict=True):
                    result[row[0]].amounts[(Tier.Basis.POINTS, window)] = int(value)
    for basis, provider in qualifying_bases().items():
        windows = sorted({t.window_days for t in tiers if t.basis == basis})
        if windows:
            for (member_id, window), value in provider.amounts(member_ids=member_ids, windows=windows, now=now).items():
                result[member_id].amounts[(basis, window)] = int(value)
    return result


def tier_supported(*, tiers: Sequence[Tier], qualifying: Qualifying, floor: Tier | None) -> Tier | None:
    """The highest tier the qualifying amounts (or the floor) support; the lowest tier otherwise."""
    best: Tier | None = tiers[0] if tiers else None
    for tier in tiers:  # ranked ascending
        if qualifying.for_tier(tier) >= tier.threshold and (best is None or tier.rank > best.rank):
            best = tier
    if floor is not None and (best is None or floor.rank > best.rank):
        best = floor
    return best


def tier_expiry(*, tier: Tier, tiers: Sequence[Tier], now: dt.datetime) -> dt.datetime | None:
    if tiers and tier.pk == tiers[0].pk:
        return None  # the entry tier is never lost, so it needs no re-evaluation
    return now + dt.timedelta(days=tier.validity_days)


def _tier_set(
    *,
    member: Member,
    to_tier: Tier | None,
    tiers: Sequence[Tier],
    reason: str,
    actor: str,
    note: str = "",
    now: dt.datetime,
    extra_fields: Iterable[str] = (),
) -> TierChange:
    change = TierChange.objects.create(
        member=member, from_tier_id=member.tier_id, to_tier=to_tier, reason=reason, note=note, actor=actor
    )
    member.tier = to_tier
    member.tier_expires_at = tier_expiry(tier=to_tier, tiers=tiers, now=now) if to_tier else None
    member.save(update_fields=["tier", "tier_expires_at", "updated_at", *extra_fields])
    tier_changed_notify(member=member, from_tier_id=change.from_tier_id, cause=_CAUSE_OF_REASON[reason])
    return change


# A manual change made with a `reference` (a form's, a caller's request id) ends its note with
# this mark. TierChange has no reference column, and a column would be a migration of every brand
# for two rarely used actions; the note is the change's own record, so the mark lives there, read
# back under the member lock (see _manual_change_done).
_REFERENCE_MARK = " [ref:{}]"
REFERENCE_MAX_LENGTH = 64


def _manual_note(text: str, reference: str) -> str:
    """`text` with the reference mark, shortened so the whole fits the note column (a 50-character
    tier name and a 200-character reason already do not) and the mark is never cut off."""
    limit = cast(int, TierChange._meta.get_field("note").max_length)  # a CharField: always set
    mark = _REFERENCE_MARK.format(reference) if reference else ""
    room = limit - len(mark)
    if len(text) > room:
        text = text[: room - 1] + "…"
    return text + mark


def _manual_change_done(*, member_id: int, reference: str) -> TierChange | None:
    """The manual change already made with `reference`, if any. Call with the member locked, so a
    concurrent request with the same reference sees the first one's change once it commits."""
    if not reference:
        return None
    if len(reference) > REFERENCE_MAX_LENGTH:
        raise AppError(error_codes.TIER_INVALID, "请求编号无效。", fields={"reference": ["无效。"]})
    return (
        TierChange.objects.filter(
            member_id=member_id,
            reason__in=(TierChange.Reason.MANUAL_GRANT, TierChange.Reason.MANUAL_REMOVAL),
            note__endswith=_REFERENCE_MARK.format(reference),
        )
        .order_by("id")
        .first()
    )


def _member_tier_copy(member: Member, locked: Member) -> None:
    member.tier_id, member.tier_floor_id, member.tier_expires_at = (
        locked.tier_id,
        locked.tier_floor_id,
        locked.tier_expires_at,
    )


def tier_grant_manual(
    *, member: Member, tier: Tier, reason: str, actor: AbstractBaseUser | str, reference: str = ""
) -> TierChange:
    """Grant `tier` as a floor: the member is lifted to it now (if lower) and never re-evaluated
    below it until `tier_remove_manual`. A second call with the same non-empty `reference`
    changes nothing and returns the first call's change."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError(error_codes.TIER_INVALID, "手动授予等级必须填写原因。", fields={"reason": ["必填。"]})
    who = actor_name(actor)
    now = timezone.now()
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        done = _manual_change_done(member_id=locked.pk, reference=reference)
        if done is not None:
            _member_tier_copy(member, locked)
            return done
        tiers = tiers_ranked()
        current_rank = locked.tier.rank if locked.tier is not None else -1
        locked.tier_floor = tier
        if tier.rank > current_rank:
            change = _tier_set(
                member=locked,
                to_tier=tier,
                tiers=tiers,
                reason=TierChange.Reason.MANUAL_GRANT,
                actor=who,
                note=_manual_note(reason, reference),
                now=now,
                extra_fields=["tier_floor"],
            )
        else:
            # Already at or above it: the floor still protects the member from later downgrades.
            locked.save(update_fields=["tier_floor", "updated_at"])
            change = TierChange.objects.create(
                member=locked,
                from_tier_id=locked.tier_id,
                to_tier_id=locked.tier_id,
                reason=TierChange.Reason.MANUAL_GRANT,
                note=_manual_note(f"保底等级：{tier.name}；{reason}", reference),
                actor=who,
            )
    _member_tier_copy(member, locked)
    return change


def tier_remove_manual(
    *, member: Member, reason: str, actor: AbstractBaseUser | str, reference: str = ""
) -> TierChange | None:
    """Remove the manual floor and re-evaluate at once against the window's qualifying amounts.
    None when the member has no floor. A second call with the same non-empty `reference` changes
    nothing and returns the first call's change."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError(error_codes.TIER_INVALID, "取消手动等级必须填写原因。", fields={"reason": ["必填。"]})
    who = actor_name(actor)
    now = timezone.now()
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        done = _manual_change_done(member_id=locked.pk, reference=reference)
        if done is not None:
            _member_tier_copy(member, locked)
            return done
        if locked.tier_floor_id is None:
            return None
        tiers = tiers_ranked()
        qualifying = qualifying_for_members(
            member_ids=[locked.pk],
            tiers=tiers,
            purchase_window_days=loyalty_program_get().purchase_window_days,
            now=now,
        )[locked.pk]
        target = tier_supported(tiers=tiers, qualifying=qualifying, floor=None)
        locked.tier_floor = None
        change = _tier_set(
            member=locked,
            to_tier=target,
            tiers=tiers,
            reason=TierChange.Reason.MANUAL_REMOVAL,
            actor=who,
            note=_manual_note(reason, reference),
            now=now,
            extra_fields=["tier_floor"],
        )
    _member_tier_copy(member, locked)
    return change


def tiers_reevaluate_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The daily job: every member whose tier validity has ended keeps it, moves down to what the
    window supports (never below the floor), or up if the window supports more. Each decision is
    a TierChange (renewal / downgrade / upgrade). Set-based, by member id range: each chunk of
    MEMBER_CHUNK members is its own transaction (a lock statement — lock step 1, ascending id —
    and one statement), so the job never holds more than one chunk's member locks. Safe to re-run
    or resume: a member decided once has a new validity end and is no longer due."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        ranges = member_id_ranges(cursor)
    summary = {"renewal": 0, "downgrade": 0, "upgrade": 0}
    for lo, hi in ranges:
        for reason, count in _tiers_reevaluate_chunk(now=now, lo=lo, hi=hi).items():
            summary[reason] += count
    summary["members"] = sum(summary.values())
    return summary


def _tiers_reevaluate_chunk(*, now: dt.datetime, lo: int, hi: int) -> dict[str, int]:
    m, t, o, e, tc = (
        Member._meta.db_table,
        Tier._meta.db_table,
        Order._meta.db_table,
        PointsEntry._meta.db_table,
        TierChange._meta.db_table,
    )
    # Bases kept above members (growth value) add their rows; none registered: no rows.
    extra_sql = " UNION ALL ".join(f"({p.chunk_sql})" for p in qualifying_bases().values()) or (
        "SELECT NULL::text AS basis, NULL::bigint AS member_id, NULL::integer AS window_days, "
        "NULL::bigint AS total WHERE false"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        chunk_settings(cursor)
        cursor.execute(
            f"""SELECT count(*) FROM (SELECT id FROM {m}
                WHERE tier_expires_at <= %s AND status <> 'erased' AND merged_into_id IS NULL
                  AND id >= %s AND id < %s
                ORDER BY id FOR NO KEY UPDATE) locked""",  # noqa: S608
            [now, lo, hi],
        )
        # Qualifying amounts per distinct (basis, window) — usually one window for all tiers, so
        # one pass over the window's orders.
        cursor.execute(
            f"""
            WITH due AS MATERIALIZED (
                SELECT id, tier_id, tier_floor_id FROM {m}
                WHERE tier_expires_at <= %(now)s AND status <> 'erased' AND merged_into_id IS NULL
                  AND id >= %(lo)s AND id < %(hi)s
            ),
            windows AS (SELECT DISTINCT basis, window_days FROM {t}),
            spend AS (
                SELECT o.member_id, w.window_days, SUM(o.amount_fen - o.refunded_fen) AS total
                FROM {o} o JOIN due d ON d.id = o.member_id
                JOIN windows w ON w.basis = 'spend' AND o.paid_at >= %(now)s - make_interval(days => w.window_days)
                GROUP BY o.member_id, w.window_days
            ),
            pts AS (
                SELECT e.member_id, w.window_days, SUM(e.points) AS total
                FROM {e} e JOIN due d ON d.id = e.member_id
                JOIN windows w ON w.basis = 'points' AND e.created_at >= %(now)s - make_interval(days => w.window_days)
                WHERE {QUALIFYING_POINTS_SQL}  -- unqualified: only e has kind and points
                GROUP BY e.member_id, w.window_days
            ),
            extra AS ({extra_sql}),
            lowest AS (SELECT id FROM {t} ORDER BY rank LIMIT 1),
            candidate AS (
                SELECT d.id AS member_id, tr.id AS tier_id, tr.rank, tr.validity_days
                FROM due d CROSS JOIN {t} tr
                LEFT JOIN spend s ON tr.basis = 'spend' AND s.member_id = d.id AND s.window_days = tr.window_days
                LEFT JOIN pts p ON tr.basis = 'points' AND p.member_id = d.id AND p.window_days = tr.window_days
                LEFT JOIN extra x ON x.basis = tr.basis AND x.member_id = d.id AND x.window_days = tr.window_days
                WHERE tr.id = d.tier_floor_id OR tr.id IN (SELECT id FROM lowest)
                   OR tr.threshold <= COALESCE(s.total, p.total, x.total, 0)
            ),
            best AS (
                SELECT DISTINCT ON (member_id) member_id, tier_id, rank, validity_days
                FROM candidate ORDER BY member_id, rank DESC
            ),
            decided AS (
                SELECT d.id AS member_id, d.tier_id AS from_tier_id, b.tier_id AS to_tier_id, b.validity_days,
                       CASE WHEN b.tier_id = d.tier_id THEN 'renewal'
                            WHEN b.rank < COALESCE(cur.rank, -1) THEN 'downgrade'
                            ELSE 'upgrade' END AS reason,
                       -- The new expiry computed here, not in the UPDATE's SET: Citus refuses a
                       -- non-immutable expression (timestamptz + interval) in an UPDATE's CASE.
                       CASE WHEN b.tier_id IN (SELECT id FROM lowest) THEN NULL
                            ELSE %(now)s + make_interval(days => b.validity_days) END AS expires_at
                FROM due d JOIN best b ON b.member_id = d.id LEFT JOIN {t} cur ON cur.id = d.tier_id
            ),
            logged AS (
                INSERT INTO {tc} (member_id, from_tier_id, to_tier_id, reason, note, actor, created_at)
                SELECT member_id, from_tier_id, to_tier_id, reason, '等级有效期到期重新评定', 'system', %(now)s
                FROM decided
                RETURNING id
            ),
            updated AS (
                UPDATE {m} mm
                SET tier_id = d.to_tier_id,
                    tier_expires_at = d.expires_at,
                    updated_at = %(now)s
                -- The chunk's range on the updated table too, or the planner hashes `decided`
                -- against a scan of every member of the brand.
                FROM decided d WHERE mm.id = d.member_id AND mm.id >= %(lo)s AND mm.id < %(hi)s
                RETURNING d.reason
            )
            -- Counted here: a chunk is up to MEMBER_CHUNK members, not rows to ship to Python.
            SELECT reason, count(*), (SELECT min(id) FROM logged), (SELECT max(id) FROM logged)
            FROM updated GROUP BY reason
            """,  # noqa: S608
            {"now": now, "lo": lo, "hi": hi},
        )
        summary = {"renewal": 0, "downgrade": 0, "upgrade": 0}
        window = None
        for reason, count, first, last in cursor.fetchall():
            summary[reason] = count
            window = (first, last)
        if window is not None and (summary["downgrade"] or summary["upgrade"]):
            # This statement's changes: the ids it wrote (an earlier run at the same `now` wrote
            # lower ones) at this run's time; renewals keep the tier, so they are no change.
            loyalty_changed_notify_in_transaction(
                LoyaltyChanged(
                    cause="reevaluation",
                    tier_rows=(
                        (
                            f"""SELECT member_id, from_tier_id, to_tier_id FROM {tc}
                                WHERE id BETWEEN %s AND %s AND created_at = %s
                                  AND reason IN ('downgrade', 'upgrade')""",  # noqa: S608
                            (*window, now),
                        ),
                    ),
                )
            )
    return summary


def tier_lift_locked(*, member: Member, actor: str, note: str) -> TierChange | None:
    """Lift a member whose row the caller has locked (lock step 1) to the tier its qualifying
    amounts now support, when that is higher than its tier: what an order does, for a change made
    elsewhere (growth value from a check-in). Never lowers a tier (the validity-end job does that).
    The name says it runs in the caller's transaction."""
    tiers = tiers_ranked()
    if not tiers:
        return None
    by_id = {t.pk: t for t in tiers}
    now = timezone.now()
    qualifying = qualifying_for_members(
        member_ids=[member.pk],
        tiers=tiers,
        purchase_window_days=loyalty_program_get().purchase_window_days,
        now=now,
    )[member.pk]
    floor = by_id.get(member.tier_floor_id) if member.tier_floor_id else None
    target = tier_supported(tiers=tiers, qualifying=qualifying, floor=floor)
    current = by_id.get(member.tier_id) if member.tier_id else None
    if target is None or (current is not None and target.rank <= current.rank):
        return None
    reason = TierChange.Reason.UPGRADE if current else TierChange.Reason.ENROLMENT
    return _tier_set(member=member, to_tier=target, tiers=tiers, reason=reason, actor=actor, note=note, now=now)


# --- selectors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    current: Tier | None
    next: Tier | None
    qualifying: int  # in the next tier's basis (fen or points) and window
    needed: int  # still missing to reach the next tier; 0 at the top
    window_days: int | None
    expires_at: dt.datetime | None
    floor: Tier | None


def tier_progress(*, member: Member) -> TierProgress:
    """What the member page shows: current tier, the next one, and how far away it is."""
    tiers = tiers_ranked()
    current = next((t for t in tiers if t.pk == member.tier_id), None)
    floor = next((t for t in tiers if t.pk == member.tier_floor_id), None)
    current_rank = current.rank if current else -1
    upcoming = next((t for t in tiers if t.rank > current_rank), None)
    if upcoming is None:
        return TierProgress(current, None, 0, 0, None, member.tier_expires_at, floor)
    qualifying = qualifying_for_members(
        member_ids=[member.pk],
        tiers=[upcoming],
        purchase_window_days=loyalty_program_get().purchase_window_days,
        now=timezone.now(),
    )[member.pk].for_tier(upcoming)
    return TierProgress(
        current=current,
        next=upcoming,
        qualifying=qualifying,
        needed=max(upcoming.threshold - qualifying, 0),
        window_days=upcoming.window_days,
        expires_at=member.tier_expires_at,
        floor=floor,
    )
