"""Reads of staff performance: an order's credit in words, the reports, the what-if preview."""

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from campaigns.models import Campaign, Occurrence, Recipient
from coupons.models import CouponRedemption
from crm.errors import AppError
from crm.tenancy.zones import brand_zone
from members.models import Member, Staff, Store
from members.scoping import StoreScope

from . import error_codes, rollups
from .attribution import CURRENT_RULE, decide_sql
from .models import TOUCH_PHRASES, Attribution, Basis, Touch, TouchKind
from .services import rule_validate

_ATTR = Attribution._meta.db_table
_TOUCH = Touch._meta.db_table
_MEMBER = Member._meta.db_table
_STAFF = Staff._meta.db_table
_ORDER = "members_order"
_REDEMPTION = CouponRedemption._meta.db_table
_OCCURRENCE = Occurrence._meta.db_table
_CAMPAIGN = Campaign._meta.db_table
_RECIPIENT = Recipient._meta.db_table

NO_CREDIT = "无导购业绩归属"
MAX_REPORT_DAYS = 62  # longer ranges run as a background export


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


@dataclass(frozen=True)
class Credit:
    """Who got an order's credit and why, in words."""

    order_id: int
    staff_id: int | None
    staff_name: str
    basis: str
    text: str
    credited_fen: int
    refunded_fen: int
    rule_id: int | None


def _staff_name(name: str, resigned: bool) -> str:
    return f"{name}·已离职" if resigned else name


def credit_text(
    *, basis: str, staff_name: str, is_exclusive: bool, touch_kind: str, window_days: int | None, own_name: str = ""
) -> str:
    """ "专属导购 张三（近 30 天内发送的优惠券）" — the one way an attribution is put in words."""
    if own_name:
        return f"导购 {own_name} 本人购买，不计业绩"
    if not basis:
        return NO_CREDIT
    role = "专属导购" if is_exclusive else ("服务导购" if basis == Basis.SERVING else "导购")
    if basis == Basis.SERVING:
        reason = "门店订单的服务导购"
    elif basis == Basis.EXCLUSIVE:
        reason = "下单时的专属导购"
    else:
        phrase = TOUCH_PHRASES.get(TouchKind(touch_kind), "的触达") if touch_kind in TouchKind.values else "的触达"
        reason = f"近 {window_days} 天内{phrase}"
    return f"{role} {staff_name}（{reason}）"


def order_credits(*, order_ids: Iterable[int]) -> dict[int, Credit]:
    """The credit of each order (orders without one are absent: NO_CREDIT). One query."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = Attribution.objects.filter(order_id__in=ids).values(
        "order_id",
        "staff_id",
        "staff__name",
        "staff__status",
        "basis",
        "is_exclusive",
        "touch_kind",
        "window_days",
        "own_purchase_staff__name",
        "credited_fen",
        "refunded_fen",
        "rule_id",
    )
    credits = {}
    for r in rows:
        name = _staff_name(r["staff__name"], r["staff__status"] == Staff.Status.RESIGNED) if r["staff_id"] else ""
        credits[r["order_id"]] = Credit(
            order_id=r["order_id"],
            staff_id=r["staff_id"],
            staff_name=name,
            basis=r["basis"],
            text=credit_text(
                basis=r["basis"],
                staff_name=name,
                is_exclusive=r["is_exclusive"],
                touch_kind=r["touch_kind"],
                window_days=r["window_days"],
                own_name=r["own_purchase_staff__name"] or "",
            ),
            credited_fen=r["credited_fen"],
            refunded_fen=r["refunded_fen"],
            rule_id=r["rule_id"],
        )
    return credits


def order_credit_texts(order_ids: Sequence[int]) -> dict[int, str]:
    """{order_id: who got the credit and why} for the given orders (members.hooks.order_notes);
    orders without a credit read NO_CREDIT."""
    credits = order_credits(order_ids=order_ids)
    return {i: credits[i].text if i in credits else NO_CREDIT for i in order_ids}


def order_credit_text(*, order_id: int) -> str:
    """For the member timeline and the order page: the credit of one order in words."""
    credit = order_credits(order_ids=[order_id]).get(order_id)
    return credit.text if credit else NO_CREDIT


# --- reports --------------------------------------------------------------------------------------


@dataclass
class StaffFigures:
    staff_id: int
    staff_name: str
    store_id: int | None
    store_name: str
    orders: int = 0
    gmv_fen: int = 0
    refunded_fen: int = 0
    members_enrolled: int = 0
    members_served: int = 0
    coupons_redeemed: int = 0  # coupons this staff member sent, written off in the period
    # Orders credited to them that a member-day campaign's audience (not its hold-out) paid on the
    # member day: the campaign's conversions this staff member brought in.
    member_day_orders: int = 0

    @property
    def net_fen(self) -> int:
        return self.gmv_fen - self.refunded_fen


def period_bounds(*, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in the brand's zone: every day is the brand's business day."""
    if end < start:
        raise AppError(error_codes.REPORT_INVALID, "结束日期不能早于开始日期。", fields={"end": ["不能早于开始日期。"]})
    tz = brand_zone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def _store_filter(scope: StoreScope, store_id: int | None, column: str) -> tuple[str, list[Any]]:
    """Store scoping of every report and export (members/scoping.py): a store user sees their
    store only, whatever they ask for; a user with no store sees nothing."""
    if not scope.all_stores:
        if scope.store_id is None or (store_id is not None and store_id != scope.store_id):
            return " AND false", []
        return f" AND {column} = %s", [scope.store_id]
    if store_id is not None:
        return f" AND {column} = %s", [store_id]
    return "", []


