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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crm.hooks import Hook


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
    """A refund was recorded on an order (a new refund, not a replay), told in its transaction
    under the order's lock, before the buyer's tier is checked: coupons returns or pro-rates the
    coupon the order used; engagement takes back growth value (member orders only)."""

    order_id: int
    member_id: int | None  # None for a tourist's order
    channel: str
    order_no: str
    refund_id: int
    refund_no: str
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
    "growth": "growth value earned outside an order (check-in, activity) lifted the tier",
}


# --- riders on the order insert -----------------------------------------------------------------
# The order ingest (members/services/orders.py, single and batch alike) inserts new orders with one
# statement `WITH o AS (INSERT INTO members_order ... RETURNING ...) ...`. A rider is one more
# data-modifying CTE appended to that statement: SQL without parameters that reads `o`, which
# holds exactly the orders this call created (a re-posted order is not in it, so a rider is
# idempotent with the order) with every column of members_order under its own name (o.id,
# o.member_id, o.staff_id, o.store_id, o.paid_at, o.amount_fen, o.buyer_kind, o.buyer_value,
# o.created_at, ...). It runs in the order's transaction at no extra round trip — the hot path's
# cost is the rider's own plan, nothing else. Its writes are not visible to the other riders (one
# snapshot). Upper apps register one at import time (their AppConfig.ready); members never imports
# them. Staff performance attributes each order this way.
#
# A rider that can write only for orders with some columns set (the served touch: a member's store
# order with its serving staff) says which with `only_with`; the ingest then leaves it out of a
# call none of whose orders has them all set — it would have written nothing, and its CTE would
# still have opened and locked its table and every index of it (bench/README.md, session 18).
# The columns are ones the ingest knows before the insert: ORDER_RIDER_COLUMNS. A rider may also
# give `one_order_sql`, the same writes for a call that posts one order (order_post), where a set's
# machinery (aggregating `o` into arrays) costs more than the order itself.
#
# A rider with `reads_owners` also reads `owners (member_id, staff_id, changed_at)`: each member the
# ingest locked (erased ones too), with the time of the newest row of their assignment history
# (changed_at; NULL: they have none) and the 专属导购 since (staff_id: that row's to_staff, or with no
# history the member's assigned_staff; NULL: nobody). The owner when an order was paid is
# `staff_id` if the order was paid at or after `changed_at`; before it, only the history says.
# Tourists' orders have no row.
#
# When a rider's SQL calls functions a newer migration creates, `needs` names them and
# `previous_sql` is what runs, for one order and for many, until the brand's schema has them all:
# during a deploy, or while a brand whose migration failed waits for the retry (migrate_brands goes
# brand by brand), instead of failing every order (crm.db.functions). `previous_sql` must not read
# `owners` (the column behind it comes with the same release).
ORDER_RIDER_COLUMNS = ("member_id", "staff_id", "store_id")


@dataclass(frozen=True)
class OrderInsertRider:
    name: str
    sql: str
    only_with: tuple[str, ...] = ()
    one_order_sql: str | None = None
    reads_owners: bool = False
    needs: tuple[str, ...] = ()
    previous_sql: str | None = None


_order_insert_riders: dict[str, OrderInsertRider] = {}


def order_insert_rider_register(
    *,
    name: str,
    sql: str,
    only_with: tuple[str, ...] = (),
    one_order_sql: str | None = None,
    reads_owners: bool = False,
    needs: tuple[str, ...] = (),
    previous_sql: str | None = None,
) -> None:
    """Register (or replace) the rider `name`: `sql` is `INSERT ... SELECT ... FROM o ...`; with
    `only_with`, it writes nothing for an order unless those columns (ORDER_RIDER_COLUMNS) are all
    set (its SQL must say so too: the ingest only leaves it out of calls where no order has them);
    `one_order_sql`, when given, runs instead of `sql` in a call that posts one order and must
    write what `sql` would; `reads_owners` when they read `owners`; `needs`, the SQL functions they
    call that a newer migration creates, and `previous_sql` what runs until the brand has them."""
    if not name.isidentifier():
        raise ValueError(f"rider name must be an SQL identifier: {name!r}")
    unknown = set(only_with) - set(ORDER_RIDER_COLUMNS)
    if unknown:
        raise ValueError(f"a rider can only be conditioned on {ORDER_RIDER_COLUMNS}: {sorted(unknown)}")
    if bool(needs) != (previous_sql is not None):
        raise ValueError("a rider that needs newer SQL functions says what runs until a brand has them, and only then")
    _order_insert_riders[name] = OrderInsertRider(
        name=name,
        sql=sql,
        only_with=tuple(only_with),
        one_order_sql=one_order_sql,
        reads_owners=reads_owners,
        needs=tuple(needs),
        previous_sql=previous_sql,
    )


def order_insert_rider_unregister(*, name: str) -> str | None:
    """Remove a rider; returns its SQL (benchmarks switch one off and on again)."""
    rider = _order_insert_riders.pop(name, None)
    return rider.sql if rider else None


def order_insert_riders() -> tuple[OrderInsertRider, ...]:
    return tuple(_order_insert_riders.values())


