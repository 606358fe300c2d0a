"""Benefit "coupon": a campaign run gives every non-hold-out recipient one coupon, set-based, once
per occurrence however often the step runs, while stock lasts."""

import pytest

from campaigns import services
from coupons.models import Coupon
from coupons.services import coupons_audit
from tests.campaigns.scenes import percent_coupon_template, run_now
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_a_campaign_gives_its_coupon_once_per_occurrence_while_stock_lasts(in_brand_a, make_campaign):
    members = MemberFactory.create_batch(4)
    template = percent_coupon_template(stock_total=3)
    occurrence = run_now(make_campaign(bonus_points=0, coupon_template=template))
    services._step_coupons(occurrence)  # a resumed run repeating the step
    holders = set(Coupon.objects.filter(template=template).values_list("member_id", flat=True))
    assert holders == {m.pk for m in members[:3]}
    summary = occurrence.summary["coupons"]
    assert (summary["issued_now"], summary["out_of_stock"]) == (3, 1)
    assert coupons_audit() == []
