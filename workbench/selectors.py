"""Reads of the store workbench: the search box, today's tasks, and the member 360° page.

Every read starts from `members.scoping.scope_members` (or checks `member_in_scope`), so a store
user can neither find nor open another store's member, whatever they type or put in the URL.
Each builder runs a fixed number of queries whatever the data (query-count tests hold it).
"""

import datetime as dt
import heapq
import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Right
from django.utils import timezone

from consent.models import ConsentRecord, ConsentState, Purpose
from crm.errors import AppError
from crm.tenancy.zones import brand_zone
from engagement.selectors import birthday_care
from membercentre.services.codes import MEMBER_CODE_RE, member_code_resolve
from members.masking import birthday_shown, can_view_full_pi, mobile_shown, name_shown
from members.models import Member, Order, PointsEntry, PointsLot, Refund, Reward, Staff, TierChange
from members.phones import mobile_normalize_or_none
from members.scoping import scope_members, user_scope
from members.services.tiers import TierProgress, tier_progress
from members.tier_words import tier_needed_text
from performance.selectors import StaffFigures, staff_own_figures
from wecom.models import CustomerTransfer

from .words import day_shown, points_signed, time_shown, yuan_shown

SEARCH_LIMIT = 20
TASK_ROWS = 5
TASK_COUNT_CAP = 999
TIMELINE_ROWS = 40
_LAST4 = re.compile(r"^\d{4}$")
_MEMBER_NO = re.compile(r"^[Mm]\d{3,}$")


# --- the search box --------------------------------------------------------------------------------


def _search_condition(query: str) -> tuple[QuerySet[Member], str] | None:
    """The members a query means, and what it was read as. One indexed condition per kind of
    query (a million members): 手机尾号 (member_mobile_last4), full mobile (member_mobile),
    member number (its unique index), name from its start (member_name_prefix)."""
    members = Member.objects.all()
    if _LAST4.match(query):
        return members.annotate(mobile_last4=Right("mobile", 4)).filter(mobile_last4=query), "手机尾号"
    mobile = mobile_normalize_or_none(query)
    if mobile is not None:
        return members.filter(mobile=mobile), "手机号"
    if _MEMBER_NO.match(query):
        number = query.upper()
        return members.filter(Q(member_no=number) | Q(member_no__startswith=number)), "会员号"
    if query.isdigit():
        return None  # digits that are neither 4 long nor a mobile: nothing sensible to look for
    return members.filter(name__startswith=query), "姓名"


@dataclass(frozen=True)
class SearchResult:
    query: str
    read_as: str
    members: list[Member]
    truncated: bool
    refusal: str = ""  # why a member code found nobody (expired, used, unknown), in Chinese


def members_find(*, user: Any, query: str) -> SearchResult:
    """Members the user may see matching `query`: last 4 digits of the mobile, a full mobile, a
    member number (or its start) or the start of a name. At most SEARCH_LIMIT, newest first."""
    query = (query or "").strip()[:50]
    if MEMBER_CODE_RE.match(query):
        # The member's rotating code (会员码) from their phone: resolved once, audited (who
        # resolved which member when), and still inside the user's store scope below.
        try:
            member = member_code_resolve(code=query, via="workbench", actor=user.get_username())
        except AppError as refused:
            return SearchResult(query=query, read_as="会员码", members=[], truncated=False, refusal=str(refused))
        found: tuple[QuerySet[Member], str] | None = (Member.objects.filter(pk=member.pk), "会员码")
    else:
        found = _search_condition(query) if query else None
    if found is None:
        return SearchResult(query=query, read_as="", members=[], truncated=False)
    members, read_as = found
    rows = list(
        scope_members(members, user)
        .exclude(status=Member.Status.MERGED)
        .select_related("tier", "home_store", "assigned_staff")
        .order_by("-enrolled_at", "-pk")[: SEARCH_LIMIT + 1]
    )
    return SearchResult(query=query, read_as=read_as, members=rows[:SEARCH_LIMIT], truncated=len(rows) > SEARCH_LIMIT)


# --- today's tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    key: str
    title: str
    count: int
    rows: list[Member]

    @property
    def count_shown(self) -> str:
        return f"{TASK_COUNT_CAP}+" if self.count > TASK_COUNT_CAP else str(self.count)


