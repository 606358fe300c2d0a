"""Points-as-cash on an order: a member pays part of an order with points.

Rules (decisions, see also LoyaltyProgram's fields):
- Off by default; the brand switches it on and sets the cap — the largest share of an order's
  amount that points may pay (`points_cash_max_pct`). One point is worth `point_value_fen` (the
  same value the liability estimate uses; 1 fen = 100 points per yuan).
- `amount_fen` of an order stays its total; `points_cash_fen` is the part paid with points.
  Points are earned on the cash actually paid (amount − points value): no points on points.
  Qualifying spend and the capture-rate GMV count the whole order — points are a means of
  payment, like a gift card, and the member did buy that much.
- The debit happens inside the order's transaction, after the buyer's row lock (lock step 1) and
  with the buyer's lots locked (step 3): a `redeem` entry (reference `order:<id>`) consuming the
  released lots that expire first. Refused with nothing written — the order included — when the
  buyer is a tourist, frozen, the brand has it off, the cap is exceeded or the spendable balance
  (released, unexpired lots) is short. Several orders of one member in a batch spend in input
  order. A replay of a recorded order is a duplicate and debits nothing; the same order number
  with different points is an order conflict.
- A refund gives back the points pro rata to the refunded amount, cumulatively
  floor(points_redeemed × refunded / amount) — so a full refund gives back all of them — as a
  `reverse` entry (a credit) keeping the latest expiry of the lots they came from.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from django.db import connection
from django.db.models import F

from crm.db.arrays import pg_array
from crm.errors import AppError
from members import error_codes
from members.models import LoyaltyProgram, Member, Order, PointsEntry, PointsLot, PointsLotConsumption, Refund

from .points import _credit, lots_consume

if TYPE_CHECKING:
    from .orders import OrderInput, OrderItemResult, _MemberState

Refusal = tuple[int, str, str, dict[str, list[str]]]


def points_cash_value_fen(*, program: LoyaltyProgram, points: int) -> int:
    return points * program.point_value_fen


class OrderPointsCash:
    """The points-as-cash part of one ingest (members/services/orders.py `_Ingest`): `check`
    before the orders are inserted (refusals), `debit` after (for the orders actually created).
    Costs nothing when no order of the batch uses points."""

    def __init__(
        self,
        *,
        orders: Sequence["OrderInput"],
        member_of: dict[int, int | None],
        members: dict[int, "_MemberState"],
        program: LoyaltyProgram | None,
        now: dt.datetime,
    ) -> None:
        self.orders = orders
        self.member_of = member_of
        self.members = members
        self.program = program
        self.now = now
        self.accepted: dict[int, int] = {}  # input index → points to debit if the order is created
        self.lots: dict[int, list[PointsLot]] = {}

    def value_fen(self, index: int) -> int:
        """The cash value of the points order `index` pays with — only if `check` accepted them.
        A replay (not checked) or an order without points is 0: the INSERT's ON CONFLICT skips a
        replay's row, but PostgreSQL checks the row's CHECK constraints first, so it must not
        carry a value the constraint could refuse (and a tourist-only ingest has no program)."""
        points = self.accepted.get(index, 0)
        if not points or self.program is None:
            return 0
        return points_cash_value_fen(program=self.program, points=points)

    def check(self, indexes: Sequence[int]) -> list[Refusal]:
        """Refusals for the orders that would spend points they may not; the others are noted
        for `debit`. Orders already recorded (replays) are not checked: they change nothing."""
        if not any(self.orders[i].points_redeemed for i in indexes):
            return []
        existing = _existing_keys([self.orders[i] for i in indexes if self.orders[i].points_redeemed])
        spenders = {
            self.member_of[i]
            for i in indexes
            if self.orders[i].points_redeemed
            and self.member_of[i] is not None
            and self.members[self.member_of[i]].status == Member.Status.ACTIVE  # type: ignore[index]
        }
        self.lots = _spendable_lots_lock(member_ids=sorted(spenders), now=self.now)  # type: ignore[arg-type]
        available = {member_id: sum(lot.remaining for lot in lots) for member_id, lots in self.lots.items()}
        refusals: list[Refusal] = []
        # A key stands for insertion once an item of it passed (or needed no check); a refused
        # item leaves its key open, so a later duplicate of it is checked on its own.
        standing: set[tuple[str, str]] = set(existing)
        for index in indexes:
            item = self.orders[index]
            key = (item.channel, item.order_no)
            if key in standing:
                continue
            if not item.points_redeemed:
                standing.add(key)
                continue
            refusal = self._refusal(index, available)
            if refusal is not None:
                refusals.append((index, *refusal))
                continue
            standing.add(key)
            self.accepted[index] = item.points_redeemed
            available[self.member_of[index]] -= item.points_redeemed  # type: ignore[index]
        return refusals

    def _refusal(self, index: int, available: dict[int, int]) -> tuple[str, str, dict[str, list[str]]] | None:
        item = self.orders[index]
        member_id = self.member_of[index]
        points = item.points_redeemed

        def refuse(code: str, message: str) -> tuple[str, str, dict[str, list[str]]]:
            return code, message, {"points_redeemed": [message]}

        # Tourists first: an ingest of tourist orders only does not read the program (it is None).
        if member_id is None:
            return refuse(error_codes.POINTS_CASH_NOT_MEMBER, "买家不是会员（游客订单），不能使用积分抵现。")
        program = cast(LoyaltyProgram, self.program)  # None only when no buyer is a member; this one is
        if not program.points_cash_enabled or program.point_value_fen <= 0:  # worthless points pay nothing
            return refuse(error_codes.POINTS_CASH_DISABLED, "本品牌未开启积分抵现。")
        if self.members[member_id].status != Member.Status.ACTIVE:
            return refuse(error_codes.MEMBER_NOT_ELIGIBLE, "会员已冻结，不能使用积分抵现。")
        value = points_cash_value_fen(program=program, points=points)
        cap = item.amount_fen * program.points_cash_max_pct // 100
        if value > cap:
            return refuse(
                error_codes.POINTS_CASH_OVER_CAP,
                f"积分抵现 {value / 100:.2f} 元超过本单上限 {cap / 100:.2f} 元"
                f"（订单金额的 {program.points_cash_max_pct}%）。",
            )
        if points > available.get(member_id, 0):
            return refuse(
                error_codes.POINTS_INSUFFICIENT,
                f"积分不足：需要 {points}，可用 {max(available.get(member_id, 0), 0)}。",
            )
        return None

    def debit(self, *, created: Sequence[int], results: Sequence["OrderItemResult"], actor: str) -> None:
        """The `redeem` entries of the created orders that use points, their lot consumptions and
        the buyers' balances (in the ingest's member states, written by its final UPDATE)."""
        entries: list[PointsEntry] = []
        takes: list[list[tuple[PointsLot, int]]] = []
        touched: dict[int, PointsLot] = {}
        for index in created:
            points = self.accepted.get(index, 0)
            if not points:
                continue
            member_id = self.member_of[index]
            assert member_id is not None  # accepted only for members
            state = self.members[member_id]
            taken, left = lots_consume(self.lots[member_id], points)
            touched.update((lot.pk, lot) for lot, _ in taken)
            if left:  # cannot happen: `check` counted these locked lots
                raise AppError(error_codes.POINTS_INSUFFICIENT, "积分不足。")
            item = self.orders[index]
            entries.append(
                PointsEntry(
                    member_id=member_id,
                    kind=PointsEntry.Kind.REDEEM,
                    points=-points,
                    balance_after=state.balance + state.pending - state.debt - points,
                    reason=f"订单积分抵现 {self.value_fen(index) / 100:.2f} 元（{item.order_no}）",
                    reference=f"order:{results[index].order_id}",
                    order_id=results[index].order_id,
                    actor=actor,
                )
            )
            takes.append(taken)
            state.balance -= points
            state.changed = True
            results[index].points_redeemed = points
            results[index].points_cash_fen = self.value_fen(index)
        if not entries:
            return
        PointsEntry.objects.bulk_create(entries)
        PointsLot.objects.bulk_update(list(touched.values()), ["remaining"])
        PointsLotConsumption.objects.bulk_create(
            [
                PointsLotConsumption(lot=lot, entry=entry, points=take)
                for entry, taken in zip(entries, takes, strict=True)
                for lot, take in taken
            ]
        )


def _existing_keys(items: Sequence["OrderInput"]) -> set[tuple[str, str]]:
    channels, numbers = zip(*{(i.channel, i.order_no) for i in items}, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT o.channel, o.order_no FROM {Order._meta.db_table} o
                JOIN unnest(%s::text[], %s::text[]) AS k(channel, order_no)
                ON o.channel = k.channel AND o.order_no = k.order_no""",  # noqa: S608 (table name from model meta)
            [pg_array(channels), pg_array(numbers)],
        )
        return {(row[0], row[1]) for row in cursor.fetchall()}


