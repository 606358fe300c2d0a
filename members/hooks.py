"""Who must hear about membership events, without members importing them (WeCom links waiting
prospects when a member with their unionid appears, and mirrors brand tags as WeCom corp tags;
the partner API turns enrolments and loyalty changes into webhooks).

    from members.hooks import IdentitiesAdded, TagsChanged, on_identities_added, on_tags_changed

    @on_identities_added
    def link_prospects(event: IdentitiesAdded) -> None: ...

Handlers run inside the service's transaction, so they must be quick, must not call the network,
and should hand real work to a task with `crm.celery.send_on_commit` (an exception in a handler
rolls the member change back). The services call them; nothing else does.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IdentitiesAdded:
    """A member was enrolled, or identities were bound to an existing member."""

    member_id: int
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class TagsChanged:
    member_ids: tuple[int, ...]
    tag_id: int
    added: bool


@dataclass(frozen=True)
class MemberEnrolled:
    member_id: int


@dataclass(frozen=True)
class LoyaltyChange:
    """One member's tier and balances (balance, pending, debt) before and after a change."""

    member_id: int
    tier_before: int | None
    tier_after: int | None
    points_before: tuple[int, int, int]
    points_after: tuple[int, int, int]

    @property
    def tier_changed(self) -> bool:
        return self.tier_before != self.tier_after

    @property
    def points_changed(self) -> bool:
        return self.points_before != self.points_after

    @property
    def delta(self) -> int:
        """Change of the ledger total (balance + pending − debt)."""
        (b0, p0, d0), (b1, p1, d1) = self.points_before, self.points_after
        return (b1 + p1 - d1) - (b0 + p0 - d0)


@dataclass(frozen=True)
class OrderRefunded:
    """A refund was recorded on an order (coupons returns or pro-rates the coupon it used)."""

    order_id: int
    channel: str
    order_no: str
    refund_id: int
    amount_fen: int  # this refund
    order_amount_fen: int
    refunded_fen: int  # the order's refunded total, this refund included


# One set-based statement's rows: (sql, params). Points rows select the columns
# (member_id, delta, balance, pending, debt) with the balances after the change; tier rows select
# (member_id, from_tier_id, to_tier_id). Each statement should cover a bounded chunk of members
# (a handler runs one statement per element), and is evaluated in the change's transaction.
Rows = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class LoyaltyChanged:
    """Members' tiers and/or points changed, for one `cause` (see CAUSES).

    Row-level services list the `changes`; set-based jobs, which may change a million members,
    describe them with SQL instead (`points_rows` / `tier_rows`), so that a handler with nothing
    to do costs no rows in Python and one with work to do can stay set-based too."""

    cause: str
    changes: tuple[LoyaltyChange, ...] = ()
    points_rows: tuple[Rows, ...] = ()
    tier_rows: tuple[Rows, ...] = ()


# What caused a loyalty change, as partners read it in webhooks (`cause`).
CAUSES = {
    "order": "an order earned points and/or lifted the tier",
    "refund": "a refund reversed points and/or undid the upgrade its order caused",
    "adjustment": "a manual points adjustment (brand admin or partner API)",
    "redemption": "points spent on a reward",
    "campaign_bonus": "bonus points awarded by a campaign",
    "expiry": "points expired",
    "pending_release": "pending points became spendable (the ledger total does not change)",
    "reevaluation": "the tier was re-evaluated at the end of its validity",
    "manual_grant": "a tier granted by hand",
    "manual_removal": "a hand-granted tier was removed and the tier re-evaluated",
    "merge": "two members were merged (both the survivor and the merged member change)",
}


_member_enrolled: list[Callable[[MemberEnrolled], None]] = []
_loyalty_changed: list[Callable[[LoyaltyChanged], None]] = []
_identities_added: list[Callable[[IdentitiesAdded], None]] = []
_tags_changed: list[Callable[[TagsChanged], None]] = []
_order_refunded: list[Callable[[OrderRefunded], None]] = []


def on_order_refunded(handler: Callable[[OrderRefunded], None]) -> Callable[[OrderRefunded], None]:
    if handler not in _order_refunded:
        _order_refunded.append(handler)
    return handler


def order_refunded_notify_in_transaction(event: OrderRefunded) -> None:
    for handler in _order_refunded:
        handler(event)


def on_identities_added(handler: Callable[[IdentitiesAdded], None]) -> Callable[[IdentitiesAdded], None]:
    if handler not in _identities_added:
        _identities_added.append(handler)
    return handler


def on_tags_changed(handler: Callable[[TagsChanged], None]) -> Callable[[TagsChanged], None]:
    if handler not in _tags_changed:
        _tags_changed.append(handler)
    return handler


def on_member_enrolled(handler: Callable[[MemberEnrolled], None]) -> Callable[[MemberEnrolled], None]:
    if handler not in _member_enrolled:
        _member_enrolled.append(handler)
    return handler


def on_loyalty_changed(handler: Callable[[LoyaltyChanged], None]) -> Callable[[LoyaltyChanged], None]:
    if handler not in _loyalty_changed:
        _loyalty_changed.append(handler)
    return handler


def member_enrolled_notify_in_transaction(event: MemberEnrolled) -> None:
    for handler in _member_enrolled:
        handler(event)


def loyalty_changed_notify_in_transaction(event: LoyaltyChanged) -> None:
    """Handlers hear only of real changes: a change that moved neither tier nor points (a renewal,
    a grant at the current tier) is dropped, and an event with nothing left is not sent."""
    if event.cause not in CAUSES:
        raise ValueError(f"unknown loyalty change cause {event.cause!r}")
    changes = tuple(c for c in event.changes if c.tier_changed or c.points_changed)
    if not (changes or event.points_rows or event.tier_rows):
        return
    if changes != event.changes:
        event = LoyaltyChanged(
            cause=event.cause, changes=changes, points_rows=event.points_rows, tier_rows=event.tier_rows
        )
    for handler in _loyalty_changed:
        handler(event)


def identities_added_notify_in_transaction(event: IdentitiesAdded) -> None:
    for handler in _identities_added:
        handler(event)


def tags_changed_notify_in_transaction(event: TagsChanged) -> None:
    if event.member_ids:
        for handler in _tags_changed:
            handler(event)
