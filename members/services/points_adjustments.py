"""Manual points adjustments by back-office users, with limits that hold over a brand day rather
than per request (issue 21: a store staff limited to 500 per adjustment added 5,000 points in ten
adjustments within seconds), and the approval queue for what goes past them.

Limits per role (members/roles.py), from the brand's loyalty settings (LoyaltyProgram.adjust_*):
- per adjustment: a larger |points| is refused (`points_adjust_over_limit`), as before — a guard
  against a slip of the finger, not a running total;
- per member per brand day and per user per brand day: running totals. An adjustment that would
  take either past the user's cap is NOT applied: it becomes a PointsAdjustRequest that waits for
  a brand admin, who approves it (then it is written, exactly once) or rejects it (nothing is).
A user in several groups gets the most generous limit of each kind. Brand admins (anyone with
`members.adjust_points_unlimited`) are neither limited nor counted, and neither is an approval:
the brand admin's decision is the override. A member's day total counts the adjustments of every
limited user on that member, so two store staff cannot each give one customer a full cap.

What counts is |points|, credits and debits alike: credits are the fraud risk (points from thin
air that an accomplice redeems), and debits by staff are an insider risk for the member (points
taken without the member having a say). The price: a user who takes back their own mistaken
credit the same day uses their cap twice — rare, and a brand admin approves the rest.

The day is the brand's business day (crm.tenancy.zones.brand_date), not the UTC date.

Partner API keys (members/apis.py) adjust as unlimited machine actors, as before: their limit is
the `points:write` scope a brand admin grants and the input's ±MAX_POINTS bound; a key has no role
and no user to count against, and a per-key daily cap would need a counter per key.

Concurrency: the running totals are counter rows (PointsAdjustMemberDay, PointsAdjustUserDay),
inserted when missing (ON CONFLICT DO NOTHING) and raised by one conditional UPDATE each
(`SET total = total + n WHERE total + n <= cap`) whose row count is checked — never read, compared
and written back — in the transaction that writes the ledger entry, so a rollback gives the
points back to the cap too. Both raises share one savepoint: an adjustment within the member's
cap but past the user's raises neither total.

LOCK ORDER (step 1a of members/services/points.py's):
  1.  the member row, FOR NO KEY UPDATE;
  1a. an adjustment by a limited user: the (member, day) counter row, then the (user, day) one;
      an approval: the request row (its conditional UPDATE pending → approved);
  3.  the member's lots (a debit).
Two adjustments by one user on two members queue on the user's counter row; two on one member
queue on the member row. Nothing takes a counter or a request row before its member row (a
rejection takes only the request row), so there is no cycle.
"""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.utils import timezone

from crm.approvals import request_decide, request_reject
from crm.errors import AppError
from crm.tenancy.zones import brand_date
from members import error_codes, roles
from members.models import (
    LoyaltyProgram,
    Member,
    PointsAdjustMemberDay,
    PointsAdjustRequest,
    PointsAdjustUserDay,
    PointsEntry,
)

from .points import (
    _copy_loyalty_state,
    _credit,
    _debit,
    _existing_entry,
    _require_member_usable,
    lot_expires_at,
    loyalty_program_get,
    member_lock,
)

UNLIMITED_PERMISSION = "members.adjust_points_unlimited"
APPROVE_PERMISSION = "members.approve_pointsadjustrequest"

# What a limited user is told when an adjustment is held (the admin shows it as it is).
HELD_MESSAGE = "超出每日调整额度，已提交品牌管理员审批。"


@dataclass(frozen=True)
class AdjustLimits:
    """A user's adjustment limits; None = no limit of that kind. `unlimited` users (brand admins)
    are not counted toward any day total either."""

    unlimited: bool
    per_entry: int | None
    per_member_day: int | None
    per_user_day: int | None

    @property
    def allowed(self) -> bool:
        return self.per_entry != 0


UNLIMITED = AdjustLimits(unlimited=True, per_entry=None, per_member_day=None, per_user_day=None)
NOT_ALLOWED = AdjustLimits(unlimited=False, per_entry=0, per_member_day=0, per_user_day=0)


