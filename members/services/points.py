"""The points ledger: earning rules, credits and debits, bonus awards, expiry, release of pending
points, and the ledger audit.

Definitions (see PointsLot's docstring for the invariant the audit checks):
- `points_balance`  spendable points (released, unexpired lot remainders);
- `points_pending`  earned but not yet released (pending period);
- `points_debt`     points reversed after they were spent; the next credit pays it first;
- an entry's `balance_after` is the running ledger total after it: balance + pending − debt.

LOCK ORDER — every service that writes loyalty state takes its row locks in this order, so two
services never wait on each other in a cycle:
  1. member rows, ascending id, `FOR NO KEY UPDATE` (not FOR UPDATE: inserting an order, entry or
     lot takes KEY SHARE on the member it references, which NO KEY UPDATE does not block);
     1a. a manual adjustment by a limited user: that member's (member, day) counter row, then the
         user's (user, day) counter row; an approval instead: the adjustment request row
         (members/services/points_adjustments.py);
  2. that member's order row (refunds), FOR UPDATE;
  3. that member's lots, by (expires_at NULLS LAST, id), FOR UPDATE;
  4. reward rows, ascending id, FOR UPDATE (stock).
Set-based jobs lock every affected member in step 1 with one `ORDER BY id ... FOR NO KEY UPDATE`
statement before they touch lots. Reads never lock.
"""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from crm.errors import AppError
from crm.tenancy.zones import brand_zone
from members import error_codes
from members.hooks import LoyaltyChange, LoyaltyChanged, loyalty_changed_notify_in_transaction
from members.models import LoyaltyProgram, Member, PointsEntry, PointsLot, PointsLotConsumption

# --- brand time ---------------------------------------------------------------------------------


def loyalty_program_get() -> LoyaltyProgram:
    """The brand's loyalty rules; created with the defaults the first time they are needed."""
    program = LoyaltyProgram.objects.filter(singleton=True).first()
    if program is None:
        program, _ = LoyaltyProgram.objects.get_or_create(singleton=True)
    return program


def lot_expires_at(*, program: LoyaltyProgram, earned_at: dt.datetime) -> dt.datetime | None:
    """When points earned at `earned_at` expire under the brand's policy (None = never)."""
    if program.expiry == LoyaltyProgram.Expiry.NEVER:
        return None
    if program.expiry == LoyaltyProgram.Expiry.DAYS:
        return earned_at + dt.timedelta(days=program.expiry_days or 0)
    # End of the following year, in the brand's time zone: earned in 2026 → usable through 2027-12-31.
    tz = brand_zone()
    year = earned_at.astimezone(tz).year
    return dt.datetime(year + 2, 1, 1, tzinfo=tz)


def lot_available_at(*, program: LoyaltyProgram, earned_at: dt.datetime) -> dt.datetime:
    return earned_at + dt.timedelta(days=program.pending_days)


# --- earning rules ------------------------------------------------------------------------------

# Campaign multiplier providers. A provider is `fn(*, orders: Sequence[tuple[int, datetime]]) ->
# list[int]`: for each (member_id, paid_at) the campaign multiplier in percent (100 = none). The
# campaigns app registers one in its AppConfig.ready() with `campaign_multiplier_provider_register`
# and nothing here changes. Several providers do not stack: the highest multiplier applies.
# Providers are called once per ingest batch (not per order), so they can load the active
# campaigns once.
CampaignMultiplierProvider = Callable[..., list[int]]
_campaign_multiplier_providers: list[CampaignMultiplierProvider] = []


def campaign_multiplier_provider_register(provider: CampaignMultiplierProvider) -> None:
    if provider not in _campaign_multiplier_providers:
        _campaign_multiplier_providers.append(provider)


def campaign_multiplier_provider_unregister(provider: CampaignMultiplierProvider) -> None:
    if provider in _campaign_multiplier_providers:
        _campaign_multiplier_providers.remove(provider)


def campaign_multipliers_pct(*, orders: Sequence[tuple[int, dt.datetime]]) -> list[int]:
    """The campaign multiplier (percent) for each (member_id, paid_at); 100 when no campaign."""
    result = [100] * len(orders)
    for provider in _campaign_multiplier_providers:
        for index, pct in enumerate(provider(orders=orders)):
            if pct < 0:
                raise ValueError(f"campaign multiplier provider {provider!r} returned {pct}")
            result[index] = max(result[index], pct)
    return result


