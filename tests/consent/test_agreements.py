"""Agreements: a brand provisioned with its contacts can enrol from day one; published versions
never change; third-party sharing names the recipient; the demo brand gets realistic agreements
for every purpose. (Brands without contacts, and template blanks: test_membership_agreement.py.)"""

import pytest
from django.db import IntegrityError, connection, transaction

from consent import demo
from consent.models import Agreement, AgreementVersion, ConsentRecord, ConsentState, Purpose
from consent.services import (
    agreement_create,
    agreement_version_draft_save,
    agreement_version_publish,
    consent_grant,
    membership_version_current,
    purpose_version_current,
)
from consent.types import ConsentEvidence
from crm.errors import AppError
from tests.conftest import BRAND_A, BRAND_B, brand_contacts
from tests.consent.conftest import THIRD_PARTY, publish
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("brand", "slug", "name"), [("in_brand_a", BRAND_A, "阿尔法咖啡"), ("in_brand_b", BRAND_B, "贝塔美妆")]
)
def test_a_brand_provisioned_with_its_contacts_starts_with_its_membership_agreement_published(
    brand, slug, name, request
):
    request.getfixturevalue(brand)
    current = membership_version_current()

    assert current is not None and current.version == 1 and current.is_published
    assert current.purposes == [Purpose.MEMBERSHIP]
    # PIPL art. 17: the text names the processor and how to reach it, with no template blank left.
    contacts = brand_contacts(slug)
    assert f"本协议由{name}" in current.text
    assert contacts["contact_address"] in current.text and contacts["pi_contact"] in current.text
    assert "【" not in current.text and "】" not in current.text and "模板" not in current.text


def test_published_version_cannot_be_edited_by_the_service(in_brand_a):
    current = membership_version_current()
    published_text = current.text

    with pytest.raises(AppError) as refused:
        agreement_version_draft_save(
            agreement_id=current.agreement_id, version_id=current.pk, text="改过的", purposes=[Purpose.MEMBERSHIP]
        )

    assert refused.value.code == "consent_version_published"
    current.refresh_from_db()
    assert current.text == published_text


def test_published_version_cannot_be_changed_or_deleted_in_the_database(in_brand_a):
    current = membership_version_current()

    with pytest.raises(IntegrityError), transaction.atomic():
        AgreementVersion.objects.filter(pk=current.pk).update(text="偷偷改掉")
    with pytest.raises(IntegrityError), transaction.atomic():
        AgreementVersion.objects.filter(pk=current.pk).delete()


def test_draft_can_be_edited_until_published(in_brand_a):
    agreement = agreement_create(code="marketing", kind=Agreement.Kind.MARKETING, title="营销授权")
    draft = agreement_version_draft_save(agreement_id=agreement.pk, text="初稿", purposes=[Purpose.MARKETING_SMS])

    edited = agreement_version_draft_save(
        agreement_id=agreement.pk, version_id=draft.pk, text="定稿", purposes=[Purpose.MARKETING_SMS]
    )
    published = agreement_version_publish(version_id=draft.pk, actor="tester")

    assert edited.text == "定稿" and published.is_published and published.published_by == "tester"
    assert purpose_version_current(purpose=Purpose.MARKETING_SMS) == published
    assert agreement_version_publish(version_id=draft.pk, actor="again").published_by == "tester"  # retry: no-op


@pytest.mark.parametrize("missing", ["recipient", "recipient_purpose", "data_categories"])
def test_third_party_sharing_must_name_recipient_purpose_and_categories(in_brand_a, missing):
    agreement = agreement_create(code="share", kind=Agreement.Kind.THIRD_PARTY, title="第三方共享")
    fields = {**THIRD_PARTY, missing: [] if missing == "data_categories" else " "}

    with pytest.raises(AppError) as refused:
        agreement_version_draft_save(
            agreement_id=agreement.pk, text="共享", purposes=[Purpose.THIRD_PARTY_SHARE], **fields
        )

    assert missing in refused.value.fields
    assert not AgreementVersion.objects.filter(agreement=agreement).exists()


def test_a_purpose_belongs_to_one_agreement(in_brand_a):
    first = agreement_create(code="marketing", kind=Agreement.Kind.MARKETING, title="营销授权")
    publish(first, purposes=[Purpose.MARKETING_SMS])
    second = agreement_create(code="marketing2", kind=Agreement.Kind.MARKETING, title="另一份营销授权")
    draft = agreement_version_draft_save(agreement_id=second.pk, text="x", purposes=[Purpose.MARKETING_SMS])

    with pytest.raises(AppError):
        agreement_version_publish(version_id=draft.pk, actor="tester")
    draft.refresh_from_db()
    assert not draft.is_published


def test_membership_purpose_only_in_the_membership_agreement(in_brand_a):
    agreement = agreement_create(code="marketing", kind=Agreement.Kind.MARKETING, title="营销授权")
    with pytest.raises(AppError):
        agreement_version_draft_save(agreement_id=agreement.pk, text="x", purposes=[Purpose.MEMBERSHIP])


def test_demo_seed_publishes_every_purpose_idempotently(in_brand_a):
    demo.seed()
    demo.seed()

    membership = membership_version_current()
    assert membership.version == 2 and "悦禾茶饮" in membership.text and "【" not in membership.text
    assert membership.reconsent_purposes == []  # naming the brand is not a material change
    for purpose in Purpose.values:
        assert purpose_version_current(purpose=purpose) is not None, purpose
    sharing = purpose_version_current(purpose=Purpose.THIRD_PARTY_SHARE)
    assert sharing.recipient and sharing.recipient_purpose and sharing.data_categories
    assert AgreementVersion.objects.count() == 4
    assert connection.schema_name == "alpha"


ADMIN = ConsentEvidence(channel="admin")


def test_demo_consent_has_granted_withdrawn_and_never_asked_per_purpose(in_brand_a):
    """The demo spreads marketing consent over the three states a marketer meets, the same
    members on every run (a second seed records nothing)."""
    members = MemberFactory.create_batch(80)
    for member in members:
        consent_grant(
            member_id=member.pk, purpose=Purpose.MEMBERSHIP, evidence=ConsentEvidence(channel="admin"), actor="t"
        )

    demo.seed()
    records = ConsentRecord.objects.count()
    demo.seed()

    assert ConsentRecord.objects.count() == records
    for purpose in demo.WITHDRAWN_PCT:
        decided = dict(ConsentState.objects.filter(purpose=purpose).values_list("member_id", "granted"))
        granted = sum(decided.values())
        withdrawn = len(decided) - granted
        never = len(members) - len(decided)
        assert granted > 0 and withdrawn > 0 and never > 0, purpose
        # Every refusal here is a withdrawal: a grant came first.
        assert ConsentRecord.objects.filter(purpose=purpose, granted=False).count() == withdrawn
