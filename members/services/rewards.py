"""Rewards catalogue redemption: balance, lots, stock and ledger change together or not at all.
Lock order (members/services/points.py): member → its lots → reward."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from crm.errors import AppError, Conflict
from members import error_codes
from members.models import Member, PointsEntry, Redemption, Reward

from .points import _debit, _require_member_usable, member_lock


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
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 100:
        raise AppError(error_codes.REWARD_INVALID, "兑换数量须为 1–100。", fields={"quantity": ["须为 1–100。"]})
    actor_name = actor if isinstance(actor, str) else actor.get_username()
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        existing = Redemption.objects.filter(member=locked, reference=reference).first()
        if existing is not None:
            if existing.reward_id != reward.pk or existing.quantity != quantity:
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
            actor=actor_name,
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
            actor=actor_name,
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
