"""Staff offboarding (离职继承) and on-the-job reassignment (在职转接) through WeCom.

Flow: a service records one `CustomerTransfer` per customer (pending) and reassigns members
without a WeCom relation at once; after commit a task sends the pending ones in batches of 100;
a scheduled task polls `transfer_result` until each settles. Only a *done* transfer changes the
member's owner (member_assign, reason resigned_transfer / transfer): until the customer accepts,
WeCom still has them with the handover.

WeCom's limits are data here, not exceptions to retry: 40128 (a customer may be transferred
twice per 90 days), 40099 / status 4 (takeover at their customer limit) and status 3 (the
customer refused) end the transfer as flagged, shown in the ownership review for a person to
decide. Only rate limits and transport failures are retried (celery backoff).
"""

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.errors import AppError
from members.models import Identity, IdentityKind, Member, MemberAssignment, Staff
from members.services.members import member_assign
from members.services.stores import staff_resign_in_transaction

from . import error_codes
from .client import MAX_BATCH, WecomClient, chunks
from .errors import NotResigned, WecomApiError, WecomError
from .models import CustomerTransfer, FollowRelation, WecomConfig
from .tasks import transfers_send_task

logger = logging.getLogger(__name__)

Status = CustomerTransfer.Status
Kind = CustomerTransfer.Kind
LIVE_STATUSES = (Member.Status.ACTIVE, Member.Status.FROZEN)
TRANSFER_WINDOW = dt.timedelta(days=90)
TRANSFERS_PER_WINDOW = 2
# A pending row claimed by a sender is not sent again before this lease ends (a crashed sender's
# rows are picked up by the scheduled poll afterwards).
SEND_LEASE = dt.timedelta(minutes=10)

# Per-customer errcodes of transfer_customer → the status they end in.
_ERRCODE_STATUS = {
    0: Status.WAITING,
    # Already being transferred: after a crash between WeCom's answer and our commit, our own
    # earlier send is the likely one; transfer_result settles it.
    40129: Status.WAITING,
    40100: Status.WAITING,
    40128: Status.TOO_OFTEN,
    40099: Status.OVER_LIMIT,
}
# transfer_result status → ours (2 = still waiting).
_RESULT_STATUS = {1: Status.DONE, 3: Status.REFUSED, 4: Status.OVER_LIMIT}


@dataclass(frozen=True)
class TransferPlan:
    transfers: int  # customers to transfer through WeCom
    reassigned: int  # members without a WeCom relation, reassigned directly
    flagged: int  # refused before sending (the 90-day limit by our own records)


def _invalid(message: str, field: str = "takeover") -> AppError:
    return AppError(error_codes.TRANSFER_INVALID, message, fields={field: [message]})


def _reason(kind: str) -> str:
    return MemberAssignment.Reason.RESIGNED_TRANSFER if kind == Kind.RESIGNED else MemberAssignment.Reason.TRANSFER


def _validate_takeover(handover: Staff, takeover: Staff) -> None:
    if not isinstance(takeover, Staff):
        raise _invalid("接替导购无效。")
    if takeover.pk == handover.pk:
        raise _invalid(f"接替导购不能是“{handover}”本人。")
    if takeover.status != Staff.Status.ACTIVE:
        raise _invalid(f"接替导购“{takeover}”已离职。")


