"""Consent test scenes: agreements for every purpose published in a brand, and members whose
consents were given through the services (never written directly)."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict

import pytest

from consent.models import Agreement, AgreementVersion, Purpose
from consent.services import (
    agreement_create,
    agreement_version_draft_save,
    agreement_version_publish,
    consent_enrolment_record,
    membership_version_current,
    purpose_version_current,
)
from consent.types import ConsentDecision, ConsentEvidence
from members.models import Member
from tests.factories import MemberFactory

ADMIN_EVIDENCE = ConsentEvidence(channel="admin")
MARKETING = [
    Purpose.MARKETING_SMS,
    Purpose.MARKETING_WECOM,
    Purpose.MARKETING_PHONE,
    Purpose.PERSONALISED_MARKETING,
]


@dataclass(frozen=True)
class Agreements:
    membership: AgreementVersion
    marketing: AgreementVersion
    third_party: AgreementVersion


def publish(
    agreement: Agreement, *, purposes: Iterable[str], material: bool = False, text: str = "", **extra: object
) -> AgreementVersion:
    draft = agreement_version_draft_save(
        agreement_id=agreement.pk,
        text=text or f"{agreement.title} 正文",
        purposes=list(purposes),
        material_change=material,
        **extra,  # type: ignore[arg-type]
    )
    return agreement_version_publish(version_id=draft.pk, actor="tester")


class ThirdParty(TypedDict):
    recipient: str
    recipient_purpose: str
    data_categories: list[str]


THIRD_PARTY: ThirdParty = {
    "recipient": "上海某某物流有限公司",
    "recipient_purpose": "配送会员礼品",
    "data_categories": ["姓名", "手机号", "收货地址"],
}


def publish_all() -> Agreements:
    """Marketing and third-party agreements next to the template membership agreement that the
    migration gave the brand."""
    marketing = agreement_create(code="marketing", kind=Agreement.Kind.MARKETING, title="营销授权")
    third = agreement_create(code="share", kind=Agreement.Kind.THIRD_PARTY, title="第三方共享")
    membership = membership_version_current()
    assert membership is not None
    return Agreements(
        membership=membership,
        marketing=publish(marketing, purposes=MARKETING),
        third_party=publish(third, purposes=[Purpose.THIRD_PARTY_SHARE], **THIRD_PARTY),
    )


@pytest.fixture
def agreements_a(in_brand_a) -> Agreements:
    return publish_all()


def enrolled(*, granted: Iterable[str] = (), **member_fields: object) -> Member:
    """A member enrolled with membership plus `granted`; every other purpose refused."""
    member = MemberFactory.create(**member_fields)
    granted = {Purpose.MEMBERSHIP, *granted}
    decisions = []
    for purpose in Purpose.values:
        version = purpose_version_current(purpose=purpose)
        if version is not None:
            decisions.append(ConsentDecision(purpose=purpose, granted=purpose in granted, version_id=version.pk))
    consent_enrolment_record(member_id=member.pk, decisions=decisions, evidence=ADMIN_EVIDENCE, actor="tester")
    return member
