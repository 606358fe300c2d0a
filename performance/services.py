"""Writes of staff performance: rule versions, touches, staff identities, refunds of credit.

The attribution itself is written by the order ingest's rider (attribution.py), in the order's
transaction; nothing here recomputes it.
"""

import datetime as dt
import secrets
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.hooks import GroupMessagesDelivered
from campaigns.models import OutboxMessage
from coupons.hooks import CouponEvent, CouponsIssued
from coupons.models import Coupon
from crm.celery import send_on_commit
from crm.db import connection as tenant_connection
from crm.errors import AppError
from crm.jobs.exports import export_build
from crm.spreadsheets.writing import xlsx_bytes
from crm.tenancy.zones import brand_zone
from membercentre.hooks import MemberSignedIn
from members.hooks import OrderRefunded
from members.models import Member, Staff, Store
from members.phones import mobile_normalize
from members.scoping import StoreScope
from wecom.hooks import CustomerAdded

from . import error_codes
from .models import (
    Attribution,
    AttributionRule,
    Basis,
    DayFigures,
    ReportExport,
    RollupState,
    ShareLink,
    StaffIdentity,
    Touch,
    TouchKind,
)
from .tasks import report_export_run_task

MAX_WINDOW_DAYS = 365
_TOUCH = Touch._meta.db_table


def rule_validate(*, precedence: list[str], windows: dict[str, int]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not precedence or len(set(precedence)) != len(precedence) or set(precedence) - set(Basis.values):
        errors["precedence"] = ["优先顺序须从“服务导购、专属导购、最近触达”中选择，且不重复。"]
    bad = [
        k
        for k, v in windows.items()
        if k not in TouchKind.values or not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_WINDOW_DAYS
    ]
    if bad:
        errors["windows"] = [f"触达有效天数须为 1 到 {MAX_WINDOW_DAYS} 之间的整数（未知或有误：{'、'.join(bad)}）。"]
    if Basis.TOUCH in precedence and not windows:
        errors.setdefault("windows", []).append("按最近触达归属时，至少一种触达方式须有有效天数。")
    return errors


def rule_save(*, precedence: list[str], windows: dict[str, int], note: str = "", actor: str) -> AttributionRule:
    """A new version of the rule, in force for orders from now on. Orders already attributed keep
    the version that decided them: history is never rewritten."""
    errors = rule_validate(precedence=precedence, windows=windows)
    if errors:
        raise AppError(error_codes.RULE_INVALID, "业绩归属规则有误。", fields=errors)
    return AttributionRule.objects.create(
        precedence=list(precedence), windows=dict(windows), note=note[:200], created_by=actor[:150]
    )


def rule_current() -> AttributionRule:
    rule = AttributionRule.objects.order_by("-id").first()
    if rule is None:  # every brand gets one from the migration; a brand without one gets the default back
        rule = AttributionRule.objects.create(**DEFAULT_RULE, created_by="system")
    return rule


DEFAULT_RULE: dict = {
    "precedence": [Basis.SERVING, Basis.TOUCH, Basis.EXCLUSIVE],
    "windows": {
        TouchKind.CHANNEL_QR: 30,
        TouchKind.SHARE_LINK: 7,
        TouchKind.POSTER: 7,
        TouchKind.COUPON: 30,
        TouchKind.GROUP_MESSAGE: 3,
    },
    "note": "默认规则：门店订单归服务导购，其次最近触达，其次专属导购",
}


def touch_record(
    *, staff: Staff, member: Member, kind: str, touched_at: dt.datetime, key: str, source: str = ""
) -> tuple[Touch, bool]:
    """Record one touch (idempotent by `key`: the same event again returns the first row)."""
    errors: dict[str, list[str]] = {}
    if kind not in TouchKind.values:
        errors["kind"] = [f"未知的触达方式“{kind}”。"]
    if not key or len(key) > 160:
        errors["key"] = ["事件标识必填，且不超过 160 个字符。"]
    if timezone.is_naive(touched_at):
        errors["touched_at"] = ["触达时间须带时区。"]
    elif touched_at > timezone.now() + dt.timedelta(minutes=10):
        errors["touched_at"] = ["触达时间不能晚于当前时间。"]
    if errors:
        raise AppError(error_codes.TOUCH_INVALID, "触达记录有误。", fields=errors)
    touch, created = Touch.objects.get_or_create(
        key=key,
        defaults={
            "staff": staff,
            "member": member,
            "kind": kind,
            "touched_at": touched_at,
            "source": source[:128],
        },
    )
    return touch, created


def touch_from_wecom_add_in_transaction(event: CustomerAdded) -> None:
    """A customer added a staff member through a channel QR code: a `channel_qr` touch with the
    code's state as its source (wecom/hooks.py; in the callback's transaction)."""
    if not event.state:
        return
    staff_id = Staff.objects.filter(wecom_userid=event.staff_userid).values_list("pk", flat=True).first()
    if staff_id is None:
        return
    key = f"wecom:{event.external_userid}:{event.staff_userid}:{int(event.added_at.timestamp())}"
    Touch.objects.bulk_create(
        [
            Touch(
                staff_id=staff_id,
                member_id=event.member_id,
                kind=TouchKind.CHANNEL_QR,
                touched_at=event.added_at,
                source=event.state[:128],
                key=key[:160],
            )
        ],
        ignore_conflicts=True,
    )


def touches_from_coupons_in_transaction(event: CouponEvent) -> None:
    """A staff member sent coupons to their customers (coupons.hooks.CouponsIssued with a
    staff_id): one `coupon` touch per coupon, at its issue time, keyed by the coupon. Set-based
    over the issue's rows (an issue to many members is one statement); coupons the brand issued
    (no staff) are not touches."""
    if not isinstance(event, CouponsIssued) or event.staff_id is None:
        return
    sql, params = event.rows
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {_TOUCH} (staff_id, member_id, kind, touched_at, source, key, created_at)
                SELECT %s, c.member_id, %s, c.issued_at, 'coupon:' || c.template_id, 'coupon:' || c.id, now()
                FROM {Coupon._meta.db_table} c WHERE c.id IN ({sql})
                ON CONFLICT (key) WHERE kind <> 'served' DO NOTHING""",  # noqa: S608
            [event.staff_id, TouchKind.COUPON, *params],
        )


def touches_from_group_messages_in_transaction(event: GroupMessagesDelivered) -> None:
    """A member's staff member sent them a campaign's WeCom group message (WeCom said it was sent:
    campaigns.hooks.GroupMessagesDelivered): one `group_message` touch per message, at the time
    WeCom reported, keyed by the outbox message (a re-poll adds nothing)."""
    sql, params = event.rows
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {_TOUCH} (staff_id, member_id, kind, touched_at, source, key, created_at)
                SELECT m.staff_id, m.member_id, %s, m.delivered_at, left(m.provider_msgid, 128),
                       'groupmsg:' || m.id, now()
                FROM {OutboxMessage._meta.db_table} m
                WHERE m.id IN ({sql}) AND m.staff_id IS NOT NULL AND m.delivered_at IS NOT NULL
                ON CONFLICT (key) WHERE kind <> 'served' DO NOTHING""",  # noqa: S608
            [TouchKind.GROUP_MESSAGE, *params],
        )


