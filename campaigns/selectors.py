"""Who a campaign reaches. The audience is always a subset of the members the consent selector
says may be contacted for the message's purpose; a campaign without a message still excludes
erased, frozen and merged members."""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from consent.selectors import CONTACT_EXCLUSIONS, SMS_GATE, contact_gates
from crm.tenancy.zones import brand_zone
from members.models import Member
from wecom.selectors import WECOM_EXCLUSIONS, wecom_reach_gates

from .models import Campaign, Occurrence, OutboxMessage

# The consent purpose each message channel needs. Keyed by str: a loaded campaign's
# `message_channel` is the plain stored value, not the enum member.
CHANNEL_PURPOSE: dict[str, str] = {
    Campaign.MessageChannel.WECOM: "marketing_wecom",
    Campaign.MessageChannel.SMS: "marketing_sms",
}


# Why a member matching the criteria is not reached, in the order the gates are checked: each
# member is counted under the first gate they fail. The preview counts these; the run's snapshot
# keeps exactly the members who pass every gate. Both are built from `_gates` below, so what the
# preview promises is what the run reaches (for the same data at the same slot).
EXCLUSION_REASONS = {**CONTACT_EXCLUSIONS, **WECOM_EXCLUSIONS}
# Hold-out members are reached by nothing, on purpose: they are the comparison group.
HOLDOUT_LABEL = "对照组（不发放，用于对比）"


def _gates(channel: str) -> list[tuple[str, Q]]:
    """(reason, condition a reached member satisfies), in checking order. The conjunction of the
    conditions is `members_contactable(purpose)` (or `members_processable()` without a message)
    plus what the channel needs to deliver: the member's own WeCom staff and a WeCom relation, or
    a mobile number."""
    if channel == Campaign.MessageChannel.NONE:
        return contact_gates(purpose=None)
    gates = contact_gates(purpose=CHANNEL_PURPOSE[channel])
    if channel == Campaign.MessageChannel.WECOM:
        return [*gates, *wecom_reach_gates()]
    return [*gates, SMS_GATE]


def _brand_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=brand_zone())


def campaign_filters(campaign: Campaign, *, at: dt.datetime | None = None) -> Q:
    """The audience builder's criteria as one Q (empty criteria match everyone)."""
    at = at or timezone.now()
    criteria = Q()
    tier_ids = list(campaign.tiers.values_list("pk", flat=True))
    if tier_ids:
        criteria &= Q(tier_id__in=tier_ids)
    store_ids = list(campaign.stores.values_list("pk", flat=True))
    if store_ids:
        criteria &= Q(home_store_id__in=store_ids)
    staff_ids = list(campaign.assigned_staff.values_list("pk", flat=True))
    if staff_ids:
        criteria &= Q(assigned_staff_id__in=staff_ids)
    tag_ids = list(campaign.tags.values_list("pk", flat=True))
    if tag_ids:
        # Any of the tags (an OR within the criterion), as marketers build tag audiences.
        criteria &= Q(pk__in=Member.objects.filter(member_tags__tag_id__in=tag_ids).values("pk"))
    if campaign.lifecycle_stages:
        criteria &= Q(lifecycle_stage__in=campaign.lifecycle_stages)
    # Enrolment dates are the brand's days, from 00:00 in its time zone (`__date` would cut days in
    # the process's zone, Shanghai, whatever the brand's); an instant range also uses the index.
    if campaign.enrolled_after:
        criteria &= Q(enrolled_at__gte=_brand_midnight(campaign.enrolled_after))
    if campaign.enrolled_before:
        criteria &= Q(enrolled_at__lt=_brand_midnight(campaign.enrolled_before + dt.timedelta(days=1)))
    if campaign.purchased_within_days is not None:
        criteria &= Q(last_purchase_at__gte=at - dt.timedelta(days=campaign.purchased_within_days))
    if campaign.not_purchased_within_days is not None:
        since = at - dt.timedelta(days=campaign.not_purchased_within_days)
        criteria &= Q(last_purchase_at__isnull=True) | Q(last_purchase_at__lt=since)
    if campaign.points_min is not None:
        criteria &= Q(points_balance__gte=campaign.points_min)
    if campaign.points_max is not None:
        criteria &= Q(points_balance__lte=campaign.points_max)
    return criteria


def campaign_matching(campaign: Campaign, *, at: dt.datetime | None = None) -> QuerySet[Member]:
    """Members matching the builder's criteria (merged members are never anyone's audience)."""
    return Member.objects.filter(merged_into__isnull=True).filter(campaign_filters(campaign, at=at))