def performance_report(
    *,
    scope: StoreScope,
    start: dt.date,
    end: dt.date,
    store_id: int | None = None,
    staff_id: int | None = None,
    allow_long: bool = False,
) -> list[StaffFigures]:
    """Per staff member (and the store credited) for [start, end] in brand days: attributed
    orders, GMV, refunds of that credit (pro rata), members enrolled by them, members served
    (distinct members with a credited order or a touch), coupons they sent that were written off,
    and member-day conversions."""
    if not allow_long and (end - start).days + 1 > MAX_REPORT_DAYS:
        raise AppError(
            error_codes.REPORT_INVALID,
            f"查询区间超过 {MAX_REPORT_DAYS} 天，请使用后台导出。",
            fields={"end": [f"最多 {MAX_REPORT_DAYS} 天。"]},
        )
    since, until = period_bounds(start=start, end=end)
    figures: dict[tuple[int, int | None], StaffFigures] = {}
    staff_sql, staff_params = ("", []) if staff_id is None else (" AND a.staff_id = %s", [staff_id])
    store_sql, store_params = _store_filter(scope, store_id, "a.store_id")
    s_staff_sql, s_staff_params = ("", []) if staff_id is None else (" AND s.id = %s", [staff_id])
    s_store_sql, s_store_params = _store_filter(scope, store_id, "s.store_id")
    r_staff_sql, r_staff_params = ("", []) if staff_id is None else (" AND r.staff_id = %s", [staff_id])
    r_store_sql, r_store_params = _store_filter(scope, store_id, "r.store_id")
    r_filter, r_params = f"{r_staff_sql}{r_store_sql}", [*r_staff_params, *r_store_params]
    # The rollups hold whole brand days up to `rolled` (rollups.py), plus the late rows created
    # since they were built; the days after it are read raw.
    state = rollups.rollups_state()
    rolled = state.through
    roll_end = min(end, rolled) if rolled is not None and rolled >= start else None
    late = rollups.LateRows([], [])
    if roll_end is not None and state.built_at is not None:
        late = rollups.late_rows(
            built_at=state.built_at,
            since=since,
            until=period_bounds(start=roll_end, end=roll_end)[1],
            attr_filter=(f"{staff_sql}{store_sql}", [*staff_params, *store_params]),
            touch_filter=(f"{s_staff_sql}{s_store_sql}", [*s_staff_params, *s_store_params]),
        )
    with transaction.atomic(), connection.cursor() as cursor:
        sums: list[tuple[Any, ...]] = list(late.sums)
        if roll_end is not None:
            cursor.execute(
                f"""SELECT r.staff_id, r.store_id, sum(r.orders), sum(r.credited_fen), sum(r.refunded_fen)
                    FROM {rollups.DAY} r WHERE r.day BETWEEN %s AND %s{r_filter}
                    GROUP BY 1, 2""",  # noqa: S608
                [start, roll_end, *r_params],
            )
            sums += cursor.fetchall()
        raw_since = since if roll_end is None else period_bounds(start=roll_end, end=roll_end)[1]
        if raw_since < until:
            cursor.execute(
                f"""SELECT a.staff_id, a.store_id, count(*), sum(a.credited_fen), sum(a.refunded_fen)
                    FROM {_ATTR} a WHERE a.paid_at >= %s AND a.paid_at < %s AND a.staff_id IS NOT NULL
                    {staff_sql}{store_sql} GROUP BY a.staff_id, a.store_id""",  # noqa: S608
                [raw_since, until, *staff_params, *store_params],
            )
            sums += cursor.fetchall()
        for sid, st, n, gmv, refunded in sums:
            f = figures.setdefault((sid, st), StaffFigures(sid, "", st, ""))
            f.orders += int(n)
            f.gmv_fen += int(gmv)
            f.refunded_fen += int(refunded)
        # Enrolments and touches: the staff member's current store.
        cursor.execute(
            f"""SELECT m.enrolled_by_id, s.store_id, count(*)
                FROM {_MEMBER} m JOIN {_STAFF} s ON s.id = m.enrolled_by_id
                WHERE m.enrolled_at >= %s AND m.enrolled_at < %s AND m.merged_into_id IS NULL
                {s_staff_sql}{s_store_sql} GROUP BY 1, 2""",  # noqa: S608
            [since, until, *s_staff_params, *s_store_params],
        )
        for sid, st, n in cursor.fetchall():
            figures.setdefault((sid, st), StaffFigures(sid, "", st, "")).members_enrolled = n
        # Coupons written off in the period that the staff member had sent (the coupon's touch,
        # key coupon:<id>; the staff member's current store, as for touches). The kind lets the
        # planner use the key's unique index, which leaves served touches out (models.Touch).
        cursor.execute(
            f"""SELECT t.staff_id, s.store_id, count(*) FROM {_REDEMPTION} r
                JOIN {_TOUCH} t ON t.key = 'coupon:' || r.coupon_id AND t.kind = 'coupon'
                JOIN {_STAFF} s ON s.id = t.staff_id
                WHERE r.redeemed_at >= %s AND r.redeemed_at < %s AND r.status <> 'rolled_back'
                {s_staff_sql}{s_store_sql} GROUP BY 1, 2""",  # noqa: S608
            [since, until, *s_staff_params, *s_store_params],
        )
        for sid, st, n in cursor.fetchall():
            figures.setdefault((sid, st), StaffFigures(sid, "", st, "")).coupons_redeemed = n
        # Member-day conversions: credited orders paid inside a member-day occurrence's window by
        # a member of its audience (the hold-out is the comparison group, not a conversion). An
        # order inside two overlapping member days counts once.
        cursor.execute(
            f"""SELECT a.staff_id, a.store_id, count(DISTINCT a.order_id)
                FROM {_OCCURRENCE} o JOIN {_CAMPAIGN} c ON c.id = o.campaign_id AND c.type = %s
                JOIN {_ATTR} a ON a.paid_at >= o.window_start AND a.paid_at < o.window_end
                JOIN {_RECIPIENT} r ON r.occurrence_id = o.id AND r.member_id = a.member_id AND NOT r.holdout
                WHERE o.window_start < %s AND o.window_end > %s AND a.paid_at >= %s AND a.paid_at < %s
                AND a.staff_id IS NOT NULL{staff_sql}{store_sql} GROUP BY 1, 2""",  # noqa: S608
            [Campaign.Type.MEMBER_DAY, until, since, since, until, *staff_params, *store_params],
        )
        for sid, st, n in cursor.fetchall():
            figures.setdefault((sid, st), StaffFigures(sid, "", st, "")).member_day_orders = n
        # Members served: whole months the rollups hold from ServedMonth (distinct already), their
        # other days from ServedDay's arrays, the days after them raw, and the late rows.
        # Distinct by hashing (DISTINCT, then count) rather than count(DISTINCT), which always
        # sorts; the hash table of a month's (staff, store, member) fits in work_mem.
        months = rollups.whole_months(start, roll_end) if roll_end is not None else []
        rolled_days: list[tuple[dt.date, dt.date]] = []
        cursor_day = start
        for month in [*months, None]:
            edge_end = (month - dt.timedelta(days=1)) if month is not None else roll_end
            if edge_end is not None and cursor_day <= edge_end:
                rolled_days.append((cursor_day, edge_end))
            if month is not None:
                cursor_day = rollups.month_last(month) + dt.timedelta(days=1)
        parts: list[str] = []
        params: list[Any] = []
        if months:
            parts.append(
                f"SELECT r.staff_id, r.store_id, r.member_id FROM {rollups.SERVED} r "  # noqa: S608
                f"WHERE r.month = ANY(%s){r_filter}"
            )
            params += [months, *r_params]
        for first, last in rolled_days:
            parts.append(
                f"SELECT r.staff_id, r.store_id, m.member_id FROM {rollups.SERVED_DAY} r "  # noqa: S608
                f"CROSS JOIN LATERAL unnest(r.member_ids) AS m(member_id) WHERE r.day BETWEEN %s AND %s{r_filter}"
            )
            params += [first, last, *r_params]
        if raw_since < until:
            parts.append(
                rollups.SERVED_RAW.format(
                    attr_when="a.paid_at >= %s AND a.paid_at < %s",
                    touch_when="t.touched_at >= %s AND t.touched_at < %s",
                    attr_filter=f"{staff_sql}{store_sql}",
                    touch_filter=f"{s_staff_sql}{s_store_sql}",
                )
            )
            params += [raw_since, until, *staff_params, *store_params, raw_since, until]
            params += [*s_staff_params, *s_store_params]
        if late.served:
            parts.append(
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS l(staff_id, store_id, member_id)"
            )
            params += [list(column) for column in zip(*late.served, strict=True)]
        cursor.execute("SET LOCAL work_mem = '64MB'")
        if len(parts) == 1 and len(months) == 1:  # one rolled-up month alone: its rows are distinct already
            query = f"SELECT staff_id, store_id, count(*) FROM ({parts[0]}) u GROUP BY 1, 2"  # noqa: S608
        else:
            query = (
                "SELECT staff_id, store_id, count(*) FROM (SELECT DISTINCT staff_id, store_id, member_id FROM ("  # noqa: S608
                + " UNION ALL ".join(parts)
                + ") u) d GROUP BY 1, 2"
            )
        cursor.execute(query, params)
        for sid, st, n in cursor.fetchall():
            figures.setdefault((sid, st), StaffFigures(sid, "", st, "")).members_served = n
    names = dict(Staff.objects.filter(pk__in={k[0] for k in figures}).values_list("pk", "name"))
    resigned = set(
        Staff.objects.filter(pk__in={k[0] for k in figures}, status=Staff.Status.RESIGNED).values_list("pk", flat=True)
    )
    stores = dict(Store.objects.filter(pk__in={k[1] for k in figures if k[1]}).values_list("pk", "name"))
    rows = list(figures.values())
    for f in rows:
        f.staff_name = _staff_name(names.get(f.staff_id, ""), f.staff_id in resigned)
        f.store_name = stores.get(f.store_id, "") if f.store_id else ""
    rows.sort(key=lambda f: (-f.net_fen, f.store_name, f.staff_name))
    return rows