def points_adjust_limits(*, user: User | AnonymousUser, program: LoyaltyProgram | None = None) -> AdjustLimits:
    """This user's limits under the brand's settings. A user in no role may not adjust (an
    anonymous user has no permission and no group)."""
    # The LoyaltyProgram fields of each limited role: adjust_<prefix>_per_entry, _per_member_day,
    # _per_user_day (members/roles.py).
    caps = roles.role_caps(
        user=user,
        unlimited_permission=UNLIMITED_PERMISSION,
        caps_settings=lambda: program or loyalty_program_get(),
        field="adjust",
        kinds=("per_entry", "per_member_day", "per_user_day"),
    )
    if caps is None:
        return UNLIMITED
    if not caps:
        return NOT_ALLOWED
    return AdjustLimits(
        unlimited=False,
        per_entry=caps["per_entry"],
        per_member_day=caps["per_member_day"],
        per_user_day=caps["per_user_day"],
    )


def points_adjust_limit(*, user: User | AnonymousUser) -> int | None:
    """The largest |points| this user may adjust at once; None = no such limit, 0 = not allowed."""
    return points_adjust_limits(user=user).per_entry


@dataclass(frozen=True)
class Adjustment:
    """What points_adjust did: wrote `entry`, or held the adjustment as `request` (not applied)
    for a brand admin. A retry of a held adjustment returns its request, and the entry once an
    approval wrote it."""

    entry: PointsEntry | None = None
    request: PointsAdjustRequest | None = None

    @property
    def held(self) -> bool:
        return self.entry is None


def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    actor: User,
    reference: str = "",
    now: dt.datetime | None = None,
) -> Adjustment:
    """A manual correction (+ or −) with a mandatory reason, within the actor's limits (module
    docstring); past a daily cap it is held for a brand admin instead. A negative adjustment
    cannot take the member below zero. With a `reference`, a retry returns the first outcome.
    `now` decides the brand day (tests pass it; the ledger entry keeps its own timestamp)."""
    reason = (reason or "").strip()
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise AppError(error_codes.POINTS_INVALID, "调整积分必须是非零整数。", fields={"points": ["必须是非零整数。"]})
    if not reason:
        raise AppError(error_codes.POINTS_INVALID, "人工调整积分必须填写原因。", fields={"reason": ["必填。"]})
    limits = points_adjust_limits(user=actor)
    if not limits.allowed:
        raise AppError(error_codes.POINTS_ADJUST_FORBIDDEN, "您的角色不能调整积分。", status=403)
    if limits.per_entry is not None and abs(points) > limits.per_entry:
        raise AppError(
            error_codes.POINTS_ADJUST_OVER_LIMIT,
            f"单次调整不能超过 {limits.per_entry} 积分，请联系品牌管理员。",
            fields={"points": [f"不能超过 ±{limits.per_entry}。"]},
            status=403,
        )
    now = now or timezone.now()
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)  # lock step 1
        _require_member_usable(locked, allow_frozen=False)
        existing = _existing_entry(member=locked, kind=PointsEntry.Kind.ADJUST, reference=reference)
        if existing is not None:
            return Adjustment(entry=existing)
        if not limits.unlimited:
            held = _held_already(member=locked, reference=reference)
            if held is not None:
                return held
            biz_date = brand_date(now)
            exceeded = _day_totals_raise(
                member_id=locked.pk, user_id=actor.pk, biz_date=biz_date, points=abs(points), limits=limits
            )
            if exceeded is not None:
                return Adjustment(
                    request=_request_create(
                        member=locked,
                        points=points,
                        reason=reason,
                        reference=reference,
                        actor=actor,
                        now=now,
                        biz_date=biz_date,
                        exceeded=exceeded,
                    )
                )
        entry = _adjust_write(member=locked, points=points, reason=reason, reference=reference, actor=actor)
    _copy_loyalty_state(source=locked, target=member)
    return Adjustment(entry=entry)


