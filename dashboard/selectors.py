"""Dashboard reads: every figure from an aggregate (dashboard/models.py, members.CaptureRateDaily)
or from a small indexed table (open data requests, open transfers), limited to the user's store
scope (members/scoping.py). None of these touches the members, orders or ledger tables."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

from django.core.cache import cache
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from consent.models import DataRequest
from crm.tenancy.zones import brand_zone
from members.models import CaptureRateDaily, LoyaltyProgram, Member, PointsEntry
from members.scoping import StoreScope, scope_members
from members.services.capture_rate import CaptureRateRow, capture_rate
from members.source_words import source_shown
from wecom.models import ContactWay, CustomerTransfer

from .models import (
    ActivityDaily,
    CampaignResult,
    ConsentPurposeCount,
    ConsentWithdrawalWeekly,
    DashboardRefresh,
    DashboardSettings,
    MemberEnrolmentDaily,
    MemberStateCount,
    PointsMonthly,
    StaffSummary,
    TierMoveMonthly,
    ValueCohort,
)
from .periods import Period

CAPTURE_WINDOWS = (1, 7, 30, 90)
AIPL = [stage.value for stage in Member.Lifecycle]


def local_today() -> dt.date:
    return timezone.now().astimezone(brand_zone()).date()


def scoped(queryset: QuerySet, scope: StoreScope) -> QuerySet:
    """A member aggregate limited to the members the scope may see: home store or assigned
    staff's store is the user's store (the rule of members/scoping.py), fail closed."""
    if scope.all_stores:
        return queryset
    if scope.store_id is None:
        return queryset.none()
    return queryset.filter(Q(home_store_id=scope.store_id) | Q(staff_store_id=scope.store_id))


def settings_get() -> DashboardSettings:
    obj, _ = DashboardSettings.objects.get_or_create(singleton=True)
    return obj


# An on-demand refresh asked for and not finished (a cache key, per brand: keys carry the schema).
# It expires on its own, so a refresh lost with its worker does not show "computing" for ever.
PENDING_KEY = "dashboard:refresh-pending"
PENDING_SECONDS = 600


def refresh_pending() -> dt.datetime | None:
    """When an on-demand refresh was asked for, while it has not finished (None otherwise)."""
    value = cache.get(PENDING_KEY)
    return dt.datetime.fromisoformat(value) if value else None


# The step a running refresh is at: {"done": steps finished, "total": steps, "step": its name}.
PROGRESS_KEY = "dashboard:refresh-progress"


def refresh_progress() -> dict[str, Any] | None:
    value = cache.get(PROGRESS_KEY)
    return value if isinstance(value, dict) else None


def refresh_duration_ms() -> int | None:
    return DashboardRefresh.objects.filter(singleton=True).values_list("duration_ms", flat=True).first()


def refreshed_at() -> dt.datetime | None:
    return DashboardRefresh.objects.filter(singleton=True).values_list("refreshed_at", flat=True).first()


# --- capture rate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureWindow:
    days: int
    date_from: dt.date
    date_to: dt.date
    row: CaptureRateRow


def _capture(scope: StoreScope, **kwargs: Any) -> list[CaptureRateRow]:
    if scope.sees_nothing:
        return []
    # A store user sees the orders placed at their store (the order list's store path).
    return capture_rate(store_id=None if scope.all_stores else scope.store_id, **kwargs)


def capture_windows(*, scope: StoreScope, today: dt.date) -> tuple[list[CaptureWindow], list[CaptureRateRow]]:
    """Today, 7, 30 and 90 days (ending today), and the daily rows of the 90 days for the trend:
    one query on the daily aggregate."""
    first = today - dt.timedelta(days=max(CAPTURE_WINDOWS) - 1)
    daily = _capture(scope, date_from=first, date_to=today, group_by=("day",))
    windows = []
    for days in CAPTURE_WINDOWS:
        start = today - dt.timedelta(days=days - 1)
        # Rows grouped by day carry the date under "day" (the key's values are typed as object).
        rows = [r for r in daily if cast(dt.date, r.key["day"]) >= start]
        windows.append(
            CaptureWindow(
                days=days,
                date_from=start,
                date_to=today,
                row=CaptureRateRow(
                    key={},
                    orders_total=sum(r.orders_total for r in rows),
                    orders_member=sum(r.orders_member for r in rows),
                    gmv_total_fen=sum(r.gmv_total_fen for r in rows),
                    gmv_member_fen=sum(r.gmv_member_fen for r in rows),
                ),
            )
        )
    return windows, daily


def capture_by(*, scope: StoreScope, group: str, date_from: dt.date, date_to: dt.date) -> list[CaptureRateRow]:
    return _capture(scope, date_from=date_from, date_to=date_to, group_by=(group,))


# --- members --------------------------------------------------------------------------------------


def members_total(*, scope: StoreScope) -> int:
    return scoped(MemberStateCount.objects.all(), scope).aggregate(n=Sum("members"))["n"] or 0


def members_new_per_day(*, scope: StoreScope, date_from: dt.date, date_to: dt.date) -> dict[dt.date, int]:
    rows = (
        scoped(MemberEnrolmentDaily.objects.filter(day__gte=date_from, day__lte=date_to), scope)
        .values_list("day")
        .annotate(n=Sum("members"))
        .order_by("day")
    )
    counts = dict(rows)
    days = (date_to - date_from).days + 1
    return {date_from + dt.timedelta(days=i): counts.get(date_from + dt.timedelta(days=i), 0) for i in range(days)}


def members_enrolled_after(*, scope: StoreScope, day: dt.date) -> int:
    """Current members of the scope who enrolled after `day` (0 without a query when `day` is
    today or later): with a range's new members, the 环比 of 会员总数."""
    if day >= local_today():
        return 0
    rows = scoped(MemberEnrolmentDaily.objects.filter(day__gt=day), scope)
    return rows.aggregate(n=Sum("members"))["n"] or 0


