"""Merging two members who turned out to be one person (OneID conflict resolved by staff).

What moves to the survivor, in one transaction:
- identities and orders (re-pointed);
- points: the ledger is append-only, so nothing is re-pointed there. A `merge` entry takes the
  merged member's net total (balance + pending − debt) out, a `merge` entry puts it into the
  survivor, and the balances, pending points and debt are added to the survivor's. Lots are
  mutable state, so they are re-pointed: the survivor can spend them with their own expiry.
  Both members satisfy the ledger invariant before and after (see PointsLot's docstring);
- tier: the survivor keeps the better of the two tiers (with its expiry) and the better floor;
  a change is recorded as a TierChange (reason merge);
- assignment: the survivor keeps their staff; without one they take the merged member's;
- tags: the union;
- profile gaps (name, gender, birthday, home store, mobile) are filled from the merged member;
- consent: records are append-only and stay on the merged member (the proof of what that account
  agreed to). The consent app copies the merged member's more recent decisions to the survivor
  (`consent_member_merge`); the full history of both is read with
  `ConsentRecord.objects.filter(member_id__in=member_ids_with_merged(member=survivor))`.
  Tier changes, redemptions and ledger entries likewise stay on the merged member as history.

The merged member keeps its row and number: status `merged`, `merged_into` = survivor, no
identities, zero balances. Look-ups by its old number follow `merged_into`. A MemberMerge row
records who, why and what moved.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone

from consent.services import consent_member_merge
from crm.errors import AppError

from .. import error_codes
from ..hooks import (
    LoyaltyChange,
    LoyaltyChanged,
    TagsChanged,
    loyalty_changed_notify_in_transaction,
    tags_changed_notify_in_transaction,
)
from ..models import (
    Identity,
    Member,
    MemberAssignment,
    MemberMerge,
    MemberTag,
    Order,
    PointsEntry,
    PointsLot,
    TierChange,
)
from .lifecycle import member_lifecycle_refresh
from .points import loyalty_points

REASON_MAX = 255
_PROFILE_GAPS = ("name", "birthday", "home_store_id", "mobile")


def _refuse(message: str) -> AppError:
    return AppError(error_codes.MERGE_INVALID, message)


def _check(*, survivor: Member, merged: Member) -> None:
    if survivor.pk == merged.pk:
        raise _refuse("不能把会员与自己合并。")
    for member in (survivor, merged):
        if member.status == Member.Status.MERGED or member.merged_into_id is not None:
            raise _refuse(f"会员 {member.member_no} 已合并至其他会员，不能再参与合并。")
        if member.status == Member.Status.ERASED:
            raise _refuse(f"会员 {member.member_no} 的个人信息已删除，不能合并。")


def member_merge(*, survivor: Member, merged: Member, actor: str, reason: str) -> MemberMerge:
    """Fold `merged` into `survivor` (see the module docstring for what moves). All or nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError(error_codes.MERGE_INVALID, "请填写合并原因。", fields={"reason": ["required"]})
    if len(reason) > REASON_MAX:
        raise AppError(error_codes.MERGE_INVALID, "合并原因过长。", fields={"reason": ["too long"]})
    _check(survivor=survivor, merged=merged)

    with transaction.atomic():
        # LOCK ORDER: both member rows, LOWER ID FIRST, FOR NO KEY UPDATE — step 1 of the lock
        # order every loyalty service follows (members/services/points.py), so a merge and a
        # concurrent earn/redeem on either member queue up instead of deadlocking. Then lots.
        locked = {
            member.pk: member
            for member in (
                Member.objects.select_for_update(no_key=True).get(pk=pk) for pk in sorted([survivor.pk, merged.pk])
            )
        }
        survivor, merged = locked[survivor.pk], locked[merged.pk]
        _check(survivor=survivor, merged=merged)  # again, under the lock: a concurrent merge won
        lots = list(PointsLot.objects.select_for_update().filter(member=merged).order_by("expires_at", "id"))
        before = {m.pk: (m.tier_id, loyalty_points(m)) for m in (survivor, merged)}

        moved: dict[str, Any] = {
            "identities": Identity.objects.filter(member=merged).update(member=survivor, updated_at=timezone.now()),
            "orders": Order.objects.filter(member=merged).update(member=survivor, updated_at=timezone.now()),
        }
        moved.update(_move_points(survivor=survivor, merged=merged, lots=lots, actor=actor))
        moved.update(_move_tier(survivor=survivor, merged=merged, actor=actor))
        moved.update(_move_assignment(survivor=survivor, merged=merged, actor=actor))
        moved["tags"] = _move_tags(survivor=survivor, merged=merged)
        moved["profile"] = _fill_profile_gaps(survivor=survivor, merged=merged)
        if merged.last_purchase_at and (
            survivor.last_purchase_at is None or merged.last_purchase_at > survivor.last_purchase_at
        ):
            survivor.last_purchase_at = merged.last_purchase_at

        merged.status = Member.Status.MERGED
        merged.merged_into = survivor
        merged.save(
            update_fields=[
                "status",
                "merged_into",
                "assigned_staff",
                "points_balance",
                "points_pending",
                "points_debt",
                "updated_at",
            ]
        )
        survivor.save(
            update_fields=[
                "tier",
                "tier_expires_at",
                "tier_floor",
                "assigned_staff",
                "points_balance",
                "points_pending",
                "points_debt",
                "last_purchase_at",
                *_PROFILE_GAPS,
                "gender",
                "updated_at",
            ]
        )
        # Both balances change (the merged member's go to zero); the merged member keeps its tier.
        loyalty_changed_notify_in_transaction(
            LoyaltyChanged(
                cause="merge",
                changes=tuple(
                    LoyaltyChange(
                        member_id=m.pk,
                        tier_before=before[m.pk][0],
                        tier_after=m.tier_id,
                        points_before=before[m.pk][1],
                        points_after=loyalty_points(m),
                    )
                    for m in (survivor, merged)
                ),
            )
        )
        consent_member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=actor)
        # Orders moved: the survivor's stage may have changed (e.g. now two purchases: loyalty).
        member_lifecycle_refresh(member=survivor)
        return MemberMerge.objects.create(survivor=survivor, merged=merged, actor=actor, reason=reason, moved=moved)


