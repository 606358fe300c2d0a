"""Who must hear about coupon events, without coupons importing them (the webhooks app turns them
into coupon.issued / coupon.redeemed / coupon.returned deliveries).

Handlers run inside the service's transaction: quick, no network; real work goes to a task with
`crm.celery.send_on_commit`. A set-based issue to a million members announces one event with the
SQL of its coupons, so a handler with nothing to do costs nothing.
"""

from dataclasses import dataclass
from typing import Any

from crm.hooks import Hook


@dataclass(frozen=True)
class CouponsIssued:
    """Coupons were issued: `rows` is (sql, params) selecting the new coupons' ids. `staff_id`:
    the staff member who sent them to their customers (a staff member's coupon is a touch for
    staff performance), None when the brand issued them."""

    template_id: int
    source: str
    rows: tuple[str, tuple[Any, ...]]
    staff_id: int | None = None


@dataclass(frozen=True)
class CouponRedeemed:
    coupon_id: int
    redemption_id: int


@dataclass(frozen=True)
class CouponReturned:
    """A coupon went back to the member (rollback of a write-off, or its order refunded)."""

    coupon_id: int
    redemption_id: int
    reason: str


CouponEvent = CouponsIssued | CouponRedeemed | CouponReturned

coupon_event: Hook[CouponEvent, None] = Hook("coupon event")
on_coupon_event = coupon_event.connect


def coupon_event_notify_in_transaction(event: CouponEvent) -> None:
    coupon_event.tell(event)