# --- share links and posters ------------------------------------------------------------------

SHARE_SESSION_KEY = "performance_share"
# A link opened before signing in counts when the member signs in or enrols within this time.
SHARE_PENDING_MAX = dt.timedelta(hours=24)


def share_link_create(*, staff: Staff, kind: str, target: str = "/m/", note: str = "") -> ShareLink:
    """A new share link or poster of `staff`, opening `target` (a member-centre path)."""
    share_link_validate(staff=staff, kind=kind, target=target)
    return ShareLink.objects.create(
        token=secrets.token_urlsafe(16)[:22], staff=staff, kind=kind, target=target, note=note[:100]
    )


def share_link_validate(*, staff: Staff, kind: str, target: str) -> None:
    errors: dict[str, list[str]] = {}
    if kind not in ShareLink.Kind.values:
        errors["kind"] = ["类型须为分享链接或分享海报。"]
    if not share_target_valid(target):
        errors["target"] = ["打开的页面须为会员中心内的路径，以 /m/ 开头。"]
    if staff.status != Staff.Status.ACTIVE:
        errors["staff"] = ["离职导购不能创建分享链接。"]
    if errors:
        raise AppError(error_codes.SHARE_INVALID, "分享链接有误。", fields=errors)


def share_target_valid(target: str) -> bool:
    """Only a path of this brand's member centre: never another host (no open redirect)."""
    return (
        target.startswith("/m/")
        and "//" not in target
        and "\\" not in target
        and len(target) <= 200
        and target.isprintable()
    )


