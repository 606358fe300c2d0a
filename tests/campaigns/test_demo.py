"""The demo brand's campaigns: a past member day with results and a hold-out, a draft to publish."""

import pytest

from campaigns import demo
from campaigns.models import Campaign, Occurrence
from campaigns.selectors import occurrence_results
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_past_member_day_with_results_and_is_idempotent(in_brand_a):
    MemberFactory.create_batch(30)

    demo.seed()
    demo.seed()

    past = Campaign.objects.get(name=demo.PAST_MEMBER_DAY)
    (occurrence,) = Occurrence.objects.filter(campaign=past)
    results = occurrence_results(occurrence)
    assert past.status == Campaign.Status.FINISHED and occurrence.status == Occurrence.Status.DONE
    assert results.holdout.members > 0 and results.audience.members + results.holdout.members == 30
    assert Campaign.objects.get(name=demo.NEXT_MEMBER_DAY).status == Campaign.Status.DRAFT