def members_by(*, scope: StoreScope, field: str) -> list[tuple[str, int]]:
    """Current members by enrolment `channel` or `source`, largest first."""
    rows = scoped(MemberEnrolmentDaily.objects.all(), scope).values_list(field).annotate(n=Sum("members"))
    return sorted(((key, n) for key, n in rows), key=lambda item: (-item[1], item[0]))


def members_by_source(*, scope: StoreScope, limit: int = 20) -> list[tuple[str, str, int]]:
    """(source, its name, members) for the `limit` largest sources, in the same query: a source is
    the `state` of the channel QR code a member came through, named as the marketer named the
    code; a source the product writes itself (an import, the demo) in its words
    (members.source_words); a retired code's state as stored."""
    code_name = Subquery(ContactWay.objects.filter(state=OuterRef("source")).values("name")[:1])
    rows = (
        scoped(MemberEnrolmentDaily.objects.all(), scope)
        .values_list("source")
        .annotate(n=Sum("members"), name=code_name)
        .order_by("-n", "source")[:limit]
    )
    return [(source, source_shown(source, name), n) for source, n, name in rows]


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    members: int  # members at this stage now
    reached: int  # members at this stage or a later one
    conversion_pct: float | None  # reached / reached of the previous stage


def aipl_funnel(*, scope: StoreScope) -> list[FunnelStage]:
    """AIPL from the current stages: a member at a later stage went through the earlier ones, so
    "reached" is the members at that stage or beyond, and conversion is the share of those who
    reached a stage that went on to the next."""
    counts = dict(
        scoped(MemberStateCount.objects.all(), scope).values_list("lifecycle_stage").annotate(n=Sum("members"))
    )
    stages = []
    previous_reached: int | None = None
    for index, stage in enumerate(AIPL):
        reached = sum(counts.get(later, 0) for later in AIPL[index:])
        conversion = None
        if previous_reached:
            conversion = round(100 * reached / previous_reached, 1)
        stages.append(FunnelStage(stage, counts.get(stage, 0), reached, conversion))
        previous_reached = reached
    return stages


def tier_distribution(*, scope: StoreScope) -> dict[int | None, int]:
    return dict(scoped(MemberStateCount.objects.all(), scope).values_list("tier_id").annotate(n=Sum("members")))