def _plan_in_transaction(
    *, handover: Staff, members: list[Member], takeover_for: Mapping[int, Staff], kind: str, actor: str, message: str
) -> TransferPlan:
    """Record a transfer per customer followed by the handover; reassign the others directly."""
    ext_by_member: dict[int, list[str]] = defaultdict(list)
    for member_id, value in Identity.objects.filter(
        member__in=members, kind=IdentityKind.WECOM_EXTERNAL_USERID
    ).values_list("member_id", "value"):
        ext_by_member[member_id].append(value)
    followed = set()
    if handover.wecom_userid:
        followed = set(
            FollowRelation.objects.filter(
                staff_userid=handover.wecom_userid,
                deleted_at__isnull=True,
                external_userid__in=[ext for exts in ext_by_member.values() for ext in exts],
            ).values_list("external_userid", flat=True)
        )
    already_open = set(
        CustomerTransfer.objects.filter(external_userid__in=followed, status__in=CustomerTransfer.OPEN).values_list(
            "external_userid", flat=True
        )
    )
    since = timezone.now() - TRANSFER_WINDOW
    recent: defaultdict[str, int] = defaultdict(int)
    for ext in CustomerTransfer.objects.filter(
        external_userid__in=followed, status__in=[Status.WAITING, Status.DONE], sent_at__gte=since
    ).values_list("external_userid", flat=True):
        recent[ext] += 1
    rows: list[CustomerTransfer] = []
    reassigned = flagged = 0
    for member in members:
        takeover = takeover_for[member.pk]
        exts = [ext for ext in ext_by_member.get(member.pk, []) if ext in followed]
        if not exts:
            # No WeCom relation with the handover: nothing for WeCom to move, the portal decides.
            if member_assign_safe(member=member, staff=takeover, reason=_reason(kind), actor=actor):
                reassigned += 1
            continue
        if not takeover.wecom_userid:
            raise _invalid(f"接替导购“{takeover}”没有企业微信账号，无法接收企业微信客户。")
        for ext in exts:
            if ext in already_open:
                continue
            row = CustomerTransfer(
                member=member,
                external_userid=ext,
                handover=handover,
                takeover=takeover,
                kind=kind,
                message=message[:200],
                actor=actor,
            )
            if recent[ext] >= TRANSFERS_PER_WINDOW:
                # WeCom would answer 40128; our own records already say so. Not sent.
                row.status, row.errcode, row.settled_at = Status.TOO_OFTEN, 40128, timezone.now()
                row.detail = "90 天内已转接 2 次（本系统记录）"
                flagged += 1
            rows.append(row)
    # ignore_conflicts: a concurrent run that recorded the same customer first wins (the partial
    # unique index on open transfers), never a second transfer of one customer.
    CustomerTransfer.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return TransferPlan(transfers=len(rows) - flagged, reassigned=reassigned, flagged=flagged)


def member_assign_safe(*, member: Member, staff: Staff | None, reason: str, actor: str, note: str = "") -> bool:
    """member_assign in a savepoint; a member that cannot be assigned (merged, erased meanwhile)
    is logged, not allowed to abort the others."""
    try:
        with transaction.atomic():
            return member_assign(member=member, staff=staff, reason=reason, actor=actor, note=note) is not None
    except AppError as exc:
        logger.warning("member %s not reassigned: %s", member.pk, exc)
        return False


def staff_resign(*, staff: Staff, takeover: Staff | Mapping[int, Staff], actor: str) -> TransferPlan:
    """Mark `staff` resigned and hand all their members to `takeover` (one staff member, or a
    mapping member id → staff covering every member). Members followed by `staff` on WeCom are
    transferred through `resigned/transfer_customer` (sent after commit, in a task); the others
    are reassigned at once. The login is deactivated: a resigned employee keeps no access.
    Running it again for the same staff member picks up whatever is still theirs."""
    if not actor:
        raise _invalid("缺少操作人。", "actor")
    members = list(
        Member.objects.filter(assigned_staff=staff, status__in=LIVE_STATUSES).order_by("pk").only("pk", "member_no")
    )
    takeover_for = _takeover_map(staff, members, takeover)
    with transaction.atomic():
        locked = staff_resign_in_transaction(staff=staff)
        plan = _plan_in_transaction(
            handover=locked, members=members, takeover_for=takeover_for, kind=Kind.RESIGNED, actor=actor, message=""
        )
        _send_after_commit(locked.pk, Kind.RESIGNED)
    return plan