# The most points one ledger entry (an order's earning, points-as-cash, an adjustment) may move.
POINTS_MAX_PER_ENTRY = 10**8


def points_for_order(
    *,
    program: LoyaltyProgram,
    channel: str,
    amount_fen: int,
    lines: Sequence[tuple[str, int]] = (),
    tier_multiplier_pct: int = 100,
    campaign_multiplier_pct: int = 100,
) -> int:
    """Points an order earns: base rate per yuan × tier × campaign multiplier, rounded down, with
    channel and SKU exclusions and the per-order cap. `lines` are (sku, amount_fen). Integer
    arithmetic only: amount is fen (÷100) and both multipliers are percent (÷100 each)."""
    if channel in program.excluded_channels:
        return 0
    excluded = set(program.excluded_skus)
    eligible_fen = amount_fen - sum(amount for sku, amount in lines if sku in excluded)
    if eligible_fen <= 0:
        return 0
    points = eligible_fen * program.base_points_per_yuan * tier_multiplier_pct * campaign_multiplier_pct // 1_000_000
    if program.per_order_cap is not None:
        points = min(points, program.per_order_cap)
    # Whatever the brand's cap, one order never earns more than the ledger's per-entry ceiling
    # (balances and entries are 32-bit; a mistyped ten-billion-yuan amount must not overflow them).
    return max(min(points, POINTS_MAX_PER_ENTRY), 0)


# --- row-level credit and debit (caller holds the member lock) ----------------------------------


def member_lock(*, member_id: int) -> Member:
    """Lock step 1 for a single member."""
    return Member.objects.select_for_update(no_key=True).get(pk=member_id)


def ledger_total(member: Member) -> int:
    return member.points_balance + member.points_pending - member.points_debt


def loyalty_points(member: Member) -> tuple[int, int, int]:
    return (member.points_balance, member.points_pending, member.points_debt)


# The webhook `cause` of each kind of entry that _credit / _debit write.
_CAUSE_OF_KIND: dict[str, str] = {
    PointsEntry.Kind.ADJUST: "adjustment",
    PointsEntry.Kind.REDEEM: "redemption",
    PointsEntry.Kind.REVERSE: "refund",
    PointsEntry.Kind.BONUS: "campaign_bonus",
}


def points_changed_notify(*, member: Member, kind: str, before: tuple[int, int, int]) -> None:
    loyalty_changed_notify_in_transaction(
        LoyaltyChanged(
            cause=_CAUSE_OF_KIND[kind],
            changes=(
                LoyaltyChange(
                    member_id=member.pk,
                    tier_before=member.tier_id,
                    tier_after=member.tier_id,
                    points_before=before,
                    points_after=loyalty_points(member),
                ),
            ),
        )
    )


@dataclass(frozen=True)
class Credit:
    """How a credit of `points` splits: first the debt, then a lot of `net` points."""

    debt_paid: int
    net: int


def credit_split(*, points: int, debt: int) -> Credit:
    debt_paid = min(points, debt)
    return Credit(debt_paid=debt_paid, net=points - debt_paid)


def _credit(
    *,
    member: Member,
    kind: str,
    points: int,
    reason: str,
    reference: str,
    actor: str,
    expires_at: dt.datetime | None,
    available_at: dt.datetime | None = None,
    order_id: int | None = None,
    notify: bool = True,
) -> PointsEntry:
    """Add points to a locked member: pays debt first, the rest becomes a lot. `notify=False`
    when the caller reports the whole change itself (a refund credits and debits in one go)."""
    now = timezone.now()
    before = loyalty_points(member)
    split = credit_split(points=points, debt=member.points_debt)
    entry = PointsEntry.objects.create(
        member=member,
        kind=kind,
        points=points,
        balance_after=ledger_total(member) + points,
        reason=reason,
        reference=reference,
        order_id=order_id,
        actor=actor,
    )
    available_at = available_at or now
    pending = available_at > now
    if split.net:
        PointsLot.objects.create(
            member=member,
            entry=entry,
            points=split.net,
            remaining=split.net,
            earned_at=now,
            available_at=available_at,
            expires_at=expires_at,
            pending=pending,
        )
    member.points_debt -= split.debt_paid
    if pending:
        member.points_pending += split.net
    else:
        member.points_balance += split.net
    member.save(update_fields=["points_balance", "points_pending", "points_debt", "updated_at"])
    if notify:
        points_changed_notify(member=member, kind=kind, before=before)
    return entry


