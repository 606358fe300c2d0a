"""Birthday benefits (生日礼): per tier, released on the birthday, N days before it, or on a fixed
day of the birth month, once per benefit year (unique (member, benefit_year)). The daily job runs
in the brand's time zone and catches up every day since its last finished day (at most
CATCH_UP_DAYS), set-based: per day and benefit one INSERT ... SELECT of the grants and one bulk
points award — a second run, or two at once, grant nothing more (ON CONFLICT DO NOTHING; the
points award is idempotent per (member, reference)).

29 February birthdays are celebrated on 28 February or 1 March in non-leap years (brand setting).
Frozen, erased and merged members get nothing; a birthday set or changed within the brand's
guard days before the release does not qualify that year; the tier at release is kept on the grant.
A multiplier benefit raises the points of orders paid in its window (a campaign multiplier provider
registered with members), and a refund reverses those points pro rata like any order's points.
"""

# ruff: noqa: S608  (tables from model meta; values are parameters)

import calendar
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from crm.db import connection as tenant_connection
from crm.db.arrays import pg_array
from crm.errors import AppError
from crm.memos import process_memo
from crm.tenancy.zones import brand_date, brand_zone
from engagement.coupon_issuer import birthday_coupons_issue
from engagement.models import BirthdayBenefit, BirthdayGrant, BirthdayJobState, EngagementSettings, GrowthEntry
from engagement.rewards import coupons_available
from members.models import Member, Tier
from members.services.points import loyalty_program_get, points_award_bonus_bulk
from members.services.tiers import qualifying_for_members, tier_lift_locked, tier_supported, tiers_ranked

from .growth import growth_activity_credit_bulk_locked
from .settings import engagement_settings_get

logger = logging.getLogger(__name__)

CATCH_UP_DAYS = 31
_GRANT = BirthdayGrant._meta.db_table
_MEMBER = Member._meta.db_table


def _is_leap(year: int) -> bool:
    return calendar.isleap(year)


def birthday_targets(
    *, benefit: BirthdayBenefit, day: dt.date, feb29: str
) -> tuple[int, list[tuple[int, int]] | None, int | None] | None:
    """For a release on `day`: (benefit year, the (month, day) birthdays released, or None with
    the birth month for a fixed-day release). None: the benefit releases nothing that day."""
    if benefit.release == BirthdayBenefit.Release.FIXED_DAY:
        last = calendar.monthrange(day.year, day.month)[1]
        if day.day != min(benefit.fixed_day, last):
            return None
        return day.year, None, day.month
    occasion = (
        day if benefit.release == BirthdayBenefit.Release.ON_DAY else day + dt.timedelta(days=benefit.days_before)
    )
    birthdays = [(occasion.month, occasion.day)]
    if not _is_leap(occasion.year):
        if feb29 == EngagementSettings.Feb29.FEB28 and (occasion.month, occasion.day) == (2, 28):
            birthdays.append((2, 29))
        if feb29 == EngagementSettings.Feb29.MAR1 and (occasion.month, occasion.day) == (3, 1):
            birthdays.append((2, 29))
    return occasion.year, birthdays, None


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=brand_zone())