def members_reassign(
    *, members: Iterable[Member], takeover: Staff, actor: str, message: str | None = None
) -> TransferPlan:
    """On-the-job reassignment (在职转接) of `members` to `takeover`, grouped by current owner:
    customers followed by their owner go through `transfer_customer` (WeCom sends `message`);
    the rest, and members without an owner, are reassigned at once."""
    from .assignment import assignment_settings_get

    if not actor:
        raise _invalid("缺少操作人。", "actor")
    if takeover.status != Staff.Status.ACTIVE:
        raise _invalid(f"接替导购“{takeover}”已离职。")
    message = assignment_settings_get().transfer_message if message is None else message
    if len(message) > 200:
        raise _invalid("转接提示语不能超过 200 字。", "message")
    by_owner: dict[int | None, list[Member]] = defaultdict(list)
    for member in Member.objects.filter(pk__in=[m.pk for m in members], status__in=LIVE_STATUSES).order_by("pk"):
        if member.assigned_staff_id != takeover.pk:
            by_owner[member.assigned_staff_id].append(member)
    owners = {s.pk: s for s in Staff.objects.filter(pk__in=[pk for pk in by_owner if pk is not None])}
    totals = [0, 0, 0]
    with transaction.atomic():
        for owner_id, group in by_owner.items():
            if owner_id is None:
                totals[1] += sum(
                    member_assign_safe(member=m, staff=takeover, reason=MemberAssignment.Reason.MANUAL, actor=actor)
                    for m in group
                )
                continue
            plan = _plan_in_transaction(
                handover=owners[owner_id],
                members=group,
                takeover_for=dict.fromkeys((m.pk for m in group), takeover),
                kind=Kind.ON_JOB,
                actor=actor,
                message=message,
            )
            totals = [totals[0] + plan.transfers, totals[1] + plan.reassigned, totals[2] + plan.flagged]
            _send_after_commit(owner_id, Kind.ON_JOB)
    return TransferPlan(*totals)


def _takeover_map(staff: Staff, members: list[Member], takeover: Staff | Mapping[int, Staff]) -> dict[int, Staff]:
    if isinstance(takeover, Staff):
        _validate_takeover(staff, takeover)
        return dict.fromkeys((m.pk for m in members), takeover)
    if not isinstance(takeover, Mapping):
        raise _invalid("接替导购无效。")
    missing = [m.member_no for m in members if m.pk not in takeover]
    if missing:
        raise _invalid(f"{len(missing)} 位会员没有指定接替导购（例如 {', '.join(missing[:3])}）。")
    for candidate in {s.pk: s for s in takeover.values()}.values():
        _validate_takeover(staff, candidate)
    return {m.pk: takeover[m.pk] for m in members}


def _send_after_commit(handover_id: int, kind: str) -> None:
    from crm.celery import send_on_commit

    send_on_commit(transfers_send_task, handover_id, kind)


# --- sending -----------------------------------------------------------------------------------


def _config() -> WecomConfig | None:
    return WecomConfig.objects.first()


def _claim(ids: list[int]) -> list[int]:
    """Take the lease on pending rows; returns those this sender now owns."""
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            CustomerTransfer.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status=Status.PENDING)
            .filter(Q(sent_at__isnull=True) | Q(sent_at__lt=now - SEND_LEASE))
            .values_list("pk", flat=True)
        )
        CustomerTransfer.objects.filter(pk__in=claimed).update(sent_at=now, updated_at=now)
    return claimed


def _record_started(rows: dict[str, CustomerTransfer], results: list[dict[str, Any]]) -> None:
    now = timezone.now()
    with transaction.atomic():
        for result in results:
            row = rows.get(str(result.get("external_userid", "")))
            if row is None:
                continue
            errcode = int(result.get("errcode") or 0)
            status = _ERRCODE_STATUS.get(errcode, Status.FAILED)
            update = {"status": status, "errcode": errcode or None, "attempts": row.attempts + 1, "updated_at": now}
            if status != Status.WAITING:
                update["settled_at"] = now
            CustomerTransfer.objects.filter(pk=row.pk, status=Status.PENDING).update(**update)