def lots_consume(lots: Sequence[PointsLot], points: int) -> tuple[list[tuple[PointsLot, int]], int]:
    """Take up to `points` from `lots` in their order (the caller sorts them: expiring first),
    lowering each lot's `remaining` in memory. Returns (lot, points taken) pairs and what the lots
    could not cover."""
    left, taken = points, []
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take:
            lot.remaining -= take
            left -= take
            taken.append((lot, take))
    return taken, left


def _debit(
    *,
    member: Member,
    kind: str,
    points: int,
    reason: str,
    reference: str,
    actor: str,
    order_id: int | None = None,
    prefer_lot_ids: Sequence[int] = (),
    include_pending: bool = False,
    allow_debt: bool = False,
    notify: bool = True,
) -> PointsEntry:
    """Take `points` from a locked member's lots, those expiring first (lots in `prefer_lot_ids`
    before all others). Pending lots are used only when `include_pending` (a refund reverses the
    pending points it earned). What the lots cannot cover becomes debt if `allow_debt`, else the
    debit is refused. Lots past their expiry that the job has not expired yet are never used."""
    now = timezone.now()
    lots_qs = (
        PointsLot.objects.select_for_update()
        .filter(member=member, remaining__gt=0, expired=False)
        .exclude(expires_at__lte=now)
        .order_by(F("expires_at").asc(nulls_last=True), "id")
    )
    if not include_pending:
        lots_qs = lots_qs.filter(pending=False)
    lots = list(lots_qs)
    preferred = set(prefer_lot_ids)
    # Within each group the lock order (expiry, id) is kept; consuming in another order is fine.
    lots.sort(key=lambda lot: lot.id not in preferred)

    taken, left = lots_consume(lots, points)
    from_pending = sum(take for lot, take in taken if lot.pending)
    from_balance = points - left - from_pending
    if left and not allow_debt:
        raise AppError(
            error_codes.POINTS_INSUFFICIENT,
            f"积分不足：需要 {points}，可用 {points - left}。",
            extra={"available": points - left, "required": points},
        )

    entry = PointsEntry.objects.create(
        member=member,
        kind=kind,
        points=-points,
        balance_after=ledger_total(member) - points,
        reason=reason,
        reference=reference,
        order_id=order_id,
        actor=actor,
    )
    if taken:
        PointsLot.objects.bulk_update([lot for lot, _ in taken], ["remaining"])
        PointsLotConsumption.objects.bulk_create(
            [PointsLotConsumption(lot=lot, entry=entry, points=take) for lot, take in taken]
        )
    before = loyalty_points(member)
    member.points_balance -= from_balance
    member.points_pending -= from_pending
    member.points_debt += left
    member.save(update_fields=["points_balance", "points_pending", "points_debt", "updated_at"])
    if notify:
        points_changed_notify(member=member, kind=kind, before=before)
    return entry


def _existing_entry(*, member: Member, kind: str, reference: str) -> PointsEntry | None:
    if not reference:
        return None
    return PointsEntry.objects.filter(member=member, kind=kind, reference=reference).first()


def _require_member_usable(member: Member, *, allow_frozen: bool) -> None:
    if member.merged_into_id is not None:
        raise AppError(error_codes.MEMBER_NOT_ELIGIBLE, f"会员 {member.member_no} 已合并，请对合并后的会员操作。")
    if member.status == Member.Status.ERASED:
        raise AppError(error_codes.MEMBER_NOT_ELIGIBLE, "该会员已删除个人信息，不能再变动积分。")
    if member.status == Member.Status.FROZEN and not allow_frozen:
        raise AppError(error_codes.MEMBER_NOT_ELIGIBLE, f"会员 {member.member_no} 已冻结，不能使用或调整积分。")


