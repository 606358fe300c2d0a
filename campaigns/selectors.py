"""Who a campaign reaches. The audience is always a subset of the members the consent selector
says may be contacted for the message's purpose; a campaign without a message still excludes
erased, frozen and merged members."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.tenancy.zones import brand_zone
from members.models import Member

from .models import Campaign, Occurrence

# The consent purpose each message channel needs. Keyed by str: a loaded campaign's
# `message_channel` is the plain stored value, not the enum member.
CHANNEL_PURPOSE: dict[str, str] = {
    Campaign.MessageChannel.WECOM: "marketing_wecom",
    Campaign.MessageChannel.SMS: "marketing_sms",
}


def campaign_base_population(campaign: Campaign) -> QuerySet[Member]:
    """Who may be processed at all right now: contactable for the message's purpose (consent as
    it stands today), or simply processable when the campaign sends nothing."""
    from consent.selectors import members_contactable, members_processable

    if campaign.message_channel == Campaign.MessageChannel.NONE:
        return members_processable()

    population = members_contactable(purpose=CHANNEL_PURPOSE[campaign.message_channel])
    if campaign.message_channel == Campaign.MessageChannel.WECOM:
        # A WeCom group message goes out through the member's own staff: no active staff with a
        # WeCom account, no message.
        population = population.filter(assigned_staff__status="active", assigned_staff__wecom_userid__gt="")
    return population


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


def campaign_audience(campaign: Campaign, *, at: dt.datetime | None = None) -> QuerySet[Member]:
    """The campaign's audience: filters evaluated at `at` (the slot; purchase recency is relative
    to it), consent as it stands now."""
    return campaign_base_population(campaign).filter(campaign_filters(campaign, at=at))


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
    """What a marketer sees before launch: who the campaign reaches, and why others are left out."""

    matching: int  # members matching the builder's criteria (not merged away)
    audience: int  # of those, the ones the campaign will actually reach
    holdout_estimate: int
    excluded: dict[str, int]  # reason → count; reasons are disjoint, checked in this order
    points_liability: int  # bonus points the non-hold-out audience would receive
    liability_fen: int  # at the brand's point value
    reward: RewardPreview | None = None


EXCLUSION_REASONS = {
    "erased": "已删除",
    "frozen": "已冻结",
    "needs_reconsent": "需重新授权",
    "no_consent": "未授权该渠道",
    "no_staff": "无企业微信专属导购",
}


def campaign_preview(campaign: Campaign, *, at: dt.datetime | None = None) -> CampaignPreview:
    """Counts with a handful of aggregate queries (no per-member work)."""
    from django.db.models import Count, Exists, OuterRef

    from consent.models import ConsentState
    from members.services.points import loyalty_program_get

    matching = Member.objects.filter(merged_into__isnull=True).filter(campaign_filters(campaign, at=at))
    audience_ids = campaign_audience(campaign, at=at).values("pk")
    counts = matching.aggregate(
        total=Count("pk"),
        erased=Count("pk", filter=Q(status=Member.Status.ERASED)),
        frozen=Count("pk", filter=Q(status=Member.Status.FROZEN)),
        reached=Count("pk", filter=Q(pk__in=audience_ids)),
    )
    excluded = {"erased": counts["erased"], "frozen": counts["frozen"]}
    active = matching.filter(status=Member.Status.ACTIVE).exclude(pk__in=audience_ids)
    if campaign.message_channel != Campaign.MessageChannel.NONE:
        purpose = CHANNEL_PURPOSE[campaign.message_channel]
        stale = ConsentState.objects.filter(member_id=OuterRef("pk"), purpose=purpose, needs_reconsent=True)
        granted = ConsentState.objects.filter(
            member_id=OuterRef("pk"), purpose=purpose, granted=True, needs_reconsent=False
        )
        active = active.annotate(stale=Exists(stale), granted=Exists(granted))
        split = active.aggregate(
            needs_reconsent=Count("pk", filter=Q(stale=True)),
            no_consent=Count("pk", filter=Q(stale=False, granted=False)),
            # Consent for the channel is fine, so something else keeps them out: for WeCom the
            # missing staff, otherwise the membership consent itself (withdrawn or stale).
            consent_ok=Count("pk", filter=Q(granted=True)),
        )
        other = split.pop("consent_ok")
        excluded.update(split)
        if campaign.message_channel == Campaign.MessageChannel.WECOM:
            excluded["no_staff"] = other
        else:
            excluded["no_consent"] += other
    audience = counts["reached"]
    holdout = audience * campaign.holdout_pct // 100
    points = (audience - holdout) * campaign.bonus_points
    reward = None
    if campaign.reward_id is not None:
        item = campaign.reward
        assert item is not None  # reward_id is set
        wanted = audience - holdout
        likely = 0 if not item.is_active else wanted if item.stock is None else min(item.stock, wanted)
        reward = RewardPreview(name=item.name, is_active=item.is_active, stock=item.stock, wanted=wanted, likely=likely)
    return CampaignPreview(
        matching=counts["total"],
        audience=audience,
        holdout_estimate=holdout,
        excluded={reason: count for reason, count in excluded.items() if count},
        points_liability=points,
        liability_fen=points * loyalty_program_get().point_value_fen,
        reward=reward,
    )


@dataclass(frozen=True)
class GroupResult:
    members: int
    buyers: int
    orders: int
    gmv_fen: int

    @property
    def gmv_per_member_fen(self) -> float:
        return self.gmv_fen / self.members if self.members else 0.0


@dataclass(frozen=True)
class OccurrenceResults:
    audience: GroupResult
    holdout: GroupResult
    messages: dict[str, int]
    points_awarded: int
    reward_name: str = ""  # empty: the occurrence gave no reward
    rewards_issued: int = 0
    rewards_not_issued: int = 0  # eligible members who got none (stock ran out or reward off the shelf)

    @property
    def lift_pct(self) -> float | None:
        """GMV per member of the audience versus the hold-out, in percent; None without hold-out."""
        base = self.holdout.gmv_per_member_fen
        if not self.holdout.members or base == 0:
            return None
        return (self.audience.gmv_per_member_fen - base) / base * 100


def occurrence_results(occurrence: Occurrence) -> OccurrenceResults:
    """Orders and GMV of the audience and the hold-out paid within the occurrence's window,
    messages by status, points awarded and rewards given (the last two as the run recorded them).
    Four aggregate queries."""
    from django.db.models import Count, Sum
    from django.db.models.functions import Coalesce

    from members.models import Order

    from .models import OutboxMessage, Recipient

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
    )
