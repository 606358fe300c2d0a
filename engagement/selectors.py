"""Reads of the engagement programme, for the partner API and the member-centre pages (which the
member-centre app renders: these are the selectors it calls — see docs/engagement.md)."""

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, CharField, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from consent.models import Purpose
from consent.selectors import CONTACT_EXCLUSIONS, SMS_GATE, contact_gates
from crm.tenancy.zones import brand_date
from members.models import Member
from wecom.selectors import WECOM_EXCLUSIONS, wecom_reach_gates

from .models import (
    Checkin,
    CheckinCycleState,
    CheckinLadderStep,
    CheckinMilestone,
    EngagementSettings,
    GrowthEntry,
    Referral,
)
from .services.checkin import cycle_end, cycle_start_for
from .services.growth import growth_balance
from .services.settings import engagement_settings_get


@dataclass
class CalendarDay:
    date: dt.date
    checked_in: bool
    made_up: bool = False
    can_make_up: bool = False
    rewards: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LadderStepState:
    days: int
    reward_kind: str
    amount: int
    label: str
    claimed: bool


@dataclass
class CheckinCalendar:
    month: dt.date  # first day of the month shown
    today: dt.date
    checked_in_today: bool
    streak: int  # consecutive days through today (or yesterday, when today is not signed yet)
    cycle_start: dt.date
    cycle_end: dt.date
    makeups_left: int
    makeup_cost_points: int
    days: list[CalendarDay]
    ladder: list[LadderStepState]


def checkin_calendar(
    *, member: Member, month: dt.date | None = None, now: dt.datetime | None = None
) -> CheckinCalendar:
    """A member's check-in calendar for a brand month (default: this month): each day signed or
    not, which days can still be made up, the streak, the current cycle and the ladder's state."""
    settings = engagement_settings_get()
    today = brand_date(now or timezone.now())
    month = (month or today).replace(day=1)
    last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    records = {
        c.biz_date: c
        for c in Checkin.objects.filter(member_id=member.pk, biz_date__gte=month, biz_date__lte=last).only(
            "biz_date", "made_up", "rewards"
        )
    }
    recent = list(
        Checkin.objects.filter(member_id=member.pk, biz_date__lte=today)
        .order_by("-biz_date")
        .values_list("biz_date", "streak")[:2]
    )
    streak = 0
    for biz_date, run in recent:
        if biz_date in (today, today - dt.timedelta(days=1)):
            streak = run
            break
    start = cycle_start_for(settings=settings, member_id=member.pk, day=today)
    end = cycle_end(settings=settings, start=start)
    used = (
        CheckinCycleState.objects.filter(member_id=member.pk, cycle_start=start)
        .values_list("makeups", flat=True)
        .first()
        or 0
    )
    makeups_left = max(settings.makeup_cap_per_cycle - used, 0) if settings.makeup_window_days else 0
    window_from = max(today - dt.timedelta(days=settings.makeup_window_days), start)
    days: list[CalendarDay] = []
    for n in range((last - month).days + 1):
        day = month + dt.timedelta(days=n)
        record = records.get(day)
        days.append(
            CalendarDay(
                date=day,
                checked_in=record is not None,
                made_up=bool(record and record.made_up),
                can_make_up=record is None and makeups_left > 0 and window_from <= day < today,
                rewards=list(record.rewards) if record else [],
            )
        )
    claimed = set(
        CheckinMilestone.objects.filter(member_id=member.pk, cycle_start=start).values_list("days", flat=True)
    )
    ladder = [
        LadderStepState(
            days=step.days,
            reward_kind=step.reward_kind,
            amount=step.amount,
            label=f"连续签到 {step.days} 天：{step.amount} {step.get_reward_kind_display()}",
            claimed=step.days in claimed,
        )
        for step in CheckinLadderStep.objects.filter(active=True).order_by("days")
    ]
    return CheckinCalendar(
        month=month,
        today=today,
        checked_in_today=today in records or Checkin.objects.filter(member_id=member.pk, biz_date=today).exists(),
        streak=streak,
        cycle_start=start,
        cycle_end=end,
        makeups_left=makeups_left,
        makeup_cost_points=settings.makeup_cost_points,
        days=days,
        ladder=ladder,
    )


@dataclass
class GrowthLine:
    at: dt.datetime
    value: int
    balance_after: int
    text: str  # in words: "签到奖励（2027-01-31）：+1 成长值"