def points_spend_in_transaction(*, member_id: int, points: int, reason: str, reference: str, actor: str) -> Member:
    """Spend `points` of a member's balance for something another app sells for points (a coupon
    in exchange): lock step 1 on the member, refuse a frozen/erased/merged member or one who
    cannot pay, debit the lots expiring first. The caller's transaction must be open, so the
    ledger entry and what was bought commit together; its own locks come after this one."""
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise AppError(error_codes.POINTS_INVALID, "积分必须是正整数。")
    member = member_lock(member_id=member_id)
    _require_member_usable(member, allow_frozen=False)
    if member.points_balance < points:
        raise AppError(
            error_codes.POINTS_INSUFFICIENT,
            f"积分不足：需要 {points}，可用 {member.points_balance}。",
            extra={"available": member.points_balance, "required": points},
        )
    _debit(member=member, kind=PointsEntry.Kind.REDEEM, points=points, reason=reason, reference=reference, actor=actor)
    return member


# --- manual adjustments: members/services/points_adjustments.py (limits over a brand day, approvals)


def _copy_loyalty_state(*, source: Member, target: Member) -> None:
    """Keep the caller's instance current after the service changed the locked copy."""
    for field in ("points_balance", "points_pending", "points_debt", "tier_id", "tier_expires_at", "tier_floor_id"):
        setattr(target, field, getattr(source, field))


# --- bonus points (campaigns) -------------------------------------------------------------------


def points_award_bonus(
    *,
    member: Member,
    points: int,
    reference: str,
    reason: str,
    actor: str = "system",
    expires_at: dt.datetime | None = None,
) -> PointsEntry:
    """Bonus points for one member, idempotent per (member, reference). Available at once; expire at
    `expires_at` or per the brand's policy. Pays debt first like any credit."""
    _bonus_validate(points=points, reference=reference)
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        _require_member_usable(locked, allow_frozen=True)
        existing = _existing_entry(member=locked, kind=PointsEntry.Kind.BONUS, reference=reference)
        if existing is not None:
            return existing
        if expires_at is None:
            expires_at = lot_expires_at(program=loyalty_program_get(), earned_at=timezone.now())
        entry = _credit(
            member=locked,
            kind=PointsEntry.Kind.BONUS,
            points=points,
            reason=reason,
            reference=reference,
            actor=actor,
            expires_at=expires_at,
        )
    _copy_loyalty_state(source=locked, target=member)
    return entry


def points_bonus_reverse(*, member: Member, reference: str, reason: str, actor: str) -> PointsEntry | None:
    """Take back the bonus awarded under `reference` (e.g. a voided scan claim): a `reverse` entry
    with the same reference, from the bonus's own lot first, then the member's other points; what
    was already spent becomes debt. Idempotent: a second call returns the first reversal. None when
    no such bonus exists (nothing to take back)."""
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        existing = _existing_entry(member=locked, kind=PointsEntry.Kind.REVERSE, reference=reference)
        if existing is not None:
            return existing
        bonus = _existing_entry(member=locked, kind=PointsEntry.Kind.BONUS, reference=reference)
        if bonus is None:
            return None
        entry = _debit(
            member=locked,
            kind=PointsEntry.Kind.REVERSE,
            points=bonus.points,
            reason=reason,
            reference=reference,
            actor=actor,
            prefer_lot_ids=list(PointsLot.objects.filter(entry=bonus).values_list("id", flat=True)),
            include_pending=True,
            allow_debt=True,
        )
    _copy_loyalty_state(source=locked, target=member)
    return entry


def points_spend(*, member: Member, points: int, reference: str, reason: str, actor: str = "system") -> PointsEntry:
    """Spend points on something other than a catalogue reward (a 补签 make-up day in engagement):
    a `redeem` entry using the points that expire first, idempotent per (member, reference), in
    its own transaction or the caller's. Refused (nothing written) when the balance is short or
    the member is frozen, erased or merged."""
    _bonus_validate(points=points, reference=reference)
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        _require_member_usable(locked, allow_frozen=False)
        existing = _existing_entry(member=locked, kind=PointsEntry.Kind.REDEEM, reference=reference)
        if existing is not None:
            return existing
        entry = _debit(
            member=locked, kind=PointsEntry.Kind.REDEEM, points=points, reason=reason, reference=reference, actor=actor
        )
    _copy_loyalty_state(source=locked, target=member)
    return entry


def _bonus_validate(*, points: int, reference: str) -> None:
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise AppError(error_codes.POINTS_INVALID, "赠送积分必须是正整数。", fields={"points": ["必须是正整数。"]})
    if not reference or len(reference) > 128:
        raise AppError(
            error_codes.POINTS_INVALID, "赠送积分必须带关联编号（≤128 字符）。", fields={"reference": ["必填。"]}
        )


