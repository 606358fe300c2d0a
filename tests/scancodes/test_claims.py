"""Claims: the first claimant wins, inactive/revoked/expired codes grant nothing, wrong secrets
are refused and rate-limited, diversion alerts, caps, void with ledger reversal, tags."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from crm.errors import AppError
from members.models import Member, PointsEntry
from members.services.points import ledger_audit
from scancodes import claim_keys, error_codes
from scancodes.models import Claim, Code, DiversionAlert, Scan, Segment
from scancodes.services import (
    batch_revoke,
    claim_void,
    code_claim,
    code_verify,
    segment_create,
)
from tests.factories import MemberFactory

from .conftest import GUANGZHOU, HANGZHOU, ctx, secret


def _refused(code: str, call) -> AppError:
    with pytest.raises(AppError) as info:
        call()
    assert info.value.code == code, info.value
    return info.value


def test_a_claim_grants_the_skus_points_tags_the_member_and_logs_the_scan(batch, member):
    serial = batch.first_serial
    result = code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx(), count_scan=True)

    assert result.created and result.claim.status == Claim.Status.GRANTED
    assert result.claim.points == 15  # the SKU's own amount, not the campaign's default 10
    member.refresh_from_db()
    assert member.points_balance == 15
    assert PointsEntry.objects.get(member=member, reference=f"scan:{serial}").kind == PointsEntry.Kind.BONUS
    tags = set(member.member_tags.values_list("tag__name", flat=True))
    assert {"扫码·茶叶", "经销商·浙江经销商", "区域·浙江", "扫码活动·扫码有礼"} <= tags
    assert Scan.objects.filter(serial=serial, outcome=Scan.Outcome.CLAIMED, member_id=member.pk).exists()
    assert not DiversionAlert.objects.exists()  # scanned in 杭州, the dealer's region
    assert ledger_audit() == []


def test_a_second_member_is_told_already_claimed_and_the_first_gets_their_claim_back(batch, member):
    serial = batch.first_serial
    code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx())
    other = MemberFactory.create()
    _refused(
        error_codes.ALREADY_CLAIMED,
        lambda: code_claim(serial=serial, secret=secret(batch, serial), member=other, ctx=ctx()),
    )
    again = code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx())
    assert not again.created
    member.refresh_from_db()
    assert member.points_balance == 15
    assert Scan.objects.filter(serial=serial, outcome=Scan.Outcome.ALREADY, member_id=other.pk).exists()


def test_codes_outside_an_activated_segment_grant_nothing_and_say_so(batch, member):
    serial = batch.last_serial  # in the batch, not in the activated segment
    auth = code_verify(serial=serial, secret=secret(batch, serial), ctx=ctx())
    assert auth.state == "not_active"
    _refused(
        error_codes.CODE_NOT_ACTIVE,
        lambda: code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx()),
    )
    member.refresh_from_db()
    assert member.points_balance == 0
    assert Code.objects.get(serial=serial).claimed_member_id is None


def test_a_scheduled_activation_grants_only_from_its_time(batch, member):
    start = batch.first_serial + 40
    segment_create(
        batch=batch,
        first_serial=start,
        last_serial=start + 4,
        actor="a",
        activate=True,
        active_from=timezone.now() + dt.timedelta(hours=2),
        campaign=Segment.objects.first().campaign,
    )
    _refused(
        error_codes.CODE_NOT_ACTIVE,
        lambda: code_claim(serial=start, secret=secret(batch, start), member=member, ctx=ctx()),
    )
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3)):
        assert code_claim(serial=start, secret=secret(batch, start), member=member, ctx=ctx()).created


def test_a_revoked_batch_grants_nothing(batch, member):
    batch_revoke(batch=batch, actor="admin")
    serial = batch.first_serial
    _refused(
        error_codes.CODE_REVOKED,
        lambda: code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx()),
    )
    assert code_verify(serial=serial, secret=secret(batch, serial), ctx=ctx()).state == "revoked"
    member.refresh_from_db()
    assert member.points_balance == 0


def test_an_expired_batch_grants_nothing(batch, member):
    type(batch).objects.filter(pk=batch.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    serial = batch.first_serial
    _refused(
        error_codes.CODE_EXPIRED,
        lambda: code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx()),
    )


def test_overlapping_segments_are_refused(batch):
    _refused(
        error_codes.SEGMENT_INVALID,
        lambda: segment_create(
            batch=batch, first_serial=batch.first_serial + 5, last_serial=batch.first_serial + 45, actor="a"
        ),
    )


def test_a_guessed_secret_is_refused_and_the_limiter_then_refuses_even_the_right_one(batch, member, settings):
    settings.SCANCODES_FAILURES_PER_SERIAL = 5
    serial = batch.first_serial
    for n in range(5):
        _refused(error_codes.SECRET_INVALID, lambda n=n: code_verify(serial=serial, secret=f"GUESS{n:015d}", ctx=ctx()))
    error = _refused(
        error_codes.RATE_LIMITED,
        lambda: code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx()),
    )
    assert error.status == 429 and error.extra["retry_after"] == 900
    assert Scan.objects.filter(serial=serial, outcome=Scan.Outcome.BAD_SECRET).count() == 5
    assert Code.objects.get(serial=serial).claimed_member_id is None
    cache.clear()  # the window passes
    assert code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx()).created


def test_the_limiter_counts_wrong_secrets_per_ip_across_serials(batch, settings):
    settings.SCANCODES_FAILURES_PER_IP = 3
    for n in range(3):
        serial = batch.first_serial + n
        _refused(
            error_codes.SECRET_INVALID, lambda serial=serial: code_verify(serial=serial, secret="A" * 20, ctx=ctx())
        )
    other = batch.first_serial + 10
    _refused(error_codes.RATE_LIMITED, lambda: code_verify(serial=other, secret=secret(batch, other), ctx=ctx()))
    # Another network is not punished for it.
    assert code_verify(serial=other, secret=secret(batch, other), ctx=ctx(ip=GUANGZHOU)).state == "active"


def test_secrets_carry_100_bits_and_differ_per_code_and_per_batch_key(batch):
    assert claim_keys.SECRET_BITS >= 80
    key = claim_keys.batch_key_open(batch.key_encrypted)
    secrets = [claim_keys.secret_for(key, serial) for serial in range(batch.first_serial, batch.last_serial + 1)]
    assert len(set(secrets)) == len(secrets)
    assert all(len(s) == 20 and set(s) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for s in secrets)
    # Bits spread evenly: over 50 codes × 100 bits the share of ones is near a half.
    bits = "".join(f"{int.from_bytes(__import__('base64').b32decode(s + '===='), 'big'):0100b}"[-100:] for s in secrets)
    assert 0.45 < bits.count("1") / len(bits) < 0.55
    other_key, _ = claim_keys.batch_key_new()
    assert claim_keys.secret_for(other_key, batch.first_serial) != secrets[0]
    # Nothing in the database can check a guess: the batch key is stored encrypted.
    assert key.hex() not in batch.key_encrypted and Code.objects.filter(secret_hash__isnull=False).count() == 0


def test_a_scan_outside_the_dealers_region_alerts_the_brand_and_still_rewards(batch, member):
    serial = batch.first_serial
    result = code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx(ip=GUANGZHOU))
    assert result.claim.status == Claim.Status.GRANTED and result.claim.diverted
    alert = DiversionAlert.objects.get()
    assert (alert.city, alert.expected_region) == ("广州市", "浙江")
    member.refresh_from_db()
    assert member.points_balance == 15


def test_the_daily_cap_refuses_the_fourth_claim_and_leaves_the_code_claimable(batch, member):
    for n in range(3):
        serial = batch.first_serial + n
        code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx())
    fourth = batch.first_serial + 3
    _refused(
        error_codes.CAP_REACHED,
        lambda: code_claim(serial=fourth, secret=secret(batch, fourth), member=member, ctx=ctx()),
    )
    assert Code.objects.get(serial=fourth).claimed_member_id is None
    other = MemberFactory.create()
    assert code_claim(serial=fourth, secret=secret(batch, fourth), member=other, ctx=ctx()).created


def test_many_claims_from_one_ip_are_held_pending_and_void_reverses_granted_points(batch, member):
    campaign = Segment.objects.first().campaign
    type(campaign).objects.filter(pk=campaign.pk).update(risky_claims_per_hour=1, cap_member_day=None)
    first = code_claim(serial=batch.first_serial, secret=secret(batch, batch.first_serial), member=member, ctx=ctx())
    second_serial = batch.first_serial + 1
    second = code_claim(serial=second_serial, secret=secret(batch, second_serial), member=member, ctx=ctx())
    assert first.claim.status == Claim.Status.GRANTED
    assert second.claim.status == Claim.Status.PENDING and "IP" in second.claim.pending_reason
    member.refresh_from_db()
    assert member.points_balance == 15  # the pending claim grants nothing yet

    claim_void(claim=first.claim, actor="风控", reason="批量刷码")
    member.refresh_from_db()
    assert member.points_balance == 0
    reversal = PointsEntry.objects.get(member=member, kind=PointsEntry.Kind.REVERSE)
    assert reversal.points == -15 and reversal.reference == f"scan:{batch.first_serial}"
    _refused(error_codes.CLAIM_STATE_INVALID, lambda: claim_void(claim=first.claim, actor="x", reason="again"))
    assert ledger_audit() == []


def test_a_frozen_member_cannot_claim(batch):
    frozen = MemberFactory.create(status=Member.Status.FROZEN)
    serial = batch.first_serial
    _refused(
        error_codes.MEMBER_NOT_ELIGIBLE,
        lambda: code_claim(serial=serial, secret=secret(batch, serial), member=frozen, ctx=ctx()),
    )


def test_verify_records_first_time_and_city_and_counts_scans(batch):
    serial = batch.first_serial
    first = code_verify(serial=serial, secret=secret(batch, serial), ctx=ctx(ip=HANGZHOU))
    second = code_verify(serial=serial, secret=secret(batch, serial), ctx=ctx(ip=GUANGZHOU))
    assert (first.scan_count, second.scan_count) == (1, 2)
    assert second.first_city == "浙江省杭州市" and second.first_scanned_at == first.first_scanned_at
    assert second.summary.startswith("首次验证于 ") and second.summary.endswith("浙江省杭州市，已被扫描 2 次")
