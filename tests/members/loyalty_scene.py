"""Scene builders shared by the loyalty tests (orders, points, tiers, rewards, capture rate)."""

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from django.utils import timezone

from crm.db import connection
from crm.tenancy.models import Brand, BulkChunk, Domain, DueSlot
from crm.tenancy.services import brand_provision
from members.models import IdentityKind, LoyaltyProgram, Member, Tier
from tests.conftest import brand_contacts
from tests.factories import IdentityFactory, MemberFactory, TierFactory


def program(**overrides: object) -> LoyaltyProgram:
    """The brand's program with test-friendly defaults: 1 point per yuan, never expires, no pending."""
    values = {"base_points_per_yuan": 1, "expiry": LoyaltyProgram.Expiry.NEVER, "pending_days": 0, **overrides}
    obj, _ = LoyaltyProgram.objects.update_or_create(singleton=True, defaults=values)
    return obj


def tiers() -> dict[str, Tier]:
    """普通 (0) / 银卡 (≥1,000 yuan, ×1.2) / 金卡 (≥5,000 yuan, ×1.5) within 365 days."""
    return {
        "normal": TierFactory.create(code="normal", name="普通", rank=1, threshold=0, points_multiplier_pct=100),
        "silver": TierFactory.create(code="silver", name="银卡", rank=2, threshold=100_000, points_multiplier_pct=120),
        "gold": TierFactory.create(code="gold", name="金卡", rank=3, threshold=500_000, points_multiplier_pct=150),
    }


def member_with_unionid(unionid: str, **fields: object) -> Member:
    member = MemberFactory.create(**fields)
    IdentityFactory.create(member=member, kind=IdentityKind.WECHAT_UNIONID, value=unionid)
    return member


def ago(**delta: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


@pytest.fixture
def throwaway_brand(committed_db) -> Iterator[Brand]:
    """A brand of its own for tests that commit: the ledger cannot be deleted (append-only
    trigger), so instead of cleaning rows up the whole schema is dropped afterwards."""
    slug = f"tmp{uuid.uuid4().hex[:10]}"
    result = brand_provision(
        slug=slug,
        name="临时品牌",
        domain=f"{slug}.localhost",
        admin_email=f"admin@{slug}.example",
        **brand_contacts(slug),
    )
    try:
        yield result.brand
    finally:
        brand_discard(result.brand)


def brand_discard(brand: Brand) -> None:
    """Remove a brand a test committed: its schema dropped, then its rows in the public schema —
    the brand and domain, and the rows that name its schema rather than point at it (due slots,
    bulk chunks its jobs queued that no worker ran), where other tests look for theirs."""
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{brand.schema_name}" CASCADE')
    DueSlot.objects.filter(schema_name=brand.schema_name).delete()
    BulkChunk.objects.filter(schema_name=brand.schema_name).delete()
    Domain.objects.filter(tenant=brand).delete()
    Brand.objects.filter(pk=brand.pk).delete()