def _release_day(*, day: dt.date, settings: EngagementSettings, benefits: Sequence[BirthdayBenefit]) -> int:
    """One brand day: benefits that release the same birthdays that day (typically every tier's
    "on the day" benefit) are granted by ONE scan of the members — joined to their tier's benefit —
    instead of one scan per tier; then each benefit's points and coupons, set-based."""
    granted = 0
    start = _day_start(day)
    guard_cutoff = start - dt.timedelta(days=settings.birthday_change_guard_days)
    groups: dict[tuple[int, tuple[tuple[int, int], ...] | None, int | None], list[BirthdayBenefit]] = {}
    for benefit in benefits:
        target = birthday_targets(benefit=benefit, day=day, feb29=settings.birthday_feb29)
        if target is not None:
            year, birthdays, month = target
            groups.setdefault((year, tuple(birthdays) if birthdays is not None else None, month), []).append(benefit)
    coupons_on = coupons_available()
    for (year, days, month), group in groups.items():
        if days is not None:
            match = " OR ".join(
                "(EXTRACT(MONTH FROM m.birthday) = %s AND EXTRACT(DAY FROM m.birthday) = %s)" for _ in days
            )
            match_params: list[int] = [v for md in days for v in md]
        else:
            match, match_params = "EXTRACT(MONTH FROM m.birthday) = %s", [month or 0]
        values = ", ".join(
            "(%s::bigint, %s::bigint, %s::integer, %s::integer, %s::timestamptz, %s::text)" for _ in group
        )
        value_params: list[Any] = []
        for benefit in group:
            value_params += [
                benefit.tier_id,
                benefit.pk,
                benefit.points,
                benefit.multiplier_pct,
                start + dt.timedelta(days=benefit.window_days),
                benefit.coupon_template if coupons_on else "",
            ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""WITH added AS (
                    INSERT INTO {_GRANT} (member_id, benefit_year, benefit_id, tier_id, release_date, points,
                        multiplier_pct, window_start, window_end, coupon_template, created_at)
                    SELECT m.id, %s, b.benefit_id, m.tier_id, %s, b.points, b.multiplier_pct, %s, b.window_end,
                           b.coupon_template, %s
                    FROM {_MEMBER} m
                    JOIN (VALUES {values}) AS b(tier_id, benefit_id, points, multiplier_pct, window_end,
                                                coupon_template) ON b.tier_id = m.tier_id
                    WHERE m.status = 'active' AND m.merged_into_id IS NULL
                      AND m.birthday IS NOT NULL AND ({match})
                      AND COALESCE(m.birthday_changed_at, m.enrolled_at) <= %s
                    ON CONFLICT (member_id, benefit_year) DO NOTHING
                    RETURNING 1
                    )
                    SELECT count(*) FROM added""",
                [year, day, start, timezone.now(), *value_params, *match_params, guard_cutoff],
            )
            # Counted from RETURNING: through a Citus coordinator an INSERT … SELECT reports the
            # rows it sent, conflicts included (docs/scale-out.md).
            added = cursor.fetchone()[0]
            granted += added
            if added:
                _offered.pop(tenant_connection.schema_name, None)  # this process sees new windows at once
            for benefit in group:
                _benefit_award(benefit=benefit, year=year, day=day, coupons_on=coupons_on)
    return granted


def _benefit_award(*, benefit: BirthdayBenefit, year: int, day: dt.date, coupons_on: bool) -> None:
    if benefit.points:
        # Every grant of this benefit, year and day, including those of an earlier run that
        # stopped before its points: the award is idempotent per (member, reference). The grants
        # of one day are found by the (release_date, benefit, member) index, not by a scan of
        # every year's grants for each member chunk.
        points_award_bonus_bulk(
            members=(
                f"SELECT member_id FROM {_GRANT} WHERE release_date = %s AND benefit_id = %s "
                "AND benefit_year = %s AND points > 0",
                (day, benefit.pk, year),
            ),
            points=benefit.points,
            reference=f"birthday:{year}",
            reason=f"{year} 年生日礼",
            actor="engagement",
        )
    if benefit.growth:
        _birthday_growth(benefit=benefit, year=year, day=day)
    coupon = benefit.coupon_template if coupons_on else ""
    if coupon:
        _birthday_coupons(benefit=benefit, year=year, day=day, coupon=coupon)


GROWTH_CHUNK = 2_000


def _birthday_growth(*, benefit: BirthdayBenefit, year: int, day: dt.date) -> None:
    """The benefit's growth value to every grant of this benefit, year and day: a capped activity
    (the brand month's cap, said in the entry when reached), once per (member, birthday year), set-
    based (growth_activity_credit_bulk_locked), GROWTH_CHUNK members a transaction with their rows
    locked in ascending id order (members' step 1) — so a parallel run waits and then finds the
    entries written. A tier the growth now reaches is lifted at once, as a check-in's growth does;
    the qualifying amounts of the chunk are read in one go and only those who reach a higher tier
    are lifted one by one."""
    ids = list(
        BirthdayGrant.objects.filter(release_date=day, benefit_id=benefit.pk, benefit_year=year)
        .order_by("member_id")
        .values_list("member_id", flat=True)
    )
    growth_tiers = Tier.objects.filter(basis=Tier.Basis.GROWTH).exists()
    for start in range(0, len(ids), GROWTH_CHUNK):
        chunk = ids[start : start + GROWTH_CHUNK]
        with transaction.atomic(), connection.cursor() as cursor:
            # Members' step 1, ascending; only the columns the tier check reads (a full Member per
            # row cost more than the growth itself).
            cursor.execute(
                f"""SELECT id, tier_id, tier_floor_id FROM {_MEMBER} WHERE id = ANY(%s::bigint[])
                    ORDER BY id FOR NO KEY UPDATE""",
                [pg_array(chunk)],
            )
            locked = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
            granted = growth_activity_credit_bulk_locked(
                member_ids=list(locked),
                kind=GrowthEntry.Kind.BIRTHDAY,
                value=benefit.growth,
                reference=f"birthday:{year}",
                reason=f"{year} 年生日礼",
            )
            if growth_tiers and granted:
                _lift(tiers_of={member_id: locked[member_id] for member_id in granted}, year=year)


def _lift(*, tiers_of: dict[int, tuple[int | None, int | None]], year: int) -> None:
    """Lift the members (locked by the caller) whose qualifying amounts now reach a higher tier:
    the amounts of all in one read, then tier_lift_locked for those few."""
    tiers = tiers_ranked()
    by_id = {t.pk: t for t in tiers}
    qualifying = qualifying_for_members(
        member_ids=list(tiers_of),
        tiers=tiers,
        purchase_window_days=loyalty_program_get().purchase_window_days,
        now=timezone.now(),
    )
    for member_id, (tier_id, floor_id) in tiers_of.items():
        floor = by_id.get(floor_id) if floor_id else None
        target = tier_supported(tiers=tiers, qualifying=qualifying[member_id], floor=floor)
        current = by_id.get(tier_id) if tier_id else None
        if target is not None and (current is None or target.rank > current.rank):
            member = Member.objects.get(pk=member_id)  # locked above, in this transaction
            tier_lift_locked(member=member, actor="engagement", note=f"birthday:{year}")


def _birthday_coupons(*, benefit: BirthdayBenefit, year: int, day: dt.date, coupon: str) -> None:
    """The benefit's coupon to every grant of this benefit, year and day (an earlier run's too:
    the issue is idempotent per member and year). A refusal (template stopped, out of stock) is
    logged and leaves the points and the grants in place."""
    try:
        with transaction.atomic():
            birthday_coupons_issue(
                template_code=coupon,
                members_sql=(
                    f"SELECT member_id FROM {_GRANT} WHERE release_date = %s AND benefit_id = %s "
                    "AND benefit_year = %s AND coupon_template <> ''"
                ),
                params=(day, benefit.pk, year),
                year=year,
            )
    except AppError as refused:
        logger.warning("birthday coupon of benefit %s not issued: %s", benefit.pk, refused)


def birthday_release_due(*, now: dt.datetime | None = None) -> dict[str, object]:
    """The daily job: release every benefit due from the day after the last finished day through
    today (brand days; the first run does today only; at most CATCH_UP_DAYS back)."""
    today = brand_date(now or timezone.now())
    last = BirthdayJobState.objects.filter(singleton=True).values_list("last_date", flat=True).first()
    first = today if last is None else max(last + dt.timedelta(days=1), today - dt.timedelta(days=CATCH_UP_DAYS))
    settings = engagement_settings_get()
    benefits = list(BirthdayBenefit.objects.filter(active=True).order_by("pk"))
    granted, days = 0, 0
    day = first
    while day <= today:
        granted += _release_day(day=day, settings=settings, benefits=benefits)
        with connection.cursor() as cursor:
            # Only forward: a slower parallel run never moves the mark back.
            cursor.execute(
                f"""INSERT INTO {BirthdayJobState._meta.db_table} (singleton, last_date) VALUES (true, %s)
                    ON CONFLICT (singleton) DO UPDATE SET last_date = GREATEST(
                        {BirthdayJobState._meta.db_table}.last_date, EXCLUDED.last_date)""",
                [day],
            )
        days += 1
        day += dt.timedelta(days=1)
    return {"days": days, "granted": granted, "through": today.isoformat()}


# Whether the brand offers a birthday multiplier at all, remembered per process and brand for
# MULTIPLIER_MEMORY_SECONDS: order ingest asks on every batch, and most brands offer none, so the
# grants are read only where there can be some. A benefit switched on applies within that time
# (grants are released by the nightly job, long after).
MULTIPLIER_MEMORY_SECONDS = 30.0
_offered: dict[str, tuple[float, bool]] = process_memo("birthday multipliers offered per brand")


def _multipliers_offered() -> bool:
    schema = tenant_connection.schema_name
    remembered = _offered.get(schema)
    now = time.monotonic()
    if remembered is not None and now - remembered[0] < MULTIPLIER_MEMORY_SECONDS:
        return remembered[1]
    offered = BirthdayGrant.objects.filter(multiplier_pct__gt=100, window_end__gt=timezone.now()).exists()
    _offered[schema] = (now, offered)
    return offered


def birthday_multipliers_for_orders(*, orders: Sequence[tuple[int, dt.datetime]]) -> list[int]:
    """Campaign multiplier provider (members.services.points): the birthday multiplier of each
    (member_id, paid_at) whose paid_at falls in one of the member's birthday windows; 100 otherwise.
    One indexed query per ingest batch."""
    result = [100] * len(orders)
    if not orders or not _multipliers_offered():
        return result
    member_ids = sorted({member_id for member_id, _ in orders})
    earliest = min(paid_at for _, paid_at in orders)
    windows: dict[int, list[tuple[dt.datetime, dt.datetime, int]]] = {}
    for member_id, start, end, pct in BirthdayGrant.objects.filter(
        member_id__in=member_ids, multiplier_pct__gt=100, window_end__gt=earliest
    ).values_list("member_id", "window_start", "window_end", "multiplier_pct"):
        windows.setdefault(member_id, []).append((start, end, pct))
    if not windows:
        return result
    for index, (member_id, paid_at) in enumerate(orders):
        for start, end, pct in windows.get(member_id, ()):
            if start <= paid_at < end:
                result[index] = max(result[index], pct)
    return result
