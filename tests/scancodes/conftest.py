"""A brand with a campaign, a dealer in 浙江 and an activated batch of codes."""

import datetime as dt
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from scancodes import claim_keys
from scancodes.models import CodeBatch, Dealer, ScanCampaign
from scancodes.services import ScanContext, batch_generate, scan_context, segment_create
from tests.factories import MemberFactory

# The shipped table maps these documentation addresses (scancodes/data/ip_cities.txt).
HANGZHOU = "192.0.2.70"
GUANGZHOU = "192.0.2.200"


@pytest.fixture
def clean_cache(db: Any) -> None:
    """The limiter's and the risk counters' windows start empty in every test."""
    cache.clear()


def ctx(ip: str = HANGZHOU, ua: str = "Mozilla/5.0 (iPhone)") -> ScanContext:
    return scan_context(ip=ip, user_agent=ua)


def secret(batch: CodeBatch, serial: int) -> str:
    return claim_keys.secret_for(claim_keys.batch_key_open(batch.key_encrypted), serial)


@pytest.fixture
def campaign(in_brand_a: Any, clean_cache: None) -> ScanCampaign:
    now = timezone.now()
    return ScanCampaign.objects.create(
        name="扫码有礼",
        points=10,
        sku_points={"SKU-TEA": 15},
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=30),
        cap_member_day=3,
        cap_member_month=20,
    )


@pytest.fixture
def dealer(in_brand_a: Any) -> Dealer:
    return Dealer.objects.create(code="D-ZJ", name="浙江经销商", region_name="浙江", region_areas=["浙江"])


@pytest.fixture
def batch(campaign: ScanCampaign, dealer: Dealer) -> CodeBatch:
    batch = batch_generate(sku="SKU-TEA", product_name="龙井礼盒", category="茶叶", quantity=50, actor="admin")
    assert batch.first_serial is not None
    segment_create(
        batch=batch,
        first_serial=batch.first_serial,
        last_serial=batch.first_serial + 39,
        lot="L2026",
        dealer=dealer,
        campaign=campaign,
        actor="admin",
        activate=True,
    )
    batch.refresh_from_db()
    return batch


def batch_activated(
    *, campaign: ScanCampaign, quantity: int, sku: str, product_name: str, category: str = ""
) -> CodeBatch:
    """`quantity` new codes, activated as one segment under `campaign`."""
    batch = batch_generate(sku=sku, product_name=product_name, category=category, quantity=quantity, actor="admin")
    assert batch.first_serial is not None and batch.last_serial is not None  # generated, not imported
    segment_create(
        batch=batch,
        first_serial=batch.first_serial,
        last_serial=batch.last_serial,
        campaign=campaign,
        actor="admin",
        activate=True,
    )
    return batch


@pytest.fixture
def member(in_brand_a: Any) -> Any:
    return MemberFactory.create()