def credited_by_staff(*, since: dt.datetime, until: dt.datetime) -> dict[int, tuple[int, int]]:
    """{staff id: (credited orders, credit net of refunds in fen)} of the orders paid in
    [since, until), every store together (the dashboard's 12-month staff figures): the whole brand
    days the rollups hold from DayFigures plus the late rows created since they were built, the
    partial days at both ends from the attributions (perf_attr_paid, index only). A build that
    commits while this reads is detected (its state moved) and the read is done again."""
    tz = brand_zone()
    for _attempt in range(3):
        state = rollups.rollups_state()
        first = since.astimezone(tz).date()
        if rollups.bounds(first, first)[0] < since:
            first += dt.timedelta(days=1)
        last = until.astimezone(tz).date() - dt.timedelta(days=1)  # the last day ending by `until`
        if state.through is not None:
            last = min(last, state.through)
        raw = "SELECT a.staff_id, 1 AS n, a.credited_fen - a.refunded_fen AS net FROM {attr} a "
        raw += "WHERE a.paid_at >= %s AND a.paid_at < %s AND a.staff_id IS NOT NULL"
        raw = raw.format(attr=_ATTR)
        late = rollups.LateRows([], [])
        params: list[Any]
        if state.through is None or state.built_at is None or first > last:
            parts, params = [raw], [since, until]
        else:
            day_since, day_until = rollups.bounds(first, last)
            parts = [
                raw,
                f"SELECT r.staff_id, r.orders, r.credited_fen - r.refunded_fen FROM {rollups.DAY} r "  # noqa: S608
                "WHERE r.day BETWEEN %s AND %s",
                raw,
            ]
            params = [since, day_since, first, last, day_until, until]
            late = rollups.late_rows(
                built_at=state.built_at, since=day_since, until=day_until, attr_filter=("", []), touch_filter=("", [])
            )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT staff_id, sum(n), sum(net) FROM ({' UNION ALL '.join(parts)}) u GROUP BY 1",  # noqa: S608
                params,
            )
            found = cursor.fetchall()
        if rollups.rollups_state() == state:
            break
    totals = {staff: (int(n), int(net)) for staff, n, net in found}
    for staff, _store, n, credited, refunded in late.sums:
        orders, net = totals.get(staff, (0, 0))
        totals[staff] = (orders + n, net + credited - refunded)
    return totals


