"""Orders of the demo brand: 90 days of purchases by the demo members across the stores and the
online channels, posted through `order_post` (points, tiers, lifecycle and the capture-rate
aggregate follow as in production). Idempotent: order numbers are derived from the member and a
counter, and posting an order again changes nothing. Called by members/demo.py."""

import datetime as dt
import random

from django.utils import timezone

from crm.tenancy.zones import brand_zone

from .models import Member, SalesChannel, Store
from .services.orders import order_post

ORDER_DAYS = 90
# Channel mix of a tea brand: most orders at the counter, then the mini programme and marketplaces.
CHANNELS = [SalesChannel.STORE] * 6 + [SalesChannel.MINI_PROGRAM] * 2 + [SalesChannel.TMALL, SalesChannel.JD]


def seed_orders(*, now: dt.datetime | None = None) -> int:
    """Post the demo orders (0-6 per member, amounts ¥18-¥680); returns how many were posted."""
    now = now or timezone.now()
    zone = brand_zone()
    stores = list(Store.objects.order_by("code"))
    posted = 0
    members = Member.objects.filter(status=Member.Status.ACTIVE).exclude(mobile="").order_by("member_no")
    for member in members.only("pk", "member_no", "mobile", "home_store_id"):
        rng = random.Random(member.member_no)  # demo data, deterministic per member
        for n in range(rng.choice([0, 1, 1, 2, 2, 3, 4, 6])):
            local = (now - dt.timedelta(days=rng.randint(0, ORDER_DAYS - 1))).astimezone(zone)
            paid_at = local.replace(hour=rng.randint(9, 21), minute=rng.randint(0, 59), second=0, microsecond=0)
            paid_at = min(paid_at, now - dt.timedelta(minutes=5))
            channel = rng.choice(CHANNELS)
            store = None
            if channel == SalesChannel.STORE and stores:
                home = [s for s in stores if s.pk == member.home_store_id]
                store = home[0] if home and rng.random() < 0.8 else rng.choice(stores)
            order_post(
                channel=channel,
                order_no=f"DEMO-{member.member_no}-{n}",
                paid_at=paid_at,
                amount_fen=rng.choice([1_800, 2_600, 3_200, 4_500, 8_800, 12_800, 26_800, 68_000]),
                store=store,
                buyer_kind="mobile",
                buyer_value=member.mobile,
                actor="demo",
            )
            posted += 1
    return posted
