"""Scene builders shared by the campaign tests (plain functions; fixtures are in conftest)."""

import datetime as dt
from zoneinfo import ZoneInfo

from campaigns.models import Campaign, Occurrence
from campaigns.services import campaign_publish, occurrence_for_trigger, occurrence_run
from consent.services.agreements import agreement_create, agreement_version_draft_save, agreement_version_publish
from consent.services.records import consent_grant
from consent.types import ConsentEvidence
from coupons.models import CouponTemplate
from coupons.services import coupon_template_create
from members.models import Member
from tests.clock import brand_today
from tests.factories import MemberFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
GRACE = dt.timedelta(hours=6)
ADMIN = ConsentEvidence(channel="admin")


def slot_in_past_month() -> dt.datetime:
    """The latest member-day slot (the 8th, 10:00 Shanghai) before today: 15 hours to 39 days back."""
    today = brand_today()
    day = today.replace(day=8) if today.day > 8 else (today.replace(day=1) - dt.timedelta(days=1)).replace(day=8)
    return dt.datetime.combine(day, dt.time(10), tzinfo=SHANGHAI)


def marketing_agreement_publish():
    agreement = agreement_create(code="marketing", kind="marketing", title="营销授权")
    version = agreement_version_draft_save(
        agreement_id=agreement.pk,
        text="我们会通过短信和企业微信向您发送会员活动信息。",
        purposes=["marketing_sms", "marketing_wecom"],
    )
    return agreement_version_publish(version_id=version.pk, actor="test")


def consenting_member(*purposes: str, **fields: object) -> Member:
    member = MemberFactory.create(**fields)
    for purpose in ("membership", *purposes):
        consent_grant(member_id=member.pk, purpose=purpose, evidence=ADMIN, actor="test")
    return member


def run_now(campaign: Campaign) -> Occurrence:
    """Publish, trigger just after the slot (as beat would) and run."""
    campaign_publish(campaign_id=campaign.pk)
    slot = slot_in_past_month()
    Campaign.objects.filter(pk=campaign.pk).update(start_date=None)
    occurrence = occurrence_for_trigger(campaign_id=campaign.pk, now=slot + dt.timedelta(minutes=1), grace=GRACE)
    assert occurrence is not None
    occurrence_run(occurrence_id=occurrence.pk)
    occurrence.refresh_from_db()
    return occurrence


def percent_coupon_template(**fields: object) -> CouponTemplate:
    """A 10 %-off coupon template valid 7 days after issue (a campaign's coupon benefit)."""
    values: dict[str, object] = {
        "name": "会员日 9 折",
        "kind": CouponTemplate.Kind.PERCENT_OFF,
        "percent_off": 10,
        "validity_kind": CouponTemplate.ValidityKind.RELATIVE,
        "valid_days": 7,
        "generic_code": "MEMBERDAY",
    }
    return coupon_template_create(template=CouponTemplate(**(values | fields)))
