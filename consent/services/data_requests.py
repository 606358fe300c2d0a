"""Data-subject requests (PIPL arts. 44-47, 50): access/copy, correction, deletion.

Requests are queued with a due date and an append-only audit trail; refusing one needs a reason
(art. 50: the processor must explain a refusal). Completing a deletion erases the member.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from crm.errors import AppError, NotFound
from members.models import (
    Identity,
    Member,
    MemberAssignment,
    MemberTag,
    Order,
    PointsEntry,
    Redemption,
    TierChange,
)
from members.phones import mobile_normalize_or_none

from .. import error_codes
from ..hooks import ConsentRevoked, consent_revoked_notify_in_transaction, erase_notify_in_transaction
from ..models import ConsentRecord, DataRequest, DataRequestEvent, Purpose
from ..types import ConsentEvidence
from .records import _member_lock, _withdraw_records

# DOMAIN.md: requests are due 15 days after they are received (stricter than the 30 days of
# GB/T 35273-2020 §8.7, which a brand may still choose by changing this default).
DATA_REQUEST_DUE_DAYS = 15
CORRECTABLE_FIELDS = ("name", "gender", "birthday")


def _changes_validate(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Correction input → clean values. Mobile numbers are identities (OneID) and are changed
    through the members app's identity binding, not here."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if not changes:
        errors["requested_changes"] = ["请填写需要更正的内容。"]
    for field, value in changes.items():
        if field not in CORRECTABLE_FIELDS:
            errors[field] = ["该项不能通过更正申请修改（手机号请通过会员资料换绑）。"]
        elif field == "name":
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > 50:
                errors[field] = ["姓名需为 1-50 个字符。"]
            else:
                clean[field] = value.strip()
        elif field == "gender":
            if value not in Member.Gender.values:
                errors[field] = ["性别无效。"]
            else:
                clean[field] = value
        elif field == "birthday":
            try:
                day = dt.date.fromisoformat(str(value))
            except ValueError:
                errors[field] = ["生日格式应为 YYYY-MM-DD。"]
            else:
                if day > timezone.localdate():
                    errors[field] = ["生日不能晚于今天。"]
                clean[field] = day.isoformat()
    if errors:
        raise AppError(error_codes.DATA_REQUEST_INVALID, "更正内容有误。", fields=errors)
    return clean


# The events that make an actor one of a request's requesters (they may follow it up).
REQUESTER_ACTIONS = ("created", "joined")


def _event(request: DataRequest, action: str, actor: str, **detail: Any) -> None:
    DataRequestEvent.objects.create(request=request, action=action, actor=actor, detail=detail)


def data_request_create(**kwargs: Any) -> DataRequest:
    """`data_request_submit` (same arguments) for callers that do not care whether the request is new."""
    request, _ = data_request_submit(**kwargs)
    return request


def data_request_submit(
    *,
    member_id: int,
    kind: str,
    channel: str,
    actor: str,
    note: str = "",
    requested_changes: Mapping[str, Any] | None = None,
    source_nonce: str = "",
) -> tuple[DataRequest, bool]:
    """Queue a request, due in 15 days. Asking again while a request of the same kind is pending
    returns that request (a member tapping twice, a retried call, a replayed link); a different
    requester asking meanwhile joins it (a `joined` event) rather than queuing a duplicate.
    Returns the request and whether this call queued it."""
    if kind not in DataRequest.Kind.values:
        raise AppError(error_codes.DATA_REQUEST_INVALID, f"未知的申请类型：{kind}", fields={"kind": [kind]})
    if channel not in DataRequest.Channel.values:
        raise AppError(error_codes.DATA_REQUEST_INVALID, f"未知的申请来源：{channel}", fields={"channel": [channel]})
    changes = _changes_validate(requested_changes or {}) if kind == DataRequest.Kind.CORRECTION else {}
    with transaction.atomic():
        member = _member_lock(member_id)
        if member.status == Member.Status.ERASED:
            raise AppError(error_codes.MEMBER_ERASED, "该会员的个人信息已删除。")
        if source_nonce:
            replay = DataRequest.objects.filter(member=member, kind=kind, source_nonce=source_nonce).first()
            if replay is not None:
                return replay, False
        if kind != DataRequest.Kind.CORRECTION:
            pending = DataRequest.objects.filter(member=member, kind=kind, status=DataRequest.Status.PENDING).first()
            if pending is not None:
                # Someone else (the member on their page, another partner, staff) asked first: this
                # requester joins that request, on the record, so it may follow it up too.
                if not pending.events.filter(action__in=REQUESTER_ACTIONS, actor=actor).exists():
                    _event(pending, "joined", actor, channel=channel, note=note.strip())
                return pending, False
        # The member lock above serialises concurrent requests for this member, so the replay
        # and pending checks already saw any competing row: a plain create is race-free.
        now = timezone.now()
        request = DataRequest.objects.create(
            member=member,
            kind=kind,
            channel=channel,
            due_at=now + dt.timedelta(days=DATA_REQUEST_DUE_DAYS),
            note=note.strip(),
            requested_changes=changes,
            source_nonce=source_nonce,
        )
        _event(request, "created", actor, channel=channel, note=request.note, requested_changes=changes)
    return request, True


def _request_lock(request_id: int) -> DataRequest:
    """Lock order: Member, then the request (as every other consent service)."""
    member_id = DataRequest.objects.filter(pk=request_id).values_list("member_id", flat=True).first()
    if member_id is None:
        raise NotFound(error_codes.DATA_REQUEST_NOT_FOUND, "申请不存在。")
    _member_lock(member_id)
    return DataRequest.objects.select_for_update().get(pk=request_id)


def data_request_complete(*, request_id: int, actor: str) -> DataRequest:
    """Carry out a pending request: access → the export is ready for the member (and staff);
    correction → the requested changes are applied (audited before/after); deletion → the member
    is erased. Completing a completed request changes nothing."""
    with transaction.atomic():
        request = _request_lock(request_id)
        if request.status == DataRequest.Status.COMPLETED:
            return request
        if request.status != DataRequest.Status.PENDING:
            raise AppError(error_codes.DATA_REQUEST_CLOSED, "该申请已拒绝，不能再办理。")
        detail: dict[str, Any] = {}
        if request.kind == DataRequest.Kind.ACCESS:
            export = member_data_export(member_id=request.member_id)
            detail = {"sections": {k: len(v) for k, v in export.items() if isinstance(v, list)}}
        elif request.kind == DataRequest.Kind.CORRECTION:
            detail = member_correct(member_id=request.member_id, changes=request.requested_changes)
        else:
            member_erase(member_id=request.member_id, actor=actor, data_request_id=request.pk)
        request.status = DataRequest.Status.COMPLETED
        request.closed_at = timezone.now()
        request.closed_by = actor
        request.save(update_fields=["status", "closed_at", "closed_by", "updated_at"])
        _event(request, "completed", actor, **detail)
    return request


def data_request_refuse(*, request_id: int, actor: str, reason: str) -> DataRequest:
    if not reason.strip():
        raise AppError(
            error_codes.DATA_REQUEST_REFUSAL_REASON_REQUIRED, "拒绝申请必须说明理由。", fields={"reason": ["required"]}
        )
    with transaction.atomic():
        request = _request_lock(request_id)
        if request.status != DataRequest.Status.PENDING:
            raise AppError(error_codes.DATA_REQUEST_CLOSED, "该申请已办结。")
        request.status = DataRequest.Status.REFUSED
        request.refusal_reason = reason.strip()
        request.closed_at = timezone.now()
        request.closed_by = actor
        request.save(update_fields=["status", "refusal_reason", "closed_at", "closed_by", "updated_at"])
        _event(request, "refused", actor, reason=request.refusal_reason)
    return request


def data_request_export_delivered(*, request_id: int, actor: str, via: str) -> None:
    """Audit that the copy of a completed access request was handed out (downloaded)."""
    with transaction.atomic():
        request = DataRequest.objects.get(pk=request_id, kind=DataRequest.Kind.ACCESS)
        _event(request, "export_downloaded", actor, via=via)


def member_correct(*, member_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a correction (PIPL art. 46); returns the before/after. Only `data_request_complete`
    calls it, and writes that before/after into the request's audit trail."""
    clean = _changes_validate(changes)
    with transaction.atomic():
        member = _member_lock(member_id)
        if member.status == Member.Status.ERASED:
            raise AppError(error_codes.MEMBER_ERASED, "该会员的个人信息已删除。")
        before = {field: _jsonable(getattr(member, field)) for field in clean}
        for field, value in clean.items():
            setattr(member, field, dt.date.fromisoformat(value) if field == "birthday" else value)
        member.save(update_fields=[*clean, "updated_at"])
    return {"before": before, "after": clean}