def _member_ids_sql(members: "QuerySet[Any] | tuple[str, Sequence[Any]]") -> tuple[str, tuple[Any, ...]]:
    params: Sequence[Any]  # a tuple from the query, any sequence from the caller
    if isinstance(members, QuerySet):
        sql, params = members.values("pk").query.sql_with_params()
        return sql, tuple(params)
    sql, params = members
    return sql, tuple(params)


def member_ids_chunk_sql(ids_sql: str) -> str:
    """The audience `ids_sql` restricted to one id range (params: the audience's, then lo, hi).
    The range sits on the audience's own column so the planner pushes it into the audience query
    (e.g. an index range on the recipients' (occurrence, member) key) instead of reading the
    whole audience for every chunk."""
    return f"SELECT ids.id FROM ({ids_sql}) AS ids(id) WHERE ids.id >= %s AND ids.id < %s"


def points_award_bonus_bulk(
    *,
    members: "QuerySet[Any] | tuple[str, Sequence[Any]]",
    points: int,
    reference: str,
    reason: str,
    actor: str = "system",
    expires_at: dt.datetime | None = None,
    id_range: tuple[int, int] | None = None,
) -> int:
    """Bonus points for a whole audience in a few statements, idempotent per (member, reference):
    re-running the same award (a retried campaign occurrence) awards nobody twice. `id_range`
    ([lo, hi) member ids): only that part of the audience, in one statement (a campaign run's
    chunk, campaigns/services.py).

    `members` is a Member queryset, or (sql, params) selecting one column of member ids. Merged,
    erased and frozen-or-not members: merged and erased members are skipped; frozen members earn
    (freezing blocks spending, not earning). Returns how many members were awarded now.
    """
    _bonus_validate(points=points, reference=reference)
    if expires_at is None:
        expires_at = lot_expires_at(program=loyalty_program_get(), earned_at=timezone.now())
    ids_sql, ids_params = _member_ids_sql(members)
    member_table = Member._meta.db_table
    entry_table = PointsEntry._meta.db_table
    lot_table = PointsLot._meta.db_table
    chunk_sql = member_ids_chunk_sql(ids_sql)
    now = timezone.now()
    awarded = 0
    windows: list[tuple[int, int]] = []
    with transaction.atomic(), connection.cursor() as cursor:
        chunk_settings(cursor)
        # Statements by member id range (ascending, so the lock order holds across chunks): the
        # planner sees a chunk-sized join instead of a million-row one, and no step holds more
        # than one chunk's rows in sorts or hash tables.
        for lo, hi in member_id_ranges(cursor) if id_range is None else [id_range]:
            # Lock step 1 for this chunk of the audience, in id order.
            cursor.execute(
                f"""SELECT count(*) FROM (
                        SELECT id FROM {member_table}
                        WHERE id >= %s AND id < %s AND id IN ({chunk_sql}) AND merged_into_id IS NULL
                          AND status <> %s
                        ORDER BY id FOR NO KEY UPDATE) locked""",
                (lo, hi, *ids_params, lo, hi, Member.Status.ERASED),
            )
            # One statement: entries (skipping members who already have this award), their lots
            # (net of debt), then the members' balances. All CTEs read the same pre-statement
            # snapshot of the member rows, so balance_after and the debt split agree.
            cursor.execute(
                f"""
                WITH p AS (
                    SELECT %s::integer AS points, %s::text AS reason, %s::text AS reference, %s::text AS actor,
                           %s::timestamptz AS now, %s::timestamptz AS expires_at
                ),
                target AS MATERIALIZED (
                    SELECT m.id, m.points_balance, m.points_pending, m.points_debt
                    FROM {member_table} m
                    WHERE m.id >= %s AND m.id < %s AND m.id IN ({chunk_sql}) AND m.merged_into_id IS NULL
                      AND m.status <> %s
                ),
                ins AS (
                    INSERT INTO {entry_table} (member_id, kind, points, balance_after, reason, reference, actor,
                        created_at)
                    SELECT t.id, 'bonus', p.points, t.points_balance + t.points_pending - t.points_debt + p.points,
                           p.reason, p.reference, p.actor, p.now
                    FROM target t CROSS JOIN p
                    ON CONFLICT (member_id, kind, reference) WHERE NOT (reference = '') DO NOTHING
                    RETURNING id, member_id
                ),
                -- The debt comes from the member row itself (by primary key), not from joining the
                -- two CTEs: the planner cannot estimate CTE sizes, and right after a snapshot the
                -- audience's statistics say "a few rows", which made that join a nested loop over
                -- both (quadratic: minutes per 50k chunk). Same snapshot, so the same values.
                credited AS MATERIALIZED (
                    SELECT ins.id AS entry_id, m.id AS member_id,
                           LEAST(m.points_debt, p.points) AS debt_paid, p.points - LEAST(m.points_debt, p.points) AS net
                    FROM ins JOIN {member_table} m ON m.id = ins.member_id CROSS JOIN p
                ),
                lots AS (
                    INSERT INTO {lot_table}
                        (member_id, entry_id, points, remaining, earned_at, available_at, expires_at, expired, pending)
                    SELECT c.member_id, c.entry_id, c.net, c.net, p.now, p.now, p.expires_at, false, false
                    FROM credited c CROSS JOIN p WHERE c.net > 0
                ),
                updated AS (
                    UPDATE {member_table} m
                    SET points_balance = m.points_balance + c.net, points_debt = m.points_debt - c.debt_paid,
                        updated_at = p.now
                    FROM credited c CROSS JOIN p WHERE m.id = c.member_id
                    RETURNING m.id
                )
                -- The entries' id window tells the loyalty-change hook which entries are this award's.
                SELECT (SELECT count(*) FROM updated), min(entry_id), max(entry_id) FROM credited
                """,
                (points, reason, reference, actor, now, expires_at, lo, hi, *ids_params, lo, hi, Member.Status.ERASED),
            )
            count, first_entry, last_entry = cursor.fetchone()
            awarded += count
            if count:
                windows.append((first_entry, last_entry))
        loyalty_changed_notify_in_transaction(
            LoyaltyChanged(
                cause="campaign_bonus",
                points_rows=tuple(
                    _entry_window_rows(kind=PointsEntry.Kind.BONUS, reference=reference, first=first, last=last)
                    for first, last in windows
                ),
            )
        )
    return awarded