def staff_own_figures(*, staff: Staff, start: dt.date, end: dt.date) -> StaffFigures:
    """A staff member's own figures (their workbench): all their stores' rows summed."""
    rows = performance_report(scope=StoreScope(all_stores=True), start=start, end=end, staff_id=staff.pk)
    total = StaffFigures(staff.pk, staff.name, staff.store_id, "")
    for f in rows:
        total.orders += f.orders
        total.gmv_fen += f.gmv_fen
        total.refunded_fen += f.refunded_fen
        total.members_enrolled += f.members_enrolled
        total.coupons_redeemed += f.coupons_redeemed
        total.member_day_orders += f.member_day_orders
        total.members_served = max(total.members_served, f.members_served)
    return total


# --- what-if ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    staff_id: int
    staff_name: str
    orders_now: int
    gmv_now_fen: int
    orders_new: int
    gmv_new_fen: int


def rule_preview(
    *, precedence: list[str], windows: dict[str, int], start: dt.date, end: dt.date, scope: StoreScope
) -> list[PreviewRow]:
    """What `precedence` / `windows` would have credited over [start, end] (brand days), next to
    what was credited: the same decision SQL as the order ingest, over the stored orders, writing
    nothing. Staff-bought orders credit nobody under either rule."""
    errors = rule_validate(precedence=precedence, windows=windows)
    if errors:
        raise AppError(error_codes.RULE_INVALID, "业绩归属规则有误。", fields=errors)
    since, until = period_bounds(start=start, end=end)
    store_now, store_now_params = _store_filter(scope, None, "a.store_id")
    store_new, store_new_params = _store_filter(scope, None, "d.store_id")
    rule = "(SELECT NULL::bigint AS id, %s::text[] AS precedence, %s::jsonb AS windows)"
    orders = f"(SELECT * FROM {_ORDER} WHERE paid_at >= %s AND paid_at < %s)"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH now AS (
                    SELECT a.staff_id, count(*) AS n, sum(a.credited_fen) AS gmv FROM {_ATTR} a
                    WHERE a.paid_at >= %s AND a.paid_at < %s AND a.staff_id IS NOT NULL{store_now}
                    GROUP BY 1
                ), new AS (
                    SELECT d.staff_id, count(*) AS n, sum(d.amount_fen) AS gmv
                    FROM ({decide_sql(orders=orders, rule=rule)}) d
                    WHERE d.own_staff_id IS NULL AND d.staff_id IS NOT NULL{store_new}
                    GROUP BY 1
                )
                SELECT COALESCE(now.staff_id, new.staff_id), COALESCE(now.n, 0), COALESCE(now.gmv, 0),
                       COALESCE(new.n, 0), COALESCE(new.gmv, 0)
                FROM now FULL JOIN new ON new.staff_id = now.staff_id""",  # noqa: S608
            [
                since,
                until,
                *store_now_params,
                since,
                until,
                list(precedence),
                json.dumps(windows),
                *store_new_params,
            ],
        )
        found = cursor.fetchall()
    names = dict(Staff.objects.filter(pk__in=[r[0] for r in found]).values_list("pk", "name"))
    rows = [PreviewRow(r[0], names.get(r[0], ""), r[1], int(r[2]), r[3], int(r[4])) for r in found]
    rows.sort(key=lambda r: (-r.gmv_new_fen, r.staff_name))
    return rows


__all__ = [
    "CURRENT_RULE",
    "NO_CREDIT",
    "credited_by_staff",
    "order_credit_text",
    "order_credits",
    "performance_report",
    "rule_preview",
]
