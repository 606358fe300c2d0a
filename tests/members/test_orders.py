"""Order ingest: idempotent per (channel, order_no), tourists earn nothing, members earn by the
brand's rules, tiers lift at once, lifecycle and capture rate follow; refunds reverse pro rata."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.errors import AppError
from members.models import (
    CaptureRateDaily,
    Identity,
    IdentityKind,
    Member,
    Order,
    PointsEntry,
    PointsLot,
    Tier,
    TierChange,
)
from members.services.orders import OrderInput, OrderLineInput, order_post, order_refund, orders_post_batch
from members.services.points import (
    campaign_multiplier_provider_register,
    campaign_multiplier_provider_unregister,
    ledger_audit,
)
from members.services.rewards import reward_redeem
from tests.factories import MemberFactory, StoreFactory, TierFactory

from .loyalty_scene import ago, member_with_unionid, program, tiers


def post(order_no: str, amount_fen: int, unionid: str | None = None, **extra):
    return order_post(
        channel=extra.pop("channel", "tmall"),
        order_no=order_no,
        paid_at=extra.pop("paid_at", ago(minutes=5)),
        amount_fen=amount_fen,
        buyer_kind=IdentityKind.WECHAT_UNIONID if unionid else None,
        buyer_value=unionid,
        actor="pos",
        **extra,
    )


def test_member_order_earns_points_lifts_tier_and_updates_lifecycle(in_brand_a):
    program()
    t = tiers()
    member = member_with_unionid("u-1", tier=t["normal"])

    result = post("A1", 123_456, "u-1")  # 1,234.56 yuan

    member.refresh_from_db()
    assert result.created and result.member == member
    assert result.points_earned == 1234  # ×1.0 at the order's tier (普通), rounded down
    assert member.points_balance == 1234
    assert member.tier == t["silver"]  # 1,234 yuan ≥ 1,000: immediate upgrade
    assert member.tier_expires_at is not None
    assert member.lifecycle_stage == Member.Lifecycle.PURCHASE
    assert member.last_purchase_at == result.order.paid_at
    change = TierChange.objects.get(member=member)
    assert (change.from_tier, change.to_tier, change.reason) == (t["normal"], t["silver"], TierChange.Reason.UPGRADE)
    entry = PointsEntry.objects.get(member=member)
    assert (entry.kind, entry.points, entry.balance_after, entry.order) == ("earn", 1234, 1234, result.order)
    assert ledger_audit() == []

    # The next order earns at the silver multiplier; the second purchase makes the member loyal.
    second = post("A2", 10_000, "u-1")
    member.refresh_from_db()
    assert second.points_earned == 120
    assert member.lifecycle_stage == Member.Lifecycle.LOYALTY


def test_posting_the_same_order_again_changes_nothing(in_brand_a):
    program()
    member_with_unionid("u-1")
    first = post("A1", 5_000, "u-1")

    again = post("A1", 5_000, "u-1")

    assert again.created is False and again.order.pk == first.order.pk
    assert Order.objects.count() == 1
    assert PointsEntry.objects.count() == 1
    assert CaptureRateDaily.objects.get().orders_total == 1


def test_same_order_number_with_another_amount_is_refused(in_brand_a):
    program()
    post("A1", 5_000)
    with pytest.raises(AppError) as exc:
        post("A1", 6_000)
    assert exc.value.code == "order_conflict" and exc.value.status == 409
    assert Order.objects.get().amount_fen == 5_000


def test_tourist_order_is_kept_and_earns_nothing(in_brand_a):
    program()
    result = post("T1", 8_800, "unknown-buyer")

    assert result.member is None and result.points_earned == 0
    order = Order.objects.get()
    assert order.is_member_order is False and order.buyer_value == "unknown-buyer"
    assert PointsEntry.objects.count() == 0
    row = CaptureRateDaily.objects.get()
    assert (row.orders_total, row.orders_member, row.gmv_total_fen, row.gmv_member_fen) == (1, 0, 8_800, 0)


def test_order_of_a_merged_member_goes_to_the_survivor(in_brand_a):
    program()
    survivor = MemberFactory()
    member_with_unionid("u-old", merged_into=survivor)

    result = post("M1", 10_000, "u-old")

    assert result.member == survivor
    survivor.refresh_from_db()
    assert survivor.points_balance == 100


def test_erased_member_order_counts_as_tourist(in_brand_a):
    program()
    member_with_unionid("u-gone", status=Member.Status.ERASED)
    result = post("E1", 10_000, "u-gone")
    assert result.member is None and result.order.is_member_order is False


def test_earning_rules_exclusions_cap_and_campaign_hook(in_brand_a):
    program(base_points_per_yuan=2, excluded_channels=["jd"], excluded_skus=["GIFTCARD"], per_order_cap=500)
    member = member_with_unionid("u-1")

    jd = post("J1", 10_000, "u-1", channel="jd")
    lines = post(
        "L1",
        10_000,
        "u-1",
        lines=[OrderLineInput(sku="TEA", amount_fen=6_000), OrderLineInput(sku="GIFTCARD", amount_fen=4_000)],
    )
    capped = post("C1", 1_000_000, "u-1")

    def double_on_member(*, orders):
        return [200 if member_id == member.pk else 100 for member_id, _ in orders]

    campaign_multiplier_provider_register(double_on_member)
    try:
        campaign = post("D1", 1_050, "u-1")  # 10.50 yuan × 2/yuan × 200% = 42
    finally:
        campaign_multiplier_provider_unregister(double_on_member)

    assert jd.points_earned == 0
    assert lines.points_earned == 120  # only the 60 yuan of tea
    assert capped.points_earned == 500
    assert campaign.points_earned == 42
    assert Order.objects.get(order_no="L1").lines.count() == 2


def test_pending_points_are_not_spendable_until_released(in_brand_a):
    from members.services.points import points_release_pending

    program(pending_days=7)
    member = member_with_unionid("u-1")
    post("P1", 10_000, "u-1")
    member.refresh_from_db()
    assert (member.points_balance, member.points_pending) == (0, 100)
    assert ledger_audit() == []

    points_release_pending(now=timezone.now() + dt.timedelta(days=8))

    member.refresh_from_db()
    assert (member.points_balance, member.points_pending) == (100, 0)
    assert PointsLot.objects.get(member=member).pending is False
    assert ledger_audit() == []


def test_bad_input_is_refused_and_nothing_is_written(in_brand_a):
    program()
    naive = dt.datetime(2026, 1, 1, 12, 0)  # noqa: DTZ001 (the point of the test)
    cases = [
        {"channel": "nowhere", "amount_fen": 100},
        {"order_no": "", "amount_fen": 100},
        {"amount_fen": -1},
        {"amount_fen": 100, "paid_at": naive},
        {"amount_fen": 100, "paid_at": timezone.now() + dt.timedelta(days=1)},
    ]
    for case in cases:
        with pytest.raises(AppError) as exc:
            order_post(
                channel=case.get("channel", "tmall"),
                order_no=case.get("order_no", "X1"),
                paid_at=case.get("paid_at", ago(minutes=1)),
                amount_fen=case["amount_fen"],
                actor="pos",
            )
        assert exc.value.code == "order_invalid" and exc.value.fields
    assert Order.objects.count() == 0 and CaptureRateDaily.objects.count() == 0


def test_batch_gives_per_item_results(in_brand_a):
    program()
    member_with_unionid("u-1")
    store = StoreFactory()
    post("OLD", 1_000, "u-1")
    paid = ago(hours=1)
    tea, cup = OrderLineInput(sku="TEA", amount_fen=10_000), OrderLineInput(sku="CUP", amount_fen=1_000)
    items = [
        OrderInput(
            "store", "B1", paid, 10_000, store_id=store.pk, buyer_kind="wechat_unionid", buyer_value="u-1", lines=[tea]
        ),
        OrderInput("store", "B2", paid, 20_000, store_id=store.pk, lines=[tea, cup]),
        OrderInput(
            "store", "B1", paid, 10_000, store_id=store.pk, buyer_kind="wechat_unionid", buyer_value="u-1", lines=[cup]
        ),
        OrderInput("tmall", "OLD", paid, 1_000, lines=[cup]),
        OrderInput("store", "B3", paid, -5),
        OrderInput("store", "B4", paid, 100, store_id=999_999),
    ]

    results = orders_post_batch(orders=items, actor="import")

    assert [r.created for r in results] == [True, True, False, False, False, False]
    assert results[2].order_id == results[0].order_id  # in-batch duplicate → the same order
    assert results[0].points_earned == 100 and results[1].points_earned == 0
    assert [r.error_code for r in results] == ["", "", "", "", "order_invalid", "order_invalid"]
    assert set(Order.objects.values_list("order_no", flat=True)) == {"OLD", "B1", "B2"}
    # Lines come with the order that was recorded, in the order posted: not from its in-batch
    # duplicate, nor onto an order recorded before.
    lines = {o.order_no: list(o.lines.order_by("id").values_list("sku", flat=True)) for o in Order.objects.all()}
    assert lines == {"OLD": [], "B1": ["TEA"], "B2": ["TEA", "CUP"]}
    row = CaptureRateDaily.objects.get(store=store)
    assert (row.orders_total, row.orders_member, row.gmv_total_fen, row.gmv_member_fen) == (2, 1, 30_000, 10_000)
    assert ledger_audit() == []


def test_capture_rate_day_is_the_brands_local_day(in_brand_a):
    program()
    # 2026-03-01 17:30 UTC is 2026-03-02 01:30 in Asia/Shanghai.
    post("N1", 100, paid_at=dt.datetime(2026, 3, 1, 17, 30, tzinfo=dt.UTC))
    assert CaptureRateDaily.objects.get().day == dt.date(2026, 3, 2)


def test_brand_b_never_sees_brand_a_orders_or_points(brand_a, brand_b):
    connection.set_tenant(brand_a)
    program()
    member_with_unionid("u-shared")
    post("A1", 10_000, "u-shared")

    connection.set_tenant(brand_b)
    program()
    assert Order.objects.count() == 0 and PointsEntry.objects.count() == 0 and CaptureRateDaily.objects.count() == 0
    # The same identity in brand B is nobody: a tourist order there, and brand A's order number is free.
    result = post("A1", 10_000, "u-shared")
    assert result.created and result.member is None

    connection.set_tenant(brand_a)
    assert Order.objects.get().is_member_order is True


# --- refunds ------------------------------------------------------------------------------------


def test_partial_refunds_reverse_pro_rata_and_never_more_than_earned(in_brand_a):
    program()
    member = member_with_unionid("u-1")
    post("R1", 10_001, "u-1")  # 100 points

    first = order_refund(
        channel="tmall", order_no="R1", refund_no="rf1", amount_fen=3_333, refunded_at=ago(minutes=1), actor="pos"
    )
    second = order_refund(
        channel="tmall", order_no="R1", refund_no="rf2", amount_fen=3_333, refunded_at=ago(minutes=1), actor="pos"
    )
    last = order_refund(
        channel="tmall", order_no="R1", refund_no="rf3", amount_fen=3_335, refunded_at=ago(minutes=1), actor="pos"
    )

    assert (first.points_reversed, second.points_reversed, last.points_reversed) == (33, 33, 34)
    member.refresh_from_db()
    assert member.points_balance == 0 and member.points_debt == 0
    order = Order.objects.get()
    assert order.refunded_fen == order.amount_fen
    assert CaptureRateDaily.objects.get().gmv_member_fen == 0
    assert ledger_audit() == []


def test_refund_is_idempotent_and_over_refund_is_refused(in_brand_a):
    program()
    member_with_unionid("u-1")
    post("R1", 10_000, "u-1")
    order_refund(channel="tmall", order_no="R1", refund_no="rf1", amount_fen=6_000, refunded_at=ago(), actor="pos")

    again = order_refund(
        channel="tmall", order_no="R1", refund_no="rf1", amount_fen=6_000, refunded_at=ago(), actor="pos"
    )
    with pytest.raises(AppError) as over:
        order_refund(channel="tmall", order_no="R1", refund_no="rf2", amount_fen=4_001, refunded_at=ago(), actor="pos")
    with pytest.raises(AppError) as missing:
        order_refund(channel="tmall", order_no="NOPE", refund_no="rf", amount_fen=1, refunded_at=ago(), actor="pos")

    assert again.created is False
    assert over.value.code == "refund_exceeds_paid" and missing.value.status == 404
    order = Order.objects.get()
    assert order.refunded_fen == 6_000 and order.refunds.count() == 1
    assert PointsEntry.objects.filter(kind="reverse").count() == 1


def test_reversing_spent_points_records_debt_that_earning_pays_first(in_brand_a):
    from members.models import Reward

    program()
    member = member_with_unionid("u-1")
    post("R1", 10_000, "u-1")  # +100
    reward = Reward.objects.create(code="CUP", name="杯子", points_cost=80)
    reward_redeem(member=member, reward=reward, reference="redeem-1", actor="staff")

    order_refund(channel="tmall", order_no="R1", refund_no="rf1", amount_fen=10_000, refunded_at=ago(), actor="pos")
    member.refresh_from_db()
    assert (member.points_balance, member.points_debt) == (0, 80)
    assert ledger_audit() == []

    post("R2", 5_000, "u-1")  # +50, all of it pays debt
    post("R3", 5_000, "u-1")  # +50: 30 pays the rest of the debt, 20 spendable
    member.refresh_from_db()
    assert (member.points_balance, member.points_debt) == (20, 0)
    assert ledger_audit() == []


def test_refund_undoes_the_upgrade_its_order_caused(in_brand_a):
    program()
    t = tiers()
    member = member_with_unionid("u-1", tier=t["normal"])
    post("BIG", 120_000, "u-1")
    member.refresh_from_db()
    assert member.tier == t["silver"]

    order_refund(channel="tmall", order_no="BIG", refund_no="rf1", amount_fen=50_000, refunded_at=ago(), actor="pos")

    member.refresh_from_db()
    assert member.tier == t["normal"]
    assert TierChange.objects.filter(member=member, reason=TierChange.Reason.REFUND).count() == 1


def test_tourist_refund_lowers_gmv_only(in_brand_a):
    program()
    post("T1", 10_000)
    order_refund(channel="tmall", order_no="T1", refund_no="rf1", amount_fen=4_000, refunded_at=ago(), actor="pos")
    row = CaptureRateDaily.objects.get()
    assert (row.orders_total, row.gmv_total_fen, row.gmv_member_fen) == (1, 6_000, 0)


def test_single_order_ingest_query_budget(in_brand_a, django_assert_max_num_queries):
    program()
    tiers()
    member_with_unionid("u-1")
    # The first order of a process also loads the rules and logs the entry tier, and each new cursor
    # may send django-tenants' `SET search_path`.
    with django_assert_max_num_queries(24):
        post("Q1", 10_000, "u-1")
    # Then 7 statements an order: buyer + lock + rules signature, the campaigns app's multiplier,
    # order + lines, entries + lots, qualifying spend, member + capture rate, webhook subscriptions,
    # and the engagement app's growth-value entries (one statement for the batch; its birthday
    # multiplier reads grants only when the brand has some). The count does not grow with anything
    # per member.
    with django_assert_max_num_queries(8):
        post("Q2", 10_000, "u-1", lines=[OrderLineInput(sku="TEA", amount_fen=10_000)])


def test_single_orders_settle_on_generic_plans(in_brand_a):
    """psycopg prepares a statement from its 6th execution on; PostgreSQL re-plans it with the
    values for the first five, then keeps one generic plan only if that does not look costlier.
    An array parameter written as text would look ten elements long to the generic plan, and the
    server would re-plan the single-order statements on every call (crm/db/arrays.py)."""
    program()
    tiers()
    for n in range(8):
        member_with_unionid(f"u-{n}")
    # Tables big enough for the planner to care how many buyers an array holds (on a near-empty
    # table every plan costs the same, and the generic one wins whatever the parameters say).
    crowd = Member.objects.bulk_create(MemberFactory.build(home_store=None) for _ in range(3000))
    Identity.objects.bulk_create(
        Identity(member=m, kind=IdentityKind.WECHAT_UNIONID, value=f"crowd-{m.pk}") for m in crowd
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Member._meta.db_table}, {Identity._meta.db_table}")

    def plans() -> dict[str, tuple[int, int]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
            return {statement: (generic, custom) for statement, generic, custom in cursor.fetchall()}

    before = plans()
    for n in range(16):
        post(f"G{n}", 10_000 + n, f"u-{n % 8}", lines=[OrderLineInput(sku="TEA", amount_fen=10_000 + n)])
    ingest = {statement: counts for statement, counts in plans().items() if counts != before.get(statement)}
    # Never re-planned after the first five (what a statement run only a few times prepared has)…
    assert all(custom <= 5 for _, custom in ingest.values()), ingest
    # …and every statement of every order is on its generic plan by now: buyer + lock, multiplier,
    # order + lines, entries + lots, qualifying spend, member + capture rate.
    settled = [statement for statement, (generic, _) in ingest.items() if generic >= 1]
    assert sum("members_" in statement for statement in settled) >= 6, ingest


@pytest.mark.parametrize("paid_at", [dt.datetime(214, 1, 5, tzinfo=dt.UTC), dt.datetime(1999, 12, 31, tzinfo=dt.UTC)])
def test_an_order_paid_before_2000_is_refused(in_brand_a, paid_at):
    with pytest.raises(AppError) as error:
        order_post(channel="store", order_no="OLD-1", paid_at=paid_at, amount_fen=100, actor="test")

    assert "paid_at" in error.value.fields
    assert not Order.objects.filter(order_no="OLD-1").exists()


def test_ingest_sees_every_change_of_the_rules_at_once(brand_a, brand_b):
    """Program and tiers are cached per process between ingests (members.services.orders._rules):
    a change is seen by the very next order whichever way it was written — save(), a queryset
    update that leaves updated_at alone, several changes in one transaction, a tier deleted —
    and each brand keeps its own rules."""
    with schema_context(brand_b.schema_name):
        program(base_points_per_yuan=5)
        member_with_unionid(
            "b-1", tier=TierFactory(code="normal", name="普通", rank=1, threshold=0, points_multiplier_pct=300)
        )
    with schema_context(brand_a.schema_name):
        rules = program()
        t = tiers()
        member_with_unionid("u-1", tier=t["normal"])
        assert post("R1", 10_000, "u-1").points_earned == 100

        rules.base_points_per_yuan = 2
        rules.save()
        assert post("R2", 10_000, "u-1").points_earned == 200

        Tier.objects.filter(pk=t["normal"].pk).update(points_multiplier_pct=150)
        assert post("R3", 10_000, "u-1").points_earned == 300
        # Twice in the same transaction: same xmin, another row version.
        Tier.objects.filter(pk=t["normal"].pk).update(points_multiplier_pct=200)
        assert post("R4", 10_000, "u-1").points_earned == 400

    with schema_context(brand_b.schema_name):
        assert post("R1", 10_000, "b-1").points_earned == 1500  # 5/yuan ×3 in beta, not alpha's rules

    with schema_context(brand_a.schema_name):
        # A tier deleted: the member's 10,000-yuan window no longer reaches any tier but the entry
        # one, and the gold tier is gone from the upgrade candidates.
        Tier.objects.filter(pk=t["gold"].pk).delete()
        result = post("R5", 500_000, "u-1")
        assert result.member.tier == t["silver"]
