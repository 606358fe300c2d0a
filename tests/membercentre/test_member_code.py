"""The member code (会员码): rotating, unguessable, bound to member and brand, audited when
resolved, single-use for anything that moves value."""

import datetime as dt
import math

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from crm.errors import AppError
from membercentre.models import MemberCode, MemberCodeResolution
from membercentre.services import codes
from membercentre.services.codes import (
    MEMBER_CODE_DIGITS,
    MEMBER_CODE_TTL,
    MISS_LIMIT,
    member_code_consume,
    member_code_entropy_bits,
    member_code_issue,
    member_code_resolve,
)
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
WORKBENCH = MemberCodeResolution.Via.WORKBENCH


def refused(call, **kwargs) -> AppError:
    with pytest.raises(AppError) as caught:
        call(**kwargs)
    return caught.value


def test_a_code_is_18_digits_valid_at_most_60_seconds_and_only_its_digest_is_stored(in_brand_a):
    member = MemberFactory()
    issued = member_code_issue(member_id=member.pk)

    assert issued.code.isdigit() and len(issued.code) == 18
    assert issued.expires_at - timezone.now() <= dt.timedelta(seconds=60)
    row = MemberCode.objects.get(member=member)
    assert issued.code not in row.digest and len(row.digest) == 64
    assert member_code_resolve(code=issued.code, via=WORKBENCH, actor="staff:li") == member


def test_resolving_is_audited_who_which_member_when(in_brand_a):
    member = MemberFactory()
    issued = member_code_issue(member_id=member.pk)

    member_code_resolve(code=issued.code, via=WORKBENCH, actor="staff:li")

    audit = MemberCodeResolution.objects.get()
    assert (audit.member, audit.actor, audit.via, audit.purpose) == (member, "staff:li", "workbench", "identify")
    assert abs((audit.resolved_at - timezone.now()).total_seconds()) < 5


def test_an_expired_code_is_refused_with_a_clear_message(in_brand_a):
    issued = member_code_issue(member_id=MemberFactory().pk)

    with time_machine.travel(timezone.now() + MEMBER_CODE_TTL + dt.timedelta(seconds=1), tick=False):
        error = refused(member_code_resolve, code=issued.code, via=WORKBENCH, actor="staff:li")
    assert error.code == "member_code_expired" and error.status == 410 and "过期" in error.message


def test_consume_moves_value_once_and_a_retry_with_the_same_reference_is_harmless(in_brand_a):
    member = MemberFactory()
    issued = member_code_issue(member_id=member.pk)

    assert member_code_consume(code=issued.code, via=WORKBENCH, actor="pos", reference="R-1") == member
    assert member_code_consume(code=issued.code, via=WORKBENCH, actor="pos", reference="R-1") == member
    error = refused(member_code_consume, code=issued.code, via=WORKBENCH, actor="pos", reference="R-2")
    assert error.code == "member_code_used" and error.status == 409
    # and a used code identifies no one any more: a screenshot of it does nothing
    assert refused(member_code_resolve, code=issued.code, via=WORKBENCH, actor="pos").code == "member_code_used"
    assert MemberCodeResolution.objects.filter(purpose="consume").count() == 1


def test_a_frozen_members_code_is_refused(in_brand_a):
    member = MemberFactory()
    issued = member_code_issue(member_id=member.pk)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)

    assert (
        refused(member_code_resolve, code=issued.code, via=WORKBENCH, actor="x").code
        == "member_centre_member_not_active"
    )


def test_a_code_of_brand_a_is_unknown_on_brand_b(brand_a, brand_b):
    connection.set_tenant(brand_a)
    issued = member_code_issue(member_id=MemberFactory().pk)
    connection.set_tenant(brand_b)
    try:
        error = refused(member_code_resolve, code=issued.code, via=WORKBENCH, actor="staff:b")
        assert error.code == "member_code_invalid" and error.status == 404
    finally:
        connection.set_schema_to_public()


def test_the_code_space_makes_10000_guesses_hopeless():
    """Entropy, not luck: with every one of a million members holding a live code, 10,000 guesses
    hit one with probability ≤ 10,000 × 10^6 / 10^18 = 10^-8."""
    bits = member_code_entropy_bits()
    assert bits == pytest.approx(MEMBER_CODE_DIGITS * math.log2(10)) and bits > 59
    live_codes, guesses = 1_000_000, 10_000
    assert guesses * live_codes / 10**MEMBER_CODE_DIGITS <= 1e-8
    # and codes come from the operating system's CSPRNG (secrets), not from `random`
    with open(codes.__file__, encoding="utf-8") as source:
        assert "secrets.randbelow" in source.read()


def test_the_limiter_stops_a_guesser_before_10000_guesses_whatever_it_sends_next(in_brand_a):
    member = MemberFactory()
    live = member_code_issue(member_id=member.pk)
    wrong = f"{(int(live.code) + 1) % 10**18:018d}"
    for _ in range(MISS_LIMIT):
        assert refused(member_code_resolve, code=wrong, via=WORKBENCH, actor="api:pos").code == "member_code_invalid"

    error = refused(member_code_resolve, code=live.code, via=WORKBENCH, actor="api:pos")
    assert error.code == "member_code_throttled" and error.status == 429
    # another caller is not locked out by this one
    assert member_code_resolve(code=live.code, via=WORKBENCH, actor="api:other") == member
    # a guesser gets at most MISS_LIMIT guesses per minute: 10,000 guesses take ≥ 8 hours
    assert 10_000 / MISS_LIMIT >= 500
