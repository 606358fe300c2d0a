"""Rebuild the dashboard's aggregates (dashboard/models.py) in one transaction, set-based.

Each table is emptied and refilled by one `INSERT ... SELECT ... GROUP BY` (or a handful of small
grouped queries), so the cost is a few sequential passes over members, the recent ledger and the
last 12 months of orders — once an hour in the job, never per page view. DELETE rather than
TRUNCATE: TRUNCATE takes an exclusive lock that would make page views wait for the rebuild,
while DELETE lets them read the previous aggregates until the new ones commit.
"""

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import Occurrence, OutboxMessage
from campaigns.selectors import occurrence_results
from consent.models import ConsentRecord, ConsentState, Purpose
from consent.selectors import members_contactable
from crm.celery import send_on_commit
from crm.db import connection
from crm.tenancy.cells import cell_activate, cell_current
from crm.tenancy.zones import brand_zone
from members.models import Member, Order, PointsEntry, PointsLot, Staff, Tier, TierChange
from performance.selectors import credited_by_staff

from .models import (
    ActivityDaily,
    CampaignResult,
    ConsentPurposeCount,
    ConsentWithdrawalWeekly,
    DashboardRefresh,
    MemberEnrolmentDaily,
    MemberStateCount,
    PointsMonthly,
    StaffSummary,
    TierMoveMonthly,
    ValueCohort,
)
from .periods import ROLLUP_DAYS
from .selectors import PENDING_KEY, PENDING_SECONDS, PROGRESS_KEY
from .tasks import refresh

# Raw SQL below (noqa: S608): table names come from model meta, every value is a parameter.
_MEMBER = Member._meta.db_table
_STAFF = Staff._meta.db_table
_ORDER = Order._meta.db_table
_ENTRY = PointsEntry._meta.db_table
_LOT = PointsLot._meta.db_table
_TIER = Tier._meta.db_table
_TIER_CHANGE = TierChange._meta.db_table
_CONSENT = ConsentRecord._meta.db_table

# Who is a member now (see dashboard/models.py): the same rule in SQL and in the ORM.
CURRENT_STATUSES = (Member.Status.ACTIVE.value, Member.Status.FROZEN.value)
CURRENT_SQL = "m.status IN ('active', 'frozen')"
# Months of ledger and tier history, weeks of withdrawals and campaigns kept in the aggregates.
HISTORY_MONTHS = 13
WITHDRAWAL_WEEKS = 26
CAMPAIGN_OCCURRENCES = 10
EXPIRING_DAYS = 30
VALUE_WINDOW_DAYS = 365
# Steps run on the second connection when the refresh has two: the pass over a year of orders and
# the ledger's months, about half of the refresh's CPU (bench/README.md, session 15).
SECOND_LANE = {"复购", "积分"}

# Every member aggregate joins the member's assigned staff for the second store column.
_MEMBER_JOIN = f"{_MEMBER} m LEFT JOIN {_STAFF} s ON s.id = m.assigned_staff_id"


