"""Every write of the coupons app: templates, code pools, issuing (one service for every source),
write-off, rollback, refunds, expiry, void.

LOCK ORDER — taken in this order, so no two services wait on each other in a cycle:
  0. (points exchange, refunds) the member row and the order row: members' own lock order
     (members/services/points.py), taken by members before coupons runs;
  1. the template row, FOR UPDATE: every issue of a template is serialised on it, so stock,
     per-member holdings, code pool and the idempotency check see each other's commits;
  2. holding rows (per-member limit), by the upsert, ascending member id;
  3. coupon rows, FOR UPDATE (write-off, rollback, refund, void), then their redemption rows.
Issuing never locks a coupon row, and write-off never locks a template, so the two never meet.
"""

# Raw SQL names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.db import connection
from crm.errors import AppError
from crm.memos import process_memo
from members.hooks import OrderRefunded
from members.models import Member, Store
from members.services.points import member_lock, points_spend_in_transaction

from . import error_codes, rules
from .error_codes import coupon_error
from .hooks import CouponRedeemed, CouponReturned, CouponsIssued, coupon_event_notify_in_transaction
from .models import (
    Coupon,
    CouponCode,
    CouponEvent,
    CouponHolding,
    CouponIssueRequest,
    CouponRedemption,
    CouponTemplate,
)

_TEMPLATE = CouponTemplate._meta.db_table
_COUPON = Coupon._meta.db_table
_CODE = CouponCode._meta.db_table
_EVENT = CouponEvent._meta.db_table
_HOLDING = CouponHolding._meta.db_table
_MEMBER = Member._meta.db_table

MembersSql = tuple[str, Sequence[Any]]


# --- templates ---------------------------------------------------------------------------------------

# What may change once a coupon has been issued (DOMAIN: stock up, end date later, deactivate).
_MUTABLE_AFTER_ISSUE = {"stock_total", "valid_until_date", "is_active"}


def _template_errors(template: CouponTemplate) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    kind = template.kind
    if not (template.name or "").strip():
        errors["name"] = ["请填写券名称。"]
    if kind == CouponTemplate.Kind.AMOUNT_OFF and template.amount_off_fen <= 0:
        errors["amount_off_fen"] = ["满减券须填写减免金额。"]
    if kind == CouponTemplate.Kind.PERCENT_OFF and not 1 <= template.percent_off <= 99:
        errors["percent_off"] = ["折扣比例须在 1%–99% 之间。"]
    if kind == CouponTemplate.Kind.GIFT and not template.gift_sku.strip():
        errors["gift_sku"] = ["赠品券须填写赠品编码。"]
    if template.threshold_fen < 0 or template.amount_off_fen < 0 or (template.cap_fen or 0) < 0:
        errors["threshold_fen"] = ["金额不能为负。"]
    if template.validity_kind == CouponTemplate.ValidityKind.FIXED and not template.valid_until_date:
        errors["valid_until_date"] = ["固定日期的券须填写结束日期。"]
    if template.validity_kind == CouponTemplate.ValidityKind.RELATIVE and not template.valid_days:
        errors["valid_days"] = ["请填写领取后有效天数。"]
    if template.valid_from_date and template.valid_until_date and template.valid_from_date > template.valid_until_date:
        errors["valid_until_date"] = ["结束日期不能早于开始日期。"]
    if any(not 1 <= d <= 7 for d in template.weekdays):
        errors["weekdays"] = ["星期须为 1（周一）到 7（周日）。"]
    if bool(template.time_from) != bool(template.time_until) or (
        template.time_from and template.time_until and template.time_from >= template.time_until
    ):
        errors["time_until"] = ["每日可用时段须同时填写开始和结束，且开始早于结束。"]
    if template.code_mode == CouponTemplate.CodeMode.GENERIC and not rules.code_normalize(template.generic_code):
        errors["generic_code"] = ["通用码方式须填写通用券码。"]
    if template.stock_total is not None and template.stock_total < 0:
        errors["stock_total"] = ["库存不能为负。"]
    return errors


def coupon_template_create(*, template: CouponTemplate, store_ids: Iterable[int] = ()) -> CouponTemplate:
    """Create a template (unsaved instance in, saved out). A pool template starts with no stock:
    its stock is its codes."""
    template.generic_code = rules.code_normalize(template.generic_code)
    if template.code_mode != CouponTemplate.CodeMode.GENERIC:
        template.stock_total = template.stock_left = 0  # the codes, when added, are the stock
    else:
        template.stock_left = template.stock_total
    errors = _template_errors(template)
    if errors:
        raise coupon_error(error_codes.TEMPLATE_INVALID, fields=errors)
    with transaction.atomic():
        template.save()
        if store_ids:
            template.stores.set(list(store_ids))
    return template