def _adjust_write(*, member: Member, points: int, reason: str, reference: str, actor: User) -> PointsEntry:
    """The one path that writes a manual adjustment on a locked member, direct or approved: a
    credit (a lot under the brand's expiry policy) or a debit that cannot go below zero."""
    actor_name = actor.get_username()
    if points > 0:
        return _credit(
            member=member,
            kind=PointsEntry.Kind.ADJUST,
            points=points,
            reason=reason,
            reference=reference,
            actor=actor_name,
            expires_at=lot_expires_at(program=loyalty_program_get(), earned_at=timezone.now()),
        )
    return _debit(
        member=member,
        kind=PointsEntry.Kind.ADJUST,
        points=-points,
        reason=reason,
        reference=reference,
        actor=actor_name,
    )


def _held_already(*, member: Member, reference: str) -> Adjustment | None:
    """A retry of an adjustment that was held: its request, and its entry once approved."""
    if not reference:
        return None
    request = PointsAdjustRequest.objects.filter(member=member, reference=reference).first()
    if request is None:
        return None
    entry = _existing_entry(member=member, kind=PointsEntry.Kind.ADJUST, reference=_request_reference(request))
    return Adjustment(entry=entry, request=request)


class _OverCap(Exception):
    def __init__(self, exceeded: str) -> None:
        self.exceeded = exceeded


