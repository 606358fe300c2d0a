"""The refresh on two connections (settings.DASHBOARD_REFRESH_CONNECTIONS = 2): the repurchase and
ledger steps run on a second connection in a thread, in a transaction of their own that commits
with the main one. It writes exactly what the one-connection refresh writes, and when a step fails
on either side neither side's tables change.

These tests commit (a second connection sees only committed rows), so they run in a throw-away
brand provisioned for the module and dropped after."""

import random
import threading
from typing import Any

import pytest
from django.core.cache import cache
from django.db.models import Model
from django_tenants.utils import schema_context

from crm.settings.cache import cache_config
from dashboard import services
from dashboard.models import (
    ActivityDaily,
    DashboardRefresh,
    MemberEnrolmentDaily,
    MemberStateCount,
    PointsMonthly,
    StaffSummary,
    ValueCohort,
)
from dashboard.selectors import PROGRESS_KEY
from dashboard.services import SECOND_LANE, dashboard_refresh
from members.models import IdentityKind
from members.services.orders import order_post, order_refund
from tests.factories import MemberFactory, StaffFactory, StoreFactory
from tests.members.loyalty_scene import ago, member_with_unionid, program, throwaway_brand

lanes_brand = throwaway_brand
TABLES: list[type[Model]] = [
    MemberEnrolmentDaily,
    MemberStateCount,
    PointsMonthly,
    StaffSummary,
    ValueCohort,
    ActivityDaily,
]


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every aggregate row (without its id), sorted: what a refresh wrote."""
    found = {}
    for model in TABLES:
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        found[model.__name__] = sorted(model._default_manager.values_list(*fields), key=repr)
    return found


def scene() -> None:
    rng = random.Random(15)
    program()
    stores = [StoreFactory.create(), StoreFactory.create()]
    staff = [StaffFactory.create(store=store) for store in stores for _ in range(2)]
    people = [
        member_with_unionid(f"lane-{n}", home_store=rng.choice(stores), assigned_staff=rng.choice([*staff, None]))
        for n in range(12)
    ]
    MemberFactory.create_batch(3)  # members who never bought
    for n in range(40):
        order = order_post(
            channel="store",
            order_no=f"LANE-{n}",
            paid_at=ago(days=rng.randint(0, 400), minutes=rng.randint(0, 1440)),
            amount_fen=rng.randint(1_000, 90_000),
            store=rng.choice(stores),
            buyer_kind=IdentityKind.WECHAT_UNIONID,
            buyer_value=f"lane-{rng.randrange(len(people))}",
            staff=rng.choice(staff),
            actor="test",
        ).order
        if n % 7 == 0:
            order_refund(
                channel="store",
                order_no=order.order_no,
                refund_no="R1",
                amount_fen=order.amount_fen // 2,
                refunded_at=ago(minutes=5),
                actor="test",
            )


@pytest.fixture
def brand(lanes_brand):
    with schema_context(lanes_brand.schema_name):
        scene()
    return lanes_brand


def test_two_connections_write_what_one_writes(brand, settings) -> None:
    """On the database cache (a bare set-up's), where a progress write joins the writer's
    transaction: the second connection never writes it, or it would wait for the main one's."""
    settings.CACHES = {**settings.CACHES, "default": cache_config()}
    threads: dict[str, str] = {}
    value, points = services._refresh_value, services._refresh_points

    def spy(label: str, step):
        def run(*args, **kwargs):
            threads[label] = threading.current_thread().name
            return step(*args, **kwargs)

        return run

    now = ago(minutes=1)
    with schema_context(brand.schema_name):
        settings.DASHBOARD_REFRESH_CONNECTIONS = 1
        dashboard_refresh(now=now)
        one = rows()
        assert one["ValueCohort"] and one["PointsMonthly"] and one["MemberStateCount"]

        settings.DASHBOARD_REFRESH_CONNECTIONS = 2
        services._refresh_value, services._refresh_points = spy("复购", value), spy("积分", points)
        try:
            done = dashboard_refresh(now=now)
        finally:
            services._refresh_value, services._refresh_points = value, points
        assert rows() == one
        assert threads == {label: "dashboard-refresh-lane" for label in SECOND_LANE}
        assert set(done.step_ms) == {"会员", "积分", "等级变动", "撤回授权", "导购", "复购", "每日动态", "授权", "活动"}
        assert cache.get(PROGRESS_KEY) is None


@pytest.mark.parametrize("failing", ["_refresh_value", "_refresh_activity"])
def test_a_failing_step_on_either_connection_changes_nothing(brand, settings, failing: str) -> None:
    """The second connection's step fails (复购), or the main one's (每日动态) while the second has
    already done its work: both transactions roll back, the previous aggregates stay."""
    settings.DASHBOARD_REFRESH_CONNECTIONS = 2
    with schema_context(brand.schema_name):
        dashboard_refresh(now=ago(days=1))
        before = rows()
        refreshed = DashboardRefresh.objects.get().refreshed_at
        order_post(
            channel="store",
            order_no="LANE-NEW",
            paid_at=ago(hours=2),
            amount_fen=77_700,
            buyer_kind=IdentityKind.WECHAT_UNIONID,
            buyer_value="lane-0",
            actor="test",
        )
        original = getattr(services, failing)

        def broken(cursor, **kwargs):
            original(cursor, **kwargs)  # its rows are written, then the step fails
            raise RuntimeError("step failed")

        setattr(services, failing, broken)
        try:
            with pytest.raises(RuntimeError, match="step failed"):
                dashboard_refresh(now=ago(minutes=1))
        finally:
            setattr(services, failing, original)
        assert rows() == before
        assert DashboardRefresh.objects.get().refreshed_at == refreshed
        assert cache.get(PROGRESS_KEY) is None
        dashboard_refresh(now=ago(minutes=1))
        assert rows() != before  # the new order counts once a refresh succeeds