def month_start(day: dt.date, months_back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


class _Progress:
    """What the page's progress line says while a refresh runs (第 n/N 步 and the steps under way).
    Both connections' steps report here; only the main thread writes the cache key: with the
    database cache (no CACHE_URL) a write joins the writer's transaction, and the second
    connection's write would wait for the main one's row lock while the main one waits for it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.running: list[str] = []
        self.step_ms: dict[str, int] = {}
        self._lock = threading.Lock()
        self._main = threading.current_thread()
        self._shown: dict[str, Any] | None = None

    def run(self, label: str, step: Callable[[Any], None], cursor: Any) -> None:
        with self._lock:
            self.running.append(label)
        self.publish()
        begun = time.perf_counter()
        step(cursor)
        with self._lock:
            self.step_ms[label] = int((time.perf_counter() - begun) * 1000)
            self.running.remove(label)
            self.done += 1
        self.publish()

    def publish(self) -> None:
        """Write the line's state when it changed (from the main thread only)."""
        if threading.current_thread() is not self._main:
            return
        with self._lock:
            shown = {"done": self.done, "total": self.total, "step": "、".join(self.running)}
        if shown != self._shown:
            cache.set(PROGRESS_KEY, shown, PENDING_SECONDS)
            self._shown = shown


def _transaction_settings(cursor: Any) -> None:
    # The grouped passes hash up to a million groups (members, orders by member): in memory, not
    # spilled to disk (4 MB by default), for this transaction only. Index pages cost about what
    # sequential ones do (SSD, and the hot indexes cached): with the default 4.0 the planner read
    # the year of orders by a sequential scan and a hash of 800k members (5.3 s of CPU at 10M
    # orders) rather than the index-only scan of order_member_recent grouped in order (3.3 s).
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SET LOCAL random_page_cost = 1.1")


class _Lane(threading.Thread):
    """Steps run on a second connection, in a transaction of their own that commits only when the
    main one is about to (and rolls back when it fails): the page never shows half a refresh for
    longer than between two commits, and a failed refresh changes nothing on either side."""

    def __init__(self, steps: list[tuple[str, Callable[[Any], None]]], progress: _Progress) -> None:
        super().__init__(name="dashboard-refresh-lane", daemon=True)
        self.steps, self.progress = steps, progress
        self.cell, self.tenant = cell_current(), connection.tenant  # the brand's cell and schema
        self.worked = threading.Event()
        self.verdict = threading.Event()
        self.commit = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            cell_activate(self.cell)
            connection.set_tenant(self.tenant)
            with transaction.atomic(), connection.cursor() as cursor:
                _transaction_settings(cursor)
                for label, step in self.steps:
                    self.progress.run(label, step, cursor)
                self.worked.set()
                self.verdict.wait()
                if not self.commit:
                    transaction.set_rollback(True)
        except BaseException as exc:  # handed to the main thread, which raises it
            self.error = exc
        finally:
            self.worked.set()
            connections.close_all()

    def wait(self) -> None:
        """Wait until the lane's steps are done (its transaction still open), showing its progress
        meanwhile; raise what they raised."""
        while not self.worked.wait(timeout=1):
            self.progress.publish()
        self.progress.publish()
        if self.error is not None:
            raise self.error

    def finish(self, *, commit: bool) -> None:
        """Commit (or roll back) the lane's transaction and wait for it; raise what the commit raised."""
        self.worked.wait()
        self.commit = commit and self.error is None
        self.verdict.set()
        self.join()
        if self.error is not None and commit:
            raise self.error


def dashboard_refresh(*, now: dt.datetime | None = None) -> DashboardRefresh:
    """Rebuild every aggregate as of `now`. Safe to re-run or run twice concurrently: the second
    run waits on the refresh row's lock and then rebuilds again. With
    settings.DASHBOARD_REFRESH_CONNECTIONS = 2 (and not inside a caller's transaction, whose rows a
    second connection could not see) the repurchase pass runs on a second connection meanwhile."""
    now = now or timezone.now()
    tz = brand_zone()
    today = now.astimezone(tz).date()
    history_from = dt.datetime.combine(month_start(today, HISTORY_MONTHS - 1), dt.time(), tzinfo=tz)
    week_monday = today - dt.timedelta(days=today.weekday())
    withdrawals_from = dt.datetime.combine(week_monday - dt.timedelta(weeks=WITHDRAWAL_WEEKS - 1), dt.time(), tzinfo=tz)
    activity_from = dt.datetime.combine(today - dt.timedelta(days=ROLLUP_DAYS - 1), dt.time(), tzinfo=tz)
    zone = str(tz)
    # (label on the progress line, step); the second connection takes SECOND_LANE.
    steps: list[tuple[str, Callable[[Any], None]]] = [
        ("复购", lambda cursor: _refresh_value(cursor, tz=zone, now=now)),
        ("会员", lambda cursor: _refresh_members(cursor, tz=zone, now=now)),
        ("积分", lambda cursor: _refresh_points(cursor, tz=zone, since=history_from)),
        ("等级变动", lambda cursor: _refresh_tier_moves(cursor, tz=zone, since=history_from)),
        ("撤回授权", lambda cursor: _refresh_withdrawals(cursor, tz=zone, since=withdrawals_from)),
        ("导购", lambda cursor: _refresh_staff(cursor, now=now)),
        ("每日动态", lambda cursor: _refresh_activity(cursor, tz=zone, since=activity_from)),
        ("授权", lambda cursor: _refresh_consent_counts()),
        ("活动", lambda cursor: _refresh_campaigns()),
    ]
    parallel = settings.DASHBOARD_REFRESH_CONNECTIONS > 1 and not connection.in_atomic_block
    progress = _Progress(len(steps))
    started = time.perf_counter()
    lane: _Lane | None = None
    try:
        with transaction.atomic():
            # Serialise concurrent refreshes (two beat deliveries): the row lock is held to commit.
            refresh, _ = DashboardRefresh.objects.select_for_update().get_or_create(
                singleton=True, defaults={"refreshed_at": now}
            )
            if parallel:
                lane = _Lane([s for s in steps if s[0] in SECOND_LANE], progress)
                lane.start()
            with connection.cursor() as cursor:
                _transaction_settings(cursor)
                for label, step in steps:
                    if lane is None or label not in SECOND_LANE:
                        progress.run(label, step, cursor)
            if lane is not None:
                lane.wait()
            refresh.refreshed_at = now
            refresh.duration_ms = int((time.perf_counter() - started) * 1000)
            refresh.save(update_fields=["refreshed_at", "duration_ms"])
            if lane is not None:
                # The lane commits first, then this transaction: if the lane's commit failed this
                # one rolls back; the other way round (this commit failing just after) leaves the
                # repurchase table one refresh ahead of the others, which the next refresh evens.
                committing: _Lane = lane
                lane = None
                committing.finish(commit=True)
    finally:
        if lane is not None:  # the main transaction failed: the lane's rolls back too
            lane.finish(commit=False)
        cache.delete(PROGRESS_KEY)
    refresh.step_ms = progress.step_ms  # (not stored: for bench/dashboard_page.py)
    # Whoever asked for a refresh gets this one: the page stops showing progress and reloads.
    cache.delete(PENDING_KEY)
    return refresh


def dashboard_refresh_request(*, now: dt.datetime | None = None) -> bool:
    """The "刷新" control: queue a rebuild in the background (the page polls
    dashboard.selectors.refresh_pending). Idempotent: a second click while one is pending queues
    nothing and answers False."""
    now = now or timezone.now()
    if not cache.add(PENDING_KEY, now.isoformat(), timeout=PENDING_SECONDS):
        return False
    send_on_commit(refresh)
    return True


def _refresh_members(cursor, *, tz: str, now: dt.datetime) -> None:
    cursor.execute(f"DELETE FROM {MemberEnrolmentDaily._meta.db_table}")  # noqa: S608
    cursor.execute(
        f"""INSERT INTO {MemberEnrolmentDaily._meta.db_table}
                (day, channel, source, home_store_id, staff_store_id, members)
            SELECT (m.enrolled_at AT TIME ZONE %s)::date, m.enrolled_channel, m.source, m.home_store_id,
                   s.store_id, count(*)
            FROM {_MEMBER_JOIN} WHERE {CURRENT_SQL} GROUP BY 1, 2, 3, 4, 5""",  # noqa: S608
        [tz],
    )
    cursor.execute(f"DELETE FROM {MemberStateCount._meta.db_table}")  # noqa: S608
    # A member whose staff resigned (and was not handed over yet) has no owner in practice.
    cursor.execute(
        f"""INSERT INTO {MemberStateCount._meta.db_table}
                (tier_id, lifecycle_stage, status, has_staff, home_store_id, staff_store_id, members,
                 points_balance, points_pending, points_expiring_30d)
            SELECT m.tier_id, m.lifecycle_stage, m.status, COALESCE(s.status = 'active', false),
                   m.home_store_id, s.store_id, count(*), sum(m.points_balance), sum(m.points_pending),
                   COALESCE(sum(x.points), 0)
            FROM {_MEMBER_JOIN}
            LEFT JOIN (
                SELECT member_id, sum(remaining) AS points FROM {_LOT}
                WHERE remaining > 0 AND expires_at >= %s AND expires_at < %s GROUP BY member_id
            ) x ON x.member_id = m.id
            WHERE {CURRENT_SQL} GROUP BY 1, 2, 3, 4, 5, 6""",  # noqa: S608
        [now, now + dt.timedelta(days=EXPIRING_DAYS)],
    )


def _refresh_points(cursor, *, tz: str, since: dt.datetime) -> None:
    cursor.execute(f"DELETE FROM {PointsMonthly._meta.db_table}")  # noqa: S608
    cursor.execute(
        f"""INSERT INTO {PointsMonthly._meta.db_table}
                (month, kind, home_store_id, staff_store_id, points, entries)
            SELECT date_trunc('month', e.created_at AT TIME ZONE %s)::date, e.kind, m.home_store_id,
                   s.store_id, sum(e.points), count(*)
            FROM {_ENTRY} e JOIN {_MEMBER_JOIN} ON m.id = e.member_id
            WHERE e.created_at >= %s GROUP BY 1, 2, 3, 4""",  # noqa: S608
        [tz, since],
    )


def _refresh_tier_moves(cursor, *, tz: str, since: dt.datetime) -> None:
    # Entering the entry tier at enrolment is not a movement, and a merge only carries a tier over.
    cursor.execute(f"DELETE FROM {TierMoveMonthly._meta.db_table}")  # noqa: S608
    cursor.execute(
        f"""INSERT INTO {TierMoveMonthly._meta.db_table}
                (month, direction, to_tier_id, home_store_id, staff_store_id, moves)
            SELECT date_trunc('month', c.created_at AT TIME ZONE %s)::date,
                   CASE WHEN COALESCE(tt.rank, 0) > COALESCE(ft.rank, 0) THEN 'up' ELSE 'down' END,
                   c.to_tier_id, m.home_store_id, s.store_id, count(*)
            FROM {_TIER_CHANGE} c JOIN {_MEMBER_JOIN} ON m.id = c.member_id
            LEFT JOIN {_TIER} ft ON ft.id = c.from_tier_id
            LEFT JOIN {_TIER} tt ON tt.id = c.to_tier_id
            WHERE c.created_at >= %s AND c.reason NOT IN ('enrolment', 'merge')
              AND COALESCE(tt.rank, 0) <> COALESCE(ft.rank, 0)
            GROUP BY 1, 2, 3, 4, 5""",  # noqa: S608
        [tz, since],
    )


def _refresh_withdrawals(cursor, *, tz: str, since: dt.datetime) -> None:
    # A withdrawal is a refusal whose previous decision for that member and purpose was a grant;
    # a merged member's history was copied to the survivor, so counting it would count twice.
    cursor.execute(f"DELETE FROM {ConsentWithdrawalWeekly._meta.db_table}")  # noqa: S608
    cursor.execute(
        f"""INSERT INTO {ConsentWithdrawalWeekly._meta.db_table}
                (week, purpose, home_store_id, staff_store_id, withdrawals)
            SELECT date_trunc('week', r.recorded_at AT TIME ZONE %s)::date, r.purpose, m.home_store_id,
                   s.store_id, count(*)
            FROM {_CONSENT} r JOIN {_MEMBER_JOIN} ON m.id = r.member_id
            JOIN LATERAL (
                SELECT p.granted FROM {_CONSENT} p
                WHERE p.member_id = r.member_id AND p.purpose = r.purpose
                  AND (p.recorded_at, p.id) < (r.recorded_at, r.id)
                ORDER BY p.recorded_at DESC, p.id DESC LIMIT 1
            ) previous ON previous.granted
            WHERE NOT r.granted AND r.recorded_at >= %s AND m.status <> 'merged'
            GROUP BY 1, 2, 3, 4""",  # noqa: S608
        [tz, since],
    )


def _refresh_activity(cursor, *, tz: str, since: dt.datetime) -> None:
    """ActivityDaily: one grouped INSERT per source (ledger, consent history, tier changes), with
    the same rules as the monthly and weekly aggregates above (withdrawal = refusal after a grant;
    a tier upgrade = a change to a higher rank, enrolment and merge excluded)."""
    table = ActivityDaily._meta.db_table
    cursor.execute(f"DELETE FROM {table}")  # noqa: S608
    cursor.execute(
        f"""INSERT INTO {table} (day, home_store_id, staff_store_id, points_earned, points_redeemed,
                                 withdrawals, tier_ups)
            SELECT (e.created_at AT TIME ZONE %s)::date, m.home_store_id, s.store_id,
                   COALESCE(sum(e.points) FILTER (WHERE e.kind IN ('earn', 'bonus')), 0),
                   COALESCE(-sum(e.points) FILTER (WHERE e.kind = 'redeem'), 0), 0, 0
            FROM {_ENTRY} e JOIN {_MEMBER_JOIN} ON m.id = e.member_id
            WHERE e.created_at >= %s AND e.kind IN ('earn', 'bonus', 'redeem') GROUP BY 1, 2, 3""",  # noqa: S608
        [tz, since],
    )
    cursor.execute(
        f"""INSERT INTO {table} (day, home_store_id, staff_store_id, points_earned, points_redeemed,
                                 withdrawals, tier_ups)
            SELECT (r.recorded_at AT TIME ZONE %s)::date, m.home_store_id, s.store_id, 0, 0, count(*), 0
            FROM {_CONSENT} r JOIN {_MEMBER_JOIN} ON m.id = r.member_id
            JOIN LATERAL (
                SELECT p.granted FROM {_CONSENT} p
                WHERE p.member_id = r.member_id AND p.purpose = r.purpose
                  AND (p.recorded_at, p.id) < (r.recorded_at, r.id)
                ORDER BY p.recorded_at DESC, p.id DESC LIMIT 1
            ) previous ON previous.granted
            WHERE NOT r.granted AND r.recorded_at >= %s AND m.status <> 'merged'
            GROUP BY 1, 2, 3""",  # noqa: S608
        [tz, since],
    )
    cursor.execute(
        f"""INSERT INTO {table} (day, home_store_id, staff_store_id, points_earned, points_redeemed,
                                 withdrawals, tier_ups)
            SELECT (c.created_at AT TIME ZONE %s)::date, m.home_store_id, s.store_id, 0, 0, 0, count(*)
            FROM {_TIER_CHANGE} c JOIN {_MEMBER_JOIN} ON m.id = c.member_id
            LEFT JOIN {_TIER} ft ON ft.id = c.from_tier_id
            LEFT JOIN {_TIER} tt ON tt.id = c.to_tier_id
            WHERE c.created_at >= %s AND c.reason NOT IN ('enrolment', 'merge')
              AND COALESCE(tt.rank, 0) > COALESCE(ft.rank, 0)
            GROUP BY 1, 2, 3""",  # noqa: S608
        [tz, since],
    )


def _refresh_staff(cursor, *, now: dt.datetime) -> None:
    since = now - dt.timedelta(days=VALUE_WINDOW_DAYS)
    # Orders credited to each staff member (performance's attribution, not the serving staff):
    # the per-day rollup for whole days, a few raw attributions for the rest. Paid in [since, now].
    credited = credited_by_staff(since=since, until=now + dt.timedelta(microseconds=1))
    staff_ids = list(credited)
    cursor.execute(f"DELETE FROM {StaffSummary._meta.db_table}")  # noqa: S608
    cursor.execute(
        f"""INSERT INTO {StaffSummary._meta.db_table} (staff_id, store_id, members, orders_12m, gmv_12m_fen)
            SELECT st.id, st.store_id, COALESCE(owned.n, 0), COALESCE(sold.n, 0), COALESCE(sold.net, 0)
            FROM {_STAFF} st
            LEFT JOIN (
                SELECT m.assigned_staff_id AS staff_id, count(*) AS n FROM {_MEMBER} m
                WHERE {CURRENT_SQL} AND m.assigned_staff_id IS NOT NULL GROUP BY 1
            ) owned ON owned.staff_id = st.id
            LEFT JOIN unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS sold(staff_id, n, net)
                ON sold.staff_id = st.id""",  # noqa: S608
        [staff_ids, [credited[i][0] for i in staff_ids], [credited[i][1] for i in staff_ids]],
    )


def _refresh_value(cursor, *, tz: str, now: dt.datetime) -> None:
    since = now - dt.timedelta(days=VALUE_WINDOW_DAYS)
    cursor.execute(f"DELETE FROM {ValueCohort._meta.db_table}")  # noqa: S608
    cursor.execute(
        f"""INSERT INTO {ValueCohort._meta.db_table}
                (cohort, tier_id, home_store_id, staff_store_id, members, buyers, repeat_buyers, gmv_fen)
            SELECT date_trunc('quarter', m.enrolled_at AT TIME ZONE %s)::date, m.tier_id, m.home_store_id,
                   s.store_id, count(*), count(*) FILTER (WHERE o.n >= 1), count(*) FILTER (WHERE o.n >= 2),
                   COALESCE(sum(o.gmv), 0)
            FROM {_MEMBER_JOIN}
            LEFT JOIN (
                SELECT member_id, count(*) AS n, sum(amount_fen - refunded_fen) AS gmv FROM {_ORDER}
                WHERE member_id IS NOT NULL AND paid_at >= %s AND paid_at <= %s GROUP BY 1
            ) o ON o.member_id = m.id
            WHERE {CURRENT_SQL} GROUP BY 1, 2, 3, 4""",  # noqa: S608
        [tz, since, now],
    )


def _refresh_consent_counts() -> None:
    """One grouped query per purpose over THE contactability selector (never a re-implementation
    of it), plus the members whose consent waits for re-consent."""
    rows: list[ConsentPurposeCount] = []
    current = Q(member__status__in=CURRENT_STATUSES)
    for purpose in Purpose.values:
        counts: dict[tuple[int | None, int | None], list[int]] = {}
        contactable = (
            members_contactable(purpose=purpose)
            .values_list("home_store_id", "assigned_staff__store_id")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for home, staff_store, n in contactable:
            counts.setdefault((home, staff_store), [0, 0])[0] = n
        stale = (
            ConsentState.objects.filter(current, purpose=purpose, granted=True, needs_reconsent=True)
            .values_list("member__home_store_id", "member__assigned_staff__store_id")
            .annotate(n=Count("member_id", distinct=True))
            .order_by()
        )
        for home, staff_store, n in stale:
            counts.setdefault((home, staff_store), [0, 0])[1] = n
        rows += [
            ConsentPurposeCount(purpose=purpose, home_store_id=h, staff_store_id=s, contactable=c, needs_reconsent=r)
            for (h, s), (c, r) in counts.items()
        ]
    any_stale = (
        Member.objects.filter(
            status__in=CURRENT_STATUSES,
            pk__in=ConsentState.objects.filter(granted=True, needs_reconsent=True).values("member_id"),
        )
        .values_list("home_store_id", "assigned_staff__store_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    rows += [
        ConsentPurposeCount(purpose="*", home_store_id=h, staff_store_id=s, contactable=0, needs_reconsent=n)
        for h, s, n in any_stale
    ]
    ConsentPurposeCount.objects.all().delete()
    ConsentPurposeCount.objects.bulk_create(rows, batch_size=2000)


def _refresh_campaigns() -> None:
    latest = list(
        Occurrence.objects.filter(status=Occurrence.Status.DONE)
        .select_related("campaign")
        .order_by("-slot", "-id")[:CAMPAIGN_OCCURRENCES]
    )
    sent_statuses = {OutboxMessage.Status.SENT, OutboxMessage.Status.DELIVERED}
    rows = []
    for occurrence in latest:  # at most CAMPAIGN_OCCURRENCES, each a handful of aggregate queries
        results = occurrence_results(occurrence)
        rows.append(
            CampaignResult(
                occurrence_id=occurrence.pk,
                campaign_id=occurrence.campaign_id,
                campaign_name=occurrence.campaign.name,
                slot=occurrence.slot,
                audience=results.audience.members,
                holdout=results.holdout.members,
                messages_sent=sum(n for status, n in results.messages.items() if status in sent_statuses),
                messages_delivered=results.messages.get(OutboxMessage.Status.DELIVERED, 0),
                points_awarded=results.points_awarded,
                audience_buyers=results.audience.buyers,
                audience_gmv_fen=results.audience.gmv_fen,
                holdout_buyers=results.holdout.buyers,
                holdout_gmv_fen=results.holdout.gmv_fen,
            )
        )
    CampaignResult.objects.all().delete()
    CampaignResult.objects.bulk_create(rows)