def member_erase(*, member_id: int, actor: str, data_request_id: int | None = None) -> Member:
    """Erase a member's personal information (PIPL art. 47), in one transaction:

    - profile fields blanked (the member number stays as a pseudonym, so ledger, orders and the
      capture rate still add up), identities and tags deleted, the buyer identifier on orders
      blanked, corrections requested earlier blanked;
    - every granted purpose withdrawn with a record (`on_withdraw` handlers cancel what is
      queued), consent records kept: they are the proof the processing was lawful (art. 47
      allows keeping what a law requires; the consent proof and ledger amounts are that);
    - status `erased`: excluded by `members_processable` / `members_contactable`, hence every
      campaign and export; `on_erase` handlers let other apps scrub what they hold.
    Erasing an erased member changes nothing.
    """
    with transaction.atomic():
        member = _member_lock(member_id)
        if member.status == Member.Status.ERASED:
            return member
        _withdraw_records(
            member=member,
            purposes=Purpose.values,
            evidence=ConsentEvidence(
                channel=ConsentRecord.Channel.ADMIN,
                extra={"reason": "erasure", "data_request": str(data_request_id or "")},
            ),
            actor=actor,
        )
        consent_revoked_notify_in_transaction(
            ConsentRevoked(
                member_ids=Member.objects.filter(pk=member.pk).values_list("pk", flat=True),
                purposes=tuple(Purpose.values),
                reason="erased",
            )
        )
        Identity.objects.filter(member=member).delete()
        MemberTag.objects.filter(member=member).delete()
        Order.objects.filter(member=member).exclude(buyer_value="").update(buyer_value="")
        DataRequest.objects.filter(member=member).exclude(requested_changes={}).update(requested_changes={})
        member.name = ""
        member.mobile = ""
        member.birthday = None
        member.gender = Member.Gender.UNKNOWN
        member.source = ""
        member.status = Member.Status.ERASED
        member.erased_at = timezone.now()
        member.save(
            update_fields=["name", "mobile", "birthday", "gender", "source", "status", "erased_at", "updated_at"]
        )
        erase_notify_in_transaction(member.pk)
    return member


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def member_data_export(*, member_id: int) -> dict[str, Any]:
    """The machine-readable copy (PIPL art. 45): profile, identities, consents with their full
    history, orders with lines and refunds, the points ledger, redemptions, tier changes and staff
    assignment. Plain JSON types only."""
    member = Member.objects.select_related("home_store", "assigned_staff", "tier").filter(pk=member_id).first()
    if member is None:
        raise NotFound(error_codes.MEMBER_NOT_FOUND, "会员不存在。")
    orders = Order.objects.filter(member=member).select_related("store").prefetch_related("lines", "refunds")
    export: dict[str, Any] = {
        "generated_at": timezone.now().isoformat(),
        "profile": {
            "member_no": member.member_no,
            "name": member.name,
            "mobile": member.mobile,
            "gender": member.gender,
            "birthday": _jsonable(member.birthday),
            "status": member.status,
            "home_store": str(member.home_store) if member.home_store else None,
            "enrolled_at": _jsonable(member.enrolled_at),
            "enrolled_channel": member.enrolled_channel,
            "tier": member.tier.name if member.tier else None,
            "points_balance": member.points_balance,
            "points_pending": member.points_pending,
            "lifecycle_stage": member.lifecycle_stage,
        },
        "identities": [
            {"kind": i.kind, "value": i.value, "bound_at": _jsonable(i.created_at)}
            for i in Identity.objects.filter(member=member).order_by("kind", "value")
        ],
        "consents": [
            {
                "purpose": r.purpose,
                "granted": r.granted,
                "agreement": r.version.agreement.title,
                "version": r.version.version,
                "recorded_at": _jsonable(r.recorded_at),
                "channel": r.channel,
            }
            for r in ConsentRecord.objects.filter(member=member)
            .select_related("version__agreement")
            .order_by("recorded_at", "id")
        ],
        "orders": [
            {
                "channel": o.channel,
                "order_no": o.order_no,
                "store": str(o.store) if o.store else None,
                "paid_at": _jsonable(o.paid_at),
                "amount_fen": o.amount_fen,
                "refunded_fen": o.refunded_fen,
                "points_earned": o.points_earned,
                "lines": [
                    {"sku": line.sku, "name": line.name, "quantity": line.quantity, "amount_fen": line.amount_fen}
                    for line in o.lines.all()
                ],
                "refunds": [
                    {"refund_no": r.refund_no, "amount_fen": r.amount_fen, "refunded_at": _jsonable(r.refunded_at)}
                    for r in o.refunds.all()
                ],
            }
            for o in orders.order_by("paid_at", "id")
        ],
        "ledger": [
            {
                "kind": e.kind,
                "points": e.points,
                "balance_after": e.balance_after,
                "reason": e.reason,
                "reference": e.reference,
                "created_at": _jsonable(e.created_at),
            }
            for e in PointsEntry.objects.filter(member=member).order_by("created_at", "id")
        ],
        "redemptions": [
            {"reward": str(r.reward) if r.reward else None, "points": r.points, "created_at": _jsonable(r.created_at)}
            for r in Redemption.objects.filter(member=member).select_related("reward").order_by("created_at", "id")
        ],
        "tier_changes": [
            {
                "from": t.from_tier.name if t.from_tier else None,
                "to": t.to_tier.name if t.to_tier else None,
                "reason": t.reason,
                "at": _jsonable(t.created_at),
            }
            for t in TierChange.objects.filter(member=member).select_related("from_tier", "to_tier").order_by("id")
        ],
        "assignment": {
            "current_staff": member.assigned_staff.name if member.assigned_staff else None,
            "history": [
                {
                    "from": a.from_staff.name if a.from_staff else None,
                    "to": a.to_staff.name if a.to_staff else None,
                    "reason": a.reason,
                    "at": _jsonable(a.created_at),
                }
                for a in MemberAssignment.objects.filter(member=member)
                .select_related("from_staff", "to_staff")
                .order_by("created_at", "id")
            ],
        },
    }
    return export


