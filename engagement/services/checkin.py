"""Check-in (签到): one record per member per brand business day, streaks across month and year
ends, a milestone ladder claimable once per cycle, and 补签 (make-up days) within a window, at a
cost in points and up to a cap per cycle.

Cycles: `month` — the brand's calendar month; `rolling` — N days from the first check-in after the
previous cycle ended. A break in the streak does not start a new cycle, so signing 4 days,
skipping the 5th and starting again cannot claim the 3-day step twice (ladder farming).

Lock order: members' step 1 (the member row), then the growth rows (services/growth.py), then this
member's cycle row; points go through members' points services under the same member lock.
Concurrent check-ins of one member queue on the member lock; the first inserts the day's row, the
others find it (and the unique (member, day) constraint would refuse a second one regardless).
"""

import calendar
import datetime as dt
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.db.functions import sql_function_present
from crm.errors import AppError
from crm.tenancy.zones import brand_date, brand_zone
from engagement import error_codes
from engagement.models import (
    Checkin,
    CheckinCycleState,
    CheckinLadderStep,
    CheckinMilestone,
    EngagementSettings,
    GrowthEntry,
    RewardKind,
)
from engagement.rewards import Granted, reward_grant_locked
from members.hooks import (
    LoyaltyChange,
    LoyaltyChanged,
    loyalty_changed_notify_in_transaction,
    loyalty_changes_need_transaction,
)
from members.models import Member
from members.services.points import member_lock, points_spend
from members.services.tiers import tier_lift_locked

from .settings import engagement_settings_get

# The one-statement path of the common check-in (engagement_checkin_fast); benchmarks switch it off
# to measure the ORM path in the same run.
FAST_PATH = True
FUNCTION_NAME = "engagement_checkin"


@dataclass(frozen=True)
class CheckinResult:
    checkin: Checkin
    created: bool


def _require_eligible(member: Member) -> None:
    if member.merged_into_id is not None or member.status != Member.Status.ACTIVE:
        raise AppError(
            error_codes.MEMBER_NOT_ELIGIBLE, f"会员 {member.member_no} 已冻结、删除或合并，不能签到。", status=409
        )


def cycle_end(*, settings: EngagementSettings, start: dt.date) -> dt.date:
    if settings.checkin_cycle == EngagementSettings.CheckinCycle.MONTH:
        return start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return start + dt.timedelta(days=settings.checkin_cycle_days - 1)


def cycle_start_for(*, settings: EngagementSettings, member_id: int, day: dt.date) -> dt.date:
    """The cycle a check-in on `day` belongs to."""
    if settings.checkin_cycle == EngagementSettings.CheckinCycle.MONTH:
        return day.replace(day=1)
    prev = (
        Checkin.objects.filter(member_id=member_id, biz_date__lt=day)
        .order_by("-biz_date")
        .values_list("cycle_start", flat=True)
        .first()
    )
    if prev is not None and day <= cycle_end(settings=settings, start=prev):
        return prev
    return day


def _run_in_cycle(*, member_id: int, day: dt.date, start: dt.date, end: dt.date) -> int:
    """Length of the run of consecutive check-ins through `day`, counted within the cycle."""
    days = set(
        Checkin.objects.filter(member_id=member_id, biz_date__gte=start, biz_date__lte=end).values_list(
            "biz_date", flat=True
        )
    )
    run, d = 0, day
    while d in days:
        run, d = run + 1, d - dt.timedelta(days=1)
    d = day + dt.timedelta(days=1)
    while d in days:
        run, d = run + 1, d + dt.timedelta(days=1)
    return run


def _grant_daily(*, member: Member, settings: EngagementSettings, checkin: Checkin) -> list[Granted]:
    label = "补签奖励" if checkin.made_up else "签到奖励"
    daily = ((RewardKind.POINTS, settings.checkin_daily_points), (RewardKind.GROWTH, settings.checkin_daily_growth))
    return [
        reward_grant_locked(
            member=member,
            kind=kind,
            amount=amount,
            coupon_template="",
            reference=f"checkin:{checkin.biz_date.isoformat()}",
            reason=f"{label}（{checkin.biz_date:%Y-%m-%d}）",
            growth_kind=GrowthEntry.Kind.CHECKIN,
        )
        for kind, amount in daily
        if amount
    ]


