"""Orders and refunds: ingest (single and set-based batch), tourist vs member orders, earning,
immediate tier upgrade, lifecycle, and the capture-rate daily aggregate.

`order_post` and `orders_post_batch` share one engine (`_ingest`), so the single path is simply a
batch of one: the same SQL, the same rules. Idempotency lives in the schema: (channel, order_no) is
unique and rows are inserted with ON CONFLICT DO NOTHING, so a retried or concurrent duplicate
changes nothing and gets the existing order back. Lock order: see members/services/points.py.
"""

import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from crm.db import connection
from crm.db.arrays import StatementParams, pg_array
from crm.db.functions import sql_function_present
from crm.errors import AppError, NotFound
from crm.memos import process_memo
from crm.tenancy.zones import brand_zone
from members import error_codes
from members.hooks import (
    LoyaltyChange,
    LoyaltyChanged,
    OrderInsertRider,
    OrderRefunded,
    OrdersPosted,
    PostedOrder,
    loyalty_changed_notify_in_transaction,
    order_insert_riders,
    order_refunded_notify_in_transaction,
    orders_posted_notify_in_transaction,
)
from members.models import (
    CaptureRateDaily,
    Identity,
    LoyaltyProgram,
    Member,
    Order,
    OrderLine,
    PointsEntry,
    PointsLot,
    Refund,
    SalesChannel,
    Staff,
    Store,
    Tier,
    TierChange,
)

from .actors import actor_name
from .lifecycle import lifecycle_stage_for
from .points import (
    POINTS_MAX_PER_ENTRY,
    _debit,
    campaign_multipliers_pct,
    credit_split,
    ledger_total,
    lot_available_at,
    lot_expires_at,
    loyalty_points,
    loyalty_program_get,
    member_lock,
    points_changed_notify,
    points_for_order,
)
from .points_cash import OrderPointsCash, points_cash_return, points_cash_to_return
from .tiers import _tier_set, qualifying_for_members, tier_expiry, tier_supported, tiers_ranked

# Raw SQL below (noqa: S608): identifiers come from model meta, values are always parameters.
_ORDER = Order._meta.db_table
_LINE = OrderLine._meta.db_table
_ENTRY = PointsEntry._meta.db_table
_LOT = PointsLot._meta.db_table
_MEMBER = Member._meta.db_table
_CAPTURE = CaptureRateDaily._meta.db_table
_IDENTITY = Identity._meta.db_table
# Whole rows RETURNed by the statements that write them, for the single-order path's result
# (model instances built with from_db, as a query would). Neither model has a field that needs a
# Python-side converter (no JSON, no custom fields), so the driver's values are the model's.
_ORDER_FIELDS = [f.attname for f in Order._meta.concrete_fields]
_ORDER_ROW = "".join(f", {f.column}" for f in Order._meta.concrete_fields)
_MEMBER_FIELDS = [f.attname for f in Member._meta.concrete_fields]
_MEMBER_ROW = ", ".join(f"m.{f.column}" for f in Member._meta.concrete_fields)

MAX_BATCH = 20_000
# Older times are typos or junk (year 214...), and would be stored and shown with the zone's
# pre-1900 local mean time offset (+08:05:43), which no client parses as a timestamp.
EARLIEST_BUSINESS_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_CHANNELS = set(SalesChannel.values)


@dataclass(frozen=True)
class OrderLineInput:
    sku: str
    amount_fen: int
    quantity: int = 1
    name: str = ""


@dataclass(frozen=True)
class OrderInput:
    channel: str
    order_no: str
    paid_at: dt.datetime
    amount_fen: int
    store_id: int | None = None
    buyer_kind: str = ""
    buyer_value: str = ""
    staff_id: int | None = None
    lines: Sequence[OrderLineInput] = ()
    points_redeemed: int = 0  # points-as-cash (members/services/points_cash.py)


@dataclass
class OrderItemResult:
    """What happened to one posted order. `error_code` set = refused, nothing written for it."""

    index: int
    order_id: int | None = None
    created: bool = False
    member_id: int | None = None
    member_no: str = ""  # of member_id
    points_earned: int = 0
    points_redeemed: int = 0  # debited by this call (0 for a duplicate)
    points_cash_fen: int = 0  # their value in fen (part of the order's amount)
    error_code: str = ""
    error_message: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderResult:
    order: Order
    created: bool
    member: Member | None
    points_earned: int