def _share_touch(*, link_id: int, staff_id: int, kind: str, member_id: int, opened_at: dt.datetime) -> None:
    """One touch per link, member and brand day: opening the same link again that day is the same
    touch (a reload changes nothing); another day is a newer touch (last touch wins)."""
    day = opened_at.astimezone(brand_zone()).date()
    Touch.objects.bulk_create(
        [
            Touch(
                staff_id=staff_id,
                member_id=member_id,
                kind=kind,
                touched_at=opened_at,
                source=f"share:{link_id}",
                key=f"share:{link_id}:{member_id}:{day:%Y%m%d}",
            )
        ],
        ignore_conflicts=True,
    )


def share_link_open(*, link: ShareLink, member_id: int | None, session: MutableMapping[str, Any]) -> None:
    """A member opened a staff member's link or poster. Signed in: a touch now. Not yet: the
    session remembers the link, and the touch is recorded when they sign in or enrol
    (touch_from_share_on_sign_in)."""
    now = timezone.now()
    if member_id is not None:
        _share_touch(link_id=link.pk, staff_id=link.staff_id, kind=link.kind, member_id=member_id, opened_at=now)
        session.pop(SHARE_SESSION_KEY, None)
        return
    session[SHARE_SESSION_KEY] = {"link": link.pk, "at": now.isoformat(), "schema": tenant_connection.schema_name}


def touch_from_share_on_sign_in(event: MemberSignedIn) -> None:
    """membercentre.hooks: the member who opened a share link in this session is now known."""
    pending = event.session.pop(SHARE_SESSION_KEY, None)
    if not isinstance(pending, dict) or pending.get("schema") != tenant_connection.schema_name:
        return
    try:
        opened_at = dt.datetime.fromisoformat(str(pending.get("at")))
    except ValueError:
        return
    link_id = pending.get("link")
    if not isinstance(link_id, int) or timezone.is_naive(opened_at) or timezone.now() - opened_at > SHARE_PENDING_MAX:
        return
    link = ShareLink.objects.filter(pk=link_id).values_list("pk", "staff_id", "kind").first()
    if link is None:
        return
    _share_touch(link_id=link[0], staff_id=link[1], kind=link[2], member_id=event.member_id, opened_at=opened_at)


def attribution_refund_in_transaction(event: OrderRefunded) -> None:
    """Refunds reduce the credit pro rata: refunded credit = credit × refunded ÷ paid, from the
    order's totals (so a replayed refund, which does not reach here, or any order of arrival gives
    the same figure)."""
    if event.order_amount_fen <= 0:
        return
    # The day's rollup (rollups.py), when it holds that day, moves by the same difference — unless
    # the order is a late row the rollups have not taken in yet (reports add those from the row).
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH old AS (
                    SELECT order_id, refunded_fen FROM {Attribution._meta.db_table} WHERE order_id = %s FOR UPDATE
                ), new AS (
                    UPDATE {Attribution._meta.db_table} a SET refunded_fen = a.credited_fen * %s / %s
                    FROM old WHERE a.order_id = old.order_id
                    RETURNING a.paid_at, a.created_at, a.staff_id, a.store_id,
                              a.refunded_fen - old.refunded_fen AS delta
                )
                UPDATE {DayFigures._meta.db_table} d SET refunded_fen = d.refunded_fen + new.delta
                FROM new WHERE d.day = (new.paid_at AT TIME ZONE %s)::date AND d.staff_id = new.staff_id
                  AND d.store_id IS NOT DISTINCT FROM new.store_id AND new.delta <> 0
                  AND NOT (new.created_at - new.paid_at > interval '1 hour' AND new.created_at >= COALESCE(
                      (SELECT refreshed_at FROM {RollupState._meta.db_table} WHERE id = 1), 'infinity'))""",  # noqa: S608
            [event.order_id, event.refunded_fen, event.order_amount_fen, brand_zone().key],
        )


def staff_identity_add(*, staff: Staff, kind: str, value: str) -> StaffIdentity:
    """Register a staff member's own mobile or unionid (their purchases credit nobody)."""
    value = (value or "").strip()
    if kind not in StaffIdentity.Kind.values or not value or len(value) > 128:
        raise AppError(
            error_codes.TOUCH_INVALID, "导购本人身份有误。", fields={"value": ["类型须为手机号或 UnionID，值必填。"]}
        )
    if kind == StaffIdentity.Kind.MOBILE:
        value = mobile_normalize(value)
    try:
        with transaction.atomic():
            identity, _ = StaffIdentity.objects.get_or_create(kind=kind, value=value, defaults={"staff": staff})
    except IntegrityError as exc:  # pragma: no cover - get_or_create retries the read itself
        raise AppError(error_codes.STAFF_IDENTITY_TAKEN, "该身份已登记为另一位导购本人。", status=409) from exc
    if identity.staff_id != staff.pk:
        raise AppError(error_codes.STAFF_IDENTITY_TAKEN, "该手机号或 UnionID 已登记为另一位导购本人。", status=409)
    return identity


