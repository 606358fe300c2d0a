"""Loyalty pages of the brand admin: lists render in Chinese without a query per row, ledger and
orders are read-only, brand B's admin never shows brand A's orders, stock moves by increments."""

from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.db import connection
from members.models import Order, PointsEntry, Reward
from members.services.orders import order_post
from members.services.points import points_award_bonus
from tests.conftest import BRAND_A
from tests.factories import StoreFactory

from .loyalty_scene import ago, member_with_unionid, program, tiers


def seed_orders(n: int, start: int = 0) -> None:
    program()
    tiers()
    store = StoreFactory.create(code="ADM")
    for i in range(start, start + n):
        member_with_unionid(f"u-{i}")
        order_post(
            channel="store",
            order_no=f"ADM{i}",
            paid_at=ago(hours=i + 1),
            amount_fen=10_000 + i,
            store=store,
            buyer_kind="wechat_unionid",
            buyer_value=f"u-{i}",
            actor="pos",
        )


def list_queries(client, name: str) -> int:
    # Each measured request starts from the same connection state: a request on the brand the
    # connection is already on skips its `SET search_path` (crm.tenancy.middleware).
    connection.set_schema_to_public()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse(name))
    assert response.status_code == 200, name
    return len(ctx.captured_queries)


LIST_PAGES = [
    "admin:members_order_changelist",
    "admin:members_pointsentry_changelist",
    "admin:members_captureratedaily_changelist",
    "admin:members_tier_changelist",
    "admin:members_reward_changelist",
    "admin:members_redemption_changelist",
    "admin:members_loyaltyprogram_changelist",
]


def test_loyalty_lists_render_without_n_plus_one(admin_client_a):
    with schema_context(BRAND_A):
        seed_orders(2)
    admin_client_a.get(reverse(LIST_PAGES[0]))  # warm the session and per-process caches (brand of the host)
    few = {name: list_queries(admin_client_a, name) for name in LIST_PAGES}
    with schema_context(BRAND_A):
        seed_orders(6, start=2)
    many = {name: list_queries(admin_client_a, name) for name in LIST_PAGES}

    assert many == few  # four times the rows, not one query more
    body = admin_client_a.get(reverse("admin:members_order_changelist")).content.decode()
    assert "ADM7" in body and "订单" in body


def test_order_page_is_read_only_with_refunds(admin_client_a):
    with schema_context(BRAND_A):
        seed_orders(1)
        order = Order.objects.get()
    response = admin_client_a.get(reverse("admin:members_order_change", args=[order.pk]))
    assert response.status_code == 200
    assert (
        admin_client_a.post(reverse("admin:members_order_delete", args=[order.pk]), {"post": "yes"}).status_code == 403
    )
    with schema_context(BRAND_A):
        assert Order.objects.filter(pk=order.pk).exists()


def test_ledger_entries_cannot_be_edited_from_the_admin(admin_client_a):
    with schema_context(BRAND_A):
        member = member_with_unionid("u-1")
        entry = points_award_bonus(member=member, points=5, reference="x", reason="x")
    assert admin_client_a.get(reverse("admin:members_pointsentry_add")).status_code == 403
    response = admin_client_a.post(
        reverse("admin:members_pointsentry_change", args=[entry.pk]), {"points": 500, "reason": "hack"}
    )
    assert response.status_code == 403
    with schema_context(BRAND_A):
        assert PointsEntry.objects.get(pk=entry.pk).points == 5


def test_brand_b_admin_never_shows_brand_a_orders(admin_client_b):
    with schema_context(BRAND_A):
        seed_orders(1)
        order = Order.objects.get()
    body = admin_client_b.get(reverse("admin:members_order_changelist")).content.decode()
    assert "ADM0" not in body
    assert admin_client_b.get(reverse("admin:members_order_change", args=[order.pk])).status_code in (302, 404)


def test_restock_adds_to_the_current_stock(admin_client_a):
    with schema_context(BRAND_A):
        reward = Reward.objects.create(code="CUP", name="杯子", points_cost=10, stock=3)
        Reward.objects.filter(pk=reward.pk).update(stock=2)  # a redemption happened meanwhile
    response = admin_client_a.post(
        reverse("admin:members_reward_change", args=[reward.pk]),
        {"code": "CUP", "name": "杯子", "points_cost": 10, "is_active": "on", "restock": 5},
    )
    assert response.status_code == 302
    with schema_context(BRAND_A):
        assert Reward.objects.get(pk=reward.pk).stock == 7
