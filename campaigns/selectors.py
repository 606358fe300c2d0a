"""Who a campaign reaches. The audience is always a subset of the members the consent selector
says may be contacted for the message's purpose; a campaign without a message still excludes
erased, frozen and merged members."""

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from members.models import Member

from .models import Campaign

# The consent purpose each message channel needs.
CHANNEL_PURPOSE = {
    Campaign.MessageChannel.WECOM: "marketing_wecom",
    Campaign.MessageChannel.SMS: "marketing_sms",
}


def members_processable() -> QuerySet[Member]:
    """Members any processing may touch: not erased, not frozen, not merged away."""
    return Member.objects.filter(status=Member.Status.ACTIVE, merged_into__isnull=True)


def campaign_base_population(campaign: Campaign, *, at: dt.datetime | None = None) -> QuerySet[Member]:
    if campaign.message_channel == Campaign.MessageChannel.NONE:
        return members_processable()
    from consent.selectors import members_contactable

    population = members_contactable(purpose=CHANNEL_PURPOSE[campaign.message_channel], at=at)
    if campaign.message_channel == Campaign.MessageChannel.WECOM:
        # A WeCom group message goes out through the member's own staff: no active staff with a
        # WeCom account, no message.
        population = population.filter(assigned_staff__status="active", assigned_staff__wecom_userid__gt="")
    return population


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
    if campaign.enrolled_after:
        criteria &= Q(enrolled_at__date__gte=campaign.enrolled_after)
    if campaign.enrolled_before:
        criteria &= Q(enrolled_at__date__lte=campaign.enrolled_before)
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
    return campaign_base_population(campaign, at=at).filter(campaign_filters(campaign, at=at))