def _entry_window_rows(*, kind: str, reference: str, first: int, last: int) -> tuple[str, tuple[Any, ...]]:
    """Points rows (members/hooks.py) of the entries a set-based statement wrote: ids in
    [first, last] (one statement's inserts, read by primary key), of its kind and reference —
    entries an earlier run wrote have lower ids, other writers' entries another kind or reference.
    The balances are the members' after the statement."""
    return (
        f"""SELECT e.member_id, e.points, m.points_balance, m.points_pending, m.points_debt
            FROM {PointsEntry._meta.db_table} e JOIN {Member._meta.db_table} m ON m.id = e.member_id
            WHERE e.id BETWEEN %s AND %s AND e.kind = %s AND e.reference = %s""",
        (first, last, kind, reference),
    )


# Members per set-based statement (bonus awards) or per transaction (the nightly jobs).
MEMBER_CHUNK = 50_000


def member_id_ranges(cursor: Any, chunk: int = MEMBER_CHUNK) -> list[tuple[int, int]]:
    """Half-open [lo, hi) member id ranges of `chunk` ids covering every member, ascending."""
    cursor.execute(f"SELECT min(id), max(id) FROM {Member._meta.db_table}")
    lo, hi = cursor.fetchone()
    if lo is None:
        return []
    return [(start, start + chunk) for start in range(lo, hi + 1, chunk)]


def chunk_settings(cursor: Any) -> None:
    """For a transaction of set-based statements over MEMBER_CHUNK-member chunks (the nightly jobs,
    bulk bonus awards and reward gifts): sorts and hashes of a chunk in memory (the default 4 MB
    spills to disk), and no JIT — the chunk statements' estimated costs cross the JIT threshold,
    and compiling them (~130 ms a statement) costs more than it saves on 50k rows."""
    cursor.execute("SET LOCAL work_mem = '64MB'")
    cursor.execute("SET LOCAL jit = off")


# --- daily jobs ---------------------------------------------------------------------------------