def _spendable_lots_lock(*, member_ids: Sequence[int], now: dt.datetime) -> dict[int, list[PointsLot]]:
    """Lock step 3 for these (already locked) members: their released, unexpired lots with points
    left, in consumption order (expiring first, never-expiring last)."""
    result: dict[int, list[PointsLot]] = defaultdict(list)
    if not member_ids:
        return result
    lots = (
        PointsLot.objects.select_for_update()
        .filter(member_id__in=member_ids, remaining__gt=0, expired=False, pending=False)
        .exclude(expires_at__lte=now)
        .order_by("member_id", F("expires_at").asc(nulls_last=True), "id")
    )
    for lot in lots:
        result[lot.member_id].append(lot)
    return result


# --- refunds ------------------------------------------------------------------------------------


def points_cash_to_return(*, order: Order, refunded_before: int, amount_fen: int) -> int:
    """Points-as-cash a refund of `amount_fen` gives back: cumulatively pro rata, rounded down, so
    partial refunds never give back more than was paid with and a full refund gives back all."""
    if not order.points_redeemed or order.amount_fen == 0:
        return 0

    def share(refunded: int) -> int:
        return order.points_redeemed * refunded // order.amount_fen

    return share(refunded_before + amount_fen) - share(refunded_before)


def points_cash_return(
    *, member: Member, order: Order, refund: Refund, points: int, actor: str, notify: bool = True
) -> PointsEntry:
    """Credit the points back to the (locked) member as a `reverse` entry. The new lot keeps the
    latest expiry of the lots the order's points came from (never, if any never expires): a
    refund must not extend the life of points. Already past it, the expiry job takes them."""
    expiries = list(
        PointsLotConsumption.objects.filter(entry__order=order, entry__kind=PointsEntry.Kind.REDEEM).values_list(
            "lot__expires_at", flat=True
        )
    )
    expires_at = None if not expiries or None in expiries else max(e for e in expiries if e is not None)
    return _credit(
        member=member,
        kind=PointsEntry.Kind.REVERSE,
        points=points,
        reason=f"退款退回抵现积分（{refund.refund_no}）",
        reference=f"refund:{refund.pk}:points_cash",
        actor=actor,
        expires_at=expires_at,
        order_id=order.pk,
        notify=notify,
    )