def tier_moves_monthly(*, scope: StoreScope) -> dict[dt.date, dict[str, int]]:
    months: dict[dt.date, dict[str, int]] = defaultdict(lambda: {"up": 0, "down": 0})
    rows = scoped(TierMoveMonthly.objects.all(), scope).values_list("month", "direction").annotate(n=Sum("moves"))
    for month, direction, n in rows:
        months[month][direction] += n
    return dict(sorted(months.items()))


# --- points ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointsLiability:
    points: int
    value_fen: int
    expiring_30d: int


def points_liability(*, scope: StoreScope) -> PointsLiability:
    """Points owed to current members (spendable and pending), valued at the program's point value."""
    totals = scoped(MemberStateCount.objects.all(), scope).aggregate(
        b=Sum("points_balance"), p=Sum("points_pending"), x=Sum("points_expiring_30d")
    )
    points = (totals["b"] or 0) + (totals["p"] or 0)
    value = LoyaltyProgram.objects.filter(singleton=True).values_list("point_value_fen", flat=True).first()
    return PointsLiability(
        points=points, value_fen=points * (value if value is not None else 1), expiring_30d=totals["x"] or 0
    )


# Earned is what members received (purchases and campaign bonuses); redeemed and expired are shown
# as positive amounts taken out of balances.
POINTS_FLOWS = {
    "earned": (PointsEntry.Kind.EARN, PointsEntry.Kind.BONUS),
    "redeemed": (PointsEntry.Kind.REDEEM,),
    "expired": (PointsEntry.Kind.EXPIRE,),
}


def points_monthly(*, scope: StoreScope) -> dict[dt.date, dict[str, int]]:
    months: dict[dt.date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(POINTS_FLOWS, 0))
    rows = scoped(PointsMonthly.objects.all(), scope).values_list("month", "kind").annotate(n=Sum("points"))
    for month, kind, points in rows:
        for flow, kinds in POINTS_FLOWS.items():
            if kind in kinds:
                months[month][flow] += abs(points)
    return dict(sorted(months.items()))


# --- consent --------------------------------------------------------------------------------------


def consent_purposes(*, scope: StoreScope) -> dict[str, tuple[int, int]]:
    """purpose → (contactable members, members waiting to re-consent); "*" = any purpose."""
    rows = (
        scoped(ConsentPurposeCount.objects.all(), scope)
        .values_list("purpose")
        .annotate(c=Sum("contactable"), r=Sum("needs_reconsent"))
    )
    return {purpose: (c or 0, r or 0) for purpose, c, r in rows}


def withdrawals_weekly(*, scope: StoreScope) -> dict[dt.date, int]:
    rows = scoped(ConsentWithdrawalWeekly.objects.all(), scope).values_list("week").annotate(n=Sum("withdrawals"))
    return dict(sorted(rows))


@dataclass(frozen=True)
class DataRequestCounts:
    open: int
    overdue: int


def data_requests_open(*, user: Any, now: dt.datetime) -> DataRequestCounts:
    """Live: the pending requests are few and due_at is indexed (one query)."""
    pending = scope_members(DataRequest.objects.filter(status=DataRequest.Status.PENDING), user, member_path="member")
    counts = pending.aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=now)))
    return DataRequestCounts(open=counts["open"], overdue=counts["overdue"])


# --- staff ----------------------------------------------------------------------------------------


def staff_rows(*, scope: StoreScope, limit: int = 50) -> list[StaffSummary]:
    """Staff of the scope with owned members and 12-month attributed sales, busiest first."""
    rows = StaffSummary.objects.all()
    if not scope.all_stores:
        rows = rows.filter(store_id=scope.store_id) if scope.store_id is not None else rows.none()
    return list(rows.order_by("-members", "-gmv_12m_fen", "staff_id")[:limit])


def members_unowned(*, scope: StoreScope) -> int:
    return scoped(MemberStateCount.objects.filter(has_staff=False), scope).aggregate(n=Sum("members"))["n"] or 0


def transfers_open(*, user: Any) -> int:
    return scope_members(
        CustomerTransfer.objects.filter(status__in=CustomerTransfer.OPEN), user, member_path="member"
    ).count()


