"""Orders of the demo brand: 90 days of purchases by the demo members across the stores and the
online channels, posted through `order_post` (points, tiers, lifecycle and the capture-rate
aggregate follow as in production). Idempotent: order numbers are derived from the member and a
counter, and posting an order again changes nothing. Called by members/demo.py.

A member buys from their enrolment on (an order before it would be a walk-in's), and walk-in
customers who are not members buy too — about a third of the orders — so the capture rate reads
like a brand's (not 100 %) against its target.

Lifecycle spread: about a quarter of the members buy nothing in the 90 days (they stay at 兴趣),
a third buy once (购买), the rest twice or more (忠诚, the program's default of 2 purchases); and
some of the non-buyers are leads the brand knows only from WeCom (认知), which the lifecycle job
leaves where they are — so the AIPL funnel has four stages at first sight."""

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
    count = 0
    for member in members.only("pk", "member_no", "mobile", "home_store_id", "enrolled_at"):
        count += 1
        rng = random.Random(member.member_no)  # demo data, deterministic per member
        for n in range(rng.choice([0, 0, 1, 1, 1, 2, 3, 5])):
            local = (now - dt.timedelta(days=rng.randint(0, ORDER_DAYS - 1))).astimezone(zone)
            paid_at = local.replace(hour=rng.randint(9, 21), minute=rng.randint(0, 59), second=0, microsecond=0)
            # Not before the member joined (many buy on the day they join), never in the future.
            paid_at = min(max(paid_at, member.enrolled_at + dt.timedelta(minutes=10)), now - dt.timedelta(minutes=5))
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
    return posted + _walk_ins_seed(count=count * WALK_INS_PER_MEMBER // 10, stores=stores, now=now)


WALK_INS_PER_MEMBER = 8  # tenths: 0.8 walk-in orders per member over the 90 days (≈ 1 order in 3)


def _walk_ins_seed(*, count: int, stores: list[Store], now: dt.datetime) -> int:
    """Store orders of customers who are not members (no buyer identity: they earn nothing and
    count in the capture rate's total only). Numbered, so a second seed posts nothing new."""
    zone = brand_zone()
    for n in range(count):
        rng = random.Random(f"walk-in-{n}")
        local = (now - dt.timedelta(days=rng.randint(0, ORDER_DAYS - 1))).astimezone(zone)
        paid_at = local.replace(hour=rng.randint(9, 21), minute=rng.randint(0, 59), second=0, microsecond=0)
        order_post(
            channel=SalesChannel.STORE,
            order_no=f"DEMO-WALKIN-{n:05d}",
            paid_at=min(paid_at, now - dt.timedelta(minutes=5)),
            amount_fen=rng.choice([1_800, 2_600, 3_200, 4_500, 8_800]),
            store=rng.choice(stores) if stores else None,
            actor="demo",
        )
    return count


AWARENESS_EVERY = 3  # one non-buyer in three is an awareness-stage lead


def seed_lifecycle() -> int:
    """Put every third demo member without any order at 认知 (a lead that never engaged);
    returns how many moved. Idempotent: the same members every run, and a member who has
    bought is never moved back."""
    # Counted over both stages, so a re-run picks the very same members.
    stages = [Member.Lifecycle.INTEREST, Member.Lifecycle.AWARENESS]
    leads = (
        Member.objects.filter(source="demo", status=Member.Status.ACTIVE, lifecycle_stage__in=stages)
        .exclude(orders__isnull=False)
        .order_by("member_no")
        .values_list("pk", flat=True)
    )
    chosen = [pk for index, pk in enumerate(leads) if index % AWARENESS_EVERY == 0]
    return Member.objects.filter(pk__in=chosen, lifecycle_stage=Member.Lifecycle.INTEREST).update(
        lifecycle_stage=Member.Lifecycle.AWARENESS
    )
