"""The demo brand's campaigns: a past member day with results and a hold-out, a draft to publish."""

import pytest

from campaigns import demo
from campaigns.models import Campaign, Occurrence
from campaigns.selectors import occurrence_results
from members.models import IdentityKind, Order
from tests.factories import IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_past_member_day_with_results_and_is_idempotent(in_brand_a):
    for member in MemberFactory.create_batch(60):
        IdentityFactory.create(member=member, kind=IdentityKind.MOBILE, value=member.mobile)

    demo.seed()
    orders = Order.objects.count()
    demo.seed()

    past = Campaign.objects.get(name=demo.PAST_MEMBER_DAY)
    (occurrence,) = Occurrence.objects.filter(campaign=past)
    results = occurrence_results(occurrence)
    assert past.status == Campaign.Status.FINISHED and occurrence.status == Occurrence.Status.DONE
    assert results.holdout.members > 0 and results.audience.members + results.holdout.members == 60
    assert Campaign.objects.get(name=demo.NEXT_MEMBER_DAY).status == Campaign.Status.DRAFT
    # Members bought on the day (in its window, as members), so the results have figures to read;
    # a second seed posted none again.
    assert results.audience.buyers > 0 and results.audience.gmv_fen > 0
    assert Order.objects.count() == orders
    day = Order.objects.filter(order_no__startswith="DEMO-MD-")
    assert day.count() == orders and not day.filter(member__isnull=True).exists()
    assert not day.exclude(paid_at__gte=occurrence.window_start, paid_at__lt=occurrence.window_end).exists()