# --- campaigns and value --------------------------------------------------------------------------


def campaign_results(*, scope: StoreScope) -> list[CampaignResult]:
    """Campaigns are brand-wide (store roles cannot open them): store users get none."""
    if not scope.all_stores:
        return []
    return list(CampaignResult.objects.order_by("-slot", "-occurrence_id"))


@dataclass(frozen=True)
class ValueRow:
    key: Any
    members: int
    buyers: int
    repeat_buyers: int
    gmv_fen: int

    @property
    def repurchase_pct(self) -> float | None:
        return round(100 * self.repeat_buyers / self.buyers, 1) if self.buyers else None

    @property
    def clv_fen(self) -> int | None:
        """Average net GMV per member over the last 12 months (members who bought nothing count)."""
        return self.gmv_fen // self.members if self.members else None


def value_by(*, scope: StoreScope, field: str) -> list[ValueRow]:
    """Repurchase rate and CLV by current `tier_id` or enrolment quarter `cohort`."""
    rows = (
        scoped(ValueCohort.objects.all(), scope)
        .values_list(field)
        .annotate(m=Sum("members"), b=Sum("buyers"), r=Sum("repeat_buyers"), g=Sum("gmv_fen"))
        .order_by(field)
    )
    return [ValueRow(key, m, b, r, g) for key, m, b, r, g in rows]


# --- a date range and its previous period (环比) -------------------------------------------------


@dataclass(frozen=True)
class RangeFigures:
    """Sums over the days of one period; the order figures count orders placed at the scope's
    store (as the capture rate does), the others the members the scope may see."""

    new_members: int
    orders_total: int
    orders_member: int
    gmv_total_fen: int
    gmv_member_fen: int
    points_earned: int
    points_redeemed: int
    withdrawals: int
    tier_ups: int

    @property
    def order_rate_pct(self) -> float | None:
        return round(100 * self.orders_member / self.orders_total, 2) if self.orders_total else None

    @property
    def gmv_rate_pct(self) -> float | None:
        return round(100 * self.gmv_member_fen / self.gmv_total_fen, 2) if self.gmv_total_fen else None


def _both(queryset: QuerySet, period: Period, fields: dict[str, str]) -> dict[str, list[int]]:
    """field → [sum over period, sum over the previous period]: one query over both periods' days."""
    previous = period.previous
    inside = Q(day__gte=period.start, day__lte=period.end)
    before = Q(day__gte=previous.start, day__lte=previous.end)
    sums = {}
    for name, column in fields.items():
        sums[f"{name}_0"] = Sum(column, filter=inside)
        sums[f"{name}_1"] = Sum(column, filter=before)
    row = queryset.filter(day__gte=previous.start, day__lte=period.end).aggregate(**sums)
    return {name: [row[f"{name}_0"] or 0, row[f"{name}_1"] or 0] for name in fields}


def range_figures(*, scope: StoreScope, period: Period) -> tuple[RangeFigures, RangeFigures]:
    """The period's figures and its previous period's: three queries over per-day rows
    (MemberEnrolmentDaily, members.CaptureRateDaily, ActivityDaily), whatever the range."""
    values: dict[str, list[int]] = {}
    values |= _both(scoped(MemberEnrolmentDaily.objects.all(), scope), period, {"new_members": "members"})
    orders = {
        "orders_total": "orders_total",
        "orders_member": "orders_member",
        "gmv_total_fen": "gmv_total_fen",
        "gmv_member_fen": "gmv_member_fen",
    }
    if scope.sees_nothing:
        values |= {name: [0, 0] for name in orders}
    else:
        captured = CaptureRateDaily.objects.all()
        if not scope.all_stores and scope.store_id is not None:
            captured = captured.filter(store_id=scope.store_id)
        values |= _both(captured, period, orders)
    activity = {name: name for name in ("points_earned", "points_redeemed", "withdrawals", "tier_ups")}
    values |= _both(scoped(ActivityDaily.objects.all(), scope), period, activity)
    current = RangeFigures(**{name: pair[0] for name, pair in values.items()})
    previous = RangeFigures(**{name: pair[1] for name, pair in values.items()})
    return current, previous