def points_expire_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Expire every lot whose expiry has passed: one `expire` entry per member (reference
    `expire:<cutoff>`), one consumption per lot, lots zeroed, balances reduced. Set-based, by
    member id range: each chunk of MEMBER_CHUNK members is its own transaction — a member lock
    statement (lock step 1, ascending id), then one statement — so the job never holds more than
    one chunk's member locks, and order ingest for the other members goes on meanwhile. Safe to
    re-run or to resume after a crash: expired lots are skipped."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        ranges = member_id_ranges(cursor)
    members = expired_points = 0
    for lo, hi in ranges:
        chunk_members, chunk_points = _points_expire_chunk(now=now, lo=lo, hi=hi)
        members += chunk_members
        expired_points += chunk_points
    return {"members": members, "points": expired_points}


def _points_expire_chunk(*, now: dt.datetime, lo: int, hi: int) -> tuple[int, int]:
    member_table = Member._meta.db_table
    reference = f"expire:{now.isoformat()}"
    with transaction.atomic(), connection.cursor() as cursor:
        chunk_settings(cursor)
        cursor.execute(
            f"""SELECT count(*) FROM (
                    SELECT id FROM {member_table} WHERE id IN (
                        SELECT member_id FROM {PointsLot._meta.db_table}
                        WHERE remaining > 0 AND NOT expired AND expires_at <= %s
                          AND member_id >= %s AND member_id < %s)
                    ORDER BY id FOR NO KEY UPDATE) locked""",
            [now, lo, hi],
        )
        cursor.execute(
            f"""
            WITH due AS MATERIALIZED (
                SELECT id, member_id, remaining, pending FROM {PointsLot._meta.db_table}
                WHERE remaining > 0 AND NOT expired AND expires_at <= %(now)s
                  AND member_id >= %(lo)s AND member_id < %(hi)s
            ),
            per_member AS (
                SELECT member_id, SUM(remaining) AS total,
                       COALESCE(SUM(remaining) FILTER (WHERE pending), 0) AS from_pending
                FROM due GROUP BY member_id
            ),
            ent AS (
                INSERT INTO {PointsEntry._meta.db_table}
                    (member_id, kind, points, balance_after, reason, reference, actor, created_at)
                SELECT p.member_id, 'expire', -p.total,
                       m.points_balance + m.points_pending - m.points_debt - p.total,
                       '积分到期', %(reference)s, 'system', %(now)s
                FROM per_member p JOIN {member_table} m ON m.id = p.member_id
                RETURNING id, member_id
            ),
            cons AS (
                INSERT INTO {PointsLotConsumption._meta.db_table} (lot_id, entry_id, points)
                SELECT due.id, ent.id, due.remaining FROM due JOIN ent ON ent.member_id = due.member_id
            ),
            -- The chunk's range on the lots themselves: without it the planner hashes `due` against
            -- a scan of every lot of the brand (a million rows per chunk at 1M lots).
            zeroed AS (
                UPDATE {PointsLot._meta.db_table} l SET remaining = 0, expired = true
                FROM due WHERE l.id = due.id AND l.member_id >= %(lo)s AND l.member_id < %(hi)s
            ),
            balances AS (
                UPDATE {member_table} m
                SET points_balance = m.points_balance - (p.total - p.from_pending),
                    points_pending = m.points_pending - p.from_pending,
                    updated_at = %(now)s
                FROM per_member p WHERE m.id = p.member_id
                RETURNING p.total
            )
            SELECT count(*), COALESCE(SUM(total), 0), (SELECT min(id) FROM ent), (SELECT max(id) FROM ent)
            FROM balances
            """,
            {"now": now, "reference": reference, "lo": lo, "hi": hi},
        )
        members, expired_points, first_entry, last_entry = cursor.fetchone()
        if members:
            loyalty_changed_notify_in_transaction(
                LoyaltyChanged(
                    cause="expiry",
                    points_rows=(
                        _entry_window_rows(
                            kind=PointsEntry.Kind.EXPIRE, reference=reference, first=first_entry, last=last_entry
                        ),
                    ),
                )
            )
    return int(members), int(expired_points)


