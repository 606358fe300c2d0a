"""A scan campaign's three rewards — points per SKU, growth value, a coupon — granted through the
points, growth and coupon services in the claim's transaction, budgeted and capped as before, and
reversed when a claim is voided; the ledgers' and coupons' audits stay clean. Fixed clock: 15 June
2027, 10:00 Shanghai (tests/coupons/scene.py)."""

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from coupons import error_codes as coupon_errors
from coupons.models import Coupon
from crm.errors import AppError
from engagement.models import EngagementSettings, GrowthEntry
from engagement.services.growth import growth_audit, growth_balance
from members.services.points import ledger_audit
from scancodes import error_codes
from scancodes.models import Claim, Code, CodeBatch, Scan, ScanCampaign
from scancodes.services import (
    campaign_validate,
    claim_approve,
    claim_void,
    code_claim,
)
from tests.conftest import BRAND_A
from tests.coupons.scene import NOW, template
from tests.factories import MemberFactory

from .conftest import batch_activated, ctx, secret


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[dt.datetime]:
    with time_machine.travel(NOW, tick=False):
        yield NOW


def _audits_clean() -> None:
    assert ledger_audit() == [] and growth_audit() == []
    call_command("audit_coupons", "--schema", BRAND_A)
    call_command("audit_ledger", "--schema", BRAND_A)


def _batch(campaign: ScanCampaign, quantity: int = 10) -> CodeBatch:
    return batch_activated(
        campaign=campaign, quantity=quantity, sku="SKU-MILK", product_name="有机奶粉", category="奶粉"
    )


def _campaign(**fields: Any) -> ScanCampaign:
    values: dict[str, Any] = {
        "name": "扫码有礼",
        "starts_at": NOW - dt.timedelta(days=1),
        "ends_at": NOW + dt.timedelta(days=30),
        "risky_claims_per_hour": 1000,
    }
    values.update(fields)
    campaign = ScanCampaign(**values)
    campaign_validate(campaign=campaign)
    campaign.save()
    return campaign


def _claim(batch: CodeBatch, n: int, member: Any) -> Any:
    serial = batch.first_serial + n  # type: ignore[operator]
    return code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx())


def _refused(code: str, call: Any) -> AppError:
    with pytest.raises(AppError) as info:
        call()
    assert info.value.code == code, info.value
    return info.value


def test_growth_value_goes_through_the_growth_ledger_and_a_void_takes_it_back(in_brand_a, clean_cache):
    campaign = _campaign(reward_kind="growth", growth_value=30, budget_points=100)
    batch = _batch(campaign)
    member = MemberFactory.create()

    result = _claim(batch, 0, member)

    claim = result.claim
    assert (claim.reward_kind, claim.growth, claim.points) == ("growth", 30, 0)
    assert result.message == "领取成功，获得 30 成长值。"
    entry = GrowthEntry.objects.get(member_id=member.pk, reference=f"scan:{batch.first_serial}")
    assert (entry.kind, entry.value, entry.activity) == (GrowthEntry.Kind.SCAN, 30, True)
    assert growth_balance(member_id=member.pk) == 30
    campaign.refresh_from_db()
    assert campaign.spent_points == 30  # the budget counts growth value
    member.refresh_from_db()
    assert member.points_balance == 0

    claim_void(claim=claim, actor="风控", reason="刷码")
    assert growth_balance(member_id=member.pk) == 0
    assert GrowthEntry.objects.get(member_id=member.pk, reference=f"scan:{batch.first_serial}:reverse").value == -30
    campaign.refresh_from_db()
    assert campaign.spent_points == 0
    _audits_clean()


def test_growth_value_stops_at_the_months_activity_cap_and_the_budget_gets_the_rest_back(in_brand_a, clean_cache):
    EngagementSettings.objects.update_or_create(singleton=True, defaults={"growth_activity_cap_per_month": 50})
    campaign = _campaign(reward_kind="growth", growth_value=30, budget_points=1000)
    batch = _batch(campaign)
    member = MemberFactory.create()

    first, second, third = (_claim(batch, n, member) for n in range(3))

    assert [c.claim.growth for c in (first, second, third)] == [30, 20, 0]
    assert third.message == "领取成功。本月活动成长值已达上限，本次未获得成长值。"
    assert Claim.objects.get(pk=second.claim.pk).growth == 20  # stored as granted, not as planned
    assert growth_balance(member_id=member.pk) == 50
    campaign.refresh_from_db()
    assert campaign.spent_points == 50
    _audits_clean()


def test_a_coupon_is_issued_by_the_coupons_service_and_voided_with_the_claim(in_brand_a, clean_cache):
    coupon_template = template(name="扫码满100减20")
    campaign = _campaign(reward_kind="coupon", coupon_template=coupon_template, budget_points=5)
    batch = _batch(campaign)
    member = MemberFactory.create()

    result = _claim(batch, 0, member)

    coupon = Coupon.objects.get(member_id=member.pk)
    assert (coupon.source, coupon.source_key, coupon.state) == ("scan", f"scan:{batch.first_serial}", "issued")
    assert result.claim.coupon_id == coupon.pk
    assert "扫码满100减20" in result.message
    campaign.refresh_from_db()
    assert campaign.spent_points == 1  # one coupon

    claim_void(claim=result.claim, actor="风控", reason="刷码")
    coupon.refresh_from_db()
    assert coupon.state == Coupon.State.VOIDED
    campaign.refresh_from_db()
    assert campaign.spent_points == 0
    _audits_clean()


