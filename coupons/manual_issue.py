"""Manual coupon issuing by back-office users, with limits that hold over a brand day rather than
per request (issue 21, "the same idea for manual coupon issuing"): a store clerk who may hand out
one coupon at a time must not hand out fifty by submitting fifty times. The points version is
members/services/points_adjustments.py; this follows it.

Limits per role (members/roles.py), from the brand's CouponSettings.issue_*:
- per member per brand day: how many coupons limited users issued by hand to one member, all of
  them together (two clerks cannot each give one customer a full cap);
- per user per brand day: how many coupons one user issued by hand.
An issue that would take either past the user's cap is NOT applied, for any of its members: it
becomes a CouponIssueRequest that waits for a brand admin, who approves it (then it is issued,
exactly once) or rejects it (nothing is). A user in several groups gets the most generous cap of
each kind; 0 per user = the role may not issue by hand. Brand admins (anyone with
`coupons.approve_couponissuerequest`, or in the 品牌管理员 group) are neither limited nor counted,
and neither is an approval. What counts is coupons issued *now*: a member who holds this batch
already, is frozen, or is over the template's per-member limit or out of its stock is given back
to the totals in the same transaction.

Issuing itself is coupons.services.coupons_issue_bulk (set-based, idempotent per batch); this
module only adds the caps and the queue around it.

A held request reserves the template's stock for its members (CouponTemplate.stock_reserved,
CouponIssueRequest.reserved) in the transaction that holds it, by a conditional UPDATE of the
template (`stock_left >= n`) whose row count is checked: what a brand admin approves is never
found sold out meanwhile, and nobody else is promised those coupons. Not enough stock left: the
request is not held (nothing changes, the message says how many are left). The reservation goes
back to stock_left when the request is approved (in the issuing transaction, right before the
issue, which takes what it needs), rejected, or expires (CouponSettings.issue_request_days, the
beat's coupons-expire job).

Concurrency: the running totals are counter rows (CouponIssueMemberDay, CouponIssueUserDay),
inserted when missing (ON CONFLICT DO NOTHING) and raised by conditional UPDATEs whose row counts
are checked — never read, compared and written back — in the transaction that issues, so a
rollback gives the coupons back to the caps too.

LOCK ORDER (before coupons/services.py's step 1, the template row):
  0a. the members' (member, day) counter rows, ascending member id (SELECT … ORDER BY … FOR UPDATE);
  0b. the user's (user, day) counter row;
  0c. an approval, rejection or expiry: the request row (its conditional UPDATE pending → decided);
then coupons' step 1, the template row: a hold's reservation, a decision's release.
Only manual issues take counter rows, always before the template, so they meet other issues only
on the template row, in coupons' own order.
"""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.approvals import request_decide, request_reject
from crm.db import connection
from crm.tenancy.zones import brand_date
from members import roles
from members.hooks import MemberPageAsk, MemberPageTool

from . import error_codes, rules
from .error_codes import coupon_error
from .models import (
    Coupon,
    CouponIssueMemberDay,
    CouponIssueRequest,
    CouponIssueUserDay,
    CouponSettings,
    CouponTemplate,
)
from .services import IssueResult, coupons_issue_bulk

APPROVE_PERMISSION = "coupons.approve_couponissuerequest"
HELD_MESSAGE = "超出每日发券额度，已提交品牌管理员审批，批准后才会发放。"

_MEMBER_DAY = CouponIssueMemberDay._meta.db_table
_USER_DAY = CouponIssueUserDay._meta.db_table
_COUPON = Coupon._meta.db_table
_TEMPLATE = CouponTemplate._meta.db_table
_REQUEST = CouponIssueRequest._meta.db_table


def coupon_settings_get() -> CouponSettings:
    """The brand's coupon settings (made with the defaults on first use)."""
    found, _ = CouponSettings.objects.get_or_create(singleton=True)
    return found


