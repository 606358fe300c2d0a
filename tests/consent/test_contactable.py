"""members_contactable is the one answer to "may we contact this member for this purpose"."""

import pytest
from django.utils import timezone

from consent.models import Agreement, Purpose
from consent.selectors import members_contactable
from consent.services import consent_grant, consent_state_audit, consent_withdraw
from members.models import Member
from tests.consent.conftest import ADMIN_EVIDENCE, MARKETING, enrolled, publish
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

SMS = Purpose.MARKETING_SMS


def contactable(purpose: str = SMS, **kwargs) -> set[int]:
    return set(members_contactable(purpose=purpose, **kwargs).values_list("pk", flat=True))


def test_granted_member_is_contactable_and_others_are_not(agreements_a):
    granted = enrolled(granted=[SMS])
    refused = enrolled()
    never_asked = MemberFactory()

    assert contactable() == {granted.pk}
    assert refused.pk not in contactable() and never_asked.pk not in contactable()
    assert contactable(Purpose.MARKETING_WECOM) == set()


def test_withdrawn_member_is_never_returned(agreements_a):
    member = enrolled(granted=[SMS, Purpose.MARKETING_WECOM])

    consent_withdraw(member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="tester")

    assert member.pk not in contactable()
    assert member.pk in contactable(Purpose.MARKETING_WECOM)  # each purpose is its own decision


def test_withdrawing_membership_stops_every_purpose(agreements_a):
    member = enrolled(granted=[SMS])

    consent_withdraw(member_id=member.pk, purpose=Purpose.MEMBERSHIP, evidence=ADMIN_EVIDENCE, actor="tester")

    assert member.pk not in contactable()


@pytest.mark.parametrize(
    "status_change",
    [
        {"status": Member.Status.FROZEN},
        {"status": Member.Status.ERASED, "erased_at": timezone.now()},
    ],
    ids=["frozen", "erased"],
)
def test_frozen_and_erased_members_are_never_returned(agreements_a, status_change):
    member = enrolled(granted=[SMS])
    Member.objects.filter(pk=member.pk).update(**status_change)

    assert member.pk not in contactable()
    assert member.pk not in contactable(at=timezone.now())


def test_merged_member_is_never_returned(agreements_a):
    survivor = enrolled(granted=[SMS])
    merged = enrolled(granted=[SMS])
    Member.objects.filter(pk=merged.pk).update(merged_into=survivor)

    assert contactable() == {survivor.pk}


def test_material_new_version_needs_reconsent_until_granted_again(agreements_a):
    member = enrolled(granted=[SMS])
    marketing = Agreement.objects.get(code="marketing")

    v2 = publish(marketing, purposes=MARKETING, material=True, text="营销授权 v2：新增按消费偏好推送")

    assert member.pk not in contactable()
    assert set(v2.reconsent_purposes) == set(MARKETING)
    consent_grant(member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="tester", version_id=v2.pk)
    assert member.pk in contactable()
    assert consent_state_audit() == []


def test_non_material_new_version_keeps_consent(agreements_a):
    member = enrolled(granted=[SMS])

    v2 = publish(Agreement.objects.get(code="marketing"), purposes=MARKETING, text="营销授权（修正错别字）")

    assert v2.reconsent_purposes == []
    assert member.pk in contactable()


def test_changed_purposes_flag_the_shared_ones(agreements_a):
    member = enrolled(granted=[SMS, Purpose.MARKETING_PHONE])

    v2 = publish(Agreement.objects.get(code="marketing"), purposes=[SMS, Purpose.MARKETING_WECOM])

    assert set(v2.reconsent_purposes) == set(MARKETING)  # phone dropped, the others' terms changed
    assert member.pk not in contactable() and member.pk not in contactable(Purpose.MARKETING_PHONE)


def test_third_party_recipient_change_is_always_material(agreements_a):
    member = enrolled(granted=[Purpose.THIRD_PARTY_SHARE])

    publish(
        Agreement.objects.get(code="share"),
        purposes=[Purpose.THIRD_PARTY_SHARE],
        recipient="另一家物流公司",
        recipient_purpose="配送会员礼品",
        data_categories=["姓名", "手机号", "收货地址"],
    )

    assert member.pk not in contactable(Purpose.THIRD_PARTY_SHARE)


def test_at_reads_the_history(agreements_a):
    member = enrolled(granted=[SMS])
    before_withdrawal = timezone.now()

    consent_withdraw(member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="tester")

    assert member.pk in contactable(at=before_withdrawal)
    assert member.pk not in contactable(at=timezone.now())


def test_selector_is_one_statement_whatever_the_audience(agreements_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        enrolled(granted=[SMS])
    with CaptureQueriesContext(connection) as queries:
        assert len(list(members_contactable(purpose=SMS))) == 3
    # django-tenants may (re)set the search_path first; the reading itself is one SELECT.
    statements = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
    assert len(statements) == 1 and statements[0].startswith("SELECT")


def test_each_brand_sees_only_its_own_members(agreements_a, brand_b):
    from django.db import connection

    member_a = enrolled(granted=[SMS])
    connection.set_tenant(brand_b)

    assert not members_contactable(purpose=SMS).filter(member_no=member_a.member_no).exists()
    assert members_contactable(purpose=SMS).count() == 0