def test_out_of_coupons_the_claim_is_refused_and_the_code_stays_claimable(in_brand_a, clean_cache):
    coupon_template = template(name="限量券", stock_total=1)
    campaign = _campaign(reward_kind="coupon", coupon_template=coupon_template)
    batch = _batch(campaign)
    _claim(batch, 0, MemberFactory.create())
    late = MemberFactory.create()

    refused = _refused(coupon_errors.OUT_OF_STOCK, lambda: _claim(batch, 1, late))

    assert refused.message  # the coupons app's own Chinese words
    assert Code.objects.get(serial=batch.first_serial + 1).claimed_member_id is None
    assert not Claim.objects.filter(member=late).exists()
    assert Scan.objects.filter(member_id=late.pk, outcome=Scan.Outcome.REFUSED).exists()
    _audits_clean()


def test_a_coupon_budget_counts_coupons(in_brand_a, clean_cache):
    campaign = _campaign(reward_kind="coupon", coupon_template=template(), budget_points=1)
    batch = _batch(campaign)
    _claim(batch, 0, MemberFactory.create())
    _refused(error_codes.BUDGET_EXHAUSTED, lambda: _claim(batch, 1, MemberFactory.create()))
    assert Coupon.objects.count() == 1


def test_a_pending_coupon_claim_issues_its_coupon_only_when_approved(in_brand_a, clean_cache):
    campaign = _campaign(reward_kind="coupon", coupon_template=template(), risky_claims_per_hour=0)
    batch = _batch(campaign)
    member = MemberFactory.create()
    pending = _claim(batch, 0, member).claim
    assert pending.status == Claim.Status.PENDING and not Coupon.objects.exists()

    approved = claim_approve(claim=pending, actor="审核员")

    coupon = Coupon.objects.get(member_id=member.pk)
    assert approved.coupon_id == coupon.pk and approved.status == Claim.Status.GRANTED
    _audits_clean()


def test_points_per_sku_still_work_and_a_void_reverses_them(in_brand_a, clean_cache):
    campaign = _campaign(reward_kind="points", points=5, sku_points={"SKU-MILK": 25})
    batch = _batch(campaign)
    member = MemberFactory.create()
    claim = _claim(batch, 0, member).claim
    member.refresh_from_db()
    assert (claim.points, member.points_balance) == (25, 25)
    claim_void(claim=claim, actor="风控", reason="刷码")
    member.refresh_from_db()
    assert member.points_balance == 0
    _audits_clean()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"reward_kind": "growth", "growth_value": 0}, "每码奖励成长值"),
        ({"reward_kind": "coupon"}, "须选择一张优惠券"),
        ({"reward_kind": "points", "points": 0}, "每码奖励积分"),
    ],
)
def test_a_campaign_without_its_reward_is_refused(in_brand_a, fields, words):
    with pytest.raises(AppError) as info:
        _campaign(**fields)
    assert words in info.value.message and not ScanCampaign.objects.exists()


def test_a_stopped_coupon_cannot_be_the_reward(in_brand_a):
    stopped = template(name="已停券", is_active=False)
    with pytest.raises(AppError) as info:
        _campaign(reward_kind="coupon", coupon_template=stopped)
    assert "已停止发放" in info.value.message


def test_the_admin_picks_the_coupon_by_name(admin_client_a, in_brand_a):
    coupon_template = template(name="扫码专享券")
    template(name="停发的券", is_active=False)
    page = admin_client_a.get("/admin/scancodes/scancampaign/add/").content.decode()
    assert "扫码专享券（" in page and "停发的券" not in page
    assert "待成长值" not in page and "待优惠券" not in page and "coupon_ref" not in page
    form = {
        "name": "扫码送券",
        "reward_kind": "coupon",
        "points": "0",
        "coupon_template": str(coupon_template.pk),
        "starts_at_0": "2027-06-01",
        "starts_at_1": "00:00:00",
        "ends_at_0": "2027-07-01",
        "ends_at_1": "00:00:00",
        "risky_claims_per_hour": "20",
    }
    saved = admin_client_a.post("/admin/scancodes/scancampaign/add/", form)
    assert saved.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", saved.content.decode(), re.S)
    campaign = ScanCampaign.objects.get(name="扫码送券")
    assert (campaign.coupon_template_id, campaign.growth_value) == (coupon_template.pk, 0)
    missing = admin_client_a.post("/admin/scancodes/scancampaign/add/", {**form, "name": "无券", "coupon_template": ""})
    assert "须选择一张优惠券" in missing.content.decode()