def _day_totals_raise(
    *, member_id: int, user_id: int, biz_date: dt.date, points: int, limits: AdjustLimits
) -> str | None:
    """Raise the member's and the user's totals for `biz_date` by `points` if both stay within
    the user's caps, and return None; else raise neither and return which cap it would pass
    (PointsAdjustRequest.Exceeded). Lock step 1a, in its order: the member's row, then the user's."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: both rise or neither
            if not _total_raise(
                cursor,
                table=PointsAdjustMemberDay._meta.db_table,
                column="member_id",
                key=member_id,
                biz_date=biz_date,
                points=points,
                cap=limits.per_member_day,
            ):
                raise _OverCap(PointsAdjustRequest.Exceeded.MEMBER_DAY)
            if not _total_raise(
                cursor,
                table=PointsAdjustUserDay._meta.db_table,
                column="user_id",
                key=user_id,
                biz_date=biz_date,
                points=points,
                cap=limits.per_user_day,
            ):
                raise _OverCap(PointsAdjustRequest.Exceeded.USER_DAY)
    except _OverCap as over:
        return over.exceeded
    return None


def _total_raise(
    cursor: Any, *, table: str, column: str, key: int, biz_date: dt.date, points: int, cap: int | None
) -> bool:
    """One counter row: made if missing (so the UPDATE always has a row to check), then raised by
    `points` only where the new total stays within `cap` (None = no cap, the total still counts).
    The row count says whether it did: concurrent raises queue on the row and each re-checks the
    condition against the total the one before it committed."""
    cursor.execute(
        f"INSERT INTO {table} ({column}, biz_date, total) VALUES (%s, %s, 0)"
        f" ON CONFLICT ({column}, biz_date) DO NOTHING",
        [key, biz_date],
    )
    within = "" if cap is None else " AND total + %s <= %s"
    cursor.execute(
        f"UPDATE {table} SET total = total + %s WHERE {column} = %s AND biz_date = %s{within}",
        [points, key, biz_date, *([] if cap is None else [points, cap])],
    )
    return cursor.rowcount == 1


def _request_create(
    *,
    member: Member,
    points: int,
    reason: str,
    reference: str,
    actor: User,
    now: dt.datetime,
    biz_date: dt.date,
    exceeded: str,
) -> PointsAdjustRequest:
    # A debit the member cannot cover now is refused now, not handed to a brand admin to find out;
    # the approval checks the lots again (the balance may have moved meanwhile).
    if points < 0 and -points > member.points_balance:
        raise AppError(
            error_codes.POINTS_INSUFFICIENT,
            f"积分不足：需要 {-points}，可用 {member.points_balance}。",
            extra={"available": member.points_balance, "required": -points},
        )
    return PointsAdjustRequest.objects.create(
        member=member,
        points=points,
        reason=reason,
        reference=reference,
        requested_by=actor,
        requested_at=now,
        biz_date=biz_date,
        exceeded=exceeded,
    )


# --- the approval queue -------------------------------------------------------------------------


def _request_reference(request: PointsAdjustRequest) -> str:
    """The ledger reference of an approved request's entry: what makes approving it twice write
    one entry (points_entry_reference_unique)."""
    return f"adjust-request:{request.pk}"


def _require_approver(actor: User, request: PointsAdjustRequest) -> None:
    if not actor.has_perm(APPROVE_PERMISSION):
        raise AppError(error_codes.POINTS_ADJUST_APPROVAL_FORBIDDEN, "只有品牌管理员可以审批积分调整申请。", status=403)
    if actor.pk == request.requested_by_id:
        raise AppError(error_codes.POINTS_ADJUST_APPROVAL_FORBIDDEN, "不能审批自己提交的积分调整申请。", status=403)


def points_adjust_request_approve(
    *, adjust_request: PointsAdjustRequest, actor: User, note: str = "", now: dt.datetime | None = None
) -> PointsEntry:
    """Apply a held adjustment as the brand admin `actor`, through the same path as an unlimited
    adjustment, with the ledger reference `adjust-request:<id>`; the request records who approved
    it and when. Exactly once: the request goes pending → approved in a conditional UPDATE whose
    row count is checked, under the member's lock, so a second approval (a double click, two
    admins at once) writes nothing and returns the first one's entry. If the adjustment cannot
    be applied now (the member was frozen, or no longer has the points), nothing changes and the
    request still waits."""
    _require_approver(actor, adjust_request)
    now = now or timezone.now()
    reference = _request_reference(adjust_request)
    with transaction.atomic():
        locked = member_lock(member_id=adjust_request.member_id)  # lock step 1
        decided = request_decide(  # lock step 1a
            PointsAdjustRequest,
            pk=adjust_request.pk,
            status=PointsAdjustRequest.Status.APPROVED,
            actor=actor,
            now=now,
            why=note,
        )
        if decided != 1:
            current = PointsAdjustRequest.objects.get(pk=adjust_request.pk)
            entry = _existing_entry(member=locked, kind=PointsEntry.Kind.ADJUST, reference=reference)
            if current.status == PointsAdjustRequest.Status.APPROVED and entry is not None:
                _decision_copy(source=current, target=adjust_request)
                return entry
            raise AppError(
                error_codes.POINTS_ADJUST_REQUEST_DECIDED,
                f"申请 #{adjust_request.pk} 已被驳回，不能再批准。",
                status=409,
            )
        _require_member_usable(locked, allow_frozen=False)
        entry = _adjust_write(
            member=locked, points=adjust_request.points, reason=adjust_request.reason, reference=reference, actor=actor
        )
    adjust_request.refresh_from_db(fields=["status", "decided_by", "decided_at", "decision_reason", "updated_at"])
    return entry


def points_adjust_request_reject(
    *, adjust_request: PointsAdjustRequest, actor: User, reason: str, now: dt.datetime | None = None
) -> PointsAdjustRequest:
    """Refuse a held adjustment with a reason: nothing is written to the ledger, and the request
    records who rejected it, when and why. Rejecting again returns the request as it is; a
    request approved meanwhile cannot be rejected (its points were adjusted)."""
    _require_approver(actor, adjust_request)
    # Only the request row is locked (lock step 1a without a member: nothing else is written).
    current = request_reject(
        PointsAdjustRequest,
        pk=adjust_request.pk,
        actor=actor,
        reason=reason,
        now=now or timezone.now(),
        reason_missing=lambda: AppError(
            error_codes.POINTS_INVALID, "驳回必须填写原因。", fields={"reason": ["必填。"]}
        ),
        decided_otherwise=lambda current: AppError(
            error_codes.POINTS_ADJUST_REQUEST_DECIDED,
            f"申请 #{current.pk} 已批准，积分已调整，不能再驳回。",
            status=409,
        ),
    )
    _decision_copy(source=current, target=adjust_request)
    return current


def _decision_copy(*, source: PointsAdjustRequest, target: PointsAdjustRequest) -> None:
    """Keep the caller's instance current after the service decided the row."""
    for field in ("status", "decided_by_id", "decided_at", "decision_reason", "updated_at"):
        setattr(target, field, getattr(source, field))