def member_data_export_json(*, member_id: int) -> str:
    import json

    return json.dumps(member_data_export(member_id=member_id), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)


# The copy of one's data is the most sensitive thing the member pages hand out, and the preferences
# link is a bearer link valid for 7 days that may be forwarded: downloading the copy also needs the
# member's full mobile number (the pages only ever show it masked). Wrong answers are counted per
# member, so the number cannot be guessed by trying.
EXPORT_MOBILE_ATTEMPTS = 5
EXPORT_MOBILE_LOCKOUT_SECONDS = 3600


def _export_failures_key(member_id: int) -> str:
    return f"consent:export-mobile-failures:{member_id}"


def _export_locked() -> AppError:
    return AppError(error_codes.EXPORT_LOCKED, "验证失败次数过多，请一小时后再试。", status=429)


def member_export_lock_check(*, member_id: int) -> None:
    """Refuse (429) while the member's data-copy download is locked by wrong answers."""
    if cache.get(_export_failures_key(member_id), 0) >= EXPORT_MOBILE_ATTEMPTS:
        raise _export_locked()


def member_export_mobile_confirm(*, member_id: int, mobile: str) -> None:
    """Pass if `mobile` is the member's full number; else a refusal, counted. The count is read
    and written under the member's row lock, so concurrent guesses are counted one by one (a
    burst of parallel answers cannot share one count); after EXPORT_MOBILE_ATTEMPTS wrong answers
    every answer is refused for EXPORT_MOBILE_LOCKOUT_SECONDS."""
    key = _export_failures_key(member_id)
    with transaction.atomic():
        member = _member_lock(member_id)
        failures = cache.get(key, 0)
        if failures >= EXPORT_MOBILE_ATTEMPTS:
            outcome = "locked"
        elif member.mobile and mobile_normalize_or_none(mobile) == member.mobile:
            cache.delete(key)
            outcome = "confirmed"
        else:
            cache.set(key, failures + 1, EXPORT_MOBILE_LOCKOUT_SECONDS)
            outcome = "wrong"
    # Raised after the transaction: a database cache must keep the count the refusal made.
    if outcome == "locked":
        raise _export_locked()
    if outcome == "wrong":
        raise AppError(error_codes.EXPORT_MOBILE_WRONG, "手机号不正确。")


