"""Reads of coupons for the partner API, the workbench (write-off screen), the member centre
(我的优惠券) and the reports. Nothing here writes or locks."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace

from django.db import connection
from django.utils import timezone

from . import error_codes, rules
from .error_codes import coupon_error
from .hooks import coupon_campaign_names
from .models import Coupon, CouponRedemption, CouponTemplate
from .services import coupon_find, store_by_code, store_ids_of


@dataclass(frozen=True)
class CouponView:
    """A coupon as people see it: whether it can be used, and if not, why (codes and words)."""

    coupon: Coupon
    reasons: list[str]
    discount_fen: int | None = None
    reason_texts: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.reasons

    @property
    def benefit(self) -> str:
        return rules.benefit_words(self.coupon.template)


def _view(coupon: Coupon, stores: frozenset[int], use: rules.Use) -> CouponView:
    found = rules.reasons(coupon, coupon.template, stores, use)
    off = None
    if not found and use.order_amount_fen is not None:
        off = rules.discount(coupon.template, payable_fen=use.order_amount_fen, shipping_fen=use.shipping_fen)
    return CouponView(
        coupon=coupon, reasons=found, discount_fen=off, reason_texts=[error_codes.reason_text(r) for r in found]
    )


def member_coupons(
    *,
    member_id: int,
    now: dt.datetime | None = None,
    store_id: int | None = None,
    order_amount_fen: int | None = None,
    include_finished: bool = False,
) -> list[CouponView]:
    """A member's coupons, usable ones first (ending soonest first), each other one with the
    reasons it cannot be used here and now (store and amount when given). Without
    `include_finished`, used/expired/voided coupons older than 90 days are left out. Two queries."""
    now = now or timezone.now()
    queryset = Coupon.objects.filter(member_id=member_id).select_related("template").order_by("valid_until", "id")
    if not include_finished:
        queryset = queryset.exclude(
            state__in=[Coupon.State.USED, Coupon.State.EXPIRED, Coupon.State.VOIDED],
            valid_until__lt=now - dt.timedelta(days=90),
        )
    coupons = list(queryset[:500])
    stores: dict[int, set[int]] = defaultdict(set)
    through = CouponTemplate.stores.through
    for template_id, store in through.objects.filter(
        coupontemplate_id__in={c.template_id for c in coupons}
    ).values_list("coupontemplate_id", "store_id"):
        stores[template_id].add(store)
    use = rules.Use(
        now=now,
        store_id=store_id,
        order_amount_fen=order_amount_fen,
        member_id=member_id,
        store_known=store_id is not None,
    )
    views = [_view(c, frozenset(stores[c.template_id]), use) for c in coupons]
    return sorted(views, key=lambda v: (not v.usable, v.coupon.valid_until, v.coupon.pk))


def member_coupons_grouped(*, member_id: int, now: dt.datetime | None = None) -> dict[str, list[CouponView]]:
    """我的优惠券's three tabs: usable (可使用), used (已使用), expired (已过期, voided included)."""
    groups: dict[str, list[CouponView]] = {"usable": [], "used": [], "expired": []}
    for view in member_coupons(member_id=member_id, now=now):
        state = view.coupon.state
        if state == Coupon.State.USED:
            groups["used"].append(view)
        elif state in (Coupon.State.EXPIRED, Coupon.State.VOIDED) or error_codes.EXPIRED in view.reasons:
            groups["expired"].append(view)
        else:
            groups["usable"].append(view)  # includes not-yet-valid ones, with their reason
    return groups


def coupon_by_code(*, code: str, member_id: int | None = None) -> Coupon | None:
    """The coupon a scanned or typed code stands for (a generic code needs the member), or None."""
    try:
        return coupon_find(code=code, member_id=member_id)
    except Exception as exc:  # an AppError: unknown code
        if getattr(exc, "code", None) == error_codes.NOT_FOUND:
            return None
        raise


@dataclass(frozen=True)
class Validation:
    coupon: Coupon
    usable: bool
    reasons: list[str]
    discount_fen: int
    payable_after_fen: int