def coupon_template_update(
    *, template_id: int, changes: dict[str, Any], store_ids: Iterable[int] | None = None
) -> CouponTemplate:
    """Change a template. Before the first issue anything may change; after it only: more stock
    (never less), a later end date (never earlier), deactivation or reactivation. Anything else is
    refused with nothing changed."""
    with transaction.atomic():
        template = CouponTemplate.objects.select_for_update().get(pk=template_id)  # lock step 1
        unknown = set(changes) - {f.name for f in CouponTemplate._meta.concrete_fields}
        if unknown or {"stock_left", "issued_once", "id"} & set(changes):
            raise coupon_error(error_codes.TEMPLATE_INVALID, f"不能修改：{', '.join(sorted(unknown or changes))}")
        changed = {k: v for k, v in changes.items() if getattr(template, k) != v}
        if template.issued_once:
            locked = set(changed) - _MUTABLE_AFTER_ISSUE
            if store_ids is not None and set(store_ids) != set(template.stores.values_list("pk", flat=True)):
                locked.add("stores")
            if locked:
                raise coupon_error(
                    error_codes.TEMPLATE_LOCKED, fields={k: ["已发放后不能修改。"] for k in sorted(locked)}
                )
            new_total = changed.get("stock_total", template.stock_total)
            if "stock_total" in changed and (
                template.stock_total is None or new_total is None or new_total < template.stock_total
            ):
                raise coupon_error(error_codes.TEMPLATE_LOCKED, fields={"stock_total": ["已发放后只能增加库存。"]})
            new_until = changed.get("valid_until_date")
            if "valid_until_date" in changed and (
                new_until is None or (template.valid_until_date is not None and new_until < template.valid_until_date)
            ):
                raise coupon_error(
                    error_codes.TEMPLATE_LOCKED, fields={"valid_until_date": ["已发放后只能延后结束日期。"]}
                )
        added = 0
        if "stock_total" in changed and template.stock_total is not None and changed["stock_total"] is not None:
            added = changed["stock_total"] - template.stock_total
        for key, value in changed.items():
            setattr(template, key, value)
        if "stock_total" in changed:
            if template.code_mode != CouponTemplate.CodeMode.GENERIC:
                raise coupon_error(error_codes.TEMPLATE_INVALID, fields={"stock_total": ["券码池的库存随券码增加。"]})
            held = template.stock_reserved  # for manual issues waiting in 发券审批: stays theirs
            if held and (template.stock_total is None or template.stock_total < held):
                raise coupon_error(
                    error_codes.TEMPLATE_INVALID,
                    fields={"stock_total": [f"待审批的发券申请预留了 {held:,} 张，库存不能少于此数，也不能改为不限。"]},
                )
            if template.stock_total is None:
                template.stock_left = None
            elif template.stock_left is None or not template.issued_once:
                template.stock_left = template.stock_total - held
            else:
                template.stock_left += added
        if "generic_code" in changed:
            template.generic_code = rules.code_normalize(template.generic_code)
        errors = _template_errors(template)
        if errors:
            raise coupon_error(error_codes.TEMPLATE_INVALID, fields=errors)
        template.save()
        if store_ids is not None and not template.issued_once:
            template.stores.set(list(store_ids))
    return template


# --- code pools ----------------------------------------------------------------------------------------


