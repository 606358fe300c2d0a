"""Fixtures for the members-core tests: a current membership agreement, an `enrol` helper that
goes through the real service with real consent decisions, and back-office users per role."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from consent.models import Agreement, AgreementVersion
from consent.types import ConsentDecision, ConsentEvidence
from members.models import Member, Staff, Store
from members.services.members import member_enroll
from tests.factories import StaffFactory, StoreFactory

PURPOSES = ["membership", "marketing_sms", "marketing_wecom"]
STAFF_PASSWORD = "Staff-Test-2026"


def membership_version_ensure() -> AgreementVersion:
    """The brand's membership agreement with a current version listing the marketing purposes
    too (reusing the template agreement the consent app's data migration gives every brand)."""
    agreement, _ = Agreement.objects.get_or_create(
        code="membership", defaults={"kind": Agreement.Kind.MEMBERSHIP, "title": "会员协议与隐私政策"}
    )
    current = agreement.versions.filter(published_at__isnull=False).order_by("-version").first()
    if current is not None and set(PURPOSES) <= set(current.purposes):
        return current
    now = timezone.now()
    return AgreementVersion.objects.create(
        agreement=agreement,
        version=(current.version + 1) if current else 1,
        text="会员协议（测试）",
        purposes=PURPOSES,
        effective_at=now,
        published_at=now,
    )


def decisions_for(version: AgreementVersion, **granted: bool) -> list[ConsentDecision]:
    """membership granted unless said otherwise; marketing refused unless granted."""
    return [
        ConsentDecision(purpose=purpose, granted=granted.get(purpose, purpose == "membership"), version_id=version.pk)
        for purpose in PURPOSES
    ]


@pytest.fixture
def agreement_version_a(in_brand_a: Any) -> AgreementVersion:
    return membership_version_ensure()


@pytest.fixture
def store_a(in_brand_a: Any) -> Store:
    return StoreFactory.create(code="SH001", name="上海静安店", city="上海")


@pytest.fixture
def staff_a(store_a: Store) -> Staff:
    return StaffFactory.create(store=store_a, name="王导购", wecom_userid="wang")


@pytest.fixture
def enrol(agreement_version_a: AgreementVersion, staff_a: Staff) -> Callable[..., Member]:
    """Enrol through the service; keyword arguments override the defaults."""
    counter = iter(range(10_000))

    def _enrol(**overrides: Any) -> Member:
        n = next(counter)
        staff = overrides.pop("staff", staff_a)
        arguments: dict[str, Any] = {
            "name": f"李{n}",
            "mobile": f"139{n:08d}",
            "gender": Member.Gender.FEMALE,
            "birthday": None,
            "home_store": staff.store if staff else None,
            "identities": [],
            "decisions": decisions_for(agreement_version_a),
            "evidence": ConsentEvidence(channel="store", staff_id=staff.pk if staff else None),
            "staff": staff,
            "actor": "test",
        }
        arguments.update(overrides)
        return member_enroll(**arguments)

    return _enrol


def staff_user_create(*, store: Store | None, role: str, username: str) -> Any:
    """A back-office login linked to a Staff row of `store`, in role group `role`."""
    user = get_user_model().objects.create_user(username=username, password=STAFF_PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    StaffFactory(store=store, name=username.split("@")[0], wecom_userid=f"wx-{username}", user=user)
    return user