@dataclass(frozen=True)
class IssueLimits:
    """A user's caps (coupons per brand day); None = no cap of that kind. `unlimited` users are
    not counted toward any total either."""

    unlimited: bool
    per_member_day: int | None
    per_user_day: int | None

    @property
    def allowed(self) -> bool:
        return self.per_user_day != 0


UNLIMITED = IssueLimits(unlimited=True, per_member_day=None, per_user_day=None)
NOT_ALLOWED = IssueLimits(unlimited=False, per_member_day=0, per_user_day=0)


def coupon_issue_limits(*, user: User | AnonymousUser, settings: CouponSettings | None = None) -> IssueLimits:
    """This user's caps under the brand's settings. A user in none of the limited roles may not
    issue by hand (an anonymous user has no group)."""
    caps = roles.role_caps(
        user=user,  # brand admins (coupons.*, so the approval permission) and superusers: unlimited
        unlimited_permission=APPROVE_PERMISSION,
        caps_settings=lambda: settings or coupon_settings_get(),
        field="issue",
        kinds=("per_member_day", "per_user_day"),
    )
    if caps is None:
        return UNLIMITED
    if not caps:
        return NOT_ALLOWED
    return IssueLimits(unlimited=False, per_member_day=caps["per_member_day"], per_user_day=caps["per_user_day"])


@dataclass(frozen=True)
class ManualIssue:
    """What coupons_issue_manual did: issued (`result`), or held the whole issue as `request`."""

    result: IssueResult | None = None
    request: CouponIssueRequest | None = None

    @property
    def held(self) -> bool:
        return self.request is not None and self.result is None


def coupons_issue_manual(
    *,
    template_id: int,
    member_ids: list[int],
    batch: str,
    user: User,
    staff_id: int | None = None,
    now: dt.datetime | None = None,
) -> ManualIssue:
    """Issue one coupon of the template to each member (ids, already limited to the user's store
    scope by the caller) under the batch key `admin:<batch>`, within the user's daily caps; past
    either cap the whole issue is held for a brand admin instead (module docstring). A resubmit
    of the batch issues nobody twice and finds its held request. `staff_id`: the staff member
    sending them (staff performance counts a touch), kept on a held request for its approval."""
    limits = coupon_issue_limits(user=user)
    if not limits.allowed:
        raise coupon_error(error_codes.ISSUE_FORBIDDEN)
    source_key = f"admin:{batch}"
    ids = sorted({int(pk) for pk in member_ids})
    now = now or timezone.now()
    actor = user.get_username()

    def issue(members: list[int]) -> IssueResult:
        return coupons_issue_bulk(
            template_id=template_id,
            members=("SELECT unnest(%s::bigint[])", [members]),
            source=Coupon.Source.ADMIN,
            source_key=source_key,
            actor=actor,
            now=now,
            staff_id=staff_id,
        )

    if limits.unlimited or not ids:
        return ManualIssue(result=issue(ids))
    for attempt in (1, 2):
        try:
            return _issue_within_caps(
                template_id=template_id,
                ids=ids,
                source_key=source_key,
                user=user,
                limits=limits,
                now=now,
                issue=issue,
                staff_id=staff_id,
            )
        except _SameBatchRaced:
            # Two submits of one batch held at once: the other's request committed first (the
            # unique (template, batch) refused this one, whose transaction rolled back whole).
            # The second attempt finds it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class _SameBatchRaced(Exception):
    pass