def _grant_milestones(*, member: Member, settings: EngagementSettings, checkin: Checkin) -> list[Granted]:
    """Every active step the run through this day has reached in this cycle and not yet claimed;
    a step is claimed by inserting its unique (member, cycle, days) row."""
    start = checkin.cycle_start
    run = _run_in_cycle(
        member_id=member.pk, day=checkin.biz_date, start=start, end=cycle_end(settings=settings, start=start)
    )
    steps = list(CheckinLadderStep.objects.filter(active=True, days__lte=run).order_by("days"))
    granted: list[Granted] = []
    for step in steps:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {CheckinMilestone._meta.db_table} (member_id, cycle_start, days, checkin_id, created_at)
                    VALUES (%s, %s, %s, %s, %s) ON CONFLICT (member_id, cycle_start, days) DO NOTHING""",  # noqa: S608
                [member.pk, start, step.days, checkin.pk, timezone.now()],
            )
            if cursor.rowcount == 0:
                continue  # claimed earlier in this cycle
        granted.append(
            reward_grant_locked(
                member=member,
                kind=step.reward_kind,
                amount=step.amount,
                coupon_template=step.coupon_template,
                reference=f"checkin-ladder:{start.isoformat()}:{step.days}",
                reason=f"连续签到 {step.days} 天奖励",
                growth_kind=GrowthEntry.Kind.LADDER,
            )
        )
    return granted


def _record_grants(*, member: Member, checkin: Checkin, granted: list[Granted]) -> None:
    checkin.points = sum(g.amount for g in granted if g.kind == RewardKind.POINTS)
    checkin.growth = sum(g.amount for g in granted if g.kind == RewardKind.GROWTH)
    checkin.rewards = [g.as_json() for g in granted]
    checkin.save(update_fields=["points", "growth", "rewards"])
    if checkin.growth:
        tier_lift_locked(member=member, actor="engagement", note=f"checkin:{checkin.biz_date.isoformat()}")


def checkin_perform(*, member: Member, channel: str = "", now: dt.datetime | None = None) -> CheckinResult:
    """Check the member in for today (brand business day). A second call the same day — a double
    tap, a retry, twenty at once — returns the existing record and grants nothing.

    The common case — a repeat, or the day's first check-in with its daily points and growth value
    and no ladder step, no tier to lift — is one statement, engagement_checkin() (migration 0011):
    the same rows as the ORM path below. Anything else it answers 'slow' before writing anything,
    and the ORM path decides (in the same transaction when the caller holds one, the member row
    already locked; else in its own, locking and reading again)."""
    now = now or timezone.now()
    today = brand_date(now)
    fast = _checkin_fast(member_id=member.pk, member_no="", channel=channel, today=today, now=now)
    return fast or _checkin_orm(member=member, channel=channel, today=today)


def checkin_perform_by_number(
    *, member_no: str, channel: str = "", now: dt.datetime | None = None
) -> CheckinResult | None:
    """`checkin_perform` for the member a partner names by number (as stored: upper case), the
    member found by the same statement. None when no member has the number, it is a merged
    member's, or the ORM path must decide: the caller then finds the member (404, merges) and
    calls checkin_perform."""
    now = now or timezone.now()
    return _checkin_fast(member_id=None, member_no=member_no, channel=channel, today=brand_date(now), now=now)


def _checkin_fast(
    *, member_id: int | None, member_no: str, channel: str, today: dt.date, now: dt.datetime
) -> CheckinResult | None:
    """engagement_checkin(), or None when the ORM path must decide (or the brand's migration has
    not created the function yet). In the caller's transaction when it holds one; else in one of
    its own — or none at all: the statement alone is atomic, so when no hook handler would write
    beside it (no webhook subscription wants points changes: crm/hooks.py), it runs without BEGIN
    and COMMIT, two round trips fewer. No savepoint inside an API request's transaction: nothing
    in it raises but the database or a hook handler, which roll the change back anyway; the ORM
    path (which may refuse) runs after."""
    if not FAST_PATH or not sql_function_present(FUNCTION_NAME):
        return None
    if connection.in_atomic_block or loyalty_changes_need_transaction():
        with transaction.atomic(savepoint=False):
            return _checkin_statement(member_id=member_id, member_no=member_no, channel=channel, today=today, now=now)
    return _checkin_statement(member_id=member_id, member_no=member_no, channel=channel, today=today, now=now)


def _checkin_statement(
    *, member_id: int | None, member_no: str, channel: str, today: dt.date, now: dt.datetime
) -> CheckinResult | None:
    """The statement, and the points change told (members.hooks: webhooks) as points_award_bonus
    tells it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM engagement_checkin(%s, %s, %s, %s, %s, %s, %s)",
            [member_id, member_no, today, now, brand_date(now).replace(day=1), brand_zone().key, channel],
        )
        row = cursor.fetchone()
    outcome, member_id, pk, cycle_start, streak, made_up, points, growth, cost_points, rewards, channel_, created_at = (
        row[:12]
    )
    if outcome in ("slow", "not_found"):
        return None
    checkin = Checkin(
        pk=pk,
        member_id=member_id,
        biz_date=today,
        cycle_start=cycle_start,
        streak=streak,
        made_up=made_up,
        points=points,
        growth=growth,
        cost_points=cost_points,
        rewards=json.loads(rewards) if isinstance(rewards, str) else rewards,
        channel=channel_,
        created_at=created_at,
    )
    if outcome == "existing":
        return CheckinResult(checkin, created=False)
    tier_id, before, after = row[12], tuple(row[13:16]), tuple(row[16:19])
    if points:
        loyalty_changed_notify_in_transaction(
            LoyaltyChanged(
                cause="campaign_bonus",
                changes=(
                    LoyaltyChange(
                        member_id=member_id,
                        tier_before=tier_id,
                        tier_after=tier_id,
                        points_before=before,
                        points_after=after,
                    ),
                ),
            )
        )
    return CheckinResult(checkin, created=True)


