"""Who must hear about coupon events, without coupons importing them (the webhooks app turns them
into coupon.issued / coupon.redeemed / coupon.returned deliveries).

Handlers run inside the service's transaction: quick, no network; real work goes to a task with
`crm.celery.send_on_commit`. A set-based issue to a million members announces one event with the
SQL of its coupons, so a handler with nothing to do costs nothing.
"""

from collections.abc import Callable
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


# --- expiry reminders (coupons/reminders.py) -------------------------------------------------------
# Coupons decide who hears and what; the app that owns a channel sends (campaigns registers its
# SMS provider, with the 退订 footer), so coupons imports no channel.


@dataclass(frozen=True)
class ReminderMessage:
    reference: str  # the CouponReminder id: providers that deduplicate by it send once
    member_id: int
    mobile: str
    body: str


@dataclass(frozen=True)
class ReminderSent:
    reference: str
    accepted: bool
    provider_msgid: str = ""
    error: str = ""


ReminderSender = Callable[[list[ReminderMessage]], list[ReminderSent]]
_reminder_senders: list[ReminderSender] = []


def coupon_reminder_sender_register(sender: ReminderSender) -> None:
    """The one sender of coupon reminders (SMS); registering again replaces it."""
    _reminder_senders[:] = [sender]


def coupon_reminder_sender() -> ReminderSender | None:
    return _reminder_senders[0] if _reminder_senders else None


# --- campaign names for the report (按活动) -----------------------------------------------------------
# A campaign issue's source key is campaign:<campaign id>:<occurrence id>; the campaigns app, above
# coupons, says what each campaign is called, so the report shows names, not numbers.

CampaignNamer = Callable[[list[str]], dict[str, str]]
_campaign_namers: list[CampaignNamer] = []


def coupon_campaign_namer_register(namer: CampaignNamer) -> None:
    """The one namer of campaign ids (as text) → names; registering again replaces it."""
    _campaign_namers[:] = [namer]


def coupon_campaign_names(keys: list[str]) -> dict[str, str]:
    return _campaign_namers[0](keys) if _campaign_namers and keys else {}
