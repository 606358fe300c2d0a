"""Rewards catalogue: redemption (balance, lots, stock and ledger change together or not at all)
and gifts to a whole campaign audience (stock only, no points).
Lock order (members/services/points.py): member → its lots → reward."""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from crm.errors import AppError, Conflict
from members import error_codes
from members.models import Member, PointsEntry, Redemption, Reward

from .actors import actor_name
from .points import (
    _debit,
    _member_ids_sql,
    _require_member_usable,
    chunk_settings,
    member_id_ranges,
    member_ids_chunk_sql,
    member_lock,
)

# The reference prefix of gifts given by campaign occurrences ("campaign:<occurrence id>").
GIFT_REFERENCE_PREFIX = "campaign:"


def reward_redeem(
    *, member: Member, reward: Reward, quantity: int = 1, reference: str, actor: AbstractBaseUser | str
) -> Redemption:
    """Redeem `quantity` of `reward` for the member. Idempotent per (member, reference): a retry
    returns the first redemption; the same reference for a different reward or quantity is refused.
    Refused with nothing changed when the member cannot spend that much, is frozen, or the reward
    is off the shelf or out of stock."""
    reference = (reference or "").strip()
    if not reference or len(reference) > 128:
        raise AppError(
            error_codes.REWARD_INVALID, "兑换必须带请求编号（≤128 字符）。", fields={"reference": ["必填。"]}
        )
    if reference.startswith(GIFT_REFERENCE_PREFIX):
        # Reserved for campaign gifts (reward_issue_bulk): a redemption under such a reference
        # would stand in for the gift of that occurrence.
        raise AppError(
            error_codes.REWARD_INVALID,
            f"请求编号不能以 {GIFT_REFERENCE_PREFIX} 开头（保留给活动赠送）。",
            fields={"reference": ["保留前缀。"]},
        )
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 100:
        raise AppError(error_codes.REWARD_INVALID, "兑换数量须为 1–100。", fields={"quantity": ["须为 1–100。"]})
    who = actor_name(actor)
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        existing = Redemption.objects.filter(member=locked, reference=reference).first()
        if existing is not None:
            # A campaign gift under the same reference is not this redemption (it cost nothing).
            if existing.is_gift or existing.reward_id != reward.pk or existing.quantity != quantity:
                raise Conflict(error_codes.REDEMPTION_CONFLICT, f"请求编号 {reference} 已用于另一笔兑换。")
            return existing
        _require_member_usable(locked, allow_frozen=False)
        cost = reward.points_cost * quantity
        # Check the balance before locking the reward: a member who cannot pay never queues on the
        # reward row that every other redeemer needs.
        if locked.points_balance < cost:
            raise AppError(
                error_codes.POINTS_INSUFFICIENT,
                f"积分不足：需要 {cost}，可用 {locked.points_balance}。",
                extra={"available": locked.points_balance, "required": cost},
            )
        entry = _debit(
            member=locked,
            kind=PointsEntry.Kind.REDEEM,
            points=cost,
            reason=f"兑换 {reward.name} ×{quantity}",
            reference=f"redemption:{reference}",
            actor=who,
        )
        # Lock step 4. Checked after the lock: stock read before it could be stale.
        current = Reward.objects.select_for_update().get(pk=reward.pk)
        if not current.is_active:
            raise AppError(error_codes.REWARD_UNAVAILABLE, f"礼品“{current.name}”已下架。")
        if current.stock is not None:
            if current.stock < quantity:
                raise AppError(
                    error_codes.REWARD_OUT_OF_STOCK, f"礼品“{current.name}”库存不足（剩余 {current.stock}）。"
                )
            current.stock -= quantity
            current.save(update_fields=["stock", "updated_at"])
        redemption = Redemption.objects.create(
            member=locked,
            reward=current,
            quantity=quantity,
            points=cost,
            entry=entry,
            reference=reference,
            actor=who,
        )
    member.points_balance, member.points_pending, member.points_debt = (
        locked.points_balance,
        locked.points_pending,
        locked.points_debt,
    )
    reward.stock = current.stock
    return redemption


def reward_restock(*, reward: Reward, add: int) -> Reward:
    """Add stock (an atomic increment: concurrent redemptions are not overwritten)."""
    if not isinstance(add, int) or add <= 0:
        raise AppError(error_codes.REWARD_INVALID, "补充库存须为正整数。", fields={"add": ["须为正整数。"]})
    with transaction.atomic():
        current = Reward.objects.select_for_update().get(pk=reward.pk)
        if current.stock is None:
            raise AppError(error_codes.REWARD_INVALID, "该礼品不限库存。")
        current.stock += add
        current.save(update_fields=["stock", "updated_at"])
    return current