def _checkin_orm(*, member: Member, channel: str, today: dt.date) -> CheckinResult:
    yesterday = today - dt.timedelta(days=1)
    existing = Checkin.objects.filter(member_id=member.pk, biz_date=today).first()
    if existing is not None:
        return CheckinResult(existing, created=False)
    settings = engagement_settings_get()
    if not settings.checkin_enabled:
        raise AppError(error_codes.CHECKIN_DISABLED, "本品牌未开启签到。", status=409)
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        _require_eligible(locked)
        # Today's record (a racing tap that won the lock) and yesterday's (the streak), one read.
        days = {c.biz_date: c for c in Checkin.objects.filter(member_id=member.pk, biz_date__in=[today, yesterday])}
        if today in days:
            return CheckinResult(days[today], created=False)
        previous = days.get(yesterday)
        checkin = Checkin.objects.create(
            member_id=member.pk,
            biz_date=today,
            cycle_start=cycle_start_for(settings=settings, member_id=member.pk, day=today),
            streak=(previous.streak if previous is not None else 0) + 1,
            channel=channel[:32],
        )
        granted = _grant_daily(member=locked, settings=settings, checkin=checkin)
        granted += _grant_milestones(member=locked, settings=settings, checkin=checkin)
        _record_grants(member=locked, checkin=checkin, granted=granted)
    return CheckinResult(checkin, created=True)