def _move_points(*, survivor: Member, merged: Member, lots: list[PointsLot], actor: str) -> dict[str, int]:
    net = merged.points_balance + merged.points_pending - merged.points_debt
    reference = f"merge:{merged.member_no}"
    survivor.points_balance += merged.points_balance
    survivor.points_pending += merged.points_pending
    survivor.points_debt += merged.points_debt
    if net != 0:
        # Append-only ledger: the total leaves the merged member and enters the survivor as two
        # new entries; both members' entry sums keep matching their balances.
        PointsEntry.objects.create(
            member=merged,
            kind=PointsEntry.Kind.MERGE,
            points=-net,
            balance_after=0,
            reason=f"合并至 {survivor.member_no}",
            reference=f"merge:{survivor.member_no}",
            actor=actor,
        )
        PointsEntry.objects.create(
            member=survivor,
            kind=PointsEntry.Kind.MERGE,
            points=net,
            balance_after=survivor.points_balance + survivor.points_pending - survivor.points_debt,
            reason=f"合并自 {merged.member_no}",
            reference=reference,
            actor=actor,
        )
    moved_lots = PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(member=survivor)
    merged.points_balance = merged.points_pending = merged.points_debt = 0
    return {"points_net": net, "lots": moved_lots}


def _move_tier(*, survivor: Member, merged: Member, actor: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if merged.tier is not None and (survivor.tier is None or merged.tier.rank > survivor.tier.rank):
        TierChange.objects.create(
            member=survivor,
            from_tier=survivor.tier,
            to_tier=merged.tier,
            reason=TierChange.Reason.MERGE,
            note=f"合并自 {merged.member_no}",
            actor=actor,
        )
        survivor.tier, survivor.tier_expires_at = merged.tier, merged.tier_expires_at
        result["tier"] = merged.tier.code
    if merged.tier_floor is not None and (
        survivor.tier_floor is None or merged.tier_floor.rank > survivor.tier_floor.rank
    ):
        survivor.tier_floor = merged.tier_floor
        result["tier_floor"] = merged.tier_floor.code
    return result


def _move_assignment(*, survivor: Member, merged: Member, actor: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    note = f"合并 {merged.member_no} → {survivor.member_no}"
    if survivor.assigned_staff_id is None and merged.assigned_staff_id is not None:
        MemberAssignment.objects.create(
            member=survivor,
            to_staff_id=merged.assigned_staff_id,
            reason=MemberAssignment.Reason.MERGE,
            actor=actor,
            note=note,
        )
        survivor.assigned_staff_id = merged.assigned_staff_id
        result["assigned_staff"] = merged.assigned_staff_id
    if merged.assigned_staff_id is not None:
        # The merged member leaves the staff's "my members": nobody is to serve a merged record.
        MemberAssignment.objects.create(
            member=merged,
            from_staff_id=merged.assigned_staff_id,
            reason=MemberAssignment.Reason.MERGE,
            actor=actor,
            note=note,
        )
        merged.assigned_staff = None
    return result


def _move_tags(*, survivor: Member, merged: Member) -> int:
    tag_ids = list(MemberTag.objects.filter(member=merged).values_list("tag_id", flat=True))
    already = set(MemberTag.objects.filter(member=survivor).values_list("tag_id", flat=True))
    MemberTag.objects.bulk_create(
        [MemberTag(member=survivor, tag_id=tag_id) for tag_id in tag_ids], ignore_conflicts=True
    )
    MemberTag.objects.filter(member=merged).delete()
    # Tagging through a merge is tagging too: subscribers (WeCom corp tags) hear of it.
    for tag_id in tag_ids:
        if tag_id not in already:
            tags_changed_notify_in_transaction(TagsChanged(member_ids=(survivor.pk,), tag_id=tag_id, added=True))
        tags_changed_notify_in_transaction(TagsChanged(member_ids=(merged.pk,), tag_id=tag_id, added=False))
    return len(tag_ids)


def _fill_profile_gaps(*, survivor: Member, merged: Member) -> list[str]:
    filled = [field for field in _PROFILE_GAPS if not getattr(survivor, field) and getattr(merged, field)]
    for field in filled:
        setattr(survivor, field, getattr(merged, field))
    if survivor.gender == Member.Gender.UNKNOWN and merged.gender != Member.Gender.UNKNOWN:
        survivor.gender = merged.gender
        filled.append("gender")
    return filled