# --- background exports ---------------------------------------------------------------------------

EXPORT_MAX_DAYS = 400
EXPORT_HEADERS = [
    "月份",
    "导购编号",
    "导购",
    "门店编号",
    "门店",
    "业绩订单数",
    "业绩金额（元）",
    "业绩退款（元）",
    "净业绩（元）",
    "新入会会员",
    "服务会员数",
    "核销券数",
    "会员日转化订单",
]


def report_export_request(
    *, scope: StoreScope, start: dt.date, end: dt.date, store_id: int | None, actor: str
) -> ReportExport:
    """Queue an export of [start, end] (brand days). A store user's export is their store's, whatever
    they ask; a user with no store cannot export. The file is built by a task (after commit)."""
    errors: dict[str, list[str]] = {}
    if end < start:
        errors["end"] = ["结束日期不能早于开始日期。"]
    elif (end - start).days + 1 > EXPORT_MAX_DAYS:
        errors["end"] = [f"导出区间最多 {EXPORT_MAX_DAYS} 天。"]
    if not scope.all_stores and scope.store_id is None:
        errors["store"] = ["您的账号未关联门店，不能导出业绩。"]
    if errors:
        raise AppError(error_codes.REPORT_INVALID, "报表条件有误。", fields=errors)
    if not scope.all_stores:
        store_id = scope.store_id
    with transaction.atomic():
        export = ReportExport.objects.create(
            requested_by=actor[:150],
            all_stores=store_id is None,
            store_id=store_id,
            start=start,
            end=end,
            months_total=len(_months(start, end)),
        )
        send_on_commit(report_export_run_task, export.pk)
    return export


def _months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end] cut at month ends: the export's rows are per month (what payroll pays by)."""
    parts = []
    first = start
    while first <= end:
        next_month = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        last = min(end, next_month - dt.timedelta(days=1))
        parts.append((first, last))
        first = next_month
    return parts


def report_export_run(*, export_id: int) -> str:
    """Build the export's XLSX, month by month, recording progress after each month (claimed and
    stored by crm.jobs.exports: a re-delivered task does not build it twice)."""
    return export_build(ReportExport, export_id=export_id, build=_report_export_build)


def _report_export_build(export: ReportExport) -> tuple[bytes, int]:
    from .selectors import performance_report

    scope = StoreScope(all_stores=True) if export.all_stores else StoreScope(all_stores=False, store_id=export.store_id)
    staff_codes = dict(Staff.objects.values_list("pk", "wecom_userid"))
    store_codes = dict(Store.objects.values_list("pk", "code"))
    rows: list[list[object]] = [list(EXPORT_HEADERS)]
    for done, (first, last) in enumerate(_months(export.start, export.end), start=1):
        for f in performance_report(scope=scope, start=first, end=last, allow_long=True):
            rows.append(
                [
                    first.strftime("%Y-%m"),
                    staff_codes.get(f.staff_id) or str(f.staff_id),
                    f.staff_name,
                    store_codes.get(f.store_id, "") if f.store_id else "",
                    f.store_name,
                    f.orders,
                    Decimal(f.gmv_fen) / 100,  # a number in yuan: payroll sums it
                    Decimal(f.refunded_fen) / 100,  # a number in yuan: payroll sums it
                    Decimal(f.net_fen) / 100,  # a number in yuan: payroll sums it
                    f.members_enrolled,
                    f.members_served,
                    f.coupons_redeemed,
                    f.member_day_orders,
                ]
            )
        ReportExport.objects.filter(pk=export.pk).update(months_done=done, updated_at=timezone.now())
    return xlsx_bytes(title="导购业绩", rows=rows), len(rows) - 1
