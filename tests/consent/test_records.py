"""Consent records: append-only proof; grant and withdraw through the services, any channel;
withdrawal takes effect at once and cancels what is queued; the state table agrees with the
history; the history answers "what had M agreed to at T"."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.hooks import ConsentRevoked, disconnect, on_withdraw
from consent.models import ConsentRecord, ConsentState, Purpose
from consent.selectors import consent_state_at, members_contactable
from consent.services import (
    consent_enrolment_validate,
    consent_grant,
    consent_member_merge,
    consent_state_audit,
    consent_state_repair,
    consent_withdraw,
    membership_version_current,
)
from consent.types import ConsentDecision, ConsentEvidence, GuardianConsent
from crm.errors import AppError
from members.models import Member
from tests.consent.conftest import ADMIN_EVIDENCE, enrolled
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db
SMS = Purpose.MARKETING_SMS


@pytest.fixture
def queued():
    """A stand-in for the campaigns outbox: handlers record what they were told to cancel."""
    events: list[tuple[set[int], tuple[str, ...], str]] = []

    def cancel(event: ConsentRevoked) -> None:
        events.append((set(event.member_ids), event.purposes, event.reason))

    on_withdraw(cancel)
    yield events
    disconnect(cancel)


def test_grant_records_who_how_and_against_which_version(agreements_a):
    member = enrolled()
    staff = StaffFactory()
    evidence = ConsentEvidence(channel="store", staff_id=staff.pk, ip="10.0.0.8", user_agent="iPhone")

    state = consent_grant(member_id=member.pk, purpose=SMS, evidence=evidence, actor="导购")

    record = ConsentRecord.objects.filter(member=member, purpose=SMS).latest("id")
    assert record.granted and record.version_id == agreements_a.marketing.pk and record.channel == "store"
    assert record.evidence == {"staff_id": staff.pk, "ip": "10.0.0.8", "user_agent": "iPhone"}
    assert state.effective and state.record_id == record.pk


def test_granting_twice_records_once(agreements_a):
    member = enrolled()
    for _ in range(2):
        consent_grant(member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="t")
    assert ConsentRecord.objects.filter(member=member, purpose=SMS, granted=True).count() == 1


def test_grant_against_an_outdated_version_is_refused_and_changes_nothing(agreements_a):
    member = enrolled()
    before = ConsentRecord.objects.count()

    with pytest.raises(AppError) as refused:
        consent_grant(
            member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="t", version_id=agreements_a.membership.pk
        )

    assert refused.value.code == "consent_version_not_current"
    assert ConsentRecord.objects.count() == before


def test_partner_grant_needs_the_brands_own_evidence(agreements_a):
    member = enrolled()
    with pytest.raises(AppError) as refused:
        consent_grant(member_id=member.pk, purpose=SMS, evidence=ConsentEvidence(channel="partner_api"), actor="t")
    assert refused.value.code == "consent_evidence_missing"
    assert not ConsentState.objects.filter(member=member, purpose=SMS, granted=True).exists()


def test_child_under_14_needs_a_guardian(agreements_a):
    child = enrolled(birthday=timezone.localdate() - dt.timedelta(days=365 * 10))

    with pytest.raises(AppError) as refused:
        consent_grant(member_id=child.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="t")
    assert refused.value.code == "consent_guardian_required"

    with_guardian = ConsentEvidence(channel="admin", guardian=GuardianConsent(name="王芳", relation="母亲"))
    assert consent_grant(member_id=child.pk, purpose=SMS, evidence=with_guardian, actor="t").effective


def test_enrolment_refuses_missing_membership_and_bundles_nothing(agreements_a):
    membership = membership_version_current()
    only_marketing = [ConsentDecision(purpose=SMS, granted=True, version_id=agreements_a.marketing.pk)]
    with pytest.raises(AppError) as refused:
        consent_enrolment_validate(decisions=only_marketing, evidence=ADMIN_EVIDENCE, birthday=None)
    assert refused.value.code == "consent_membership_required"

    # Refusing every optional purpose never blocks membership.
    decisions = [
        ConsentDecision(purpose=Purpose.MEMBERSHIP, granted=True, version_id=membership.pk),
        ConsentDecision(purpose=SMS, granted=False, version_id=agreements_a.marketing.pk),
    ]
    consent_enrolment_validate(decisions=decisions, evidence=ADMIN_EVIDENCE, birthday=None)


def test_withdrawal_takes_effect_at_once_and_cancels_what_is_queued(agreements_a, queued):
    member = enrolled(granted=[SMS])

    consent_withdraw(member_id=member.pk, purpose=SMS, evidence=ConsentEvidence(channel="member_page"), actor="会员")

    assert not members_contactable(purpose=SMS).filter(pk=member.pk).exists()
    assert queued == [({member.pk}, (SMS,), "withdrawn")]
    assert ConsentRecord.objects.filter(member=member, purpose=SMS).count() == 2  # grant + withdrawal, both kept


def test_withdrawing_what_was_never_granted_records_nothing(agreements_a, queued):
    member = enrolled()
    consent_withdraw(member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="t")
    assert ConsentRecord.objects.filter(member=member, purpose=SMS, granted=False).count() == 1  # the refusal
    assert queued == []


def test_a_failing_cancellation_rolls_the_withdrawal_back(agreements_a):
    member = enrolled(granted=[SMS])

    def broken(event: ConsentRevoked) -> None:
        raise RuntimeError("outbox unavailable")

    on_withdraw(broken)
    try:
        with pytest.raises(RuntimeError):
            consent_withdraw(member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="t")
    finally:
        disconnect(broken)

    # Neither half: the member is still granted and nothing was cancelled.
    assert members_contactable(purpose=SMS).filter(pk=member.pk).exists()
    assert consent_state_audit() == []


def test_material_version_notifies_the_affected_members(agreements_a, queued):
    from consent.models import Agreement
    from tests.consent.conftest import MARKETING, publish

    granted, refused = enrolled(granted=[SMS]), enrolled()
    publish(Agreement.objects.get(code="marketing"), purposes=MARKETING, material=True)

    assert len(queued) == 1
    member_ids, purposes, reason = queued[0]
    assert granted.pk in member_ids and refused.pk not in member_ids
    assert SMS in purposes and reason == "reconsent_required"


def test_records_are_append_only_in_the_database(agreements_a):
    member = enrolled(granted=[SMS])
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentRecord.objects.filter(member=member).update(granted=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentRecord.objects.filter(member=member).delete()


def test_state_at_answers_what_was_agreed_at_any_moment(agreements_a):
    member = enrolled(granted=[SMS])
    granted_at = timezone.now()
    consent_withdraw(member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="t")

    assert consent_state_at(member=member, at=granted_at)[SMS].effective
    assert not consent_state_at(member=member)[SMS].granted
    assert consent_state_at(member=member, at=granted_at - dt.timedelta(days=1)) == {}


def test_audit_finds_a_state_table_that_disagrees_with_the_history_and_repair_fixes_it(agreements_a):
    member = enrolled(granted=[SMS])
    assert consent_state_audit() == []

    ConsentState.objects.filter(member=member, purpose=SMS).update(granted=False)  # simulated drift
    assert [(m.member_id, m.purpose) for m in consent_state_audit()] == [(member.pk, SMS)]

    assert consent_state_repair() == 1
    assert consent_state_audit() == []
    assert members_contactable(purpose=SMS).filter(pk=member.pk).exists()


def test_merge_carries_the_more_recent_decisions_to_the_survivor(agreements_a):
    survivor = enrolled()
    merged = enrolled(granted=[SMS])  # decided later than the survivor

    consent_member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor="t")
    Member.objects.filter(pk=merged.pk).update(merged_into=survivor)

    assert set(members_contactable(purpose=SMS).values_list("pk", flat=True)) == {survivor.pk}
    copy = ConsentRecord.objects.filter(member=survivor, purpose=SMS).latest("id")
    assert copy.evidence["merged_from_member"] == merged.pk
    assert consent_state_audit() == []


def test_erased_or_merged_member_cannot_be_granted(agreements_a):
    member = MemberFactory(status=Member.Status.ERASED)
    with pytest.raises(AppError) as refused:
        consent_grant(member_id=member.pk, purpose=SMS, evidence=ADMIN_EVIDENCE, actor="t")
    assert refused.value.code == "consent_member_not_active"