def campaign_audience(
    campaign: Campaign, *, at: dt.datetime | None = None, channel: str | None = None
) -> QuerySet[Member]:
    """The campaign's audience (hold-out included): the criteria evaluated at `at` (the slot;
    purchase recency is relative to it), every gate of the channel passed with consent as it
    stands now."""
    channel = campaign.message_channel if channel is None else channel
    return campaign_matching(campaign, at=at).filter(*(condition for _, condition in _gates(channel)))


def holdout_seed(campaign_id: int, slot: dt.datetime) -> str:
    """The hold-out is chosen by a stable hash of this seed and the member id: the same members
    for the same slot however often the snapshot runs, and the preview of that slot can pick
    exactly the members the run will hold out."""
    return f"{campaign_id}:{int(slot.timestamp())}"


# In SQL over members_member (`id`): true for a hold-out member. bigint before abs(): hashtext
# can return -2^31, whose abs() overflows an integer.
HOLDOUT_SQL = "mod(abs(hashtext(%s || ':' || {id}::text)::bigint), 100) < %s"


def next_slot(campaign: Campaign, *, after: dt.datetime | None = None) -> dt.datetime | None:
    from .schedules import next_slots

    slots = next_slots(campaign, after=after or timezone.now(), tz=brand_zone(), limit=1)
    return slots[0] if slots else None


@dataclass(frozen=True)
class ChannelPreview:
    """One channel's outcome: how many members it reaches and why the others are left out."""

    channel: str
    label: str
    reached: int  # audience without the hold-out: those who get the benefit and the message
    holdout: int
    excluded: dict[str, int]  # reason → count (only reasons that apply), disjoint
    points_liability: int
    liability_fen: int

    @property
    def audience(self) -> int:
        return self.reached + self.holdout

    @property
    def excluded_rows(self) -> list[tuple[str, int]]:
        return [(EXCLUSION_REASONS[reason], count) for reason, count in self.excluded.items() if count]


@dataclass(frozen=True)
class RewardPreview:
    """The campaign's gift as things stand: how many of the non-hold-out audience it reaches with
    the stock left now (others may redeem it before the run, so "likely", not promised)."""

    name: str
    is_active: bool
    stock: int | None  # None = unlimited
    wanted: int  # the non-hold-out audience
    likely: int  # of those, how many would get one with today's stock

    @property
    def short(self) -> int:
        return self.wanted - self.likely


@dataclass(frozen=True)
class CampaignPreview:
    """What a marketer sees before launch, for the run at `slot`: who the campaign reaches on its
    channel (and on the others, to compare), and why the others are left out."""

    slot: dt.datetime | None  # the run previewed (None: no future run; evaluated now)
    matching: int  # members matching the builder's criteria (not merged away)
    channels: list[ChannelPreview]  # the campaign's own channel first
    reward: RewardPreview | None = None

    @property
    def chosen(self) -> ChannelPreview:
        return self.channels[0]

    # The campaign's own channel, as the run will do it.
    @property
    def audience(self) -> int:
        return self.chosen.audience

    @property
    def reached(self) -> int:
        return self.chosen.reached

    @property
    def holdout(self) -> int:
        return self.chosen.holdout

    @property
    def excluded(self) -> dict[str, int]:
        return {reason: count for reason, count in self.chosen.excluded.items() if count}

    @property
    def points_liability(self) -> int:
        return self.chosen.points_liability

    @property
    def liability_fen(self) -> int:
        return self.chosen.liability_fen

    def as_record(self) -> dict[str, object]:
        """What the campaign keeps of the preview its publisher confirmed (JSON)."""
        return {
            "slot": self.slot.isoformat() if self.slot else None,
            "channel": self.chosen.channel,
            "matching": self.matching,
            "reached": self.reached,
            "holdout": self.holdout,
            "excluded": self.excluded,
        }


def campaign_breakdown(
    campaign: Campaign,
    *,
    channels: list[str],
    at: dt.datetime | None,
    seed: str,
    id_range: tuple[int, int] | None = None,
) -> tuple[int, dict[str, dict[str, int]]]:
    """One aggregate query: for each channel, members per failed gate (the first one), and those
    passing every gate split into hold-out and reached. Returns (matching, {channel: counts}).
    `id_range` ([lo, hi) member ids): of those members only (a run's snapshot, a range at a time:
    the counts of the ranges add up to the whole)."""
    from django.db.models.expressions import RawSQL

    members = campaign_matching(campaign, at=at)
    if id_range is not None:
        members = members.filter(pk__gte=id_range[0], pk__lt=id_range[1])
    matching = members.annotate(
        # Fixed SQL; the seed and the percentage are parameters.
        is_holdout=RawSQL(HOLDOUT_SQL.format(id='"members_member"."id"'), [seed, campaign.holdout_pct])  # noqa: S611
    )
    aggregates: dict[str, Count] = {"total": Count("pk")}
    for channel in channels:
        passed = Q()
        for reason, condition in _gates(channel):
            aggregates[f"{channel}:{reason}"] = Count("pk", filter=passed & ~condition)
            passed &= condition
        aggregates[f"{channel}:holdout"] = Count("pk", filter=passed & Q(is_holdout=True))
        aggregates[f"{channel}:reached"] = Count("pk", filter=passed & Q(is_holdout=False))
    counts = matching.aggregate(**aggregates)
    by_channel: dict[str, dict[str, int]] = {channel: {} for channel in channels}
    for key, value in counts.items():
        if key != "total":
            channel, name = key.split(":")
            by_channel[channel][name] = value
    return counts["total"], by_channel