def _issue_within_caps(
    *,
    template_id: int,
    ids: list[int],
    source_key: str,
    user: User,
    limits: IssueLimits,
    now: dt.datetime,
    issue: Any,
    staff_id: int | None,
) -> ManualIssue:
    with transaction.atomic(), connection.cursor() as cursor:
        waiting = CouponIssueRequest.objects.filter(template_id=template_id, source_key=source_key).first()
        if waiting is not None:
            if sorted(waiting.member_ids) != ids:
                raise coupon_error(
                    error_codes.ISSUE_CONFLICT,
                    f"批次号已用于申请 #{waiting.pk}（{waiting.get_status_display()}），请换一个批次号。",
                    fields={"batch": ["该批次号已有发券申请，请换一个。"]},
                )
            return ManualIssue(request=waiting)
        # Members who hold this batch already are a resubmit: they are neither counted nor held.
        cursor.execute(
            f"SELECT member_id FROM {_COUPON} WHERE template_id = %s AND source_key = %s AND member_id = ANY(%s)",
            [template_id, source_key, ids],
        )
        held_already = {row[0] for row in cursor.fetchall()}
        counted = [pk for pk in ids if pk not in held_already]
        if not counted:
            return ManualIssue(result=issue(ids))
        biz_date = brand_date(now)
        exceeded = _totals_raise(cursor, member_ids=counted, user_id=user.pk, biz_date=biz_date, limits=limits)
        if exceeded is not None:
            reserved = _stock_reserve(
                cursor, template_id=template_id, count=len(counted), now=now, source_key=source_key
            )
            try:
                with transaction.atomic():
                    request = CouponIssueRequest.objects.create(
                        template_id=template_id,
                        member_ids=counted,
                        members_count=len(counted),
                        source_key=source_key,
                        requested_by=user,
                        requested_at=now,
                        biz_date=biz_date,
                        exceeded=exceeded,
                        staff_id=staff_id,
                        reserved=reserved,
                    )
            except IntegrityError as raced:
                raise _SameBatchRaced from raced
            return ManualIssue(request=request)
        result = issue(ids)
        _totals_give_back(cursor, counted=counted, template_id=template_id, source_key=source_key, now=now)
        cursor.execute(
            f"UPDATE {_USER_DAY} SET total = total - %s WHERE user_id = %s AND biz_date = %s",
            [len(counted) - result.issued_now, user.pk, biz_date],
        )
        return ManualIssue(result=result)


def _stock_reserve(cursor: Any, *, template_id: int, count: int, now: dt.datetime, source_key: str) -> int:
    """Hold `count` of the template's stock for a request about to wait for approval (lock step 1,
    after the counters): moved from stock_left to stock_reserved by a conditional UPDATE whose row
    count is checked. Returns how many were reserved (0 for unlimited stock). A template that could
    not issue now (stopped, validity over) or has too little stock left refuses the request: the
    caller's transaction rolls back, nothing is held or counted."""
    template = CouponTemplate.objects.select_for_update().get(pk=template_id)  # lock step 1
    if CouponIssueRequest.objects.filter(template_id=template_id, source_key=source_key).exists():
        # The same batch held by a submit that committed while this one waited for the template
        # (a double click): it is that request, whatever stock is left now.
        raise _SameBatchRaced
    if not template.is_active:
        raise coupon_error(error_codes.TEMPLATE_INACTIVE, "未提交审批。")
    valid_from, valid_until = rules.window(template, issued_at=now)
    if valid_until < now or valid_from > valid_until:
        raise coupon_error(error_codes.ISSUE_INVALID, "该券的有效期已结束，不能再发放，未提交审批。")
    if template.stock_left is None:
        return 0
    cursor.execute(
        f"UPDATE {_TEMPLATE} SET stock_left = stock_left - %s, stock_reserved = stock_reserved + %s"
        " WHERE id = %s AND stock_left >= %s",
        [count, count, template_id, count],
    )
    if cursor.rowcount != 1:
        raise coupon_error(
            error_codes.OUT_OF_STOCK,
            f"剩余 {template.stock_left:,} 张，本次申请 {count:,} 张，未提交审批。",
            fields={"member_numbers": [f"库存仅剩 {template.stock_left:,} 张。"]},
        )
    return count


def _stock_release(cursor: Any, *, template_id: int, reserved: int) -> None:
    """Give a decided (or expired) request's reservation back to stock_left (lock step 1; the
    request row was decided first by its conditional UPDATE, so this runs once per request)."""
    if reserved:
        cursor.execute(
            f"UPDATE {_TEMPLATE} SET stock_left = stock_left + %s, stock_reserved = stock_reserved - %s"
            " WHERE id = %s AND stock_reserved >= %s",
            [reserved, reserved, template_id, reserved],
        )
        if cursor.rowcount != 1:  # the audit's invariant broken: refuse rather than make stock
            raise coupon_error(error_codes.ISSUE_INVALID, "预留库存与申请不符，请联系技术支持。")


