"""The demo seeder runs in a brand, through the services, and is idempotent."""

import datetime as dt
from collections import Counter

from django.contrib.auth import get_user_model
from django.db.models import F

from members import demo
from members.models import Member, Order, Staff, Store
from members.roles import STORE_MANAGER


def test_demo_seed_is_idempotent(in_brand_a, monkeypatch):
    monkeypatch.setattr(demo, "MEMBER_COUNT", 12)
    # Stores another test committed in this brand (a real worker's scene) are not the seed's.
    stores_before = Store.objects.count()
    demo.seed()
    counts = (Store.objects.count(), Staff.objects.count(), Member.objects.count())
    assert counts[0] - stores_before == 4 and counts[2] == 12
    manager = get_user_model().objects.get(username="manager@demo.example")
    assert manager.check_password(demo.STAFF_PASSWORD)
    assert manager.groups.filter(name=STORE_MANAGER).exists() and manager.staff.store.code == "SH001"
    assert all(m.identities.filter(kind="mobile").exists() for m in Member.objects.all())

    orders = Order.objects.count()
    assert orders > 0 and Order.objects.values("channel").distinct().count() > 1

    demo.seed()
    assert (Store.objects.count(), Staff.objects.count(), Member.objects.count()) == counts
    assert Order.objects.count() == orders


def test_demo_members_spread_over_the_lifecycle_stages(in_brand_a, monkeypatch):
    """Four AIPL stages at first sight, and a second seed moves nobody."""
    monkeypatch.setattr(demo, "MEMBER_COUNT", 40)
    demo.seed()
    stages = Counter(Member.objects.values_list("lifecycle_stage", flat=True))
    demo.seed()

    assert set(stages) == set(Member.Lifecycle.values), stages
    assert Counter(Member.objects.values_list("lifecycle_stage", flat=True)) == stages
    # Leads at 认知 bought nothing; buyers are at 购买 or 忠诚.
    assert not Order.objects.filter(member__lifecycle_stage=Member.Lifecycle.AWARENESS).exists()


def test_demo_members_joined_over_the_year_and_walk_ins_buy_too(in_brand_a, monkeypatch):
    """The dashboard's first sight: new members spread over the past year (not all this minute),
    no member buying before joining, and walk-in orders, so the capture rate is not 100 %."""
    monkeypatch.setattr(demo, "MEMBER_COUNT", 20)
    demo.seed()

    joined = list(Member.objects.values_list("enrolled_at", flat=True))
    assert len({moment.date() for moment in joined}) > 5
    assert max(joined) - min(joined) > dt.timedelta(days=60)
    assert not Order.objects.filter(member__isnull=False, paid_at__lt=F("member__enrolled_at")).exists()
    walk_ins = Order.objects.filter(member__isnull=True, is_member_order=False)
    assert walk_ins.count() == 20 * 8 // 10 and walk_ins.filter(order_no__startswith="DEMO-WALKIN-").count() == 16