member_enrolled: Hook[MemberEnrolled, None] = Hook("member enrolled")
loyalty_changed: Hook[LoyaltyChanged, None] = Hook("loyalty changed")
identities_added: Hook[IdentitiesAdded, None] = Hook("identities added")
tags_changed: Hook[TagsChanged, None] = Hook("tags changed")
order_refunded: Hook[OrderRefunded, None] = Hook("order refunded")
on_member_enrolled = member_enrolled.connect
on_loyalty_changed = loyalty_changed.connect
on_identities_added = identities_added.connect
on_tags_changed = tags_changed.connect
on_order_refunded = order_refunded.connect


def order_refunded_notify_in_transaction(event: OrderRefunded) -> None:
    order_refunded.tell(event)


def member_enrolled_notify_in_transaction(event: MemberEnrolled) -> None:
    member_enrolled.tell(event)


def loyalty_changes_need_transaction() -> bool:
    """Whether a handler told of a loyalty change now would write in the caller's transaction
    (crm/hooks.py): when none would, a one-statement change may run without BEGIN and COMMIT."""
    return loyalty_changed.needs_transaction()


def tag_changes_need_transaction() -> bool:
    """The same question for the tags-changed handlers."""
    return tags_changed.needs_transaction()


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
    loyalty_changed.tell(event)


def identities_added_notify_in_transaction(event: IdentitiesAdded) -> None:
    identities_added.tell(event)


def tags_changed_notify_in_transaction(event: TagsChanged) -> None:
    if event.member_ids:
        tags_changed.tell(event)


# --- orders and refunds, for ledgers kept above members (growth value in engagement) ------------


@dataclass(frozen=True)
class PostedOrder:
    order_id: int
    member_id: int
    amount_fen: int
    paid_at: Any  # datetime


@dataclass(frozen=True)
class OrdersPosted:
    """Member orders an ingest created (never tourists, never a replay of a known order). Told in
    the ingest's transaction after the orders and points are written and before the buyers' tiers
    are evaluated, so a ledger that a tier qualifies on is current when the upgrade is decided."""

    orders: tuple[PostedOrder, ...]


orders_posted: Hook[OrdersPosted, None] = Hook("orders posted")
on_orders_posted = orders_posted.connect


def orders_posted_notify_in_transaction(event: OrdersPosted) -> None:
    if event.orders:
        orders_posted.tell(event)


# --- tier qualifying bases kept above members ---------------------------------------------------


@dataclass(frozen=True)
class QualifyingBasis:
    """A tier basis whose amounts live in an app above members (Tier.Basis.GROWTH: engagement's
    growth-value ledger). `amounts(member_ids=, windows=, now=)` returns {(member_id, window_days):
    amount} for the row-level paths (order upgrade, refund, progress); `chunk_sql` is the same for
    the nightly re-evaluation: a SELECT of (basis, member_id, window_days, total) that may read the
    CTEs `due` (id: the chunk's members) and `windows` (basis, window_days) and the parameter
    %(now)s. A basis nobody registered qualifies nobody (its amounts are 0)."""

    basis: str
    amounts: Callable[..., dict[tuple[int, int], int]]
    chunk_sql: str


_qualifying_bases: dict[str, QualifyingBasis] = {}


def qualifying_basis_register(provider: QualifyingBasis) -> None:
    _qualifying_bases[provider.basis] = provider


def qualifying_bases() -> dict[str, QualifyingBasis]:
    return dict(_qualifying_bases)


# --- what other apps say about an order -----------------------------------------------------------
# A provider takes order ids and returns {order_id: text} in one query (staff performance: "专属导购
# 张三（近 30 天内发送的优惠券）"). The order admin shows each under its label; the member timeline
# and any other surface call order_notes().
_order_note_providers: dict[str, Callable[[Sequence[int]], dict[int, str]]] = {}


def order_note_provider_register(*, label: str, provider: Callable[[Sequence[int]], dict[int, str]]) -> None:
    _order_note_providers[label] = provider


def order_notes(order_ids: Sequence[int]) -> dict[str, dict[int, str]]:
    """{label: {order_id: text}} from every registered provider (one query each)."""
    ids = list(order_ids)
    return {label: provider(ids) for label, provider in _order_note_providers.items()} if ids else {}


# --- actions of apps above members on the member's admin page --------------------------------------
# The member page (MemberAdmin) shows, next to its own actions (调整积分, 兑换礼品, …), a button for
# every tool an app above answers with for this viewer and member ("发券" from coupons). The handler
# decides whether the viewer may use it (permissions, caps) and gives the link; the page it opens
# is the app's own and checks everything again.


@dataclass(frozen=True)
class MemberPageAsk:
    user: Any  # the viewer (a logged-in back-office user)
    member_id: int


@dataclass(frozen=True)
class MemberPageTool:
    title: str
    link: str
    icon: str = "add_circle"  # a Material Symbols name, as the theme's other actions


member_page_tools: Hook[MemberPageAsk, MemberPageTool | None] = Hook("member page tools")


def member_page_tools_for(*, user: Any, member_id: int) -> list[MemberPageTool]:
    return [tool for tool in member_page_tools.tell(MemberPageAsk(user=user, member_id=member_id)) if tool]


# --- names of member sources ------------------------------------------------------------------------
# A member's source is often the `state` of the channel QR code (渠道活码) they came through; the
# codes are wecom's, which members never imports. A handler answers a state with its code's name
# (or None), and the member page asks (members.source_words says the product's own sources).
source_code_names: Hook[str, str | None] = Hook("source code names")


def source_code_name(source: str) -> str | None:
    """The name of the channel code whose state is `source`, when an app keeps such codes."""
    return next((name for name in source_code_names.tell(source) if name), None) if source else None