def transfers_send(*, handover_id: int, kind: str) -> dict[str, int]:
    """Send the handover's pending transfers of `kind`, ≤100 customers per call. Retryable
    WeCom errors propagate (the task retries with backoff); the lease keeps a concurrent sender
    from sending the same customers meanwhile."""
    config = _config()
    if config is None:
        return {"sent": 0}
    pending = list(
        CustomerTransfer.objects.filter(handover_id=handover_id, kind=kind, status=Status.PENDING)
        .select_related("handover", "takeover")
        .order_by("takeover_id", "pk")
    )
    by_takeover: dict[int, list[CustomerTransfer]] = defaultdict(list)
    for row in pending:
        by_takeover[row.takeover_id].append(row)
    sent = 0
    with WecomClient.for_config(config) as client:
        for group in by_takeover.values():
            for batch in chunks(group, MAX_BATCH):
                claimed = set(_claim([row.pk for row in batch]))
                rows = {row.external_userid: row for row in batch if row.pk in claimed}
                if not rows:
                    continue
                first = next(iter(rows.values()))
                try:
                    if kind == Kind.RESIGNED:
                        results = client.resigned_transfer_customer(
                            handover_userid=first.handover.wecom_userid,
                            takeover_userid=first.takeover.wecom_userid,
                            external_userids=list(rows),
                        )
                    else:
                        results = client.transfer_customer(
                            handover_userid=first.handover.wecom_userid,
                            takeover_userid=first.takeover.wecom_userid,
                            external_userids=list(rows),
                            transfer_success_msg=first.message,
                        )
                except NotResigned as exc:
                    # WeCom only allows a resigned transfer once the employee was removed from the
                    # corp's directory; until then the rows wait (the poll sends them again).
                    _batch_note(rows, exc, detail="企业微信通讯录中该员工尚未离职，删除后自动重试")
                    return {"sent": sent, "not_resigned": len(rows)}
                except WecomError as exc:
                    if exc.retryable:
                        raise
                    _batch_fail(rows, exc)
                    continue
                _record_started(rows, results)
                sent += len(rows)
    return {"sent": sent}


def _batch_note(rows: dict[str, CustomerTransfer], exc: WecomError, *, detail: str) -> None:
    CustomerTransfer.objects.filter(pk__in=[r.pk for r in rows.values()], status=Status.PENDING).update(
        errcode=exc.errcode, detail=detail, sent_at=None, updated_at=timezone.now()
    )


def _batch_fail(rows: dict[str, CustomerTransfer], exc: WecomError) -> None:
    now = timezone.now()
    CustomerTransfer.objects.filter(pk__in=[r.pk for r in rows.values()], status=Status.PENDING).update(
        status=Status.FAILED,
        errcode=exc.errcode if isinstance(exc, WecomApiError) else None,
        detail=exc.errmsg[:255],
        settled_at=now,
        updated_at=now,
    )


# --- settling ----------------------------------------------------------------------------------