def campaign_preview(campaign: Campaign, *, at: dt.datetime | None = None) -> CampaignPreview:
    """The preview of the campaign's next run (or of a run at `at`): criteria evaluated at that
    slot, consent as it stands now, the hold-out the run will pick for that slot. One aggregate
    query over the matching members for all three channels."""
    from members.services.points import loyalty_program_get

    slot = at or next_slot(campaign)
    seed = holdout_seed(campaign.pk or 0, slot or timezone.now())
    own = campaign.message_channel
    channels = [own, *(c for c in Campaign.MessageChannel.values if c != own)]
    matching, counts = campaign_breakdown(campaign, channels=channels, at=slot, seed=seed)
    point_value = loyalty_program_get().point_value_fen
    previews = []
    for channel in channels:
        row = counts[channel]
        reached = row.pop("reached")
        holdout = row.pop("holdout")
        points = reached * campaign.bonus_points
        previews.append(
            ChannelPreview(
                channel=channel,
                label=str(Campaign.MessageChannel(channel).label),
                reached=reached,
                holdout=holdout,
                excluded=row,
                points_liability=points,
                liability_fen=points * point_value,
            )
        )
    reward = None
    if campaign.reward_id is not None:
        item = campaign.reward
        assert item is not None  # reward_id is set
        wanted = previews[0].reached
        likely = 0 if not item.is_active else wanted if item.stock is None else min(item.stock, wanted)
        reward = RewardPreview(name=item.name, is_active=item.is_active, stock=item.stock, wanted=wanted, likely=likely)
    return CampaignPreview(slot=slot, matching=matching, channels=previews, reward=reward)


@dataclass(frozen=True)
class GroupResult:
    members: int
    buyers: int
    orders: int
    gmv_fen: int

    @property
    def gmv_per_member_fen(self) -> float:
        return self.gmv_fen / self.members if self.members else 0.0


# Below this many hold-out members a difference in GMV per member says nothing a marketer can act on.
HOLDOUT_TOO_SMALL = 30

MESSAGE_STATUS_WORDS = dict(OutboxMessage.Status.choices)
# The outbox's recorded reasons, in words.
DROP_REASON_WORDS = {
    "consent no longer given": "发送前已不可联系（撤回授权、冻结或删除）",
    "consent withdrawn": "发送前撤回授权",
    "no address for this channel": "无该渠道联系方式",
    "member has no staff on WeCom": "无企业微信专属导购",
    "WeCom is not configured for this brand": "品牌未配置企业微信",
    "not a friend of the sender any more": "已不是导购的企业微信好友",
    "over the customer's group message limit": "超过客户接收群发上限",
    "refused by WeCom (fail_list)": "企业微信拒绝发送",
    "interrupted while sending": "发送中断（为避免重复不再重发）",
}


def campaign_status_label(campaign: Campaign, *, running: bool | None = None) -> str:
    """The campaign's state in words: draft → scheduled → running → finished → ended."""
    if running is None:
        running = campaign.occurrences.filter(status=Occurrence.Status.RUNNING).exists() if campaign.pk else False
    if running and campaign.status == Campaign.Status.SCHEDULED:
        return "执行中"
    return str(campaign.get_status_display())


