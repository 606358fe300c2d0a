"""Property: whatever happens — grants, withdrawals, new agreement versions (material or not),
freezing — `members_contactable` (from the current-state table, and from the history with `at`)
agrees with a brute-force reading of the events, and the state table agrees with the history."""

import datetime as dt
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.models import Agreement, Purpose
from consent.selectors import members_contactable
from consent.services import (
    consent_grant,
    consent_state_audit,
    consent_withdraw,
    membership_version_current,
    purpose_version_current,
)
from members.models import Member
from tests.consent.conftest import ADMIN_EVIDENCE, THIRD_PARTY, publish, publish_all
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

PURPOSES: dict[str, str] = {
    Purpose.MEMBERSHIP: "membership",
    Purpose.MARKETING_SMS: "marketing",
    Purpose.MARKETING_WECOM: "marketing",
    Purpose.THIRD_PARTY_SHARE: "share",
}
MEMBERS = 3

events = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(0, MEMBERS - 1), st.sampled_from(list(PURPOSES))),
        st.tuples(st.just("withdraw"), st.integers(0, MEMBERS - 1), st.sampled_from(list(PURPOSES))),
        st.tuples(st.just("version"), st.sampled_from(["membership", "marketing", "share"]), st.booleans()),
        st.tuples(st.just("freeze"), st.integers(0, MEMBERS - 1), st.booleans()),
    ),
    max_size=14,
)


@dataclass
class Model:
    """The brute-force reading: per agreement its version number and the latest version that
    required re-consent; per (member, purpose) the version number granted under, or None."""

    version: dict[str, int] = field(default_factory=lambda: {"membership": 1, "marketing": 1, "share": 1})
    material_since: dict[str, int] = field(default_factory=lambda: {"membership": 0, "marketing": 0, "share": 0})
    granted: dict[tuple[int, str], int | None] = field(default_factory=dict)
    frozen: set[int] = field(default_factory=set)

    def effective(self, member: int, purpose: str) -> bool:
        under = self.granted.get((member, purpose))
        return under is not None and under >= self.material_since[PURPOSES[purpose]]

    def consented(self, purpose: str) -> set[int]:
        return {m for m in range(MEMBERS) if self.effective(m, purpose) and self.effective(m, Purpose.MEMBERSHIP)}

    def contactable(self, purpose: str) -> set[int]:
        return self.consented(purpose) - self.frozen


def _tick() -> dt.datetime:
    """A moment strictly after everything recorded so far and before anything recorded next."""
    now = timezone.now()
    while timezone.now() <= now:
        pass
    return now


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=events)
def test_selector_agrees_with_the_history(in_brand_a, sequence):
    with transaction.atomic():
        publish_all()
        agreements = {a.code: a for a in Agreement.objects.all()}
        assert membership_version_current().version == 1
        members = [MemberFactory() for _ in range(MEMBERS)]
        model = Model()
        snapshots = []
        for event in sequence:
            kind, subject, detail = event
            if kind == "grant":
                consent_grant(member_id=members[subject].pk, purpose=detail, evidence=ADMIN_EVIDENCE, actor="t")
                model.granted[(subject, detail)] = model.version[PURPOSES[detail]]
            elif kind == "withdraw":
                consent_withdraw(member_id=members[subject].pk, purpose=detail, evidence=ADMIN_EVIDENCE, actor="t")
                model.granted[(subject, detail)] = None
            elif kind == "version":
                # The same purposes as the version in force, and for sharing the same recipient,
                # purpose and data categories: whether members must re-consent is then the
                # `material` flag's doing alone (a changed purpose set or, for sharing, a changed
                # recipient always requires it — agreements.reconsent_purposes_for).
                in_force = purpose_version_current(purpose=next(p for p, code in PURPOSES.items() if code == subject))
                purposes = list(in_force.purposes)
                extra = THIRD_PARTY if subject == "share" else {}
                publish(agreements[subject], purposes=purposes, material=detail, **extra)
                model.version[subject] += 1
                if detail:
                    model.material_since[subject] = model.version[subject]
            else:
                status = Member.Status.FROZEN if detail else Member.Status.ACTIVE
                Member.objects.filter(pk=members[subject].pk).update(status=status)
                (model.frozen.add if detail else model.frozen.discard)(subject)
            snapshots.append((_tick(), {p: model.consented(p) for p in PURPOSES}))

        ids = {member.pk: index for index, member in enumerate(members)}
        for purpose in PURPOSES:
            now = {ids[pk] for pk in members_contactable(purpose=purpose).values_list("pk", flat=True)}
            assert now == model.contactable(purpose), (purpose, sequence)
        # The history answers for any past moment; the status is today's (no status history is
        # kept), so whoever is frozen now is excluded whatever the moment.
        for at, expected in snapshots:
            for purpose in PURPOSES:
                then = {ids[pk] for pk in members_contactable(purpose=purpose, at=at).values_list("pk", flat=True)}
                assert then == expected[purpose] - model.frozen, (purpose, sequence)
        assert consent_state_audit() == []
        transaction.set_rollback(True)