class _OverCap(Exception):
    def __init__(self, exceeded: str) -> None:
        self.exceeded = exceeded


def _totals_raise(
    cursor: Any, *, member_ids: list[int], user_id: int, biz_date: dt.date, limits: IssueLimits
) -> str | None:
    """Raise each member's total by one and the user's by len(member_ids) if every one stays
    within the caps, and return None; else raise none and return which cap would be passed. Lock
    steps 0a then 0b."""
    try:
        with transaction.atomic():  # a savepoint: all rise or none
            cursor.execute(
                f"INSERT INTO {_MEMBER_DAY} (member_id, biz_date, total) SELECT unnest(%s::bigint[]), %s, 0"
                " ON CONFLICT (member_id, biz_date) DO NOTHING",
                [member_ids, biz_date],
            )
            cursor.execute(
                f"SELECT id FROM {_MEMBER_DAY} WHERE biz_date = %s AND member_id = ANY(%s)"
                " ORDER BY member_id FOR UPDATE",
                [biz_date, member_ids],
            )
            within = "" if limits.per_member_day is None else " AND total + 1 <= %s"
            cursor.execute(
                f"UPDATE {_MEMBER_DAY} SET total = total + 1 WHERE biz_date = %s AND member_id = ANY(%s){within}",
                [biz_date, member_ids, *([] if limits.per_member_day is None else [limits.per_member_day])],
            )
            if cursor.rowcount != len(member_ids):
                raise _OverCap(CouponIssueRequest.Exceeded.MEMBER_DAY)
            cursor.execute(
                f"INSERT INTO {_USER_DAY} (user_id, biz_date, total) VALUES (%s, %s, 0)"
                " ON CONFLICT (user_id, biz_date) DO NOTHING",
                [user_id, biz_date],
            )
            n = len(member_ids)
            within = "" if limits.per_user_day is None else " AND total + %s <= %s"
            cursor.execute(
                f"UPDATE {_USER_DAY} SET total = total + %s WHERE user_id = %s AND biz_date = %s{within}",
                [n, user_id, biz_date, *([] if limits.per_user_day is None else [n, limits.per_user_day])],
            )
            if cursor.rowcount != 1:
                raise _OverCap(CouponIssueRequest.Exceeded.USER_DAY)
    except _OverCap as over:
        return over.exceeded
    return None


def _totals_give_back(cursor: Any, *, counted: list[int], template_id: int, source_key: str, now: dt.datetime) -> None:
    """The members counted who got no coupon now (frozen, over the template's limit, out of
    stock) go back to their day totals (rows locked by this transaction since step 0a)."""
    cursor.execute(
        f"""
        UPDATE {_MEMBER_DAY} d SET total = total - 1
        WHERE d.biz_date = %s AND d.member_id = ANY(%s) AND NOT EXISTS (
            SELECT 1 FROM {_COUPON} c
            WHERE c.template_id = %s AND c.source_key = %s AND c.member_id = d.member_id AND c.issued_at = %s
        )
        """,
        [brand_date(now), counted, template_id, source_key, now],
    )


# --- the approval queue -------------------------------------------------------------------------


def _require_approver(actor: User, request: CouponIssueRequest) -> None:
    if not coupon_issue_limits(user=actor).unlimited or actor.pk == request.requested_by_id:
        raise coupon_error(error_codes.ISSUE_APPROVAL_FORBIDDEN)


def _result_words(result: IssueResult, *, asked: int) -> str:
    return (
        f"发放 {result.issued_now} 张；此前已发 {result.already} 张；超出每人限领 {result.over_limit} 人；"
        f"库存不足 {result.out_of_stock} 人；冻结/合并/删除的会员 {asked - result.eligible} 人。"
    )