def growth_history(*, member: Member, limit: int = 50) -> list[GrowthLine]:
    """The member's growth value entries, newest first, in words (member page, member centre)."""
    return [
        GrowthLine(
            at=e.created_at, value=e.value, balance_after=e.balance_after, text=f"{e.reason}：{e.value:+d} 成长值"
        )
        for e in GrowthEntry.objects.filter(member_id=member.pk).order_by("-created_at", "-id")[:limit]
    ]


def growth_value_of(*, member: Member) -> int:
    return growth_balance(member_id=member.pk)


# --- referral (邀请有礼) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    """One invitation as the referrer sees it: the invitee masked, the status and why."""

    invitee: str  # 张* 138****1234
    joined: str  # brand-local date
    status: str  # the code (joined, pending, qualified, rewarded, reversed, refused)
    status_label: str  # 已发放奖励 (the detail)
    stage: str  # invited, pending, rewarded, not_met, reversed (Referral.Stage)
    stage_label: str  # 已邀请 / 待确认 / 已奖励 / 未达成 / 已撤回
    reason: str  # 邀请人本月获得奖励已达上限（每月 10 人）
    rewards: list[str]  # what the referrer got, in words
    channel: str = "link"  # link, store (Referral.Channel)


def referral_invitations(*, member: Member, limit: int = 100) -> list[Invitation]:
    """The member's invitations, newest first, one query (the invitees joined in)."""
    from members.masking import mobile_shown, name_mask

    rows = (
        Referral.objects.filter(referrer_id=member.pk)
        .select_related("invitee")
        .only("invitee__name", "invitee__mobile", "joined_at", "status", "reason", "referrer_rewards", "channel")
        .order_by("-joined_at", "-id")[:limit]
    )
    return [
        Invitation(
            invitee=" ".join(
                part for part in (name_mask(r.invitee.name), mobile_shown(r.invitee.mobile, full=False)) if part
            )
            or "新会员",
            joined=f"{brand_date(r.joined_at):%Y-%m-%d}",
            status=r.status,
            status_label=str(r.get_status_display()),
            stage=r.stage.value,
            stage_label=str(r.stage.label),
            reason=r.reason,
            rewards=[str(g.get("label", "")) for g in r.referrer_rewards],
            channel=r.channel,
        )
        for r in rows
    ]


# --- the referral graph (brand admin, regulator's export) -------------------------------------------

GRAPH_PAGE = 30  # referrers per page


@dataclass(frozen=True)
class GraphEdge:
    """One referrer → invitee edge: depth is always 1 (the engine knows no referrer's referrer)."""

    invitee: str
    depth: int
    joined: str
    channel: str
    stage: str
    stage_label: str
    status_label: str
    reason: str
    referrer_rewards: str
    invitee_rewards: str
    reversed_at: str


@dataclass(frozen=True)
class GraphNode:
    referrer: str
    invited: int
    rewarded: int
    reversed: int
    not_met: int
    edges: list[GraphEdge]


@dataclass(frozen=True)
class Graph:
    nodes: list[GraphNode]
    referrers: int  # in the whole (filtered) graph
    invitations: int
    rewarded: int
    reversed: int
    deepest: int  # always 1: said on the page, not assumed
    page: int
    pages: int


def _rewards_words(grants: list[dict[str, Any]]) -> str:
    return "；".join(str(g.get("label", "")) for g in grants)


def _edge(r: Referral, *, full: bool) -> GraphEdge:
    from crm.tenancy.zones import brand_time_shown
    from members.masking import member_label, mobile_shown

    mobile = mobile_shown(r.invitee.mobile, full=full) if r.invitee.mobile else ""
    return GraphEdge(
        invitee=f"{member_label(r.invitee.member_no, r.invitee.name, full=full)} {mobile}".strip(),
        depth=1,  # one level only, by design and in the engine
        joined=brand_time_shown(r.joined_at),
        channel=str(r.get_channel_display()),
        stage=r.stage.value,
        stage_label=str(r.stage.label),
        status_label=str(r.get_status_display()),
        reason=r.reason,
        referrer_rewards=_rewards_words(r.referrer_rewards),
        invitee_rewards=_rewards_words(r.invitee_rewards),
        reversed_at=brand_time_shown(r.reversed_at) if r.reversed_at else "",
    )