# --- the member's own copy: Chinese keys, brand-local times, yuan ----------------------------------
# The same content as member_data_export (which partners and the admin read, English-keyed, ISO
# times), in the words the member reads: PIPL art. 45 asks for a copy the person can use.


def _local(value: str | None) -> str | None:
    if not value:
        return value
    from zoneinfo import ZoneInfo

    tenant = getattr(connection, "tenant", None)
    zone = ZoneInfo(getattr(tenant, "time_zone", "") or "Asia/Shanghai")
    parsed = dt.datetime.fromisoformat(value)
    if isinstance(parsed, dt.datetime) and parsed.tzinfo is not None:
        return parsed.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return value


def _yuan(fen: int | None) -> str | None:
    if fen is None:
        return None
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _label(choices: Any, value: str | None) -> str | None:
    return str(dict(choices).get(value, value)) if value is not None else None


def member_data_export_readable(*, member_id: int) -> dict[str, Any]:
    """member_data_export for the member: Chinese keys and labels, brand-local times, yuan. Other
    apps' data (coupons, check-ins, referrals, scans) is added by the hooks registered with
    consent.hooks.on_member_export, each under its own Chinese heading."""
    from members.models import IdentityKind, SalesChannel

    from ..hooks import member_export_sections

    raw = member_data_export(member_id=member_id)
    profile = raw["profile"]
    copy: dict[str, Any] = {
        "生成时间": _local(raw["generated_at"]),
        "基本信息": {
            "会员号": profile["member_no"],
            "姓名": profile["name"],
            "手机号": profile["mobile"],
            "性别": _label(Member.Gender.choices, profile["gender"]),
            "生日": profile["birthday"],
            "状态": _label(Member.Status.choices, profile["status"]),
            "归属门店": profile["home_store"],
            "入会时间": _local(profile["enrolled_at"]),
            "入会渠道": _label(SalesChannel.choices, profile["enrolled_channel"]),
            "会员等级": profile["tier"],
            "可用积分": profile["points_balance"],
            "待生效积分": profile["points_pending"],
        },
        "身份标识": [
            {"类型": _label(IdentityKind.choices, i["kind"]), "值": i["value"], "绑定时间": _local(i["bound_at"])}
            for i in raw["identities"]
        ],
        "授权记录": [
            {
                "目的": _label(Purpose.choices, c["purpose"]),
                "决定": "同意" if c["granted"] else "不同意/撤回",
                "协议": c["agreement"],
                "版本": c["version"],
                "时间": _local(c["recorded_at"]),
                "渠道": _label(ConsentRecord.Channel.choices, c["channel"]),
            }
            for c in raw["consents"]
        ],
        "订单": [
            {
                "渠道": _label(SalesChannel.choices, o["channel"]),
                "订单号": o["order_no"],
                "门店": o["store"],
                "支付时间": _local(o["paid_at"]),
                "实付金额": _yuan(o["amount_fen"]),
                "已退款": _yuan(o["refunded_fen"]),
                "获得积分": o["points_earned"],
                "商品": [
                    {
                        "商品编码": line["sku"],
                        "名称": line["name"],
                        "数量": line["quantity"],
                        "金额": _yuan(line["amount_fen"]),
                    }
                    for line in o["lines"]
                ],
                "退款": [
                    {"退款单号": r["refund_no"], "金额": _yuan(r["amount_fen"]), "时间": _local(r["refunded_at"])}
                    for r in o["refunds"]
                ],
            }
            for o in raw["orders"]
        ],
        "积分明细": [
            {
                "类型": _label(PointsEntry.Kind.choices, e["kind"]),
                "积分": e["points"],
                "变动后余额": e["balance_after"],
                "原因": e["reason"],
                "关联单据": e["reference"],
                "时间": _local(e["created_at"]),
            }
            for e in raw["ledger"]
        ],
        "积分兑换": [
            {"礼品": r["reward"], "积分": r["points"], "时间": _local(r["created_at"])} for r in raw["redemptions"]
        ],
        "等级变动": [
            {"原等级": t["from"], "新等级": t["to"], "原因": t["reason"], "时间": _local(t["at"])}
            for t in raw["tier_changes"]
        ],
        "专属导购": {
            "当前导购": raw["assignment"]["current_staff"],
            "变更记录": [
                {"原导购": a["from"], "新导购": a["to"], "原因": a["reason"], "时间": _local(a["at"])}
                for a in raw["assignment"]["history"]
            ],
        },
    }
    for heading, rows in member_export_sections(member_id):
        copy[heading] = rows
    return copy


def member_data_export_readable_json(*, member_id: int) -> str:
    import json

    return json.dumps(member_data_export_readable(member_id=member_id), ensure_ascii=False, indent=2)