@dataclass(frozen=True)
class OccurrenceResults:
    audience: GroupResult
    holdout: GroupResult
    messages: dict[str, int]
    points_awarded: int
    reward_name: str = ""  # empty: the occurrence gave no reward
    rewards_issued: int = 0
    rewards_not_issued: int = 0  # eligible members who got none (stock ran out or reward off the shelf)
    # Who matched but was left out at the run, by reason (EXCLUSION_REASONS keys).
    excluded_at_run: dict[str, int] = field(default_factory=dict)
    # The preview the publisher confirmed, when it was for this run's slot: its reach.
    previewed_reached: int | None = None
    # Messages not sent, by reason in words (cancelled at send, skipped, failed).
    not_sent: dict[str, int] = field(default_factory=dict)

    @property
    def lift_pct(self) -> float | None:
        """GMV per member of the audience versus the hold-out, in percent; None without hold-out
        or when the hold-out bought nothing (no base to compare with)."""
        base = self.holdout.gmv_per_member_fen
        if not self.holdout.members or base == 0:
            return None
        return (self.audience.gmv_per_member_fen - base) / base * 100

    @property
    def orders_per_member_lift_pct(self) -> float | None:
        if not self.holdout.members or not self.audience.members or not self.holdout.orders:
            return None
        base = self.holdout.orders / self.holdout.members
        return (self.audience.orders / self.audience.members - base) / base * 100

    @property
    def lift_note(self) -> str:
        """The lift in plain words, including why there is none."""
        if not self.holdout.members:
            return "本次没有对照组，无法计算提升。"
        if self.holdout.members < HOLDOUT_TOO_SMALL:
            return (
                f"对照组只有 {self.holdout.members} 人（少于 {HOLDOUT_TOO_SMALL} 人），"
                "差异可能只是偶然，暂不能据此判断活动效果。"
            )
        if self.lift_pct is None:
            return "对照组在活动窗口内没有消费，无法计算相对提升。"
        direction = "高" if self.lift_pct >= 0 else "低"
        return f"受众人均 GMV 比对照组{direction} {abs(self.lift_pct):.1f}%。"

    @property
    def dropped_out(self) -> int | None:
        """How many fewer the run reached than the confirmed preview promised (None: no preview of
        this slot was confirmed)."""
        if self.previewed_reached is None:
            return None
        return max(self.previewed_reached - self.audience.members, 0)

    @property
    def excluded_words(self) -> list[tuple[str, int]]:
        return [(EXCLUSION_REASONS.get(reason, reason), n) for reason, n in self.excluded_at_run.items() if n]

    @property
    def messages_words(self) -> list[tuple[str, int]]:
        return [(str(MESSAGE_STATUS_WORDS.get(status, status)), n) for status, n in self.messages.items()]


def occurrence_results(occurrence: Occurrence) -> OccurrenceResults:
    """Orders and GMV of the audience and the hold-out paid within the occurrence's window,
    messages by status, points awarded and rewards given (the last two as the run recorded them).
    Four aggregate queries."""
    from django.db.models import Count, Sum
    from django.db.models.functions import Coalesce

    from members.models import Order

    from .models import Recipient

    groups = {}
    for holdout in (False, True):
        member_ids = Recipient.objects.filter(occurrence=occurrence, holdout=holdout).values("member_id")
        orders = Order.objects.filter(
            member_id__in=member_ids, paid_at__gte=occurrence.window_start, paid_at__lt=occurrence.window_end
        ).aggregate(
            orders=Count("pk"),
            buyers=Count("member_id", distinct=True),
            gmv=Coalesce(Sum("amount_fen"), 0) - Coalesce(Sum("refunded_fen"), 0),
        )
        groups[holdout] = GroupResult(
            members=Recipient.objects.filter(occurrence=occurrence, holdout=holdout).count(),
            buyers=orders["buyers"],
            orders=orders["orders"],
            gmv_fen=orders["gmv"],
        )
    messages = dict(
        OutboxMessage.objects.filter(occurrence=occurrence)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    not_sent: dict[str, int] = {}
    if any(status in messages for status in ("cancelled", "skipped", "failed")):
        for error, n in (
            OutboxMessage.objects.filter(occurrence=occurrence, status__in=["cancelled", "skipped", "failed"])
            .values_list("error")
            .annotate(n=Count("pk"))
            .values_list("error", "n")
        ):
            words = DROP_REASON_WORDS.get(error, error or "未知原因")
            not_sent[words] = not_sent.get(words, 0) + n
    snapshot = occurrence.summary.get("snapshot", {})
    published = occurrence.campaign.published_preview or {}
    previewed = None
    if published.get("slot") and dt.datetime.fromisoformat(published["slot"]) == occurrence.slot:
        previewed = published.get("reached", 0)
    awards = occurrence.summary.get("awards", {})
    rewards = occurrence.summary.get("rewards", {})
    return OccurrenceResults(
        audience=groups[False],
        holdout=groups[True],
        messages=messages,
        points_awarded=awards.get("awarded_members", 0) * awards.get("points_each", 0),
        reward_name=rewards.get("reward_name", ""),
        rewards_issued=rewards.get("issued", 0),
        rewards_not_issued=rewards.get("not_issued", 0),
        excluded_at_run=snapshot.get("excluded", {}),
        previewed_reached=previewed,
        not_sent=not_sent,
    )


def campaign_names(keys: list[str]) -> dict[str, str]:
    """{id as text: name} of the campaigns among `keys` (coupons' report by campaign); one query."""
    ids = [int(key) for key in keys if key.isdigit()]
    return {str(pk): name for pk, name in Campaign.objects.filter(pk__in=ids).values_list("pk", "name")}