def _validate(item: OrderInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if item.channel not in _CHANNELS:
        errors["channel"] = [f"未知渠道“{item.channel}”。"]
    if not isinstance(item.order_no, str) or not item.order_no.strip() or len(item.order_no) > 64:
        errors["order_no"] = ["订单号必填，且不超过 64 个字符。"]
    if not isinstance(item.amount_fen, int) or isinstance(item.amount_fen, bool) or item.amount_fen < 0:
        errors["amount_fen"] = ["金额必须是不小于 0 的整数（分）。"]
    if not isinstance(item.paid_at, dt.datetime) or timezone.is_naive(item.paid_at):
        errors["paid_at"] = ["支付时间必须是带时区的时间。"]
    elif item.paid_at > timezone.now() + dt.timedelta(minutes=10):
        errors["paid_at"] = ["支付时间不能晚于当前时间。"]
    elif item.paid_at < EARLIEST_BUSINESS_TIME:
        errors["paid_at"] = ["支付时间早于 2000 年，不是有效的订单时间。"]
    if bool(item.buyer_kind) != bool(item.buyer_value) or len(item.buyer_value or "") > 128:
        errors["buyer_value"] = ["买家标识类型和值须同时提供（值不超过 128 个字符）。"]
    for line in item.lines:
        if (
            not line.sku
            or len(line.sku) > 64
            or not isinstance(line.amount_fen, int)
            or line.amount_fen < 0
            or not isinstance(line.quantity, int)
            or line.quantity < 1
        ):
            errors["lines"] = ["订单明细须有商品编码、不小于 0 的金额和至少 1 的数量。"]
            break
    if (
        not isinstance(item.points_redeemed, int)
        or isinstance(item.points_redeemed, bool)
        or not 0 <= item.points_redeemed <= POINTS_MAX_PER_ENTRY
    ):
        errors["points_redeemed"] = [f"抵现积分必须是 0 到 {POINTS_MAX_PER_ENTRY} 之间的整数。"]
    return errors


# --- public services ----------------------------------------------------------------------------


def order_post(
    *,
    channel: str,
    order_no: str,
    paid_at: dt.datetime,
    amount_fen: int,
    store: Store | None = None,
    buyer_kind: str | None = None,
    buyer_value: str | None = None,
    staff: Staff | None = None,
    lines: Sequence[OrderLineInput] = (),
    points_redeemed: int = 0,
    actor: AbstractBaseUser | str | None,
) -> OrderResult:
    """Record one order (idempotent per channel + order_no). A member buyer earns points, gets an
    immediate tier upgrade when the order lifts them over a threshold, and has last purchase and
    lifecycle updated; a tourist order is stored and earns nothing. Either way the capture-rate
    aggregate counts it. Posting the same order again returns it and changes nothing; posting the
    same order number with a different amount is refused (order_conflict). `points_redeemed`
    pays part of the order with points (members/services/points_cash.py), debited in the same
    transaction; when that is refused, nothing is recorded."""
    item = OrderInput(
        channel=channel,
        order_no=(order_no or "").strip(),
        paid_at=paid_at,
        amount_fen=amount_fen,
        store_id=store.pk if store else None,
        buyer_kind=buyer_kind or "",
        buyer_value=(buyer_value or "").strip(),
        staff_id=staff.pk if staff else None,
        lines=tuple(lines),
        points_redeemed=points_redeemed,
    )
    (result,), rows = _post(orders=[item], actor=actor, want_rows=True)
    if result.error_code:
        status = 409 if result.error_code == error_codes.ORDER_CONFLICT else 400
        raise AppError(result.error_code, result.error_message, fields=result.fields, status=status)
    order = rows.orders.get(0)
    if order is None:
        # A re-post: the stored order is read back (the ingest only builds rows it wrote). Its id is
        # in the result, as for every order the ingest did not refuse.
        order = Order.objects.select_related("member", "store").get(pk=cast(int, result.order_id))
        member = order.member
    else:
        # A new order: its row and its member's row as the ingest statements RETURNed them, and
        # the caller's store, saving the round trips of re-reading them.
        member = rows.members.get(order.member_id) if order.member_id else None
        if member is not None:
            order.member = member
        if store is not None:
            order.store = store
    return OrderResult(order=order, created=result.created, member=member, points_earned=order.points_earned)


def orders_post_batch(
    *, orders: Sequence[OrderInput], actor: AbstractBaseUser | str | None, earn_points: bool = True
) -> list[OrderItemResult]:
    """Set-based ingest of many orders in one transaction (a dozen statements whatever the size):
    per-item results, invalid items refused individually (nothing written for them), duplicates
    return the existing order. Up to MAX_BATCH orders per call.

    `earn_points=False` records the orders without earning (historical imports: orders from before
    the programme); they still count for qualifying spend, tiers, lifecycle, last purchase and the
    capture rate."""
    return _post(orders=orders, actor=actor, want_rows=False, earn_points=earn_points)[0]


@dataclass
class _Rows:
    """Rows the ingest wrote, as model instances (only when asked for: the single-order path)."""

    orders: dict[int, Order] = field(default_factory=dict)  # by input index
    members: dict[int, Member] = field(default_factory=dict)  # by id


def _post(
    *, orders: Sequence[OrderInput], actor: AbstractBaseUser | str | None, want_rows: bool, earn_points: bool = True
) -> tuple[list[OrderItemResult], _Rows]:
    if len(orders) > MAX_BATCH:
        raise AppError(error_codes.ORDER_INVALID, f"每批最多 {MAX_BATCH} 笔订单。")
    rows = _Rows()
    results = [OrderItemResult(index=i) for i in range(len(orders))]
    valid: list[int] = []
    for index, item in enumerate(orders):
        errors = _validate(item)
        if errors:
            results[index].error_code = error_codes.ORDER_INVALID
            results[index].error_message = "订单数据有误：" + "；".join(m for ms in errors.values() for m in ms)
            results[index].fields = errors
        else:
            valid.append(index)
    if valid:
        # No savepoint inside a caller's transaction (the API view's): nothing here catches a
        # database error to carry on, so one would roll the caller's transaction back anyway,
        # and SAVEPOINT + RELEASE were two of a single order's round trips.
        with transaction.atomic(savepoint=False):
            _Ingest(
                orders=orders,
                indexes=valid,
                results=results,
                actor=actor_name(actor),
                rows=rows if want_rows else None,
                earn_points=earn_points,
            ).run()
    return results, rows


# --- the engine ---------------------------------------------------------------------------------


@dataclass
class _MemberState:
    id: int
    status: str
    tier_id: int | None
    tier_floor_id: int | None
    tier_expires_at: dt.datetime | None
    balance: int
    pending: int
    debt: int
    last_purchase_at: dt.datetime | None
    lifecycle_stage: str
    member_no: str
    # Read only for riders that read `owners` (members/hooks.py): the 专属导购 since the newest owner
    # change, and its time (_OWNER_COLUMNS).
    owner_id: int | None = None
    owner_changed_at: dt.datetime | None = None
    changed: bool = False


# The member's 专属导购 since their newest owner change, and its time, for riders that read
# `owners` (members/hooks.py): the history's own newest row (owner_changed_to / _at, database
# columns kept by a trigger, not model fields: migration 0021), or with no history the member's
# assigned_staff.
_OWNER_COLUMNS = (
    ", CASE WHEN m.owner_changed_at IS NULL THEN m.assigned_staff_id ELSE m.owner_changed_to END, m.owner_changed_at"
)

# The program and tiers, cached per process for order ingest (they change a few times a year and
# were two of the single-order path's round trips). Validity check without a round trip of its
# own: the buyer statement also returns the rows' versions — each row's (ctid, xmin) identifies
# one version of it, and any UPDATE, DELETE or INSERT, committed or still in this transaction
# (even a queryset .update() that leaves updated_at alone), gives another signature; a version
# rolled back is no longer the one read. A stale entry is only ever reloaded, never used.
_RULES_SIGNATURE = f"""(
    COALESCE((SELECT ctid::text || xmin::text FROM {LoyaltyProgram._meta.db_table} WHERE singleton), '') || '/' ||
    COALESCE((SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY id) FROM {Tier._meta.db_table}), ''))"""  # noqa: S608
_rules_cache: dict[tuple[str, str], tuple[str, LoyaltyProgram, list[Tier]]] = process_memo("loyalty rules per brand")


def _rules(*, signature: str | None) -> tuple[LoyaltyProgram, list[Tier]]:
    """The current brand's program and ranked tiers as of `signature` (read in this transaction)."""
    key = (connection.settings_dict["NAME"], connection.schema_name)
    cached = _rules_cache.get(key)
    if cached is not None and signature is not None and cached[0] == signature:
        return cached[1], cached[2]
    # Loaded after `signature` was read: if they changed in between, the entry holds newer rows
    # under the older signature, and the next ingest just reloads them.
    program, tiers = loyalty_program_get(), tiers_ranked()
    if signature is not None:
        _rules_cache[key] = (signature, program, tiers)
    return program, tiers


def _rider_ready(rider: OrderInsertRider) -> bool:
    """Whether the brand's schema has what the rider's newer SQL calls (else its previous_sql runs)."""
    return all(sql_function_present(name) for name in rider.needs)


def _rider_sql(rider: OrderInsertRider, *, ready: bool, one_order: bool) -> str:
    if not ready:
        return cast(str, rider.previous_sql)
    return rider.one_order_sql if one_order and rider.one_order_sql is not None else rider.sql


class _Ingest:
    def __init__(
        self,
        *,
        orders: Sequence[OrderInput],
        indexes: list[int],
        results: list[OrderItemResult],
        actor: str,
        rows: _Rows | None = None,
        earn_points: bool = True,
    ) -> None:
        self.orders = orders
        self.earn_points = earn_points
        self.indexes = indexes
        self.results = results
        self.actor = actor
        self.rows = rows
        self.now = timezone.now()
        self.rules_signature: str | None = None

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        # One cursor for the whole ingest: django-tenants re-sends `SET search_path` for every new
        # cursor, which would double the round trips of a small batch.
        yield self.cursor

    def run(self) -> None:
        with connection.cursor() as cursor:
            self.cursor = cursor
            self._run()

    def _run(self) -> None:
        self._check_references()
        if not self.indexes:
            return
        # Each rider's SQL is chosen once an ingest: whether the member rows are read with their
        # owners depends on it.
        self.riders = [(rider, _rider_ready(rider)) for rider in order_insert_riders()]
        self.owners_wanted = any(rider.reads_owners and ready for rider, ready in self.riders)
        buyer_of, members = self._resolve_and_lock_buyers()
        if any(state.status == Member.Status.MERGED for state in members.values()):
            # A merge committed while this statement waited for its lock: the row lock returns
            # the new (merged) row but the merge-following CTE ran on the older snapshot. A second
            # statement sees the merge and resolves to the survivor, so no order or point is
            # credited to an account that has just been merged away.
            buyer_of, members = self._resolve_and_lock_buyers()
        self.before = {m.id: (m.tier_id, (m.balance, m.pending, m.debt)) for m in members.values()}
        # The rules are needed only for member orders: a tourist-only ingest never reads them.
        program, tiers = _rules(signature=self.rules_signature) if members else (None, [])
        tier_by_id = {t.pk: t for t in tiers}

        # Orders of usable members earn; erased members are treated as tourists (excluded from
        # processing), merged ones were already followed to their survivor.
        member_of: dict[int, int | None] = {}
        for index in self.indexes:
            item = self.orders[index]
            member_id = buyer_of.get((item.buyer_kind, item.buyer_value)) if item.buyer_kind else None
            state = members.get(member_id) if member_id else None
            member_of[index] = state.id if state and state.status != Member.Status.ERASED else None

        self.cash = OrderPointsCash(
            orders=self.orders, member_of=member_of, members=members, program=program, now=self.now
        )
        for index, code, message, fields in self.cash.check(self.indexes):
            self._refuse(index, code, message, fields)
        if not self.indexes:
            return
        # None only in a tourist-only ingest; below, it is read for member orders only.
        program = cast(LoyaltyProgram, program)

        earning = [i for i in self.indexes if member_of[i] is not None] if self.earn_points else []
        multipliers = campaign_multipliers_pct(
            # `earning` holds member orders only: member_of[i] is never None there.
            orders=cast("list[tuple[int, dt.datetime]]", [(member_of[i], self.orders[i].paid_at) for i in earning])
        )
        points: dict[int, int] = defaultdict(int)
        for index, campaign_pct in zip(earning, multipliers, strict=True):
            item = self.orders[index]
            state = members[member_of[index]]  # type: ignore[index]
            tier = tier_by_id.get(state.tier_id) if state.tier_id else None
            points[index] = points_for_order(
                program=program,
                channel=item.channel,
                amount_fen=item.amount_fen - self.cash.value_fen(index),  # earned on the cash paid
                lines=[(line.sku, line.amount_fen) for line in item.lines],
                tier_multiplier_pct=tier.points_multiplier_pct if tier else 100,
                campaign_multiplier_pct=campaign_pct,
            )

        created = self._insert_orders(member_of, points, members)
        if not created:
            return
        self.cash.debit(created=created, results=self.results, actor=self.actor)
        self._earn(created, member_of, points, members, program)
        # Ledgers kept above members (growth value) before the tier decision that may read them.
        orders_posted_notify_in_transaction(
            OrdersPosted(
                orders=tuple(
                    PostedOrder(
                        order_id=self.results[i].order_id,  # type: ignore[arg-type]
                        member_id=member_of[i],  # type: ignore[arg-type]
                        amount_fen=self.orders[i].amount_fen,
                        paid_at=self.orders[i].paid_at,
                    )
                    for i in created
                    if member_of[i] is not None
                )
            )
        )
        # The capture-rate upsert rides along with the member UPDATE (one statement, one round trip).
        capture = _capture_rate_sql(groups=self._capture_groups(created, member_of))
        self._update_members(created, member_of, members, program, tiers, tier_by_id, capture)

    def _refuse(self, index: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> None:
        self.results[index].error_code = code
        self.results[index].error_message = message
        self.results[index].fields = fields or {}
        self.indexes.remove(index)

    def _check_references(self) -> None:
        """Unknown store/staff ids would fail the whole batch on the foreign key: refuse per item."""
        store_ids = cast("set[int]", {self.orders[i].store_id for i in self.indexes} - {None})
        staff_ids = cast("set[int]", {self.orders[i].staff_id for i in self.indexes} - {None})
        known_stores = set(Store.objects.filter(pk__in=store_ids).values_list("pk", flat=True)) if store_ids else set()
        known_staff = set(Staff.objects.filter(pk__in=staff_ids).values_list("pk", flat=True)) if staff_ids else set()
        for index in list(self.indexes):
            item = self.orders[index]
            if item.store_id is not None and item.store_id not in known_stores:
                self._refuse(index, error_codes.ORDER_INVALID, "门店不存在。", {"store": ["门店不存在。"]})
            elif item.staff_id is not None and item.staff_id not in known_staff:
                self._refuse(index, error_codes.ORDER_INVALID, "导购不存在。", {"staff": ["导购不存在。"]})

    def _resolve_and_lock_buyers(self) -> tuple[dict[tuple[str, str], int], dict[int, _MemberState]]:
        """(kind, value) → the member that owns it now (following merges to the survivor), and
        lock step 1 on those members, ascending id — one statement, one round trip."""
        keys = {(self.orders[i].buyer_kind, self.orders[i].buyer_value) for i in self.indexes}
        keys.discard(("", ""))
        if not keys:
            return {}, {}
        kinds, values = zip(*keys, strict=True)
        params = StatementParams()
        buyers = params.unnest((kinds, "text"), (values, "text"))
        with self._cursor() as cursor:
            cursor.execute(
                f"""
                WITH RECURSIVE buyers(kind, value) AS (SELECT * FROM {buyers}),
                chain AS (
                    SELECT b.kind, b.value, m.id, m.merged_into_id, 0 AS depth
                    FROM buyers b
                    JOIN {_IDENTITY} i ON i.kind = b.kind AND i.value = b.value
                    JOIN {_MEMBER} m ON m.id = i.member_id
                    UNION ALL
                    SELECT c.kind, c.value, m.id, m.merged_into_id, c.depth + 1
                    FROM chain c JOIN {_MEMBER} m ON m.id = c.merged_into_id WHERE c.depth < 16
                ),
                owner AS (SELECT kind, value, id FROM chain WHERE merged_into_id IS NULL)
                SELECT owner.kind, owner.value, {_RULES_SIGNATURE} AS rules, m.id, m.status, m.tier_id,
                       m.tier_floor_id, m.tier_expires_at, m.points_balance, m.points_pending, m.points_debt,
                       m.last_purchase_at, m.lifecycle_stage, m.member_no{_OWNER_COLUMNS if self.owners_wanted else ""}
                FROM {_MEMBER} m JOIN owner ON owner.id = m.id
                ORDER BY m.id FOR NO KEY UPDATE OF m
                """,  # noqa: S608
                params.values,
            )
            buyer_of: dict[tuple[str, str], int] = {}
            members: dict[int, _MemberState] = {}
            for kind, value, rules, *state in cursor.fetchall():
                self.rules_signature = rules
                buyer_of[(kind, value)] = state[0]
                members[state[0]] = _MemberState(*state)
            return buyer_of, members

    def _insert_orders(
        self, member_of: dict[int, int | None], points: dict[int, int], members: dict[int, _MemberState]
    ) -> list[int]:
        """Insert new orders; mark the others as existing (or conflicting). Returns created indexes."""
        first_of: dict[tuple[str, str], int] = {}
        unique: list[int] = []
        for index in self.indexes:
            item = self.orders[index]
            key = (item.channel, item.order_no)
            if key in first_of:
                continue  # a duplicate inside the batch resolves like a re-post, below
            first_of[key] = index
            unique.append(index)
        cols: dict[str, list[Any]] = defaultdict(list)
        for index in unique:
            item = self.orders[index]
            cols["channel"].append(item.channel)
            cols["order_no"].append(item.order_no)
            cols["store_id"].append(item.store_id)
            cols["paid_at"].append(item.paid_at)
            cols["amount_fen"].append(item.amount_fen)
            cols["buyer_kind"].append(item.buyer_kind)
            cols["buyer_value"].append(item.buyer_value)
            cols["member_id"].append(member_of[index])
            cols["staff_id"].append(item.staff_id)
            cols["is_member"].append(member_of[index] is not None)
            cols["points"].append(points.get(index, 0))
            cols["points_redeemed"].append(item.points_redeemed)
            cols["points_cash_fen"].append(self.cash.value_fen(index))
        # The lines of the orders (first occurrences only, like the orders), inserted by the same
        # statement for the rows it actually inserted: a re-post or a conflicting number adds none.
        line_cols: dict[str, list[Any]] = defaultdict(list)
        for index in unique:
            item = self.orders[index]
            for line in item.lines:
                line_cols["channel"].append(item.channel)
                line_cols["order_no"].append(item.order_no)
                line_cols["sku"].append(line.sku)
                line_cols["name"].append(line.name[:200])
                line_cols["quantity"].append(line.quantity)
                line_cols["amount_fen"].append(line.amount_fen)
        lines_sql = (
            f""", lines AS (
                    INSERT INTO {_LINE} (order_id, sku, name, quantity, amount_fen)
                    SELECT o.key_id, v.sku, v.name, v.quantity, v.amount_fen
                    FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::integer[], %s::bigint[])
                        WITH ORDINALITY AS v(channel, order_no, sku, name, quantity, amount_fen, position)
                    JOIN o ON o.key_channel = v.channel AND o.key_order_no = v.order_no
                    ORDER BY v.position  -- ids in the order the lines were posted, whatever the join did
                )"""  # noqa: S608
            if line_cols
            else ""
        )
        # Riders (members/hooks.py) read the whole new rows from `o`; without one, and without the
        # caller wanting rows, `o` returns only the keys.
        # A rider that writes only for orders with some columns set joins only a call that posts one
        # (a replay counts: it may not be inserted, and then the rider finds nothing in `o`).
        riders = [
            (rider, ready)
            for rider, ready in self.riders
            if not rider.only_with
            or any(all(cols[c][k] is not None for c in rider.only_with) for k in range(len(unique)))
        ]
        one_order = len(unique) == 1
        riders_sql = "".join(
            f", rider_{rider.name} AS ({_rider_sql(rider, ready=ready, one_order=one_order)})"
            for rider, ready in riders
        )
        # The members as this ingest locked them, for riders that read their owners (members/hooks.py).
        with_owners = any(rider.reads_owners and ready for rider, ready in riders)
        owner_cols: dict[str, list[Any]] = {"member_id": [], "staff_id": [], "changed_at": []}
        for state in members.values() if with_owners else ():
            owner_cols["member_id"].append(state.id)
            owner_cols["staff_id"].append(state.owner_id)
            owner_cols["changed_at"].append(state.owner_changed_at)
        owners_sql = (
            """, owners AS (
                    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[])
                        AS w(member_id, staff_id, changed_at)
                )"""
            if with_owners
            else ""
        )
        whole_rows = self.rows is not None or bool(riders)
        with self._cursor() as cursor:
            cursor.execute(
                f"""
                WITH o AS (
                INSERT INTO {_ORDER} (created_at, updated_at, channel, order_no, store_id, paid_at, amount_fen,
                    refunded_fen, buyer_kind, buyer_value, member_id, staff_id, is_member_order, points_earned,
                    points_redeemed, points_cash_fen)
                SELECT %s, %s, v.channel, v.order_no, v.store_id, v.paid_at, v.amount_fen, 0, v.buyer_kind,
                       v.buyer_value, v.member_id, v.staff_id, v.is_member, v.points, v.points_redeemed,
                       v.points_cash_fen
                FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::timestamptz[], %s::bigint[], %s::text[],
                            %s::text[], %s::bigint[], %s::bigint[], %s::boolean[], %s::integer[], %s::integer[],
                            %s::bigint[])
                    AS v(channel, order_no, store_id, paid_at, amount_fen, buyer_kind, buyer_value, member_id,
                         staff_id, is_member, points, points_redeemed, points_cash_fen)
                ON CONFLICT (channel, order_no) DO NOTHING
                RETURNING id AS key_id, channel AS key_channel, order_no AS key_order_no
                    {_ORDER_ROW if whole_rows else ""}
                ){lines_sql}{owners_sql}{riders_sql}
                SELECT key_id, key_channel, key_order_no{_ORDER_ROW if self.rows is not None else ""} FROM o
                """,  # noqa: S608
                [
                    self.now,
                    self.now,
                    *(
                        pg_array(cols[c])
                        for c in (
                            "channel",
                            "order_no",
                            "store_id",
                            "paid_at",
                            "amount_fen",
                            "buyer_kind",
                            "buyer_value",
                            "member_id",
                            "staff_id",
                            "is_member",
                            "points",
                            "points_redeemed",
                            "points_cash_fen",
                        )
                    ),
                    *(
                        pg_array(line_cols[c])
                        for c in ("channel", "order_no", "sku", "name", "quantity", "amount_fen")
                        if line_cols
                    ),
                    *(pg_array(owner_cols[c]) for c in ("member_id", "staff_id", "changed_at") if with_owners),
                ],
            )
            fetched = cursor.fetchall()
        inserted = {(row[1], row[2]): row[0] for row in fetched}
        if self.rows is not None:
            full = {(row[1], row[2]): row[3:] for row in fetched}
        created = []
        for key, index in first_of.items():
            if key in inserted:
                created.append(index)
                result = self.results[index]
                result.order_id, result.created = inserted[key], True
                if self.rows is not None:
                    self.rows.orders[index] = Order.from_db(connection.alias, _ORDER_FIELDS, full[key])
                result.member_id, result.points_earned = member_of[index], points.get(index, 0)
                if result.member_id is not None:
                    result.member_no = members[result.member_id].member_no
        # Everything else — re-posts and in-batch duplicates — resolves to the stored order.
        others = [i for i in self.indexes if not self.results[i].created]
        if others:
            keys = {(self.orders[i].channel, self.orders[i].order_no) for i in others}
            channels, numbers = zip(*keys, strict=True)
            with self._cursor() as cursor:
                cursor.execute(
                    f"""SELECT o.id, o.channel, o.order_no, o.amount_fen, o.member_id, o.points_earned,
                            o.points_redeemed, m.member_no
                        FROM {_ORDER} o JOIN unnest(%s::text[], %s::text[]) AS k(channel, order_no)
                        ON o.channel = k.channel AND o.order_no = k.order_no
                        LEFT JOIN {_MEMBER} m ON m.id = o.member_id""",  # noqa: S608
                    [pg_array(channels), pg_array(numbers)],
                )
                stored = {(row[1], row[2]): row for row in cursor.fetchall()}
            for index in others:
                item = self.orders[index]
                row = stored[(item.channel, item.order_no)]
                result = self.results[index]
                if row[3] != item.amount_fen:
                    result.error_code = error_codes.ORDER_CONFLICT
                    result.error_message = (
                        f"订单 {item.order_no} 已存在且金额不同（已记录 {row[3]} 分，本次 {item.amount_fen} 分）。"
                    )
                    result.fields = {"order_no": ["订单号已被另一笔金额不同的订单使用。"]}
                elif row[6] != item.points_redeemed:
                    result.error_code = error_codes.ORDER_CONFLICT
                    result.error_message = (
                        f"订单 {item.order_no} 已存在且抵现积分不同（已记录 {row[6]}，本次 {item.points_redeemed}）。"
                    )
                    result.fields = {"order_no": ["订单号已被另一笔抵现积分不同的订单使用。"]}
                result.order_id, result.created, result.member_id, result.points_earned = row[0], False, row[4], row[5]
                result.member_no = row[7] or ""
        return created

    def _earn(
        self,
        created: list[int],
        member_of: dict[int, int | None],
        points: dict[int, int],
        members: dict[int, _MemberState],
        program: LoyaltyProgram,
    ) -> None:
        """Earn entries and lots for the new member orders, computed against the locked balances
        in input order (debt paid first), inserted with one statement each."""
        entries: dict[str, list[Any]] = defaultdict(list)
        lots: dict[tuple[int, str], tuple[int, bool, dt.datetime, dt.datetime | None]] = {}
        for index in created:
            earned = points.get(index, 0)
            member_id = member_of[index]
            if member_id is None or earned <= 0:
                continue
            state = members[member_id]
            split = credit_split(points=earned, debt=state.debt)
            reference = f"order:{self.results[index].order_id}"
            entries["member_id"].append(member_id)
            entries["points"].append(earned)
            entries["balance_after"].append(state.balance + state.pending - state.debt + earned)
            entries["reference"].append(reference)
            entries["order_id"].append(self.results[index].order_id)
            available_at = lot_available_at(program=program, earned_at=self.now)
            pending = available_at > self.now
            state.debt -= split.debt_paid
            if pending:
                state.pending += split.net
            else:
                state.balance += split.net
            state.changed = True
            if split.net:
                lots[(member_id, reference)] = (
                    split.net,
                    pending,
                    available_at,
                    lot_expires_at(program=program, earned_at=self.now),
                )
        if not entries:
            return
        lot_cols: dict[str, list[Any]] = defaultdict(list)
        for (member_id, reference), (net, pending, available_at, expires_at) in lots.items():
            lot_cols["member_id"].append(member_id)
            lot_cols["reference"].append(reference)
            lot_cols["points"].append(net)
            lot_cols["available_at"].append(available_at)
            lot_cols["expires_at"].append(expires_at)
            lot_cols["pending"].append(pending)
        # Entries and their lots in one statement: each lot finds its entry by (member, reference),
        # which is unique for a kind.
        with self._cursor() as cursor:
            cursor.execute(
                f"""WITH ent AS (
                        INSERT INTO {_ENTRY} (member_id, kind, points, balance_after, reason, reference, order_id,
                            actor, created_at)
                        SELECT v.member_id, 'earn', v.points, v.balance_after, '消费积分', v.reference, v.order_id,
                               %s, %s
                        FROM unnest(%s::bigint[], %s::integer[], %s::integer[], %s::text[], %s::bigint[])
                            AS v(member_id, points, balance_after, reference, order_id)
                        RETURNING id, member_id, reference
                    )
                    INSERT INTO {_LOT} (member_id, entry_id, points, remaining, earned_at, available_at,
                        expires_at, expired, pending)
                    SELECT v.member_id, ent.id, v.points, v.points, %s, v.available_at, v.expires_at, false, v.pending
                    FROM unnest(%s::bigint[], %s::text[], %s::integer[], %s::timestamptz[], %s::timestamptz[],
                                %s::boolean[]) AS v(member_id, reference, points, available_at, expires_at, pending)
                    JOIN ent ON ent.member_id = v.member_id AND ent.reference = v.reference
                """,  # noqa: S608
                [
                    self.actor,
                    self.now,
                    *(pg_array(entries[c]) for c in ("member_id", "points", "balance_after", "reference", "order_id")),
                    self.now,
                    *(
                        pg_array(lot_cols[c])
                        for c in ("member_id", "reference", "points", "available_at", "expires_at", "pending")
                    ),
                ],
            )

    def _update_members(
        self,
        created: list[int],
        member_of: dict[int, int | None],
        members: dict[int, _MemberState],
        program: LoyaltyProgram,
        tiers: list[Tier],
        tier_by_id: dict[int, Tier],
        capture: tuple[str, StatementParams],
    ) -> None:
        """Last purchase, lifecycle and immediate tier upgrade of every buyer, then one UPDATE
        (which also runs the capture-rate upsert `capture`, as a CTE)."""
        buyers: dict[int, list[int]] = defaultdict(list)
        for index in created:
            if member_of[index] is not None:
                buyers[member_of[index]].append(index)  # type: ignore[index]
        if not buyers:
            self.cursor.execute(capture[0], capture[1].values)
            return
        qualifying = qualifying_for_members(
            member_ids=list(buyers),
            tiers=tiers,
            purchase_window_days=program.purchase_window_days,
            now=self.now,
        )
        top = tiers[-1] if tiers else None
        changes: list[TierChange] = []
        for member_id, indexes in buyers.items():
            state = members[member_id]
            last = max(self.orders[i].paid_at for i in indexes)
            if state.last_purchase_at is None or last > state.last_purchase_at:
                state.last_purchase_at = last
            current = tier_by_id.get(state.tier_id) if state.tier_id else None
            floor = tier_by_id.get(state.tier_floor_id) if state.tier_floor_id else None
            target = tier_supported(tiers=tiers, qualifying=qualifying[member_id], floor=floor)
            # Orders only ever lift a member; keeping or dropping a tier is the validity-end job's call.
            if target is not None and (current is None or target.rank > current.rank):
                trigger = self.results[indexes[-1]].order_id
                changes.append(
                    TierChange(
                        member_id=member_id,
                        from_tier_id=state.tier_id,
                        to_tier=target,
                        reason=TierChange.Reason.UPGRADE if current else TierChange.Reason.ENROLMENT,
                        note=f"order:{trigger}",
                        actor=self.actor,
                    )
                )
                state.tier_id = target.pk
                state.tier_expires_at = tier_expiry(tier=target, tiers=tiers, now=self.now)
                current = target
            state.lifecycle_stage = lifecycle_stage_for(
                purchases_in_window=qualifying[member_id].purchases,
                is_top_tier=top is not None and current is not None and current.pk == top.pk,
                program=program,
            )
            state.changed = True
        if changes:
            TierChange.objects.bulk_create(changes)
        rows = [members[m] for m in buyers]
        capture_sql, params = capture  # the capture CTE's parameters; this statement's are added to them
        with self._cursor() as cursor:
            cursor.execute(
                f"""WITH capture AS ({capture_sql})
                    UPDATE {_MEMBER} m SET points_balance = v.balance, points_pending = v.pending,
                        points_debt = v.debt, last_purchase_at = v.last_purchase_at, lifecycle_stage = v.stage,
                        tier_id = v.tier_id, tier_expires_at = v.tier_expires_at, updated_at = {params.value(self.now)}
                    FROM {
                    params.unnest(
                        ([s.id for s in rows], "bigint"),
                        ([s.balance for s in rows], "integer"),
                        ([s.pending for s in rows], "integer"),
                        ([s.debt for s in rows], "integer"),
                        ([s.last_purchase_at for s in rows], "timestamptz"),
                        ([s.lifecycle_stage for s in rows], "text"),
                        ([s.tier_id for s in rows], "bigint"),
                        ([s.tier_expires_at for s in rows], "timestamptz"),
                    )
                }
                        AS v(id, balance, pending, debt, last_purchase_at, stage, tier_id, tier_expires_at)
                    WHERE m.id = v.id
                    {"RETURNING " + _MEMBER_ROW if self.rows is not None else ""}""",  # noqa: S608
                params.values,
            )
            if self.rows is not None:
                for row in cursor.fetchall():
                    member = Member.from_db(connection.alias, _MEMBER_FIELDS, row)
                    self.rows.members[member.pk] = member
        loyalty_changed_notify_in_transaction(
            LoyaltyChanged(
                cause="order",
                changes=tuple(
                    LoyaltyChange(
                        member_id=s.id,
                        tier_before=self.before[s.id][0],
                        tier_after=s.tier_id,
                        points_before=self.before[s.id][1],
                        points_after=(s.balance, s.pending, s.debt),
                    )
                    for s in rows
                ),
            )
        )

    def _capture_groups(
        self, created: list[int], member_of: dict[int, int | None]
    ) -> dict[tuple[dt.date, str, int | None], list[int]]:
        tz = brand_zone()
        groups: dict[tuple[dt.date, str, int | None], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for index in created:
            item = self.orders[index]
            group = groups[(item.paid_at.astimezone(tz).date(), item.channel, item.store_id)]
            is_member = member_of[index] is not None
            group[0] += 1
            group[1] += int(is_member)
            group[2] += item.amount_fen
            group[3] += item.amount_fen if is_member else 0
        return groups


def capture_rate_add(*, groups: dict[tuple[dt.date, str, int | None], list[int]], cursor: Any = None) -> None:
    """Add (orders, member orders, GMV, member GMV) deltas to the daily aggregates: one UPSERT. Rows
    are upserted in key order so two concurrent ingests never deadlock on the aggregate rows."""
    if not groups:
        return
    with contextlib.nullcontext(cursor) if cursor is not None else connection.cursor() as cursor:
        sql, params = _capture_rate_sql(groups=groups)
        cursor.execute(sql, params.values)


def _capture_rate_sql(*, groups: dict[tuple[dt.date, str, int | None], list[int]]) -> tuple[str, StatementParams]:
    keys = sorted(groups, key=lambda k: (k[0], k[1], k[2] or 0))
    params = StatementParams()
    rows = params.unnest(
        ([k[0] for k in keys], "date"),
        ([k[1] for k in keys], "text"),
        ([k[2] for k in keys], "bigint"),
        *(([groups[k][n] for k in keys], "integer" if n < 2 else "bigint") for n in range(4)),
    )
    return (
        f"""
            INSERT INTO {_CAPTURE} AS c (day, channel, store_id, orders_total, orders_member, gmv_total_fen,
                gmv_member_fen)
            SELECT * FROM {rows}
            ON CONFLICT (day, channel, store_id) DO UPDATE SET
                orders_total = c.orders_total + EXCLUDED.orders_total,
                orders_member = c.orders_member + EXCLUDED.orders_member,
                gmv_total_fen = c.gmv_total_fen + EXCLUDED.gmv_total_fen,
                gmv_member_fen = c.gmv_member_fen + EXCLUDED.gmv_member_fen
            """,  # noqa: S608
        params,
    )


# --- refunds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    created: bool
    points_reversed: int


def order_refund(
    *,
    channel: str,
    order_no: str,
    refund_no: str,
    amount_fen: int,
    refunded_at: dt.datetime,
    actor: AbstractBaseUser | str | None,
) -> RefundResult:
    """A full or partial refund, idempotent per (order, refund_no). Never more than paid in total.
    Reverses points pro rata — cumulatively floor(earned × refunded / paid), so the reversals of
    several partial refunds never add up to more than was earned and a full refund reverses exactly
    what was earned — taking them from the order's own lot first, then the lots expiring first
    (pending ones included); points already spent become debt. Reduces qualifying spend (the tier
    upgrade this order caused is undone if the rest no longer supports it) and the capture-rate GMV
    of the order's day."""
    errors: dict[str, list[str]] = {}
    refund_no = (refund_no or "").strip()
    if not refund_no or len(refund_no) > 64:
        errors["refund_no"] = ["退款单号必填，且不超过 64 个字符。"]
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        errors["amount_fen"] = ["退款金额必须是正整数（分）。"]
    if not isinstance(refunded_at, dt.datetime) or timezone.is_naive(refunded_at):
        errors["refunded_at"] = ["退款时间必须是带时区的时间。"]
    elif not EARLIEST_BUSINESS_TIME <= refunded_at <= timezone.now() + dt.timedelta(minutes=10):
        errors["refunded_at"] = ["退款时间须在 2000 年之后且不晚于当前时间。"]
    if errors:
        raise AppError(error_codes.REFUND_INVALID, "退款数据有误。", fields=errors)
    order_ref = Order.objects.filter(channel=channel, order_no=order_no).values_list("pk", "member_id").first()
    if order_ref is None:
        raise NotFound(error_codes.ORDER_NOT_FOUND, f"订单 {channel}/{order_no} 不存在。")
    order_id, member_id = order_ref
    who = actor_name(actor)
    with transaction.atomic():
        member = member_lock(member_id=member_id) if member_id else None
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.member_id != member_id:
            # Merged between the look-up and the lock: the retry sees the new owner.
            raise AppError(error_codes.REFUND_CONFLICT, "订单的会员刚刚变更，请重试。", status=409)
        existing = Refund.objects.filter(order=order, refund_no=refund_no).first()
        if existing is not None:
            if existing.amount_fen != amount_fen:
                raise AppError(
                    error_codes.REFUND_CONFLICT,
                    f"退款单 {refund_no} 已存在且金额不同（已记录 {existing.amount_fen} 分）。",
                    status=409,
                )
            return RefundResult(refund=existing, created=False, points_reversed=existing.points_reversed)
        if order.refunded_fen + amount_fen > order.amount_fen:
            refundable = order.amount_fen - order.refunded_fen
            raise AppError(
                error_codes.REFUND_EXCEEDS_PAID,
                f"退款金额超过可退金额：可退 {refundable} 分，本次 {amount_fen} 分。",
                fields={"amount_fen": [f"不能超过 {refundable} 分。"]},
            )
        before = _reversed_total(order=order, refunded_fen=order.refunded_fen)
        returned = points_cash_to_return(order=order, refunded_before=order.refunded_fen, amount_fen=amount_fen)
        order.refunded_fen += amount_fen
        reverse = _reversed_total(order=order, refunded_fen=order.refunded_fen) - before
        order.save(update_fields=["refunded_fen", "updated_at"])
        refund = Refund.objects.create(
            order=order,
            refund_no=refund_no,
            amount_fen=amount_fen,
            refunded_at=refunded_at,
            points_reversed=reverse,
            points_returned=returned,
        )
        points_before = loyalty_points(member) if member is not None else None
        if member is not None and returned > 0:
            # Before the reversal: points given back can cover the reversal instead of debt.
            points_cash_return(member=member, order=order, refund=refund, points=returned, actor=who, notify=False)
        if member is not None and reverse > 0:
            own_lot = PointsLot.objects.filter(entry__order=order, entry__kind=PointsEntry.Kind.EARN).values_list(
                "pk", flat=True
            )
            _debit(
                member=member,
                kind=PointsEntry.Kind.REVERSE,
                points=reverse,
                reason=f"退款冲回（{refund_no}）",
                reference=f"refund:{refund.pk}",
                actor=who,
                order_id=order.pk,
                prefer_lot_ids=list(own_lot),
                include_pending=True,
                allow_debt=True,
                notify=False,
            )
        if member is not None and points_before is not None:
            # One points.changed for the refund, whatever it gave back and took back.
            points_changed_notify(member=member, kind=PointsEntry.Kind.REVERSE, before=points_before)
        # Before the tier check: a ledger kept above members that a tier qualifies on (growth
        # value) is taken back first; coupons returns or pro-rates the coupon the order used.
        order_refunded_notify_in_transaction(
            OrderRefunded(
                order_id=order.pk,
                member_id=member.pk if member is not None else None,
                channel=order.channel,
                order_no=order.order_no,
                refund_id=refund.pk,
                refund_no=refund_no,
                amount_fen=amount_fen,
                order_amount_fen=order.amount_fen,
                refunded_fen=order.refunded_fen,
            )
        )
        if member is not None and points_before is not None:
            _tier_after_refund(member=member, order=order, actor=who)
        tz = brand_zone()
        day = order.paid_at.astimezone(tz).date()
        capture_rate_add(
            groups={
                (day, order.channel, order.store_id): [0, 0, -amount_fen, -amount_fen if order.is_member_order else 0]
            }
        )
    return RefundResult(refund=refund, created=True, points_reversed=reverse)


def _reversed_total(*, order: Order, refunded_fen: int) -> int:
    if order.amount_fen == 0:
        return 0
    return order.points_earned * refunded_fen // order.amount_fen


def _tier_after_refund(*, member: Member, order: Order, actor: str) -> None:
    """Undo the upgrade this order triggered when the remaining spend no longer supports it, back
    to no lower than the tier held before that upgrade and never below the floor. Other tiers are
    left to the validity-end job: a refund must not take away a tier the member renewed fairly."""
    last = TierChange.objects.filter(member=member).order_by("-created_at", "-id").first()
    if last is None or last.note != f"order:{order.pk}" or last.reason != TierChange.Reason.UPGRADE:
        return
    tiers = tiers_ranked()
    by_id: dict[int | None, Tier] = {t.pk: t for t in tiers}  # looked up with nullable tier ids
    program = loyalty_program_get()
    qualifying = qualifying_for_members(
        member_ids=[member.pk], tiers=tiers, purchase_window_days=program.purchase_window_days, now=timezone.now()
    )[member.pk]
    floor_candidates = [t for t in (by_id.get(last.from_tier_id), by_id.get(member.tier_floor_id)) if t]
    floor = max(floor_candidates, key=lambda t: t.rank) if floor_candidates else None
    target = tier_supported(tiers=tiers, qualifying=qualifying, floor=floor)
    current = by_id.get(member.tier_id)
    if target is None or current is None or target.rank >= current.rank:
        return
    _tier_set(
        member=member,
        to_tier=target,
        tiers=tiers,
        reason=TierChange.Reason.REFUND,
        actor=actor,
        note=f"order:{order.pk}",
        now=timezone.now(),
    )


def order_get(*, channel: str, order_no: str) -> Order:
    order = Order.objects.filter(channel=channel, order_no=order_no).select_related("member", "store").first()
    if order is None:
        raise NotFound(error_codes.ORDER_NOT_FOUND, f"订单 {channel}/{order_no} 不存在。")
    return order


__all__ = [
    "OrderInput",
    "OrderItemResult",
    "OrderLineInput",
    "OrderResult",
    "RefundResult",
    "capture_rate_add",
    "ledger_total",
    "order_get",
    "order_post",
    "order_refund",
    "orders_post_batch",
]