@dataclass(frozen=True)
class RewardIssue:
    """What a bulk gift did. `eligible` members of the audience (merged and erased ones left out)
    either hold the gift now (`issued`, of which `issued_now` by this call) or got none
    (`not_issued`: stock ran out, or the reward was off the shelf — `unavailable`)."""

    eligible: int
    issued: int
    issued_now: int
    not_issued: int
    unavailable: bool


def reward_issue_bulk(
    *,
    members: "tuple[str, Sequence[Any]]",
    reward_id: int,
    reference: str,
    actor: str,
    id_range: tuple[int, int] | None = None,
) -> RewardIssue:
    """Give one `reward` to every member selected by `members` ((sql, params) selecting one column
    of member ids) as a gift: a Redemption with 0 points and no ledger entry, at most once per
    (member, reference) — re-running the same gift (a retried campaign occurrence) gives nobody a
    second one. Set-based, by member id range.

    Stock is taken atomically: each chunk locks the reward row, gives to at most the remaining
    stock in ascending member id (so who gets one when stock runs short does not depend on
    timing), and takes exactly what it gave. Stock never goes negative. An inactive reward gives
    nothing. Runs in the caller's transaction when there is one: the reward row then stays locked
    until it commits, so redemptions of that reward wait for the run (not of other rewards).
    `id_range` ([lo, hi) member ids): only that part of the audience, in one statement (a campaign
    run's chunk; its chunks go in ascending id, so the stock order holds across them)."""
    if not reference or len(reference) > 128:
        raise AppError(error_codes.REWARD_INVALID, "赠送必须带请求编号（≤128 字符）。")
    ids_sql, ids_params = _member_ids_sql(members)
    chunk_sql = member_ids_chunk_sql(ids_sql)
    member_table = Member._meta.db_table
    reward_table = Reward._meta.db_table
    redemption_table = Redemption._meta.db_table
    now = timezone.now()
    eligible = already = issued_now = 0
    unavailable = False
    with transaction.atomic(), connection.cursor() as cursor:
        chunk_settings(cursor)
        for lo, hi in member_id_ranges(cursor) if id_range is None else [id_range]:
            # The only lock this takes (lock step 4, reward): no member row is locked or updated —
            # the gift touches no balance — so it cannot deadlock with redemptions, which lock
            # their member first. Re-read under the lock every chunk: the stock is what is left.
            cursor.execute(f"SELECT stock, is_active FROM {reward_table} WHERE id = %s FOR UPDATE", [reward_id])
            row = cursor.fetchone()
            if row is None:
                raise AppError(error_codes.REWARD_INVALID, "礼品不存在。")
            stock, is_active = row
            unavailable = unavailable or not is_active
            # LIMIT NULL is no limit (unlimited stock).
            limit = 0 if not is_active else stock
            cursor.execute(
                f"""
                WITH eligible AS MATERIALIZED (
                    SELECT m.id,
                           EXISTS (SELECT 1 FROM {redemption_table} r
                                   WHERE r.member_id = m.id AND r.reference = %s) AS held
                    FROM {member_table} m
                    WHERE m.id >= %s AND m.id < %s AND m.id IN ({chunk_sql})
                      AND m.merged_into_id IS NULL AND m.status <> %s
                ),
                ins AS (
                    INSERT INTO {redemption_table}
                        (member_id, reward_id, order_id, quantity, points, entry_id, reference, actor,
                         created_at, updated_at)
                    SELECT e.id, %s, NULL, 1, 0, NULL, %s, %s, %s, %s
                    FROM (SELECT id FROM eligible WHERE NOT held ORDER BY id LIMIT %s) e
                    ON CONFLICT (member_id, reference) DO NOTHING
                    RETURNING 1
                ),
                taken AS (
                    UPDATE {reward_table} SET stock = stock - (SELECT count(*) FROM ins), updated_at = %s
                    WHERE id = %s AND stock IS NOT NULL AND EXISTS (SELECT 1 FROM ins)
                )
                SELECT (SELECT count(*) FROM eligible), (SELECT count(*) FROM eligible WHERE held),
                       (SELECT count(*) FROM ins)
                """,
                (
                    reference,
                    lo,
                    hi,
                    *ids_params,
                    lo,
                    hi,
                    Member.Status.ERASED,
                    reward_id,
                    reference,
                    actor,
                    now,
                    now,
                    limit,
                    now,
                    reward_id,
                ),
            )
            chunk_eligible, chunk_held, chunk_issued = cursor.fetchone()
            eligible += chunk_eligible
            already += chunk_held
            issued_now += chunk_issued
    issued = already + issued_now
    return RewardIssue(
        eligible=eligible,
        issued=issued,
        issued_now=issued_now,
        not_issued=eligible - issued,
        unavailable=unavailable,
    )
