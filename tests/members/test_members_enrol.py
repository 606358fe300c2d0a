"""member_enroll: one person, one member, with their own consent — in one transaction."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from consent.models import ConsentRecord
from consent.types import ConsentEvidence, GuardianConsent
from crm.errors import AppError, Conflict
from members import error_codes
from members.models import Identity, IdentityKind, Member, MemberAssignment, TierChange
from members.selectors import member_lookup
from members.services.members import IdentityInput, member_enroll
from tests.factories import StaffFactory, TierFactory

from .conftest import decisions_for, membership_version_ensure


def test_enrol_creates_member_identities_assignment_and_consent(enrol, staff_a, agreement_version_a):
    member = enrol(
        name="张三",
        mobile="+86 138-1234-1234",
        birthday=dt.date(1990, 5, 12),
        identities=[IdentityInput(kind=IdentityKind.WECHAT_UNIONID, value=" union-1 ")],
        decisions=decisions_for(agreement_version_a, marketing_sms=True),
        source="qr-spring",
    )

    member.refresh_from_db()
    assert member.member_no.startswith("M") and len(member.member_no) == 9
    assert member.mobile == "+8613812341234"
    assert member.home_store == staff_a.store
    assert member.assigned_staff == staff_a
    assert member.enrolled_by == staff_a
    assert member.lifecycle_stage == Member.Lifecycle.INTEREST
    assert member.source == "qr-spring"
    assert set(member.identities.values_list("kind", "value")) == {
        ("mobile", "+8613812341234"),
        ("wechat_unionid", "union-1"),
    }
    assignment = MemberAssignment.objects.get(member=member)
    assert (assignment.to_staff, assignment.reason) == (staff_a, MemberAssignment.Reason.ENROLMENT)
    consents = dict(ConsentRecord.objects.filter(member=member).values_list("purpose", "granted"))
    # Refusals are recorded too: they are proof of what the person decided.
    assert consents == {"membership": True, "marketing_sms": True, "marketing_wecom": False}


def test_member_numbers_are_unique_and_increasing(enrol):
    first, second = enrol(), enrol()
    assert first.member_no != second.member_no
    assert int(second.member_no[1:]) > int(first.member_no[1:])


def test_enrol_assigns_the_entry_tier_and_records_it(enrol):
    entry = TierFactory(code="normal", name="普通会员", rank=1, threshold=0)
    TierFactory(code="gold", name="金卡", rank=2, threshold=100_000)
    member = enrol()
    assert member.tier == entry
    assert TierChange.objects.filter(member=member, reason=TierChange.Reason.ENROLMENT, to_tier=entry).exists()


def test_retried_enrolment_of_the_same_person_is_a_conflict_naming_the_member(enrol):
    member = enrol(mobile="13900001111")
    before = Member.objects.count()

    with pytest.raises(Conflict) as caught:
        enrol(mobile="139 0000 1111", name="另一个名字")

    assert caught.value.code == error_codes.MEMBER_ALREADY_ENROLLED
    assert caught.value.extra["member_no"] == member.member_no
    assert member.member_no in caught.value.message
    assert Member.objects.count() == before


def test_an_identity_bound_elsewhere_blocks_enrolment_and_writes_nothing(enrol):
    owner = enrol(identities=[(IdentityKind.TMALL_OUID, "ouid-9")])
    members_before, identities_before = Member.objects.count(), Identity.objects.count()
    consents_before = ConsentRecord.objects.count()

    with pytest.raises(Conflict) as caught:
        enrol(mobile="13700000000", identities=[(IdentityKind.TMALL_OUID, "ouid-9")])

    assert caught.value.extra["member_no"] == owner.member_no
    assert (Member.objects.count(), Identity.objects.count()) == (members_before, identities_before)
    assert ConsentRecord.objects.count() == consents_before


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"mobile": "12345"}, error_codes.MOBILE_INVALID, "mobile"),
        ({"mobile": "010-12345678"}, error_codes.MOBILE_INVALID, "mobile"),  # a fixed line
        ({"mobile": "", "identities": []}, error_codes.IDENTITY_INVALID, "mobile"),
        ({"identities": [("qq", "123")]}, error_codes.IDENTITY_INVALID, "kind"),
        ({"identities": [(IdentityKind.POS_CARD, "  ")]}, error_codes.IDENTITY_INVALID, "value"),
        ({"identities": [(IdentityKind.POS_CARD, "x" * 129)]}, error_codes.IDENTITY_INVALID, "value"),
        ({"gender": "other"}, error_codes.MEMBER_INVALID, "gender"),
        ({"birthday": dt.date(2999, 1, 1)}, error_codes.MEMBER_INVALID, "birthday"),
        ({"name": "名" * 51}, error_codes.MEMBER_INVALID, "name"),
        ({"channel": "ebay"}, error_codes.MEMBER_INVALID, "channel"),
    ],
)
def test_bad_input_is_refused_with_a_field_error_and_nothing_written(enrol, overrides, code, field):
    before = (Member.objects.count(), Identity.objects.count(), ConsentRecord.objects.count())
    with pytest.raises(AppError) as caught:
        enrol(**overrides)
    assert caught.value.code == code
    assert field in caught.value.fields
    assert (Member.objects.count(), Identity.objects.count(), ConsentRecord.objects.count()) == before


def test_resigned_staff_cannot_enrol(enrol, staff_a):
    staff_a.status = "resigned"
    staff_a.resigned_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    staff_a.save()
    with pytest.raises(AppError) as caught:
        enrol()
    assert caught.value.code == error_codes.STAFF_INVALID


def test_consent_gate_runs_first_membership_refused_means_no_member(enrol, agreement_version_a):
    before = Member.objects.count()
    with pytest.raises(AppError) as caught:
        enrol(decisions=decisions_for(agreement_version_a, membership=False))
    assert caught.value.code == "consent_membership_required"
    assert Member.objects.count() == before


def test_under_14_needs_a_guardian(enrol, staff_a):
    today = timezone.localdate()
    child = today.replace(year=today.year - 10, day=min(today.day, 28))
    with pytest.raises(AppError) as caught:
        enrol(birthday=child)
    assert caught.value.code == "consent_guardian_required"

    member = enrol(
        birthday=child,
        evidence=ConsentEvidence(
            channel="store", staff_id=staff_a.pk, guardian=GuardianConsent(name="李母", relation="母亲")
        ),
    )
    assert member.birthday == child


def test_a_failure_after_the_member_row_rolls_everything_back(enrol, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("consent store down")

    monkeypatch.setattr("members.services.members.consent_enrolment_record", broken)
    before = (Member.objects.count(), Identity.objects.count(), MemberAssignment.objects.count())
    with pytest.raises(RuntimeError):
        enrol(mobile="13600000001")
    assert (Member.objects.count(), Identity.objects.count(), MemberAssignment.objects.count()) == before


def test_enrolment_without_staff_takes_no_assignment(enrol, agreement_version_a, store_a):
    member = enrol(
        staff=None,
        home_store=store_a,
        channel="mini_program",
        evidence=ConsentEvidence(channel="member_page", ip="10.0.0.1"),
    )
    assert member.assigned_staff is None
    assert not MemberAssignment.objects.filter(member=member).exists()
    assert member.enrolled_channel == "mini_program"


def test_members_are_isolated_between_brands(enrol, brand_b):
    member = enrol(mobile="13512345678")
    connection.set_tenant(brand_b)
    assert not Member.objects.filter(member_no=member.member_no).exists()
    assert member_lookup(kind="mobile", value="13512345678") is None

    # The same person may join brand B too: identities are unique per brand, not globally.
    version = membership_version_ensure()
    staff = StaffFactory()
    other = member_enroll(
        name="同一人",
        mobile="13512345678",
        decisions=decisions_for(version),
        evidence=ConsentEvidence(channel="store", staff_id=staff.pk),
        staff=staff,
        actor="test",
    )
    assert member_lookup(kind="mobile", value="+8613512345678") == other