def checkin_make_up(
    *, member: Member, day: dt.date, channel: str = "", now: dt.datetime | None = None
) -> CheckinResult:
    """补签 a missed day: within the brand's window (the last N days before today), in the cycle of
    today, up to the cycle's cap, paying the cost in points (refused, nothing written, when the
    member cannot pay). Making up a day already checked in returns that record and costs nothing.
    Later days' streaks are brought up to date, and the ladder is checked for the restored run."""
    now = now or timezone.now()
    today = brand_date(now)
    settings = engagement_settings_get()
    if not settings.checkin_enabled:
        raise AppError(error_codes.CHECKIN_DISABLED, "本品牌未开启签到。", status=409)
    if settings.makeup_window_days == 0:
        raise AppError(error_codes.MAKEUP_REFUSED, "本品牌不支持补签。", fields={"date": ["不支持补签。"]})
    if not (today - dt.timedelta(days=settings.makeup_window_days) <= day < today):
        raise AppError(
            error_codes.MAKEUP_REFUSED,
            f"只能补签最近 {settings.makeup_window_days} 天内（不含今天）的日子。",
            fields={
                "date": [
                    f"须在 {today - dt.timedelta(days=settings.makeup_window_days):%Y-%m-%d} 至 "
                    f"{today - dt.timedelta(days=1):%Y-%m-%d} 之间。"
                ]
            },
        )
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        _require_eligible(locked)
        existing = Checkin.objects.filter(member_id=member.pk, biz_date=day).first()
        if existing is not None:
            return CheckinResult(existing, created=False)
        start = cycle_start_for(settings=settings, member_id=member.pk, day=today)
        if day < start:
            raise AppError(
                error_codes.MAKEUP_REFUSED,
                f"只能补签本签到周期（{start:%Y-%m-%d} 起）内的日子。",
                fields={"date": ["不在本签到周期内。"]},
            )
        CheckinCycleState.objects.get_or_create(member_id=member.pk, cycle_start=start)
        raised = CheckinCycleState.objects.filter(
            member_id=member.pk, cycle_start=start, makeups__lt=settings.makeup_cap_per_cycle
        ).update(makeups=F("makeups") + 1)
        if raised != 1:
            raise AppError(
                error_codes.MAKEUP_CAP_REACHED,
                f"本周期最多补签 {settings.makeup_cap_per_cycle} 次，已用完。",
                status=409,
            )
        if settings.makeup_cost_points:
            points_spend(
                member=locked,
                points=settings.makeup_cost_points,
                reference=f"checkin-makeup:{day.isoformat()}",
                reason=f"补签 {day:%Y-%m-%d} 消耗积分",
                actor="engagement",
            )
        previous = (
            Checkin.objects.filter(member_id=member.pk, biz_date=day - dt.timedelta(days=1))
            .values_list("streak", flat=True)
            .first()
        )
        checkin = Checkin.objects.create(
            member_id=member.pk,
            biz_date=day,
            cycle_start=start,
            streak=(previous or 0) + 1,
            made_up=True,
            cost_points=settings.makeup_cost_points,
            channel=channel[:32],
        )
        _restreak_after(member_id=member.pk, day=day, streak=checkin.streak)
        granted = _grant_daily(member=locked, settings=settings, checkin=checkin)
        granted += _grant_milestones(member=locked, settings=settings, checkin=checkin)
        _record_grants(member=locked, checkin=checkin, granted=granted)
    return CheckinResult(checkin, created=True)


def _restreak_after(*, member_id: int, day: dt.date, streak: int) -> None:
    """The days after a made-up day that now continue its run carry the longer streak."""
    following = list(
        Checkin.objects.filter(member_id=member_id, biz_date__gt=day, biz_date__lte=day + dt.timedelta(days=400))
        .order_by("biz_date")
        .values_list("pk", "biz_date")
    )
    expected, updates = day + dt.timedelta(days=1), []
    for pk, biz_date in following:
        if biz_date != expected:
            break
        streak += 1
        updates.append(Checkin(pk=pk, streak=streak))
        expected += dt.timedelta(days=1)
    if updates:
        Checkin.objects.bulk_update(updates, ["streak"])
