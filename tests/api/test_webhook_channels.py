"""Partner webhooks of tier and points changes come from the members services, so every channel —
brand admin, nightly jobs, merges, campaign awards, refunds, the API — emits them exactly once per
change, in the change's transaction, and a replay emits nothing."""

import datetime as dt
import json
from typing import Any

import pytest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from consent.types import ConsentEvidence
from crm.api.models import Partner
from crm.db import connection
from members import hooks
from members.models import Member, Order
from members.services.members import member_enroll
from members.services.merge import member_merge
from members.services.orders import order_post, order_refund
from members.services.points import (
    points_award_bonus,
    points_award_bonus_bulk,
    points_expire_due,
    points_release_pending,
)
from members.services.tiers import tier_grant_manual, tiers_reevaluate_due
from tests.factories import IdentityFactory, MemberFactory
from tests.members.conftest import decisions_for, membership_version_ensure
from tests.members.loyalty_scene import ago, program, tiers
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_subscription_create

from .conftest import call

EVENTS = ["member.enrolled", "member.tier_changed", "points.changed"]


def subscribe(slug: str, events: list[str] = EVENTS) -> None:
    with schema_context(slug):
        partner, _ = Partner.objects.get_or_create(name="商城")
        webhook_subscription_create(partner=partner, url="https://p.example/h", events=events)


def deliveries(slug: str, event: str) -> list[dict[str, Any]]:
    with schema_context(slug):
        return list(WebhookDelivery.objects.filter(event=event).order_by("id").values_list("payload", flat=True))


def forget_deliveries() -> None:
    """Scene building emits too; the test looks at the change it makes afterwards."""
    for slug in ("alpha", "beta"):
        with schema_context(slug):
            WebhookDelivery.objects.all().delete()


@pytest.fixture
def subscribed(in_brand_a: Any) -> None:
    """Subscriptions in both brands: beta's must hear nothing of alpha's changes."""
    subscribe("alpha")
    subscribe("beta")
    connection.set_tenant(in_brand_a)


def points(member: Member, delta: int, cause: str, pending: int = 0, debt: int = 0) -> dict[str, Any]:
    member.refresh_from_db()
    return {
        "member_no": member.member_no,
        "delta": delta,
        "balance": member.points_balance,
        "pending": pending,
        "debt": debt,
        "cause": cause,
    }


def tier(member: Member, from_tier: str | None, to_tier: str | None, cause: str) -> dict[str, Any]:
    return {"member_no": member.member_no, "from_tier": from_tier, "to_tier": to_tier, "cause": cause}


def test_an_admin_points_adjustment_reaches_alpha_partners_once(subscribed, admin_client_a, brand_a):
    program()
    member = MemberFactory()
    points_award_bonus(member=member, points=300, reference="seed", reason="初始")
    forget_deliveries()
    url = reverse("admin:members_member_adjust_points", args=[member.pk])
    reference = admin_client_a.get(url).context["form"]["reference"].value()
    data = {"points": "-100", "reason": "客诉冲正", "reference": reference}

    assert admin_client_a.post(url, data).status_code == 302
    assert admin_client_a.post(url, data).status_code == 302  # a double submit changes nothing

    connection.set_tenant(brand_a)
    assert deliveries("alpha", "points.changed") == [points(member, -100, "adjustment")]
    assert member.points_balance == 200
    assert deliveries("alpha", "member.tier_changed") == []
    assert deliveries("beta", "points.changed") == []


def test_the_nightly_expiry_emits_one_delivery_per_member_and_a_rerun_none(subscribed):
    program()
    member, untouched = MemberFactory(), MemberFactory()
    now = timezone.now()
    points_award_bonus(member=member, points=40, reference="soon", reason="x", expires_at=now + dt.timedelta(days=1))
    points_award_bonus(member=member, points=60, reference="late", reason="x", expires_at=now + dt.timedelta(days=90))
    points_award_bonus(member=untouched, points=5, reference="late", reason="x", expires_at=now + dt.timedelta(days=9))
    forget_deliveries()

    assert points_expire_due(now=now + dt.timedelta(days=2))["members"] == 1
    # The same run again (a retry at the same time) finds its own entries but must not re-send them.
    assert points_expire_due(now=now + dt.timedelta(days=2))["members"] == 0

    assert deliveries("alpha", "points.changed") == [points(member, -40, "expiry")]
    assert deliveries("beta", "points.changed") == []