def referrals_filtered(
    *,
    campaign_id: int | None = None,
    joined_from: dt.date | None = None,
    joined_to: dt.date | None = None,
    referrer_no: str = "",
) -> QuerySet[Referral]:
    """The referral graph's filters (the page and its background export): joined dates are brand
    days, from 00:00 in the brand's zone."""
    from crm.tenancy.zones import brand_zone

    def day_start(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=brand_zone())

    referrals = Referral.objects.all()
    if campaign_id:
        referrals = referrals.filter(campaign_id=campaign_id)
    if joined_from:
        referrals = referrals.filter(joined_at__gte=day_start(joined_from))
    if joined_to:
        referrals = referrals.filter(joined_at__lt=day_start(joined_to + dt.timedelta(days=1)))
    if referrer_no.strip():
        referrals = referrals.filter(referrer__member_no=referrer_no.strip().upper())
    return referrals


def referral_graph(referrals: QuerySet[Referral], *, full: bool, page: int = 1) -> Graph:
    """Who referred whom: referrers by the number of their invitations (most first), GRAPH_PAGE a
    page, each with its invitees. Three queries whatever the page: the totals, the page's
    referrers, their edges. Masked unless `full` (the viewer may see full personal data)."""
    from django.db.models import Count

    from members.masking import member_label

    totals = referrals.aggregate(
        invitations=Count("id"),
        referrers=Count("referrer_id", distinct=True),
        rewarded=Count("id", filter=Q(status=Referral.Status.REWARDED)),
        reversed=Count("id", filter=Q(status=Referral.Status.REVERSED)),
    )
    pages = max((totals["referrers"] + GRAPH_PAGE - 1) // GRAPH_PAGE, 1)
    page = min(max(page, 1), pages)
    heads = list(
        referrals.values("referrer_id")
        .annotate(n=Count("id"))
        .order_by("-n", "referrer_id")[(page - 1) * GRAPH_PAGE : page * GRAPH_PAGE]
    )
    ids = [h["referrer_id"] for h in heads]
    by_referrer: dict[int, list[Referral]] = {i: [] for i in ids}
    for r in (
        referrals.filter(referrer_id__in=ids)
        .select_related("referrer", "invitee")
        .order_by("referrer_id", "joined_at", "id")
    ):
        by_referrer[r.referrer_id].append(r)
    nodes = []
    for referrer_id in ids:
        rows = by_referrer[referrer_id]
        edges = [_edge(r, full=full) for r in rows]
        nodes.append(
            GraphNode(
                referrer=member_label(rows[0].referrer.member_no, rows[0].referrer.name, full=full),
                invited=len(rows),
                rewarded=sum(1 for e in edges if e.stage == Referral.Stage.REWARDED),
                reversed=sum(1 for e in edges if e.stage == Referral.Stage.REVERSED),
                not_met=sum(1 for e in edges if e.stage == Referral.Stage.NOT_MET),
                edges=edges,
            )
        )
    return Graph(
        nodes=nodes,
        referrers=totals["referrers"],
        invitations=totals["invitations"],
        rewarded=totals["rewarded"],
        reversed=totals["reversed"],
        deepest=1 if totals["invitations"] else 0,
        page=page,
        pages=pages,
    )


GRAPH_COLUMNS = [
    "邀请人",
    "受邀人",
    "层级",
    "活动",
    "来源",
    "入会时间",
    "阶段",
    "状态",
    "说明",
    "邀请人奖励",
    "受邀人奖励",
    "发放时间",
    "撤回时间",
]


def referral_graph_rows(referrals: QuerySet[Referral], *, full: bool) -> Iterator[list[Any]]:
    """The graph as rows for a regulator (CSV / XLSX through crm.spreadsheets: no cell a
    spreadsheet would evaluate): one edge a row, depth 1, both sides' rewards, reversals."""
    from crm.tenancy.zones import brand_time_shown
    from members.masking import member_label

    yield GRAPH_COLUMNS
    for r in referrals.select_related("referrer", "invitee", "campaign").order_by("joined_at", "id").iterator(2000):
        edge = _edge(r, full=full)
        yield [
            member_label(r.referrer.member_no, r.referrer.name, full=full),
            edge.invitee,
            edge.depth,
            r.campaign.name if r.campaign else "",
            edge.channel,
            edge.joined,
            edge.stage_label,
            edge.status_label,
            edge.reason,
            edge.referrer_rewards,
            edge.invitee_rewards,
            brand_time_shown(r.rewarded_at) if r.rewarded_at else "",
            edge.reversed_at,
        ]


@dataclass(frozen=True)
class ReferredBy:
    """Who referred a member, as staff see it (the referrer masked) — the workbench's 推荐人."""

    referrer: str  # M000123 王*
    channel_label: str  # 邀请链接 / 门店登记
    status_label: str
    stage_label: str
    reason: str


def referral_of(*, invitee: Member) -> ReferredBy | None:
    from members.masking import member_label

    r = Referral.objects.select_related("referrer").filter(invitee_id=invitee.pk).first()
    if r is None:
        return None
    return ReferredBy(
        referrer=member_label(r.referrer.member_no, r.referrer.name, full=False),
        channel_label=str(r.get_channel_display()),
        status_label=str(r.get_status_display()),
        stage_label=str(r.stage.label),
        reason=r.reason,
    )


# --- check-in reminders (签到提醒) -----------------------------------------------------------------


# Why an opted-in member was not reminded, as the record says it.
SKIP_REASONS = {**CONTACT_EXCLUSIONS, **WECOM_EXCLUSIONS, "checked_in": "今天已签到"}


def reminder_gates(channel: str, *, day: dt.date | None) -> list[tuple[str, Q]]:
    """(reason, condition a reminded member satisfies), in checking order: consent's contact gates
    for the channel's marketing purpose, the channel's own (wecom's reach gates, or a mobile), and
    not checked in on `day` (None: that gate left out)."""
    from .models import Checkin, EngagementSettings

    wecom = channel == EngagementSettings.ReminderChannel.WECOM
    gates = contact_gates(purpose=Purpose.MARKETING_WECOM if wecom else Purpose.MARKETING_SMS)
    gates += wecom_reach_gates() if wecom else [SMS_GATE]
    if day is None:
        return gates
    checked_in = Checkin.objects.filter(member_id=OuterRef("pk"), biz_date=day)
    return [*gates, ("checked_in", ~Q(Exists(checked_in)))]


def first_failed_gate(gates: list[tuple[str, Q]], words: dict[str, str]) -> Case:
    """In SQL: "" when every gate passes, else the words of the first one failed. Nested CASEs on
    the positive conditions, so a NULL (no staff: the outer join) counts as failed."""
    expression: Case | Value = Value("")
    for reason, condition in reversed(gates):
        expression = Case(When(condition, then=expression), default=Value(words[reason]), output_field=CharField())
    assert isinstance(expression, Case)
    return expression


# Why no reminder will come, as the member reads it on the check-in card.
MEMBER_WHY_NOT = {
    "erased": "您的会员账户已注销",
    "frozen": "您的会员账户已冻结",
    "needs_reconsent": "隐私政策已更新，您还没有重新确认授权",
    "no_consent": "您目前没有同意接收{channel}通知",
    "no_staff": "您还没有专属导购",
    "no_wecom": "您还没有添加专属导购的企业微信",
    "no_mobile": "您还没有绑定手机号",
}
# The reasons the member fixes in their own consent settings (the card links there).
FIXED_IN_PREFERENCES = {"needs_reconsent", "no_consent"}


@dataclass(frozen=True)
class ReminderState:
    """The member's reminder switch as the check-in page shows it. A reminder goes out only when
    all hold: the brand sends them, the member switched them on, and the channel's gates let the
    member through (consent to that channel's marketing, active, and a mobile or a WeCom relation
    with their staff) — the switch is not consent."""

    offered: bool  # the brand sends reminders at all
    hour: int  # brand-local
    on: bool  # the member's own switch
    wecom: bool  # the channel: WeCom (through their staff), else SMS
    why_not: str = ""  # the first gate the member fails, in their words ("": contactable)
    fix_in_preferences: bool = False  # why_not is a consent matter
    fix_with_staff: bool = False  # why_not is a WeCom relation with their staff

    @property
    def contactable(self) -> bool:
        return not self.why_not


def checkin_reminder_state(*, member: Member) -> ReminderState:
    from .models import CheckinReminderOptIn, EngagementSettings

    settings = engagement_settings_get()
    offered = settings.checkin_enabled and settings.checkin_reminder_enabled
    wecom = settings.checkin_reminder_channel == EngagementSettings.ReminderChannel.WECOM
    state = ReminderState(offered=offered, hour=settings.checkin_reminder_hour, on=False, wecom=wecom)
    if not offered:
        return state
    gates = reminder_gates(settings.checkin_reminder_channel, day=None)
    keys = {reason: reason for reason, _ in gates}
    failed = (
        Member.objects.filter(pk=member.pk)
        .annotate(failed=first_failed_gate(gates, keys))
        .values_list("failed", flat=True)
        .first()
    ) or ""
    why_not = MEMBER_WHY_NOT[failed].format(channel="企业微信" if wecom else "短信") if failed else ""
    return ReminderState(
        offered=True,
        hour=settings.checkin_reminder_hour,
        on=CheckinReminderOptIn.objects.filter(member_id=member.pk).exists(),
        wecom=wecom,
        why_not=why_not,
        fix_in_preferences=failed in FIXED_IN_PREFERENCES,
        fix_with_staff=failed in ("no_staff", "no_wecom"),
    )


def birthday_benefit_words(*, member: Member) -> str:
    """The member's tier's birthday gift in words (我的生日), or ''."""
    from .models import BirthdayBenefit

    if member.tier_id is None:
        return ""
    benefit = BirthdayBenefit.objects.filter(tier_id=member.tier_id, active=True).first()
    if benefit is None:
        return ""
    when = {
        BirthdayBenefit.Release.ON_DAY: "生日当天",
        BirthdayBenefit.Release.DAYS_BEFORE: f"生日前 {benefit.days_before} 天",
        BirthdayBenefit.Release.FIXED_DAY: f"生日当月 {benefit.fixed_day} 日",
    }[BirthdayBenefit.Release(benefit.release)]
    gifts = [
        f"{benefit.points} 积分" if benefit.points else "",
        f"{benefit.growth} 成长值" if benefit.growth else "",
        "生日优惠券" if benefit.coupon_template else "",
        f"{benefit.window_days} 天内消费 {benefit.multiplier_pct / 100:g} 倍积分"
        if benefit.multiplier_pct > 100
        else "",
    ]
    shown = "、".join(g for g in gifts if g)
    return f"{when}送您{shown}" if shown else ""


# --- birthday care (生日关怀) ---------------------------------------------------------------------


def birthdays_within_q(*, start: dt.date, days: int = 7, ranges: bool = False) -> Q:
    """Members whose birthday falls on one of `days` brand days from `start`, as the birthday job
    counts them: a 29 February birthday is celebrated on 28 February or 1 March in a non-leap year
    (the brand's setting), so it is never missing from a week's list.

    On member_birthday_month_day, brand-wide (`ranges`): one range of days per month (a week spans
    at most two); seven (month, day) pairs made the planner read the whole month from the index
    and filter the days (0.5 s at 1M members). For a store, the pairs: each an index probe ANDed
    with the store's bitmap (25 ms), where a range was estimated at one row and read every
    birthday of the week brand-wide (0.3 s)."""
    feb29 = engagement_settings_get().birthday_feb29
    stand_in = (2, 28) if feb29 == EngagementSettings.Feb29.FEB28 else (3, 1)
    pairs: list[tuple[int, int]] = []
    for n in range(days):
        day = start + dt.timedelta(days=n)
        pairs.append((day.month, day.day))
        if not calendar.isleap(day.year) and (day.month, day.day) == stand_in:
            pairs.append((2, 29))
    condition = Q(pk__in=[])
    if not ranges:
        for month, day_of_month in pairs:
            condition |= Q(birthday__month=month, birthday__day=day_of_month)
        return condition
    by_month: dict[int, list[int]] = {}
    for month, day_of_month in pairs:
        by_month.setdefault(month, []).append(day_of_month)
    # The days of one month are consecutive (29 February joins the 28th, or stands alone).
    for month, month_days in by_month.items():
        condition |= Q(birthday__month=month, birthday__day__gte=min(month_days), birthday__day__lte=max(month_days))
    return condition


def birthday_care(
    *, members: QuerySet[Member], today: dt.date, days: int = 7, brand_wide: bool = False
) -> QuerySet[Member]:
    """生日关怀: of `members` (the caller's scope — the workbench passes its store scope, or the
    exclusive staff's own members), those with a birthday in the coming week, active only.
    `brand_wide`: the members are the whole brand's (the query reads day ranges, see above)."""
    return members.filter(birthdays_within_q(start=today, days=days, ranges=brand_wide), status=Member.Status.ACTIVE)