def coupon_validate(
    *,
    code: str,
    member_id: int | None,
    store_code: str | None,
    order_amount_fen: int,
    shipping_fen: int = 0,
    channel: str = "",
    order_no: str = "",
    now: dt.datetime | None = None,
) -> Validation:
    """The dry run of a write-off: would this coupon apply to this order here and now, with what
    discount, and if not, every reason. An unknown code (or another brand's) is a 404 error, not
    a reason: there is no coupon to describe."""
    if not isinstance(order_amount_fen, int) or isinstance(order_amount_fen, bool) or order_amount_fen < 0:
        raise coupon_error(error_codes.REDEEM_INVALID, fields={"order_amount_fen": ["金额须为非负整数（分）。"]})
    now = now or timezone.now()
    store = store_by_code(store_code)
    coupon = coupon_find(code=code, member_id=member_id)
    use = rules.Use(
        now=now,
        store_id=store.pk if store else None,
        order_amount_fen=order_amount_fen,
        shipping_fen=shipping_fen,
        member_id=member_id,
        order_ref=f"{channel}/{order_no}",
    )
    found = rules.reasons(coupon, coupon.template, store_ids_of(coupon.template), use)
    off = 0 if found else rules.discount(coupon.template, payable_fen=order_amount_fen, shipping_fen=shipping_fen)
    return Validation(
        coupon=coupon, usable=not found, reasons=found, discount_fen=off, payable_after_fen=order_amount_fen - off
    )


def redemption_get(*, redemption_id: int) -> CouponRedemption | None:
    return (
        CouponRedemption.objects.select_related("coupon", "coupon__template", "store").filter(pk=redemption_id).first()
    )


# --- reports -------------------------------------------------------------------------------------------

REPORT_DIMENSIONS = ("template", "store", "campaign")


@dataclass(frozen=True)
class ReportRow:
    key: str
    label: str
    issued: int
    used: int
    expired: int
    returned: int
    discount_fen: int
    gmv_fen: int


def coupons_report(*, by: str) -> list[ReportRow]:
    """Issued / used / expired / returned per template, store (of the write-off) or campaign (the
    source key of a campaign issue), with the discount given and the GMV of the orders that used
    them (orders known to members, matched on channel and order number, net of refunds; an order
    that used two coupons of one row counts once). Each figure counts coupons (returned:
    write-offs given back); one query."""
    if by not in REPORT_DIMENSIONS:
        raise ValueError(by)
    key_sql = {
        "template": "t.id::text",
        "store": "COALESCE(s.code, '')",
        "campaign": "CASE WHEN c.source = 'campaign' THEN split_part(c.source_key, ':', 2) ELSE '' END",
    }[by]
    label_sql = {
        "template": "t.name",
        "store": "s.name",
        "campaign": "''",  # named below (the campaigns app knows its names)
    }[by]
    sql = f"""
        WITH base AS (
            SELECT {key_sql} AS k, {label_sql} AS label, c.id AS coupon_id, c.state, r.id AS redemption_id,
                   r.status, r.discount_fen - r.discount_refunded_fen AS discount, o.id AS order_id,
                   o.amount_fen - o.refunded_fen AS paid
            FROM coupons_coupon c
            JOIN coupons_coupontemplate t ON t.id = c.template_id
            LEFT JOIN coupons_couponredemption r ON r.coupon_id = c.id
            LEFT JOIN members_store s ON s.id = r.store_id
            LEFT JOIN members_order o ON o.channel = r.channel AND o.order_no = r.order_no
        ),
        gmv AS (
            SELECT k, sum(paid) AS gmv FROM (
                SELECT DISTINCT k, order_id, paid FROM base WHERE status = 'used' AND order_id IS NOT NULL
            ) orders GROUP BY k
        )
        SELECT b.k, COALESCE(max(b.label), '未在门店核销'),
               count(DISTINCT b.coupon_id),
               count(DISTINCT b.coupon_id) FILTER (WHERE b.state = 'used'),
               count(DISTINCT b.coupon_id) FILTER (WHERE b.state = 'expired'),
               count(DISTINCT b.redemption_id) FILTER (WHERE b.status <> 'used'),
               COALESCE(sum(b.discount) FILTER (WHERE b.status = 'used'), 0),
               COALESCE(max(g.gmv), 0)
        FROM base b LEFT JOIN gmv g ON g.k = b.k
        GROUP BY b.k ORDER BY b.k
    """  # noqa: S608 — the dimension picks one of the fixed expressions above
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = [ReportRow(str(k), str(label), *map(int, rest)) for k, label, *rest in cursor.fetchall()]
    if by == "campaign":
        names = coupon_campaign_names([row.key for row in rows if row.key])
        rows = [replace(row, label=names.get(row.key, f"活动 #{row.key}") if row.key else "非活动发放") for row in rows]
    return rows