def test_releasing_pending_points_is_a_points_change_with_no_delta(subscribed):
    program(pending_days=7)
    tiers()
    member = MemberFactory()
    IdentityFactory(member=member, value="u-pending")
    order = {"channel": "store", "order_no": "P1", "buyer_kind": "wechat_unionid", "buyer_value": "u-pending"}
    order_post(**order, paid_at=ago(hours=1), amount_fen=10_000, actor="test")
    member.refresh_from_db()
    assert member.points_pending == 100
    forget_deliveries()

    points_release_pending(now=timezone.now() + dt.timedelta(days=8))
    points_release_pending(now=timezone.now() + dt.timedelta(days=8))

    member.refresh_from_db()
    assert (member.points_balance, member.points_pending) == (100, 0)
    assert deliveries("alpha", "points.changed") == [points(member, 0, "pending_release")]


def test_tier_reevaluation_emits_downgrades_not_renewals(subscribed):
    program()
    t = tiers()
    drops = MemberFactory(tier=t["gold"], tier_expires_at=ago(days=1))
    MemberFactory(tier=t["normal"], tier_expires_at=ago(days=1))  # renewed: no change, so no delivery
    Order.objects.create(
        channel="store", order_no="R1", paid_at=ago(days=10), amount_fen=150_000, member=drops, is_member_order=True
    )

    summary = tiers_reevaluate_due()

    assert (summary["downgrade"], summary["renewal"]) == (1, 1)
    assert deliveries("alpha", "member.tier_changed") == [tier(drops, "gold", "silver", "reevaluation")]
    assert deliveries("alpha", "points.changed") == []
    assert deliveries("beta", "member.tier_changed") == []


def test_a_manual_grant_emits_once_and_a_grant_below_the_current_tier_not_at_all(subscribed):
    program()
    t = tiers()
    member = MemberFactory(tier=t["normal"])

    tier_grant_manual(member=member, tier=t["gold"], reason="明星客户", actor="boss")
    tier_grant_manual(member=member, tier=t["silver"], reason="保底", actor="boss")

    assert deliveries("alpha", "member.tier_changed") == [tier(member, "normal", "gold", "manual_grant")]


def test_a_merge_changes_both_members_balances_and_the_survivors_tier(subscribed):
    program()
    t = tiers()
    survivor = MemberFactory(tier=t["normal"])
    merged = MemberFactory(tier=t["gold"])
    points_award_bonus(member=survivor, points=10, reference="s", reason="x")
    points_award_bonus(member=merged, points=30, reference="m", reason="x")
    forget_deliveries()

    member_merge(survivor=survivor, merged=merged, actor="admin", reason="同一人")

    assert deliveries("alpha", "member.tier_changed") == [tier(survivor, "normal", "gold", "merge")]
    assert sorted(deliveries("alpha", "points.changed"), key=lambda p: p["delta"]) == [
        points(merged, -30, "merge"),
        points(survivor, 30, "merge"),
    ]
    assert deliveries("beta", "points.changed") == []


def test_a_campaign_bulk_award_emits_set_based_and_sends_one_dispatch_per_batch(
    subscribed, django_capture_on_commit_callbacks
):
    program()
    members = [MemberFactory() for _ in range(3)]
    MemberFactory()  # not in the audience
    audience = Member.objects.filter(pk__in=[m.pk for m in members])

    with django_capture_on_commit_callbacks() as callbacks:
        assert points_award_bonus_bulk(members=audience, points=50, reference="campaign:9", reason="活动") == 3
    again = points_award_bonus_bulk(members=audience, points=50, reference="campaign:9", reason="活动")

    assert again == 0
    assert sorted(deliveries("alpha", "points.changed"), key=lambda p: p["member_no"]) == sorted(
        (points(m, 50, "campaign_bonus") for m in members), key=lambda p: p["member_no"]
    )
    assert len(callbacks) == 1  # one dispatch task, not one message per delivery
    assert deliveries("beta", "points.changed") == []


def test_without_subscriptions_a_bulk_award_costs_one_subscription_query(in_brand_a, monkeypatch):
    program()
    audience = Member.objects.filter(pk__in=[MemberFactory().pk for _ in range(3)])

    monkeypatch.setattr(hooks.loyalty_changed, "_handlers", [])
    with CaptureQueriesContext(connection) as unhooked:
        points_award_bonus_bulk(members=audience, points=5, reference="r1", reason="x")
    monkeypatch.undo()
    with CaptureQueriesContext(connection) as hooked:
        points_award_bonus_bulk(members=audience, points=5, reference="r2", reason="x")

    webhook_queries = [q["sql"] for q in hooked.captured_queries if "webhook" in q["sql"]]
    assert len(hooked) == len(unhooked) + 1
    assert len(webhook_queries) == 1 and webhook_queries[0].startswith("SELECT DISTINCT unnest(events)")
    assert not WebhookDelivery.objects.exists()


