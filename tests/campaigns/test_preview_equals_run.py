"""What the preview promises is what the run does: the same selector picks the audience, its
exclusions by reason and the hold-out of the slot. Consent that changes between publishing and
the run shows in the results as members who dropped out, with the reason."""

import pytest

from campaigns.models import Campaign, Recipient
from campaigns.selectors import campaign_preview, occurrence_results
from consent.services.records import consent_withdraw
from members.models import Identity, Member
from tests.campaigns.scenes import ADMIN, consenting_member, run_now, slot_in_past_month
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


def wecom_brand_members() -> dict[str, list[Member]]:
    """Members in every state a WeCom campaign meets: reachable ones, and one per exclusion."""
    staff = StaffFactory(wecom_userid="lisi")
    reachable = []
    for n in range(40):
        member = consenting_member("marketing_wecom", assigned_staff=staff)
        Identity.objects.create(member=member, kind="wecom_external_userid", value=f"wmEXT{n:03d}")
        reachable.append(member)
    frozen = consenting_member("marketing_wecom", assigned_staff=staff)
    Member.objects.filter(pk=frozen.pk).update(status=Member.Status.FROZEN)
    return {
        "reachable": reachable,
        "no_consent": [consenting_member(assigned_staff=staff), MemberFactory.create(assigned_staff=staff)],
        "no_staff": [consenting_member("marketing_wecom")],
        "no_wecom": [consenting_member("marketing_wecom", assigned_staff=staff)],
        "frozen": [frozen],
    }


def test_the_run_reaches_exactly_the_previewed_members_with_the_previewed_hold_out(
    in_brand_a, make_campaign, marketing_agreement
):
    members = wecom_brand_members()
    campaign = make_campaign(holdout_pct=20, bonus_points=10, message_channel="wecom", message_template="{name}")

    preview = campaign_preview(campaign, at=slot_in_past_month())
    occurrence = run_now(campaign)

    recipients = Recipient.objects.filter(occurrence=occurrence)
    assert preview.matching == 45
    assert preview.excluded == {"frozen": 1, "no_consent": 2, "no_staff": 1, "no_wecom": 1}
    assert preview.reached == recipients.filter(holdout=False).count()
    assert preview.holdout == recipients.filter(holdout=True).count() > 0
    assert preview.reached + preview.holdout == len(members["reachable"])
    assert occurrence.summary["snapshot"]["excluded"] == preview.excluded
    assert preview.points_liability == occurrence.summary["awards"]["awarded_members"] * 10
    # Every reached member got a message that can go out: nobody is skipped for lack of an address.
    assert occurrence.summary["messages"]["queued"] == preview.reached
    assert not occurrence.messages.exclude(status="queued").exists()


def test_each_channel_of_the_preview_is_what_a_run_on_that_channel_reaches(
    in_brand_a, make_campaign, marketing_agreement
):
    wecom_brand_members()
    consenting_member("marketing_sms", mobile="")  # SMS consent, no mobile
    consenting_member("marketing_sms", mobile="+8613800000001")
    preview = campaign_preview(make_campaign(message_channel="wecom", message_template="x"), at=slot_in_past_month())
    by_channel = {row.channel: row for row in preview.channels}

    for channel in ("sms", "none"):
        campaign = make_campaign(name=channel, message_channel=channel, message_template="x")
        occurrence = run_now(campaign)
        assert by_channel[channel].audience == Recipient.objects.filter(occurrence=occurrence).count(), channel
    assert by_channel["sms"].excluded["no_mobile"] == 1
    assert by_channel["none"].excluded == {"erased": 0, "frozen": 1}


def test_consent_withdrawn_after_publishing_shows_as_dropped_out_with_the_reason(
    in_brand_a, make_campaign, marketing_agreement
):
    members = wecom_brand_members()
    campaign = make_campaign(bonus_points=10, message_channel="wecom", message_template="会员日快乐")
    slot = slot_in_past_month()
    published = campaign_preview(campaign, at=slot)
    Campaign.objects.filter(pk=campaign.pk).update(published_preview=published.as_record())
    for member in members["reachable"][:3]:
        consent_withdraw(member_id=member.pk, purpose="marketing_wecom", evidence=ADMIN, actor="member")

    occurrence = run_now(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(published_preview=published.as_record())
    occurrence.refresh_from_db()
    results = occurrence_results(occurrence)

    assert results.previewed_reached == 40 and results.audience.members == 37
    assert results.dropped_out == 3
    assert dict(results.excluded_words)["未授权该渠道"] == 5  # 2 who never consented, 3 who withdrew