def _decide(issue_request: CouponIssueRequest, status: str, *, actor: User, now: dt.datetime, why: str) -> int:
    """pending → `status`, conditionally (lock step 0c; crm.approvals)."""
    return request_decide(CouponIssueRequest, pk=issue_request.pk, status=status, actor=actor, now=now, why=why)


def coupon_issue_request_approve(
    *, issue_request: CouponIssueRequest, actor: User, note: str = "", now: dt.datetime | None = None
) -> CouponIssueRequest:
    """Issue a held request's coupons as its requester asked (batch key and members), recording
    who approved it and when. Exactly once: pending → approved is a conditional UPDATE whose row
    count is checked, in the transaction that issues, so a second approval (a double click, two
    admins at once) issues nothing and returns the request as the first one left it; the batch
    key makes the issue itself idempotent too. A refusal of the issue (template stopped, validity
    ended) changes nothing: the request still waits."""
    _require_approver(actor, issue_request)
    now = now or timezone.now()
    with transaction.atomic():
        decided = _decide(issue_request, CouponIssueRequest.Status.APPROVED, actor=actor, now=now, why=note)
        if decided != 1:
            current = CouponIssueRequest.objects.get(pk=issue_request.pk)
            if current.status == CouponIssueRequest.Status.APPROVED:
                return current
            raise coupon_error(
                error_codes.ISSUE_REQUEST_DECIDED,
                f"申请 #{issue_request.pk} {current.get_status_display()}，不能再批准。",
            )
        reserved = CouponIssueRequest.objects.values_list("reserved", flat=True).get(pk=issue_request.pk)
        with connection.cursor() as cursor:
            # The reserved stock back to stock_left, for this issue to take at once: the template
            # row stays locked by this transaction until the issue commits (or all rolls back).
            _stock_release(cursor, template_id=issue_request.template_id, reserved=reserved)
        result = coupons_issue_bulk(
            template_id=issue_request.template_id,
            members=("SELECT unnest(%s::bigint[])", [list(issue_request.member_ids)]),
            source=Coupon.Source.ADMIN,
            source_key=issue_request.source_key,
            actor=issue_request.requested_by.get_username(),
            now=now,
            staff_id=issue_request.staff_id,
        )
        CouponIssueRequest.objects.filter(pk=issue_request.pk).update(
            issued=result.issued_now, result=_result_words(result, asked=len(issue_request.member_ids))[:255]
        )
    return CouponIssueRequest.objects.get(pk=issue_request.pk)


def coupon_issue_request_reject(
    *, issue_request: CouponIssueRequest, actor: User, reason: str, now: dt.datetime | None = None
) -> CouponIssueRequest:
    """Refuse a held request with a reason: nothing is issued; the request records who, when and
    why. Rejecting again returns it as it is; an approved request cannot be rejected."""
    _require_approver(actor, issue_request)

    def stock_release(current: CouponIssueRequest) -> None:
        with connection.cursor() as cursor:
            _stock_release(cursor, template_id=current.template_id, reserved=current.reserved)

    return request_reject(
        CouponIssueRequest,
        pk=issue_request.pk,
        actor=actor,
        reason=reason,
        now=now or timezone.now(),
        reason_missing=lambda: coupon_error(
            error_codes.ISSUE_INVALID, "驳回必须填写原因。", fields={"reason": ["必填。"]}
        ),
        decided_otherwise=lambda current: coupon_error(
            error_codes.ISSUE_REQUEST_DECIDED, f"申请 #{current.pk} {current.get_status_display()}，不能再驳回。"
        ),
        on_rejected=stock_release,
    )