def points_release_pending(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Make pending points spendable once their pending period is over. No ledger entry: the
    ledger total (balance + pending − debt) does not change. Set-based, by member id range like
    the expiry job: each chunk of MEMBER_CHUNK members is its own transaction (lock step 1 on the
    chunk's members, ascending id, then one statement), so a busy night's releases never hold
    every member's lock at once. Safe to re-run or to resume after a crash: released lots are
    no longer pending."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        ranges = member_id_ranges(cursor)
    members = 0
    for lo, hi in ranges:
        members += _points_release_chunk(now=now, lo=lo, hi=hi)
    return {"members": members}


def _points_release_chunk(*, now: dt.datetime, lo: int, hi: int) -> int:
    member_table = Member._meta.db_table
    lot_table = PointsLot._meta.db_table
    params: dict[str, dt.datetime | int] = {"now": now, "lo": lo, "hi": hi}
    with transaction.atomic(), connection.cursor() as cursor:
        chunk_settings(cursor)
        cursor.execute(
            f"""SELECT count(*) FROM (
                    SELECT id FROM {member_table} WHERE id IN (
                        SELECT member_id FROM {lot_table}
                        WHERE pending AND available_at <= %(now)s AND member_id >= %(lo)s AND member_id < %(hi)s)
                    ORDER BY id FOR NO KEY UPDATE) locked""",
            params,
        )
        (locked,) = cursor.fetchone()
        if not locked:
            return 0
        # Told before the UPDATE, as balances computed from the locked rows and the lots about to be
        # released: afterwards, lots released now look like lots released on any earlier night.
        loyalty_changed_notify_in_transaction(
            LoyaltyChanged(
                cause="pending_release",
                points_rows=(
                    (
                        f"""SELECT m.id, 0, m.points_balance + r.total, m.points_pending - r.total, m.points_debt
                            FROM (SELECT member_id, SUM(remaining) AS total FROM {lot_table}
                                  WHERE pending AND available_at <= %s AND member_id >= %s AND member_id < %s
                                  GROUP BY member_id HAVING SUM(remaining) > 0) r
                            JOIN {member_table} m ON m.id = r.member_id""",
                        (now, lo, hi),
                    ),
                ),
            )
        )
        cursor.execute(
            f"""
            WITH released AS (
                UPDATE {lot_table} SET pending = false
                WHERE pending AND available_at <= %(now)s AND member_id >= %(lo)s AND member_id < %(hi)s
                RETURNING member_id, remaining
            ),
            per_member AS (SELECT member_id, SUM(remaining) AS total FROM released GROUP BY member_id)
            UPDATE {member_table} m
            SET points_balance = m.points_balance + p.total, points_pending = m.points_pending - p.total,
                updated_at = %(now)s
            FROM per_member p WHERE m.id = p.member_id AND m.id >= %(lo)s AND m.id < %(hi)s
            """,
            params,
        )
        return cursor.rowcount


# --- audit --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerDrift:
    member_id: int
    member_no: str
    balance: int
    pending: int
    debt: int
    entries_total: int
    lots_remaining: int
    lots_pending: int

    def describe(self) -> str:
        return (
            f"member {self.member_no} (id {self.member_id}): balance={self.balance} pending={self.pending} "
            f"debt={self.debt} | entries={self.entries_total} (expected {self.balance + self.pending - self.debt}) "
            f"lots={self.lots_remaining} (expected {self.balance + self.pending}) "
            f"pending lots={self.lots_pending} (expected {self.pending})"
        )


def ledger_audit() -> list[LedgerDrift]:
    """Every member of the current brand whose cached balances disagree with the ledger or the
    lots (see PointsLot's docstring for the three equations). Empty list = consistent."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH e AS (SELECT member_id, SUM(points) AS total FROM {PointsEntry._meta.db_table} GROUP BY member_id),
            l AS (
                SELECT member_id, SUM(remaining) AS remaining,
                       COALESCE(SUM(remaining) FILTER (WHERE pending), 0) AS pending
                FROM {PointsLot._meta.db_table} WHERE NOT expired GROUP BY member_id
            )
            SELECT m.id, m.member_no, m.points_balance, m.points_pending, m.points_debt,
                   COALESCE(e.total, 0), COALESCE(l.remaining, 0), COALESCE(l.pending, 0)
            FROM {Member._meta.db_table} m
            LEFT JOIN e ON e.member_id = m.id
            LEFT JOIN l ON l.member_id = m.id
            WHERE COALESCE(e.total, 0) <> m.points_balance + m.points_pending - m.points_debt
               OR COALESCE(l.remaining, 0) <> m.points_balance + m.points_pending
               OR COALESCE(l.pending, 0) <> m.points_pending
            ORDER BY m.id
            """
        )
        return [LedgerDrift(*row) for row in cursor.fetchall()]