def test_a_refund_reverses_points_and_the_upgrade_of_its_order(subscribed):
    program()
    t = tiers()
    member = MemberFactory(tier=t["normal"])
    IdentityFactory(member=member, value="u-refund")
    order = {"channel": "store", "order_no": "F1", "buyer_kind": "wechat_unionid", "buyer_value": "u-refund"}
    order_post(**order, paid_at=ago(hours=1), amount_fen=200_000, actor="test")
    assert deliveries("alpha", "member.tier_changed") == [tier(member, "normal", "silver", "order")]
    assert deliveries("alpha", "points.changed") == [points(member, 2_000, "order")]
    forget_deliveries()

    refund = {"channel": "store", "order_no": "F1", "refund_no": "RF1", "amount_fen": 200_000}
    order_refund(**refund, refunded_at=timezone.now(), actor="test")
    order_refund(**refund, refunded_at=timezone.now(), actor="test")  # a retry: nothing changes

    assert deliveries("alpha", "member.tier_changed") == [tier(member, "silver", "normal", "refund")]
    assert deliveries("alpha", "points.changed") == [points(member, -2_000, "refund")]
    assert deliveries("beta", "points.changed") == []


def test_a_refund_of_an_order_paid_partly_with_points_is_one_points_change(subscribed):
    """The refund gives back the points paid as cash and takes back the points earned: partners
    hear one change with the net delta, not two with an intermediate balance."""
    program(points_cash_enabled=True, point_value_fen=1, points_cash_max_pct=50)
    member = MemberFactory()
    IdentityFactory(member=member, value="u-cash")
    points_award_bonus(member=member, points=1_000, reference="seed", reason="种子")
    order = {"channel": "store", "order_no": "C1", "buyer_kind": "wechat_unionid", "buyer_value": "u-cash"}
    order_post(**order, paid_at=ago(hours=1), amount_fen=10_000, points_redeemed=1_000, actor="test")  # earns 90
    forget_deliveries()

    order_refund(
        channel="store", order_no="C1", refund_no="RC1", amount_fen=10_000, refunded_at=timezone.now(), actor="t"
    )

    assert deliveries("alpha", "points.changed") == [points(member, 1_000 - 90, "refund")]


def test_a_service_enrolment_emits_member_enrolled(subscribed):
    version = membership_version_ensure()
    tiers()
    member = member_enroll(
        name="李雷",
        mobile="13912345678",
        decisions=decisions_for(version),
        evidence=ConsentEvidence(channel="admin"),
        actor="test",
    )

    [payload] = deliveries("alpha", "member.enrolled")
    assert payload == {
        "member_no": member.member_no,
        "enrolled_at": member.enrolled_at.isoformat(),
        "channel": "store",
        "tier": "normal",
    }
    assert deliveries("alpha", "member.tier_changed") == []
    assert deliveries("beta", "member.enrolled") == []


def test_an_api_order_emits_one_points_change_and_its_replays_none(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    subscribe("alpha")
    body = {
        "channel": "tmall",
        "order_no": "TM-1",
        "paid_at": "2026-01-08T10:21:00+08:00",
        "amount_fen": 25900,
        "buyer": {"kind": "wechat_unionid", "value": "union-1"},
        "lines": [{"sku": "SKU-001", "name": "咖啡豆", "quantity": 1, "amount_fen": 25900}],
    }

    first = call(client_a, "POST", "/api/v1/orders", key=key_a, body=body, idempotency_key="k-1")
    replay = call(client_a, "POST", "/api/v1/orders", key=key_a, body=body, idempotency_key="k-1")
    repost = call(client_a, "POST", "/api/v1/orders", key=key_a, body=body)

    assert (first.status_code, replay.status_code, repost.status_code) == (201, 201, 200)
    earned = json.loads(first.content)["points_earned"]
    [payload] = deliveries("alpha", "points.changed")
    assert payload == {
        "member_no": member_no,
        "delta": earned,
        "balance": earned,
        "pending": 0,
        "debt": 0,
        "cause": "order",
    }