def transfers_poll() -> dict[str, int]:
    """The scheduled job: send pending transfers whose lease ended, then follow
    `transfer_result` (every page) for each (handover, takeover, kind) with waiting ones."""
    summary = {"done": 0, "refused": 0, "over_limit": 0, "waiting": 0, "resent": 0}
    config = _config()
    if config is None:
        return summary
    stale = timezone.now() - SEND_LEASE
    for handover_id, kind in (
        CustomerTransfer.objects.filter(status=Status.PENDING)
        .filter(Q(sent_at__isnull=True) | Q(sent_at__lt=stale))
        .order_by()  # the model's ordering would make DISTINCT per row
        .values_list("handover_id", "kind")
        .distinct()
    ):
        summary["resent"] += transfers_send(handover_id=handover_id, kind=kind).get("sent", 0)
    pairs = list(
        CustomerTransfer.objects.filter(status=Status.WAITING)
        .order_by()
        .values_list("handover_id", "takeover_id", "kind")
        .distinct()
    )
    staff = {s.pk: s for s in Staff.objects.filter(pk__in={pk for pair in pairs for pk in pair[:2]})}
    with WecomClient.for_config(config) as client:
        for handover_id, takeover_id, kind in pairs:
            handover, takeover = staff[handover_id], staff[takeover_id]
            fetch = client.resigned_transfer_result if kind == Kind.RESIGNED else client.transfer_result
            latest: dict[str, dict[str, Any]] = {}
            for row in fetch(handover_userid=handover.wecom_userid, takeover_userid=takeover.wecom_userid):
                latest[str(row.get("external_userid"))] = row  # the list is oldest first
            for transfer in CustomerTransfer.objects.filter(
                handover_id=handover_id, takeover_id=takeover_id, kind=kind, status=Status.WAITING
            ):
                result = latest.get(transfer.external_userid)
                status = _RESULT_STATUS.get(int(result.get("status") or 2)) if result else None
                if status is None or result is None:  # no result has no status: the 2nd test is for mypy
                    summary["waiting"] += 1
                    continue
                transfer_settle(transfer=transfer, status=status, takeover_time=int(result.get("takeover_time") or 0))
                summary[status] += 1
    return summary


def transfer_settle(*, transfer: CustomerTransfer, status: str, takeover_time: int = 0) -> bool:
    """Record the final status of a waiting transfer; a done one moves the member and the
    follow relation (WeCom sends no callback for changes made through the API)."""
    now = timezone.now()
    with transaction.atomic():
        row = CustomerTransfer.objects.select_for_update().select_related("member", "takeover").get(pk=transfer.pk)
        if row.status != Status.WAITING:
            return False
        row.status, row.settled_at = status, now
        fields = ["status", "settled_at", "updated_at"]
        if status == Status.DONE:
            at = dt.datetime.fromtimestamp(takeover_time, tz=dt.UTC) if takeover_time else now
            _relations_move(row, at)
            if not member_assign_safe(
                member=row.member, staff=row.takeover, reason=_reason(row.kind), actor=row.actor or "system:wecom"
            ):
                row.detail = "企业微信已转接，但会员归属未变更（接替导购已离职或会员已变更），请手动处理"
                fields.append("detail")
        row.save(update_fields=fields)
    return True


def _relations_move(row: CustomerTransfer, at: dt.datetime) -> None:
    old = FollowRelation.objects.filter(external_userid=row.external_userid, staff_userid=row.handover.wecom_userid)
    template = old.first()
    old.filter(deleted_at__isnull=True).update(
        deleted_at=at, deleted_by=FollowRelation.DeletedBy.TRANSFER, updated_at=timezone.now()
    )
    FollowRelation.objects.update_or_create(
        external_userid=row.external_userid,
        staff_userid=row.takeover.wecom_userid,
        defaults={
            "unionid": template.unionid if template else "",
            "name": template.name if template else "",
            "state": template.state if template else "",
            "added_at": at,
            "deleted_at": None,
            "deleted_by": "",
        },
    )


def transfer_fail_record_in_transaction(*, external_userid: str, takeover_userid: str, fail_reason: str) -> int:
    """A `transfer_fail` callback (UserID is the takeover): the customer refused, or the
    takeover is at their limit. Returns how many tracked transfers it ended."""
    status = Status.OVER_LIMIT if fail_reason == "customer_limit_exceed" else Status.REFUSED
    now = timezone.now()
    return CustomerTransfer.objects.filter(
        external_userid=external_userid, takeover__wecom_userid=takeover_userid, status__in=CustomerTransfer.OPEN
    ).update(status=status, detail=f"transfer_fail: {fail_reason}"[:255], settled_at=now, updated_at=now)