def _month_end(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(brand_zone())
    first_next = (local.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return dt.datetime.combine(first_next, dt.time.min, tzinfo=brand_zone())


def today_tasks(*, user: Any, now: dt.datetime | None = None) -> list[Task]:
    """This store's tasks of the day (for brand-wide users, the brand's): birthdays in the next 7
    days, active members without an exclusive staff member, open WeCom transfers, members whose
    points expire before the end of this brand month. Each: a count and the first few members."""
    now = now or timezone.now()
    today = now.astimezone(brand_zone()).date()
    live = scope_members(Member.objects.filter(status=Member.Status.ACTIVE), user)
    related = ("tier", "home_store", "assigned_staff")

    brand_wide = user_scope(user).all_stores
    # 生日关怀: engagement's selector (29 February birthdays on the brand's day in other years).
    birthdays = birthday_care(members=live, today=today, brand_wide=brand_wide)
    unowned = live.filter(assigned_staff__isnull=True)
    transfers = live.filter(
        pk__in=CustomerTransfer.objects.filter(status__in=CustomerTransfer.OPEN).values("member_id")
    )
    # EXISTS per member (points_lot_open_by_expiry: member, expires_at): a store's few thousand
    # members are probed one by one instead of hashing every lot of the brand that expires this
    # month (0.4 s for a store at 1M members with 100k expiring lots).
    month_end = _month_end(now)
    expiring_lots = PointsLot.objects.filter(
        member=OuterRef("pk"), remaining__gt=0, expired=False, expires_at__gte=now, expires_at__lt=month_end
    )
    if brand_wide:
        expiring = live.filter(Exists(expiring_lots))
    else:
        # For a store, the same EXISTS kept as a per-member probe of points_lot_open_by_expiry:
        # "OFFSET 0" stops PostgreSQL from turning it into a semi join, which hashed every lot of
        # the brand expiring this month (100k at 1M members: 0.4 s) to meet a few thousand members.
        # Table names from the models' meta; the instants are bound parameters.
        exists_sql = (
            f"EXISTS (SELECT 1 FROM {PointsLot._meta.db_table} lot WHERE lot.member_id = "  # noqa: S608
            f"{Member._meta.db_table}.id AND lot.remaining > 0 AND NOT lot.expired "
            "AND lot.expires_at >= %s AND lot.expires_at < %s OFFSET 0)"
        )
        expiring = live.alias(
            expiring=RawSQL(exists_sql, (now, month_end), output_field=BooleanField())  # noqa: S611
        ).filter(expiring=True)

    # Newest first. For a store, through an expression no index serves: the planner then reads the
    # store's members by their indexes and sorts those few, instead of walking the brand's whole
    # enrolled_at index backwards looking for them.
    newest: tuple[Any, ...] = ("-enrolled_at", "-pk")
    if not brand_wide:
        newest = (Coalesce("enrolled_at", "created_at").desc(), "-pk")
    tasks = []
    for key, title, queryset, order in (
        ("birthdays", "本周生日", birthdays, ("birthday__month", "birthday__day", "pk")),
        ("unowned", "无专属导购", unowned, newest),
        ("transfers", "导购交接中", transfers, newest),
        ("expiring", "本月积分到期", expiring, ()),
    ):
        # One query for the count and one for the first rows: the rows are ordered and sliced,
        # the count is not.
        # Counted up to TASK_COUNT_CAP ("999+"): an exact count of, say, every unowned member of
        # a million-member brand is a full scan on every visit, and nobody acts on the exact figure.
        # Unordered: with Member's default ordering (-enrolled_at) kept in the capped count, the
        # planner walked the brand's whole enrolled_at index for a store with no unowned member
        # (6 s at 1M members, bench/workbench_pages.py); without it, the store's own indexes.
        count = queryset.order_by()[: TASK_COUNT_CAP + 1].count()
        if not count:
            rows: list[Member] = []
        elif key == "expiring":
            rows = _expiring_first(live, now=now, month_end=month_end)
        else:
            rows = list(queryset.select_related(*related).order_by(*order)[:TASK_ROWS])
        tasks.append(Task(key=key, title=title, count=count, rows=rows))
    return tasks


def _expiring_first(live: QuerySet[Member], *, now: dt.datetime, month_end: dt.datetime) -> list[Member]:
    """The members whose points expire soonest: the lots in expiry order (points_lot_expiring),
    each checked against the scope, the first few members. Ordering the members themselves (by
    balance) meant computing every expiring member of the brand first (1.6 s at 1M members)."""
    member_ids = list(
        PointsLot.objects.filter(
            remaining__gt=0, expired=False, expires_at__gte=now, expires_at__lt=month_end, member__in=live
        )
        # No tie-break: an end-of-year policy gives every lot the same instant, and sorting them
        # all by id to find the first twenty was the cost.
        .order_by("expires_at")
        .values_list("member_id", flat=True)[: TASK_ROWS * 4]
    )
    first = list(dict.fromkeys(member_ids))[:TASK_ROWS]
    members = Member.objects.select_related("tier", "home_store", "assigned_staff").in_bulk(first)
    return [members[pk] for pk in first if pk in members]


# --- the member 360° page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    member_no: str
    name: str
    mobile: str
    birthday: str
    gender: str
    status: str
    home_store: str
    enrolled: str
    full: bool


@dataclass(frozen=True)
class ConsentLine:
    purpose: str
    granted: bool
    needs_reconsent: bool
    day: str
    channel: str


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    text: str
    kind: str

    @property
    def when(self) -> str:
        return time_shown(self.at)


@dataclass
class MemberPage:
    member: Member
    profile: Profile
    progress: TierProgress
    progress_text: str
    progress_pct: int
    next_expiry_points: int
    next_expiry_day: str
    consents: list[ConsentLine]
    tags: list[str]
    timeline: list[TimelineEntry]
    rewards: list[Reward] = field(default_factory=list)

    @property
    def tier_expires(self) -> str:
        return day_shown(self.member.tier_expires_at)


def profile_for(member: Member, *, full: bool) -> Profile:
    return Profile(
        member_no=member.member_no,
        name=name_shown(member.name, full=full) or "—",
        mobile=mobile_shown(member.mobile, full=full) or "—",
        birthday=birthday_shown(member.birthday, full=full) or "—",
        gender=member.get_gender_display(),
        status=member.get_status_display(),
        home_store=member.home_store.name if member.home_store else "—",
        enrolled=day_shown(member.enrolled_at),
        full=full,
    )


def _progress_words(progress: TierProgress) -> tuple[str, int]:
    if progress.next is None:
        return ("已是最高等级" if progress.current else "暂无等级", 100)
    threshold = progress.next.threshold
    pct = 100 if threshold <= 0 else min(100, progress.qualifying * 100 // threshold)
    return tier_needed_text(progress.next, progress.needed), pct


def _next_expiry(member: Member, now: dt.datetime) -> tuple[int, str]:
    """The points that expire first and the day they do (one aggregate over the open lots)."""
    first = (
        PointsLot.objects.filter(member=member, remaining__gt=0, expired=False, expires_at__gte=now)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
        .first()
    )
    if first is None:
        return 0, ""
    return int(first["points"]), day_shown(first["expires_at"])


def _consents(member: Member) -> list[ConsentLine]:
    states = ConsentState.objects.filter(member=member).select_related("record")
    by_purpose = {state.purpose: state for state in states}
    lines = []
    for purpose in Purpose:
        state = by_purpose.get(purpose.value)
        if state is None:
            lines.append(ConsentLine(str(purpose.label), False, False, "未记录", ""))
            continue
        lines.append(
            ConsentLine(
                purpose=str(purpose.label),
                granted=state.granted,
                needs_reconsent=state.needs_reconsent,
                day=day_shown(state.record.recorded_at),
                channel=state.record.get_channel_display(),
            )
        )
    return lines


def _ledger_text(entry: PointsEntry) -> str:
    points = abs(entry.points)
    reason = (entry.reason or "").strip()
    match entry.kind:
        case PointsEntry.Kind.EARN:
            return f"消费获得 {points} 积分"
        case PointsEntry.Kind.REDEEM:
            return f"{reason or '兑换'}使用 {points} 积分"
        case PointsEntry.Kind.EXPIRE:
            return f"{points} 积分到期失效"
        case PointsEntry.Kind.REVERSE:
            return f"退款冲回 {points} 积分"
        case PointsEntry.Kind.ADJUST:
            return f"人工调整 {points_signed(entry.points)} 积分（{reason or '未注明原因'}，{entry.actor or '系统'}）"
        case PointsEntry.Kind.MERGE:
            return f"会员合并{'转入' if entry.points > 0 else '转出'} {points} 积分"
        case PointsEntry.Kind.BONUS:
            return f"{reason or '活动'}赠送 {points} 积分"
    return f"{entry.get_kind_display()} {points_signed(entry.points)} 积分"


def _timeline(member: Member) -> list[TimelineEntry]:
    """Orders, refunds, ledger entries, tier changes and consent decisions, newest first, each a
    sentence. Five queries of at most TIMELINE_ROWS rows each (the newest of each kind, by index),
    merged in Python."""
    n = TIMELINE_ROWS
    orders = Order.objects.filter(member=member).select_related("store").order_by("-paid_at")[:n]
    refunds = Refund.objects.filter(order__member=member).select_related("order").order_by("-refunded_at")[:n]
    entries = PointsEntry.objects.filter(member=member).order_by("-created_at", "-pk")[:n]
    changes = (
        TierChange.objects.filter(member=member).select_related("from_tier", "to_tier").order_by("-created_at")[:n]
    )
    consents = ConsentRecord.objects.filter(member=member).order_by("-recorded_at", "-pk")[:n]
    streams: list[list[TimelineEntry]] = [
        [
            TimelineEntry(
                o.paid_at,
                f"在{o.store.name if o.store else o.get_channel_display()}消费 {yuan_shown(o.amount_fen)}"
                f"（订单 {o.order_no}）",
                "order",
            )
            for o in orders
        ],
        [
            TimelineEntry(r.refunded_at, f"退款 {yuan_shown(r.amount_fen)}（订单 {r.order.order_no}）", "refund")
            for r in refunds
        ],
        [TimelineEntry(e.created_at, _ledger_text(e), "points") for e in entries],
        [
            TimelineEntry(
                c.created_at,
                f"等级 {c.from_tier.name if c.from_tier else '无'} → {c.to_tier.name if c.to_tier else '无'}"
                f"（{c.get_reason_display()}）",
                "tier",
            )
            for c in changes
        ],
        [
            TimelineEntry(
                r.recorded_at,
                f"{'同意' if r.granted else '不同意'}「{r.get_purpose_display()}」（{r.get_channel_display()}）",
                "consent",
            )
            for r in consents
        ],
    ]
    merged = heapq.merge(*streams, key=lambda entry: entry.at, reverse=True)
    return [entry for _, entry in zip(range(n), merged, strict=False)]


def rewards_affordable(member: Member) -> list[Reward]:
    """What the member can redeem now: on the shelf, in stock, within the balance."""
    return list(
        Reward.objects.filter(is_active=True, points_cost__lte=member.points_balance)
        .filter(Q(stock__isnull=True) | Q(stock__gt=0))
        .order_by("points_cost", "pk")
    )


def member_for_user(*, user: Any, member_id: int) -> Member | None:
    """The member if the user may see it (else None: the page answers 404 either way)."""
    return (
        scope_members(Member.objects.all(), user)
        .select_related("tier", "tier_floor", "home_store", "assigned_staff", "assigned_staff__store")
        .filter(pk=member_id)
        .first()
    )


def member_page(*, user: Any, member: Member, full: bool, now: dt.datetime | None = None) -> MemberPage:
    """Everything the member page shows; `full` only once the view was logged (views.py)."""
    now = now or timezone.now()
    progress = tier_progress(member=member)
    text, pct = _progress_words(progress)
    expiry_points, expiry_day = _next_expiry(member, now)
    tags = list(member.member_tags.select_related("tag").order_by("tag__name").values_list("tag__name", flat=True))
    return MemberPage(
        member=member,
        profile=profile_for(member, full=full and can_view_full_pi(user)),
        progress=progress,
        progress_text=text,
        progress_pct=pct,
        next_expiry_points=expiry_points,
        next_expiry_day=expiry_day,
        consents=_consents(member),
        tags=tags,
        timeline=_timeline(member),
        rewards=rewards_affordable(member),
    )


# --- a staff member's own figures (导购业绩) ---------------------------------------------------------


@dataclass(frozen=True)
class OwnFigures:
    """The signed-in staff member's figures this month so far (their workbench's 我的业绩)."""

    start: dt.date
    end: dt.date
    figures: StaffFigures

    @property
    def shown(self) -> list[tuple[str, str, str]]:
        """(key, label, value in words) in the card's order: amounts in yuan."""
        f = self.figures
        return [
            ("orders", "业绩订单", str(f.orders)),
            ("gmv", "业绩金额", yuan_shown(f.gmv_fen)),
            ("refunded", "退款", yuan_shown(f.refunded_fen)),
            ("net", "净业绩", yuan_shown(f.net_fen)),
            ("enrolled", "发展会员", str(f.members_enrolled)),
            ("served", "服务会员", str(f.members_served)),
            ("coupons", "核销券", str(f.coupons_redeemed)),
            ("member_day", "会员日转化", str(f.member_day_orders)),
        ]


def own_figures(*, staff: Staff) -> OwnFigures:
    """This brand month up to today: what performance's report says of them, all stores summed."""
    today = timezone.localdate(timezone=brand_zone())
    start = today.replace(day=1)
    return OwnFigures(start, today, staff_own_figures(staff=staff, start=start, end=today))