def _pool_add(template: CouponTemplate, rows: list[tuple[str, str, str]]) -> int:
    """Insert (hash, code, hint) rows; returns how many were new. The template row is locked."""
    if not rows:
        return 0
    with connection.cursor() as cursor:
        # The rows inserted, counted from RETURNING: an INSERT … SELECT that Citus runs through the
        # coordinator reports the rows it sent as its row count, conflicts included, and this
        # count becomes stock (docs/scale-out.md).
        cursor.execute(
            f"""
            WITH added AS (
                INSERT INTO {_CODE} (template_id, code_hash, code, hint)
                SELECT %s, h, c, t FROM unnest(%s::text[], %s::text[], %s::text[]) AS r(h, c, t)
                ON CONFLICT (code_hash) DO NOTHING
                RETURNING 1
            )
            SELECT count(*) FROM added
            """,
            [template.pk, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        )
        added = cursor.fetchone()[0]
        cursor.execute(
            f"UPDATE {_TEMPLATE} SET stock_total = stock_total + %s, stock_left = stock_left + %s WHERE id = %s",
            [added, added, template.pk],
        )
    return added


def coupon_codes_generate(*, template_id: int, count: int) -> int:
    """Add `count` unique, unguessable codes (80 bits, no 0/O/1/I) to a generated pool; the stock
    grows by as many. A code is never made twice (the hash is unique; a collision is redrawn)."""
    if not isinstance(count, int) or not 1 <= count <= 2_000_000:
        raise coupon_error(error_codes.CODE_IMPORT_INVALID, fields={"count": ["须为 1–2,000,000。"]})
    with transaction.atomic():
        template = CouponTemplate.objects.select_for_update().get(pk=template_id)
        if template.code_mode != CouponTemplate.CodeMode.GENERATED:
            raise coupon_error(error_codes.TEMPLATE_INVALID, "该券不是系统生成券码方式。")
        made = 0
        while made < count:
            batch = [rules.code_generate() for _ in range(min(50_000, count - made))]
            made += _pool_add(template, [(rules.code_hash(c), c, c[-4:]) for c in batch])
    return made


def coupon_codes_import(*, template_id: int, codes: Sequence[str]) -> int:
    """Add the brand's own codes to an imported pool, stored hashed (only the last 4 characters in
    clear). A code already in any pool, a duplicate in the file or a malformed code refuses the
    whole import: nothing is added."""
    normalized = [rules.code_normalize(c) for c in codes]
    bad = [c for c in normalized if not (6 <= len(c) <= 32 and c.isalnum() and c.isascii())]
    if not normalized or bad:
        raise coupon_error(error_codes.CODE_IMPORT_INVALID, f"券码须为 6–32 位字母或数字：{', '.join(bad[:5])}")
    if len(set(normalized)) != len(normalized):
        raise coupon_error(error_codes.CODE_IMPORT_INVALID, "文件中有重复的券码。")
    with transaction.atomic():
        template = CouponTemplate.objects.select_for_update().get(pk=template_id)
        if template.code_mode != CouponTemplate.CodeMode.IMPORTED:
            raise coupon_error(error_codes.TEMPLATE_INVALID, "该券不是导入券码方式。")
        added = _pool_add(template, [(rules.code_hash(c), "", c[-4:]) for c in normalized])
        if added != len(normalized):
            raise coupon_error(error_codes.CODE_IMPORT_INVALID, f"有 {len(normalized) - added} 个券码已存在。")
    return added


# --- issuing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueResult:
    eligible: int  # active members the issue was for
    issued_now: int
    already: int  # held this issue already (a re-run changes nothing)
    over_limit: int
    out_of_stock: int


# Members per transaction of a set-based issue. Each chunk locks the template, takes its stock and
# commits on its own (when the caller has no transaction open), so a million-member issue holds
# no lock for a minute, its batch (an array parameter of member ids) and sorts fit in work_mem; a
# failure part-way leaves whole chunks issued and a re-run (same source_key) issues the rest.
ISSUE_CHUNK = 100_000


def coupons_issue_bulk(
    *,
    template_id: int,
    members: MembersSql,
    source: str,
    source_key: str,
    actor: str,
    now: dt.datetime | None = None,
    chunk_size: int = ISSUE_CHUNK,
    staff_id: int | None = None,
) -> IssueResult:
    """Issue one coupon of the template to each member `members` selects (SQL of one column of
    member ids), for every source: admin, campaign, points exchange, partner API, and the later
    ones. Set-based (a handful of statements per chunk of `chunk_size` members, whatever the
    number of members) and idempotent per (template, member, source_key): running it again issues
    nobody twice. Frozen, merged and erased members get nothing. The per-member limit is a
    conditional UPDATE (`count < limit`) of the member's holding row, or its insert (the unique
    (template, member) backs it); stock is taken by a conditional UPDATE whose row count is
    checked, members in ascending id order first; a pool template pairs each coupon with a free
    code and fails closed (nothing issued in that chunk) if the codes do not match the stock.
    Refuses an inactive template, or one whose validity has ended.

    Chunks go in ascending member id, each in its own transaction (a savepoint when the caller
    has one open), each re-locking the template (lock step 1), so stock, holdings and the
    idempotency check of every chunk see every other issue's commits. `staff_id`: the staff member
    sending them (announced with the issue, for staff performance; nothing of the coupon depends
    on it)."""
    if source not in Coupon.Source.values:
        raise coupon_error(error_codes.ISSUE_INVALID, fields={"source": ["未知来源。"]})
    source_key = (source_key or "").strip()
    if not source_key or len(source_key) > 128 or not _printable(source_key):
        raise coupon_error(error_codes.ISSUE_INVALID, fields={"source_key": ["发放编号必填，且不超过 128 个字符。"]})
    now = now or timezone.now()
    sql, params = members
    with connection.cursor() as cursor:
        # Who the issue is for, once (the caller's SQL may be costly): distinct active members, in
        # chunks of ascending id, each chunk an array of ids kept here as its text ('{1,2,...}')
        # and passed back as a parameter. No temporary table: on Citus a coordinator-local table
        # cannot be joined to the brand's distributed ones, and behind a transaction pooler it would
        # not outlive the transaction that made it (docs/scale-out.md).
        cursor.execute(
            f"""
            SELECT array_agg(member_id ORDER BY member_id)::text, count(*), max(member_id) FROM (
                SELECT member_id, (row_number() OVER (ORDER BY member_id) - 1) / %s AS chunk FROM (
                    SELECT DISTINCT m.id AS member_id FROM ({sql}) AS s(member_id)
                    JOIN {_MEMBER} m ON m.id = s.member_id AND m.status = 'active' AND m.merged_into_id IS NULL
                ) eligible
            ) numbered GROUP BY chunk ORDER BY chunk
            """,
            [chunk_size, *params],
        )
        chunks = [(ids, int(n), int(hi)) for ids, n, hi in cursor.fetchall()] or [("{}", 0, -1)]
    eligible = sum(n for _, n, _ in chunks)
    totals = IssueResult(eligible=eligible, issued_now=0, already=0, over_limit=0, out_of_stock=0)
    low = -1
    for ids, count, high in chunks:
        part = _issue_chunk(
            template_id=template_id,
            source=source,
            source_key=source_key,
            actor=actor,
            now=now,
            members=(ids, low, high),
            count=count,
            staff_id=staff_id,
        )
        totals = IssueResult(
            eligible=eligible,
            issued_now=totals.issued_now + part.issued_now,
            already=totals.already + part.already,
            over_limit=totals.over_limit + part.over_limit,
            out_of_stock=totals.out_of_stock + part.out_of_stock,
        )
        low = high
    return totals


def _issue_chunk(
    *,
    template_id: int,
    source: str,
    source_key: str,
    actor: str,
    now: dt.datetime,
    members: tuple[str, int, int],
    count: int,
    staff_id: int | None,
) -> IssueResult:
    """One transaction of coupons_issue_bulk: its `count` members, `ids` (the text of an ascending
    bigint array), all with an id in (low, high]. The batch narrows statement by statement (not
    yet holding this issue, under the limit, within the stock), each step an array returned as
    text and passed to the next; every statement touches the brand's own tables only."""
    ids, low, high = members
    with transaction.atomic(), connection.cursor() as cursor:
        # Custom plans for this chunk: a generic plan (psycopg prepares a statement from its sixth
        # execution, so from a 1M issue's sixth chunk) takes the batch for ten members and
        # nest-loops the chunk's whole range, minutes a chunk. SET LOCAL outlives a savepoint, so
        # the caller's setting is put back at the end.
        cursor.execute("SELECT current_setting('plan_cache_mode')")
        plan_cache_mode = cursor.fetchone()[0]
        cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        template = CouponTemplate.objects.select_for_update().get(pk=template_id)  # lock step 1
        if not template.is_active:
            raise coupon_error(error_codes.TEMPLATE_INACTIVE)
        valid_from, valid_until = rules.window(template, issued_at=now)
        if valid_until < now or valid_from > valid_until:
            raise coupon_error(error_codes.ISSUE_INVALID, "该券的有效期已结束，不能再发放。")
        # Not yet holding this issue (idempotency: the unique (template, member, source_key)).
        # Every join below repeats the chunk's member range on the permanent table's side, so
        # its index is read for this chunk only, not for every member the template has.
        cursor.execute(
            f"""
            SELECT coalesce(array_agg(b.member_id ORDER BY b.member_id)::text, '{{}}'), count(*)
            FROM unnest(%s::bigint[]) AS b(member_id)
            WHERE NOT EXISTS (
                SELECT 1 FROM {_COUPON} c
                WHERE c.template_id = %s AND c.member_id = b.member_id AND c.source_key = %s
                AND c.member_id > %s AND c.member_id <= %s
            )
            """,
            [ids, template.pk, source_key, low, high],
        )
        batch, wanted = cursor.fetchone()
        already = count - wanted
        over_limit = 0
        if template.per_member_limit is not None and wanted:
            # Lock step 2: the holding rows. Every writer of a template's holdings holds the
            # template's row lock, so these statements see one state. Those at their limit drop
            # out; `holders`: those kept who have a holding row already (raised, not inserted).
            cursor.execute(
                f"""
                SELECT coalesce(array_agg(b.member_id ORDER BY b.member_id)
                                FILTER (WHERE h.count IS NULL OR h.count < %s)::text, '{{}}'),
                       count(*) FILTER (WHERE h.count IS NULL OR h.count < %s),
                       coalesce(array_agg(b.member_id ORDER BY b.member_id) FILTER (WHERE h.count < %s)::text, '{{}}')
                FROM unnest(%s::bigint[]) AS b(member_id)
                LEFT JOIN {_HOLDING} h ON h.template_id = %s AND h.member_id = b.member_id
                AND h.member_id > %s AND h.member_id <= %s
                """,
                [*[template.per_member_limit] * 3, batch, template.pk, low, high],
            )
            batch, kept, holders = cursor.fetchone()
            over_limit = wanted - kept
            wanted = kept
        out_of_stock = 0
        if template.stock_left is not None and wanted:
            take = min(template.stock_left, wanted)
            cursor.execute(
                f"UPDATE {_TEMPLATE} SET stock_left = stock_left - %s WHERE id = %s AND stock_left >= %s",
                [take, template.pk, take],
            )
            if cursor.rowcount != 1:  # cannot happen under the row lock; refuse rather than oversell
                raise coupon_error(error_codes.OUT_OF_STOCK)
            if take < wanted:  # the lowest member ids get the last of the stock
                cursor.execute("SELECT ((%s::bigint[])[1:%s])::text", [batch, take])
                batch = cursor.fetchone()[0]
                out_of_stock = wanted - take
            wanted = take
        if template.per_member_limit is not None and wanted:
            # The UPDATE's WHERE re-checks the limit on the row it changes, and the unique
            # (template, member) refuses a second holding row whatever happens.
            cursor.execute(
                f"""
                UPDATE {_HOLDING} h SET count = h.count + 1 FROM unnest(%s::bigint[]) AS b(member_id)
                WHERE h.template_id = %s AND h.member_id = b.member_id AND h.count < %s
                AND h.member_id > %s AND h.member_id <= %s
                """,
                [batch, template.pk, template.per_member_limit, low, high],
            )
            raised = cursor.rowcount
            cursor.execute(
                f"""
                INSERT INTO {_HOLDING} (template_id, member_id, count)
                SELECT %s, member_id, 1 FROM (
                    SELECT unnest(%s::bigint[]) EXCEPT SELECT unnest(%s::bigint[])
                ) AS fresh(member_id)
                ORDER BY member_id
                """,
                [template.pk, batch, holders],
            )
            if raised + cursor.rowcount != wanted:  # cannot happen under the template lock
                raise coupon_error(error_codes.OVER_MEMBER_LIMIT)
        issued = 0
        if wanted:
            issued = _coupons_insert(
                cursor,
                batch,
                template=template,
                source=source,
                source_key=source_key,
                actor=actor,
                now=now,
                valid_from=valid_from,
                valid_until=valid_until,
            )
            if issued != wanted:
                raise coupon_error(error_codes.CODES_EXHAUSTED)
            if not template.issued_once:
                CouponTemplate.objects.filter(pk=template.pk).update(issued_once=True, updated_at=now)
            coupon_event_notify_in_transaction(
                CouponsIssued(
                    template_id=template.pk,
                    source=source,
                    rows=(
                        f"SELECT id FROM {_COUPON} WHERE template_id = %s AND source_key = %s AND issued_at = %s"
                        " AND member_id > %s AND member_id <= %s",
                        (template.pk, source_key, now, low, high),
                    ),
                    staff_id=staff_id,
                )
            )
        cursor.execute("SELECT set_config('plan_cache_mode', %s, true)", [plan_cache_mode])
    return IssueResult(
        eligible=wanted + already + over_limit + out_of_stock,
        issued_now=issued,
        already=already,
        over_limit=over_limit,
        out_of_stock=out_of_stock,
    )


def _coupons_insert(
    cursor: Any,
    batch: str,
    *,
    template: CouponTemplate,
    source: str,
    source_key: str,
    actor: str,
    now: dt.datetime,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
) -> int:
    """One statement: the coupons of the batch (the text of an ascending bigint array of member ids), their
    codes (pool), and the first history entry."""
    pooled = template.code_mode != CouponTemplate.CodeMode.GENERIC
    common = [template.pk, source, source_key, now, valid_from, valid_until]
    reason = str(Coupon.Source(source).label)
    if pooled:
        cursor.execute(
            f"""
            WITH m AS (SELECT member_id, rn FROM unnest(%s::bigint[]) WITH ORDINALITY AS b(member_id, rn)),
            c AS (
                SELECT id, code, code_hash, hint, row_number() OVER (ORDER BY id) AS rn FROM (
                    SELECT id, code, code_hash, hint FROM {_CODE}
                    WHERE template_id = %s AND coupon_id IS NULL ORDER BY id LIMIT (SELECT count(*) FROM m)
                    FOR UPDATE
                ) free
            ),
            ins AS (
                INSERT INTO {_COUPON} (template_id, member_id, state, code, code_hash, source, source_key,
                                       issued_at, valid_from, valid_until, void_reason, locked_order)
                SELECT %s, m.member_id, 'issued', CASE WHEN c.code <> '' THEN c.code ELSE c.hint END, c.code_hash,
                       %s, %s, %s, %s, %s, '', ''
                FROM m JOIN c USING (rn)
                RETURNING id, code_hash
            ),
            codes AS (UPDATE {_CODE} cc SET coupon_id = ins.id FROM ins WHERE cc.code_hash = ins.code_hash),
            ev AS (
                INSERT INTO {_EVENT} (coupon_id, from_state, to_state, reason, actor, created_at)
                SELECT id, '', 'issued', %s, %s, %s FROM ins
            )
            SELECT count(*) FROM ins
            """,
            [batch, template.pk, *common, reason, actor, now],
        )
    else:
        cursor.execute(
            f"""
            WITH ins AS (
                INSERT INTO {_COUPON} (template_id, member_id, state, code, code_hash, source, source_key,
                                       issued_at, valid_from, valid_until, void_reason, locked_order)
                SELECT %s, member_id, 'issued', '', NULL, %s, %s, %s, %s, %s, '', ''
                FROM unnest(%s::bigint[]) AS b(member_id)
                RETURNING id
            ),
            ev AS (
                INSERT INTO {_EVENT} (coupon_id, from_state, to_state, reason, actor, created_at)
                SELECT id, '', 'issued', %s, %s, %s FROM ins
            )
            SELECT count(*) FROM ins
            """,
            [*common, batch, reason, actor, now],
        )
    return int(cursor.fetchone()[0])


def coupon_issue(
    *,
    template_id: int,
    member_id: int,
    source: str,
    source_key: str,
    actor: str,
    now: dt.datetime | None = None,
    staff_id: int | None = None,
) -> Coupon:
    """Issue one coupon to one member (the same engine as the set-based issue). Idempotent per
    (template, member, source_key): a retry returns the first coupon. Refused, with nothing
    changed, over the member's limit, out of stock, codes exhausted, or to a member who is not
    active."""
    member = Member.objects.filter(pk=member_id).values_list("status", "merged_into_id").first()
    if member is None or member[0] != Member.Status.ACTIVE or member[1] is not None:
        raise coupon_error(error_codes.MEMBER_NOT_ELIGIBLE)
    with transaction.atomic():
        result = coupons_issue_bulk(
            template_id=template_id,
            members=("SELECT %s::bigint", [member_id]),
            source=source,
            source_key=source_key,
            actor=actor,
            now=now,
            staff_id=staff_id,
        )
        if result.over_limit:
            raise coupon_error(error_codes.OVER_MEMBER_LIMIT)
        if result.out_of_stock:
            raise coupon_error(error_codes.OUT_OF_STOCK)
        return Coupon.objects.get(template_id=template_id, member_id=member_id, source_key=source_key.strip())


def coupon_exchange(*, template_id: int, member_id: int, request_key: str, actor: str) -> Coupon:
    """Buy a coupon with points: the ledger debit and the coupon commit together or not at all.
    Idempotent per request_key (a retry returns the coupon and spends nothing more)."""
    request_key = (request_key or "").strip()
    if not request_key or len(request_key) > 100:
        raise coupon_error(error_codes.ISSUE_INVALID, fields={"request_key": ["请求编号必填，且不超过 100 个字符。"]})
    template = CouponTemplate.objects.filter(pk=template_id).first()
    if template is None or not template.points_price:
        raise coupon_error(error_codes.NOT_EXCHANGEABLE)
    source_key = f"points:{request_key}"
    with transaction.atomic():
        # Members' lock step 1 first (the member), then ours (the template, in coupon_issue). Under
        # the member's lock a retry finds the coupon of its first attempt and spends nothing.
        member_lock(member_id=member_id)
        existing = Coupon.objects.filter(template_id=template_id, member_id=member_id, source_key=source_key).first()
        if existing is not None:
            return existing
        points_spend_in_transaction(
            member_id=member_id,
            points=template.points_price,
            reason=f"兑换优惠券：{template.name}",
            reference=f"coupon:{template.pk}:{request_key}",
            actor=actor,
        )
        return coupon_issue(
            template_id=template_id,
            member_id=member_id,
            source=Coupon.Source.POINTS,
            source_key=source_key,
            actor=actor,
        )


# --- write-off -----------------------------------------------------------------------------------------


def _event(
    coupon: Coupon, to_state: str, *, reason: str, actor: str, now: dt.datetime, redemption_id: int | None
) -> None:
    CouponEvent.objects.create(
        coupon=coupon,
        from_state=coupon.state,
        to_state=to_state,
        reason=reason,
        actor=actor,
        created_at=now,
        redemption_id=redemption_id,
    )
    coupon.state = to_state


_COUPON_FIELDS = [f.attname for f in Coupon._meta.concrete_fields]
_TEMPLATE_FIELDS = [f.attname for f in CouponTemplate._meta.concrete_fields]
_COUPON_COLUMNS = [f.column for f in Coupon._meta.concrete_fields]
_TEMPLATE_COLUMNS = [f.column for f in CouponTemplate._meta.concrete_fields]
# The pool-code look-up of every validate and redeem, written once: compiling the ORM's
# select_related query of these two wide tables was half the CPU of a partner validate
# (bench/coupons_http.py). Every value is a parameter.
_BY_CODE_HASH = f"""
    SELECT {", ".join(f"c.{column}" for column in _COUPON_COLUMNS)},
           {", ".join(f"t.{column}" for column in _TEMPLATE_COLUMNS)}
    FROM {_COUPON} c JOIN {_TEMPLATE} t ON t.id = c.template_id
    WHERE c.code_hash = %s
"""


def _coupon_by_code_hash(code_hash: str, *, for_update: bool) -> Coupon | None:
    """The pool coupon of this code hash with its template (lock step 3 when for_update)."""
    with connection.cursor() as cursor:
        cursor.execute(_BY_CODE_HASH + (" FOR UPDATE OF c" if for_update else ""), [code_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_COUPON_FIELDS)
    coupon = Coupon.from_db(connection.alias, _COUPON_FIELDS, row[:split])
    coupon.template = CouponTemplate.from_db(connection.alias, _TEMPLATE_FIELDS, row[split:])
    return coupon


def coupon_find(*, code: str, member_id: int | None = None, for_update: bool = False) -> Coupon:
    """The coupon a typed or scanned code stands for: a pool code is one coupon; a generic code
    needs the member, whose first usable coupon of that template (ending soonest) it means."""
    normalized = rules.code_normalize(code)
    if not normalized or len(normalized) > 32 or not (normalized.isascii() and normalized.isalnum()):
        raise coupon_error(error_codes.NOT_FOUND)  # no code has other characters (nor a NUL)
    coupon = _coupon_by_code_hash(rules.code_hash(normalized), for_update=for_update)
    if coupon is not None:
        return coupon
    queryset = Coupon.objects.select_related("template")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    template_ids = list(
        CouponTemplate.objects.filter(code_mode=CouponTemplate.CodeMode.GENERIC, generic_code=normalized).values_list(
            "pk", flat=True
        )
    )
    if not template_ids:
        raise coupon_error(error_codes.NOT_FOUND)
    if member_id is None:
        raise coupon_error(
            error_codes.NOT_FOUND, "通用券码须同时提供会员。", fields={"member_no": ["通用券码须提供会员。"]}
        )
    coupon = (
        queryset.filter(template_id__in=template_ids, member_id=member_id)
        .order_by(
            # usable ones first, then the one ending soonest
            "state",
            "valid_until",
            "id",
        )
        .filter(state__in=[Coupon.State.ISSUED, Coupon.State.LOCKED])
        .first()
    ) or queryset.filter(template_id__in=template_ids, member_id=member_id).order_by("-id").first()
    if coupon is None:
        raise coupon_error(error_codes.NOT_FOUND, "该会员没有这张券。")
    return coupon


# (database, schema, template id) -> its stores. A template's stores cannot change once it has
# issued a coupon (coupon_template_update refuses it), and a write-off only ever asks about the
# template of an issued coupon, so this process may remember them for good: one query fewer on
# every validate and redeem.
_stores_remembered: dict[tuple[str, str, int], frozenset[int]] = process_memo("coupon template stores")


def store_ids_of(template: CouponTemplate) -> frozenset[int]:
    key = (connection.settings_dict["NAME"], connection.schema_name, template.pk)
    remembered = _stores_remembered.get(key)
    if remembered is None:
        remembered = frozenset(template.stores.values_list("pk", flat=True))
        if template.issued_once:
            _stores_remembered[key] = remembered
    return remembered


def _printable(text: str) -> bool:
    """No control characters (PostgreSQL refuses a NUL in text: that must be a 400, not a 500)."""
    return not any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def store_by_code(store_code: str | None) -> Store | None:
    if not store_code:
        return None
    if not _printable(store_code):
        raise coupon_error(error_codes.STORE_UNKNOWN, fields={"store_code": ["门店编码有误。"]})
    store = Store.objects.filter(code=store_code).first()
    if store is None:
        raise coupon_error(error_codes.STORE_UNKNOWN, fields={"store_code": [f"门店 {store_code} 不存在。"]})
    return store


@dataclass(frozen=True)
class RedeemResult:
    redemption: CouponRedemption
    replayed: bool


def _redeem_input_errors(
    *, request_no: str, order_no: str, channel: str, order_amount_fen: Any, shipping_fen: Any
) -> None:
    errors: dict[str, list[str]] = {}
    for name, text in (("request_no", request_no), ("order_no", order_no), ("channel", channel)):
        if not isinstance(text, str) or not _printable(text):
            errors[name] = ["不能包含控制字符。"]
    if errors:
        raise coupon_error(error_codes.REDEEM_INVALID, fields=errors)
    if not request_no or len(request_no) > 64:
        errors["request_no"] = ["核销请求号必填，且不超过 64 个字符。"]
    if not order_no or len(order_no) > 64:
        errors["order_no"] = ["订单号必填，且不超过 64 个字符。"]
    if not channel or len(channel) > 20:
        errors["channel"] = ["渠道必填。"]
    for name, value in (("order_amount_fen", order_amount_fen), ("shipping_fen", shipping_fen)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**11:
            errors[name] = ["金额须为非负整数（分）。"]
    if errors:
        raise coupon_error(error_codes.REDEEM_INVALID, fields=errors)


def coupon_redeem(
    *,
    request_no: str,
    code: str,
    member_id: int | None,
    store_code: str | None,
    channel: str,
    order_no: str,
    order_amount_fen: int,
    shipping_fen: int = 0,
    actor: str,
    now: dt.datetime | None = None,
) -> RedeemResult:
    """Write a coupon off against an order. Idempotent per request_no: a replay returns the first
    write-off (a request number reused for another coupon or order is a conflict). Refused, with
    nothing changed, when the coupon is not usable here and now (the first reason is the error,
    every reason is in `extra["reasons"]`). The discount never exceeds the payable amount. Of any
    number of concurrent write-offs of one coupon exactly one succeeds: the coupon row is locked,
    the state change is conditional, and one live write-off per coupon is a unique index."""
    request_no = (request_no or "").strip()
    order_no = (order_no or "").strip()
    _redeem_input_errors(
        request_no=request_no,
        order_no=order_no,
        channel=channel,
        order_amount_fen=order_amount_fen,
        shipping_fen=shipping_fen,
    )
    now = now or timezone.now()
    store = store_by_code(store_code)
    with transaction.atomic():
        coupon = coupon_find(code=code, member_id=member_id, for_update=True)  # lock step 3
        existing = _redemption_replayed(request_no)
        if existing is not None:
            if existing.coupon_id != coupon.pk or existing.order_no != order_no or existing.channel != channel:
                raise coupon_error(error_codes.REQUEST_CONFLICT)
            return RedeemResult(redemption=existing, replayed=True)
        template = coupon.template
        use = rules.Use(
            now=now,
            store_id=store.pk if store else None,
            order_amount_fen=order_amount_fen,
            shipping_fen=shipping_fen,
            member_id=member_id,
            order_ref=f"{channel}/{order_no}",
        )
        found = rules.reasons(coupon, template, store_ids_of(template), use)
        if found:
            raise coupon_error(found[0], reasons=found)
        off = rules.discount(template, payable_fen=order_amount_fen, shipping_fen=shipping_fen)
        redemption = CouponRedemption(
            coupon=coupon,
            request_no=request_no,
            store=store,
            channel=channel,
            order_no=order_no,
            order_amount_fen=order_amount_fen,
            discount_fen=off,
            redeemed_at=now,
            actor=actor,
            created_at=now,
            updated_at=now,
        )
        redemption.pk = _redeem_write(coupon, redemption, reason=f"核销 {channel}/{order_no}")
        coupon.state = Coupon.State.USED
        coupon_event_notify_in_transaction(CouponRedeemed(coupon_id=coupon.pk, redemption_id=redemption.pk))
    return RedeemResult(redemption=redemption, replayed=False)


def _redemption_replayed(request_no: str) -> CouponRedemption | None:
    """The write-off this request number already made, if any: one written SQL for the usual
    answer (none), the ORM only for a replay."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {CouponRedemption._meta.db_table} WHERE request_no = %s", [request_no])
        row = cursor.fetchone()
    return None if row is None else CouponRedemption.objects.get(pk=row[0])


_REDEEM_WRITE = f"""
    WITH used AS (
        UPDATE {_COUPON} SET state = 'used', used_at = %(now)s, locked_order = '', locked_until = NULL
        WHERE id = %(coupon)s AND state IN ('issued', 'locked')
        RETURNING id
    ),
    redemption AS (
        INSERT INTO {CouponRedemption._meta.db_table} (created_at, updated_at, coupon_id, request_no, status, store_id,
            channel, order_no, order_amount_fen, discount_fen, discount_refunded_fen, redeemed_at, actor)
        SELECT %(now)s, %(now)s, used.id, %(request_no)s, 'used', %(store)s, %(channel)s, %(order_no)s, %(amount)s,
            %(discount)s, 0, %(now)s, %(actor)s
        FROM used
        ON CONFLICT (request_no) DO NOTHING
        RETURNING id
    ),
    history AS (
        INSERT INTO {_EVENT} (coupon_id, from_state, to_state, reason, redemption_id, actor, created_at)
        SELECT %(coupon)s, %(from_state)s, 'used', %(reason)s, redemption.id, %(actor)s, %(now)s FROM redemption
    )
    SELECT (SELECT count(*) FROM used), (SELECT id FROM redemption)
"""


def _redeem_write(coupon: Coupon, redemption: CouponRedemption, *, reason: str) -> int:
    """ISSUED/LOCKED → USED, the write-off and its history entry in one statement (one round trip:
    the ORM's update, savepoint and two inserts were most of a redeem's CPU). The coupon row is
    locked by the caller; the UPDATE is still conditional and its row count checked. A request
    number that raced in for another coupon inserts nothing: REQUEST_CONFLICT, and the caller's
    transaction rolls the UPDATE back."""
    with connection.cursor() as cursor:
        cursor.execute(
            _REDEEM_WRITE,
            {
                "now": redemption.redeemed_at,
                "coupon": coupon.pk,
                "request_no": redemption.request_no,
                "store": redemption.store_id,
                "channel": redemption.channel,
                "order_no": redemption.order_no,
                "amount": redemption.order_amount_fen,
                "discount": redemption.discount_fen,
                "actor": redemption.actor,
                "from_state": coupon.state,
                "reason": reason,
            },
        )
        updated, redemption_id = cursor.fetchone()
    if updated != 1:
        raise coupon_error(error_codes.USED)
    if redemption_id is None:  # the same request number raced in for another coupon
        raise coupon_error(error_codes.REQUEST_CONFLICT)
    return int(redemption_id)


def _give_back(coupon: Coupon, redemption: CouponRedemption, *, reason: str, actor: str, now: dt.datetime) -> None:
    """USED → RETURNED, then back to ISSUED if the coupon is still valid, else EXPIRED."""
    _event(coupon, Coupon.State.RETURNED, reason=reason, actor=actor, now=now, redemption_id=redemption.pk)
    target = Coupon.State.ISSUED if now <= coupon.valid_until else Coupon.State.EXPIRED
    _event(
        coupon,
        target,
        reason="退回后可再次使用" if target == Coupon.State.ISSUED else "退回时已过期",
        actor=actor,
        now=now,
        redemption_id=redemption.pk,
    )
    Coupon.objects.filter(pk=coupon.pk).update(state=target, used_at=None)
    coupon_event_notify_in_transaction(CouponReturned(coupon_id=coupon.pk, redemption_id=redemption.pk, reason=reason))


def coupon_redemption_rollback(
    *, redemption_id: int, actor: str, reason: str = "", now: dt.datetime | None = None
) -> CouponRedemption:
    """Undo any write-off (not only the latest): the coupon goes back to the member (RETURNED →
    ISSUED, or EXPIRED if its time has passed). Safe to retry: a rolled-back write-off is returned
    as it is; a refunded one is refused."""
    now = now or timezone.now()
    if not 0 < redemption_id < 2**63:  # an id from a URL that no row can have
        raise coupon_error(error_codes.REDEMPTION_NOT_FOUND)
    with transaction.atomic():
        coupon_id = CouponRedemption.objects.filter(pk=redemption_id).values_list("coupon_id", flat=True).first()
        if coupon_id is None:
            raise coupon_error(error_codes.REDEMPTION_NOT_FOUND)
        coupon = Coupon.objects.select_for_update().get(pk=coupon_id)  # lock step 3: coupon, then redemption
        redemption = CouponRedemption.objects.select_for_update().get(pk=redemption_id)
        if redemption.status == CouponRedemption.Status.ROLLED_BACK:
            return redemption
        if redemption.status != CouponRedemption.Status.USED or redemption.discount_refunded_fen:
            raise coupon_error(error_codes.REDEMPTION_NOT_LIVE)
        redemption.status = CouponRedemption.Status.ROLLED_BACK
        redemption.save(update_fields=["status", "updated_at"])
        why = f"撤销核销 {redemption.request_no}" + (f"：{reason.strip()[:150]}" if reason.strip() else "")
        _give_back(coupon, redemption, reason=why, actor=actor, now=now)
    return redemption


def coupon_order_refunded(event: OrderRefunded) -> None:
    """members' `on_order_refunded` handler, in the refund's transaction: a full refund returns the
    coupon the order used (if still valid; else it ends EXPIRED), a partial refund keeps it used
    and records the refunded share of its discount, floor(discount × refunded / paid) cumulatively,
    so several partial refunds never add up to more than the discount."""
    ids = list(
        CouponRedemption.objects.filter(
            channel=event.channel, order_no=event.order_no, status=CouponRedemption.Status.USED
        ).values_list("coupon_id", "pk")
    )
    now = timezone.now()
    for coupon_id, redemption_id in sorted(ids):
        coupon = Coupon.objects.select_for_update().get(pk=coupon_id)
        redemption = CouponRedemption.objects.select_for_update().get(pk=redemption_id)
        if redemption.status != CouponRedemption.Status.USED:
            continue
        if event.order_amount_fen and event.refunded_fen < event.order_amount_fen:
            redemption.discount_refunded_fen = redemption.discount_fen * event.refunded_fen // event.order_amount_fen
            redemption.save(update_fields=["discount_refunded_fen", "updated_at"])
            continue
        redemption.status = CouponRedemption.Status.REFUNDED
        redemption.discount_refunded_fen = redemption.discount_fen
        redemption.save(update_fields=["status", "discount_refunded_fen", "updated_at"])
        _give_back(coupon, redemption, reason=f"订单退款 {event.channel}/{event.order_no}", actor="refund", now=now)


def coupon_lock(*, code: str, member_id: int | None, channel: str, order_no: str, minutes: int, actor: str) -> Coupon:
    """Hold a coupon for an order being paid (ISSUED → LOCKED) for `minutes`; the write-off of
    that order may use it, nobody else until the lock ends."""
    now = timezone.now()
    with transaction.atomic():
        coupon = coupon_find(code=code, member_id=member_id, for_update=True)
        found = rules.reasons(
            coupon, coupon.template, store_ids_of(coupon.template), rules.Use(now=now, member_id=member_id)
        )
        found = [r for r in found if r not in (error_codes.WRONG_STORE,)]
        if found:
            raise coupon_error(found[0], reasons=found)
        coupon.locked_order = f"{channel}/{order_no}"
        coupon.locked_until = now + dt.timedelta(minutes=minutes)
        _event(
            coupon, Coupon.State.LOCKED, reason=f"锁定 {coupon.locked_order}", actor=actor, now=now, redemption_id=None
        )
        coupon.save(update_fields=["state", "locked_order", "locked_until"])
    return coupon


def coupon_void(*, coupon_id: int, reason: str, actor: str) -> Coupon:
    """Void an unused coupon, with the reason (ISSUED/LOCKED → VOIDED)."""
    reason = (reason or "").strip()
    if not reason:
        raise coupon_error(error_codes.ISSUE_INVALID, fields={"reason": ["请填写作废原因。"]})
    with transaction.atomic():
        coupon = Coupon.objects.select_for_update().get(pk=coupon_id)
        if coupon.state not in (Coupon.State.ISSUED, Coupon.State.LOCKED):
            raise coupon_error(error_codes.USED if coupon.state == Coupon.State.USED else error_codes.VOIDED)
        _event(coupon, Coupon.State.VOIDED, reason=reason[:200], actor=actor, now=timezone.now(), redemption_id=None)
        coupon.void_reason = reason[:200]
        coupon.save(update_fields=["state", "void_reason"])
    return coupon


def coupons_expire_due(*, now: dt.datetime | None = None) -> int:
    """Mark every unused coupon past its end EXPIRED, set-based (one statement), with its history."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH due AS (
                SELECT id, state FROM {_COUPON} WHERE state IN ('issued', 'locked') AND valid_until < %s
                ORDER BY id FOR UPDATE
            ),
            upd AS (
                UPDATE {_COUPON} c SET state = 'expired' FROM due WHERE c.id = due.id RETURNING c.id, due.state
            ),
            ev AS (
                INSERT INTO {_EVENT} (coupon_id, from_state, to_state, reason, actor, created_at)
                SELECT id, state, 'expired', '到期', 'system', %s FROM upd
            )
            SELECT count(*) FROM upd
            """,
            [now, now],
        )
        return int(cursor.fetchone()[0])


# --- audit ---------------------------------------------------------------------------------------------


def coupons_audit() -> list[str]:
    """Every drift, in words: an instance whose state is not where its history ends or whose
    history does not chain; stock_left + reserved + issued ≠ stock_total, or reserved ≠ what the
    pending held requests reserved; a holding that is not the count of the member's coupons; a
    pool code claimed by no coupon or twice."""
    problems: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.id, c.state, last.to_state FROM {_COUPON} c
            LEFT JOIN LATERAL (
                SELECT to_state FROM {_EVENT} e WHERE e.coupon_id = c.id ORDER BY e.id DESC LIMIT 1
            ) last ON true
            WHERE last.to_state IS DISTINCT FROM c.state
            """
        )
        problems += [
            f"coupon {cid}: state {state} but history ends at {last}" for cid, state, last in cursor.fetchall()
        ]
        cursor.execute(
            f"""
            SELECT coupon_id, id FROM (
                SELECT coupon_id, id, from_state, lag(to_state, 1, '') OVER (PARTITION BY coupon_id ORDER BY id) AS prev
                FROM {_EVENT}
            ) chain WHERE from_state <> prev
            """
        )
        problems += [f"coupon {cid}: event {eid} does not follow the previous state" for cid, eid in cursor.fetchall()]
        cursor.execute(
            f"""
            SELECT t.id, t.stock_total, t.stock_left, t.stock_reserved,
                (SELECT count(*) FROM {_COUPON} c WHERE c.template_id = t.id)
            FROM {_TEMPLATE} t WHERE t.stock_total IS NOT NULL
            """
        )
        problems += [
            f"template {tid}: stock left {left} + reserved {reserved} + issued {issued} ≠ total {total}"
            for tid, total, left, reserved, issued in cursor.fetchall()
            if left + reserved + issued != total
        ]
        cursor.execute(
            f"""
            SELECT t.id, t.stock_reserved, coalesce(sum(r.reserved), 0) FROM {_TEMPLATE} t
            LEFT JOIN {CouponIssueRequest._meta.db_table} r ON r.template_id = t.id AND r.status = 'pending'
            GROUP BY t.id, t.stock_reserved HAVING t.stock_reserved <> coalesce(sum(r.reserved), 0)
            """
        )
        problems += [
            f"template {tid}: reserved {reserved} ≠ pending requests' {wanted}"
            for tid, reserved, wanted in cursor.fetchall()
        ]
        cursor.execute(
            f"""
            SELECT h.template_id, h.member_id, h.count, count(c.id) FROM {_HOLDING} h
            LEFT JOIN {_COUPON} c ON c.template_id = h.template_id AND c.member_id = h.member_id
            GROUP BY h.template_id, h.member_id, h.count HAVING h.count <> count(c.id)
            """
        )
        problems += [f"template {t} member {m}: holding {h} ≠ coupons {n}" for t, m, h, n in cursor.fetchall()]
        cursor.execute(
            f"""
            SELECT c.id FROM {_COUPON} c WHERE c.code_hash IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM {_CODE} k WHERE k.coupon_id = c.id AND k.code_hash = c.code_hash)
            """
        )
        problems += [f"coupon {cid}: its code is not claimed from the pool" for (cid,) in cursor.fetchall()]
    return problems


__all__ = [
    "AppError",
    "IssueResult",
    "RedeemResult",
    "coupon_codes_generate",
    "coupon_codes_import",
    "coupon_exchange",
    "coupon_issue",
    "coupon_lock",
    "coupon_order_refunded",
    "coupon_redeem",
    "coupon_redemption_rollback",
    "coupon_template_create",
    "coupon_template_update",
    "coupon_void",
    "coupons_audit",
    "coupons_expire_due",
    "coupons_issue_bulk",
]