def coupon_issue_requests_expire(*, now: dt.datetime | None = None) -> int:
    """Pending requests nobody decided within the brand's `issue_request_days`, or whose
    template's validity has ended (it could not be issued any more) → EXPIRED, their reserved
    stock given back; one statement, set-based. An approval racing with it: whichever's
    conditional UPDATE of the request row comes first wins, the other finds it decided."""
    now = now or timezone.now()
    days = coupon_settings_get().issue_request_days
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH due AS (
                UPDATE {_REQUEST} r SET status = 'expired', decided_at = %(now)s, updated_at = %(now)s,
                    decision_reason = %(why)s
                WHERE r.status = 'pending' AND (
                    r.requested_at < %(cutoff)s
                    OR r.template_id IN (SELECT id FROM {_TEMPLATE} WHERE valid_until_date < %(today)s)
                )
                RETURNING r.template_id, r.reserved
            ),
            per_template AS (
                SELECT template_id, sum(reserved) AS reserved, count(*) AS n FROM due GROUP BY template_id
            ),
            released AS (
                UPDATE {_TEMPLATE} t SET stock_left = t.stock_left + p.reserved,
                    stock_reserved = t.stock_reserved - p.reserved
                FROM per_template p WHERE t.id = p.template_id AND p.reserved > 0
            )
            SELECT coalesce(sum(n), 0) FROM per_template
            """,
            {
                "now": now,
                "cutoff": now - dt.timedelta(days=days),
                "today": brand_date(now),
                "why": f"超过 {days} 天未审批或券已过有效期，已自动过期，预留库存已退回。",
            },
        )
        return int(cursor.fetchone()[0])


# --- one member, from the member's page (workbench 360°, the admin member page) ---------------------


def coupon_templates_issuable(*, now: dt.datetime | None = None) -> list[CouponTemplate]:
    """The templates a person may hand out now, for a member page's 发券 picker: active, not past
    their end date, with stock left (or unlimited), by name. The issue checks all of it again."""
    today = brand_date(now or timezone.now())
    return list(
        CouponTemplate.objects.filter(is_active=True)
        .exclude(valid_until_date__lt=today)
        .exclude(stock_left__lte=0)
        .order_by("name", "id")
    )


def coupon_issue_outcome_words(outcome: ManualIssue, *, template: CouponTemplate, member_no: str) -> tuple[str, str]:
    """(level, words) of a manual issue to one member, for the page's message: level is
    "success", "warning" or "error" (django.contrib.messages' names)."""
    name = f"「{template.name}」"
    if outcome.request is not None and outcome.result is None:
        request = outcome.request
        if request.status != CouponIssueRequest.Status.PENDING:
            return "warning", f"本次发券已提交过申请 #{request.pk}（{request.get_status_display()}），未再次提交。"
        reserved = f"，已为其预留 {request.reserved} 张库存" if request.reserved else ""
        return "warning", f"{HELD_MESSAGE} 申请 #{request.pk}：{name}发给会员 {member_no}{reserved}。"
    result = outcome.result
    assert result is not None
    if result.issued_now:
        return "success", f"已发放{name}给会员 {member_no}。"
    if result.already:
        return "warning", f"会员 {member_no} 已领取本次发放的{name}（重复提交，未再次发放）。"
    if result.over_limit:
        return "error", f"会员 {member_no} 已达到{name}的每人限领数量，未发放。"
    if result.out_of_stock:
        return "error", f"{name}库存不足，未发放。"
    return "error", f"会员 {member_no} 已冻结、合并或删除，未发放。"


def coupon_issue_allowed(*, user: User | AnonymousUser) -> bool:
    """Whether the user may issue coupons by hand at all (the permission and a cap above 0)."""
    return user.has_perm("coupons.add_coupon") and coupon_issue_limits(user=user).allowed


def coupon_template_choice_words(template: CouponTemplate) -> str:
    """A template in a 发券 picker: name, benefit, stock left."""
    left = "不限库存" if template.stock_left is None else f"剩余 {template.stock_left:,} 张"
    return f"{template.name}（{rules.benefit_words(template)}，{left}）"


def coupon_member_page_tool(ask: MemberPageAsk) -> MemberPageTool | None:
    """members.hooks.member_page_tools: the admin member page's 发券 button, for users who may."""
    if not coupon_issue_allowed(user=ask.user):
        return None
    link = reverse("admin:coupons_coupontemplate_issue_member", args=[ask.member_id])
    return MemberPageTool(title="发券", link=link, icon="local_activity")
