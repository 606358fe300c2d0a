"""Points-as-cash on an order: the debit rides in the order's transaction (lots expiring first),
every refusal records nothing at all, replays change nothing, earning is on the cash paid,
refunds give the points back pro rata, and two connections can never overspend one balance."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.errors import AppError
from members import error_codes
from members.models import (
    CaptureRateDaily,
    IdentityKind,
    LoyaltyProgram,
    Member,
    Order,
    PointsEntry,
    PointsLot,
    PointsLotConsumption,
    Refund,
    Tier,
)
from members.services.orders import OrderInput, order_post, order_refund, orders_post_batch
from members.services.points import ledger_audit, points_award_bonus
from tests.factories import TierFactory

from .loyalty_scene import ago, member_with_unionid, program, throwaway_brand
from .test_ledger_concurrency import run_in_threads

race_brand = throwaway_brand
SOON = dt.timedelta(days=10)


def post(order_no: str, amount_fen: int, points: int, unionid: str | None = "u-1", **extra):
    return order_post(
        channel=extra.pop("channel", "store"),
        order_no=order_no,
        paid_at=extra.pop("paid_at", ago(minutes=5)),
        amount_fen=amount_fen,
        buyer_kind=IdentityKind.WECHAT_UNIONID if unionid else None,
        buyer_value=unionid,
        points_redeemed=points,
        actor="pos",
        **extra,
    )


def seed(member: Member) -> tuple[PointsLot, PointsLot]:
    """300 points expiring in ten days, then 1,000 that never expire."""
    soon = points_award_bonus(
        member=member, points=300, reference="soon", reason="种子", expires_at=ago(seconds=0) + SOON
    )
    later = points_award_bonus(member=member, points=1_000, reference="later", reason="种子")
    return PointsLot.objects.get(entry=soon), PointsLot.objects.get(entry=later)


@pytest.fixture
def scene(in_brand_a):
    program(points_cash_enabled=True, point_value_fen=1, points_cash_max_pct=50)
    member = member_with_unionid("u-1")
    soon, later = seed(member)
    return {"member": member, "soon": soon, "later": later}


def snapshot(member: Member) -> tuple:
    member.refresh_from_db()
    return (
        Order.objects.count(),
        PointsEntry.objects.count(),
        PointsLotConsumption.objects.count(),
        list(PointsLot.objects.order_by("id").values_list("id", "remaining")),
        CaptureRateDaily.objects.aggregate(total=Sum("orders_total"))["total"],
        (member.points_balance, member.points_pending, member.points_debt, member.last_purchase_at),
    )


def test_points_pay_part_of_the_order_in_its_transaction(scene):
    member = scene["member"]

    result = post("P1", 10_000, 500)  # 100 yuan, 5 yuan of it in points

    order = result.order
    assert result.created and (order.points_redeemed, order.points_cash_fen, order.amount_fen) == (500, 500, 10_000)
    assert result.points_earned == 95  # earned on the 95 yuan paid in cash
    redeem = PointsEntry.objects.get(member=member, kind="redeem")
    earn = PointsEntry.objects.get(member=member, kind="earn")
    assert (redeem.points, redeem.reference, redeem.order_id) == (-500, f"order:{order.pk}", order.pk)
    assert (redeem.balance_after, earn.balance_after) == (800, 895)
    # The lot expiring first is used up before the one that never expires.
    consumed = dict(PointsLotConsumption.objects.filter(entry=redeem).values_list("lot_id", "points"))
    assert consumed == {scene["soon"].pk: 300, scene["later"].pk: 200}
    scene["soon"].refresh_from_db()
    scene["later"].refresh_from_db()
    assert (scene["soon"].remaining, scene["later"].remaining) == (0, 800)
    member.refresh_from_db()
    assert member.points_balance == 1_300 - 500 + 95
    assert result.member is not None and result.member.points_balance == member.points_balance
    # The whole order counts as spend and GMV (points are a means of payment).
    assert CaptureRateDaily.objects.get().gmv_member_fen == 10_000
    assert ledger_audit() == []


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("disabled", error_codes.POINTS_CASH_DISABLED),
        ("worthless_points", error_codes.POINTS_CASH_DISABLED),  # point value 0: points would buy nothing
        ("tourist", error_codes.POINTS_CASH_NOT_MEMBER),
        ("anonymous", error_codes.POINTS_CASH_NOT_MEMBER),
        ("frozen", error_codes.MEMBER_NOT_ELIGIBLE),
        ("over_cap", error_codes.POINTS_CASH_OVER_CAP),
        ("insufficient", error_codes.POINTS_INSUFFICIENT),
        ("stale_lot", error_codes.POINTS_INSUFFICIENT),
        ("negative", error_codes.ORDER_INVALID),
    ],
)
def test_each_refusal_records_nothing(scene, case, code):
    member = scene["member"]
    amount, points, unionid = 1_000_000, 500, "u-1"
    if case == "disabled":
        program(points_cash_enabled=False)
    elif case == "worthless_points":
        program(point_value_fen=0)
    elif case == "tourist":
        unionid = "u-stranger"
    elif case == "anonymous":
        unionid = None
    elif case == "frozen":
        Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)
    elif case == "over_cap":
        amount, points = 1_000, 501  # 50% of 10 yuan is 500 points
    elif case == "insufficient":
        points = 1_301
    elif case == "stale_lot":
        # Counted in the balance until the expiry job runs, but past its expiry: not spendable.
        points_award_bonus(member=member, points=50, reference="stale", reason="x", expires_at=ago(minutes=1))
        points = 1_350
    elif case == "negative":
        points = -1
    before = snapshot(member)

    with pytest.raises(AppError) as caught:
        post("R1", amount, points, unionid)

    assert caught.value.code == code
    assert "points_redeemed" in caught.value.fields
    assert snapshot(member) == before
    assert not Order.objects.filter(order_no="R1").exists()


def test_replaying_the_order_changes_nothing_even_when_the_balance_is_gone(scene):
    member = scene["member"]
    post("P1", 10_000, 1_000)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)  # cannot spend any more
    before = snapshot(member)

    again = post("P1", 10_000, 1_000)

    assert not again.created and again.order.points_redeemed == 1_000
    assert snapshot(member) == before
    with pytest.raises(AppError) as caught:
        post("P1", 10_000, 900)
    assert caught.value.code == error_codes.ORDER_CONFLICT and caught.value.status == 409
    assert snapshot(member) == before


def test_a_batch_spends_in_input_order_and_refuses_only_the_order_that_cannot_pay(scene):
    member = scene["member"]

    def item(order_no: str, points: int, unionid: str = "u-1") -> OrderInput:
        return OrderInput(
            channel="store",
            order_no=order_no,
            paid_at=ago(minutes=5),
            amount_fen=1_000_000,
            buyer_kind=IdentityKind.WECHAT_UNIONID,
            buyer_value=unionid,
            points_redeemed=points,
        )

    results = orders_post_batch(
        orders=[item("B1", 1_000), item("B2", 301), item("B2", 300), item("B3", 0, "u-nobody")], actor="pos"
    )

    assert [(r.created, r.error_code, r.points_redeemed) for r in results] == [
        (True, "", 1_000),
        (False, error_codes.POINTS_INSUFFICIENT, 0),  # 300 left
        (True, "", 300),  # the same order number again, affordable: checked on its own
        (True, "", 0),
    ]
    assert Order.objects.get(order_no="B2").points_redeemed == 300
    member.refresh_from_db()
    assert member.points_balance == 0 + results[0].points_earned + results[2].points_earned
    assert ledger_audit() == []


def test_refunds_give_points_back_pro_rata_and_all_on_a_full_refund(scene, capsys):
    member = scene["member"]
    order = post("P1", 10_000, 500).order  # 500 points: 300 from the soon-expiring lot, 200 never-expiring

    partial = order_refund(
        channel="store", order_no="P1", refund_no="RF1", amount_fen=3_000, refunded_at=ago(minutes=1), actor="pos"
    )

    assert (partial.refund.points_returned, partial.points_reversed) == (150, 28)  # 500×30%, 95×30% rounded down
    back = PointsEntry.objects.get(member=member, kind="reverse", points__gt=0)
    assert (back.points, back.reference, back.order_id) == (150, f"refund:{partial.refund.pk}:points_cash", order.pk)
    assert back.lot.expires_at is None  # the latest expiry of the lots spent: never
    member.refresh_from_db()
    assert member.points_balance == 1_300 - 500 + 95 + 150 - 28

    full = order_refund(
        channel="store", order_no="P1", refund_no="RF2", amount_fen=7_000, refunded_at=ago(minutes=1), actor="pos"
    )
    assert full.refund.points_returned == 350
    assert Refund.objects.filter(order=order).aggregate(s=Sum("points_returned"))["s"] == 500
    member.refresh_from_db()
    assert (member.points_balance, member.points_debt) == (1_300, 0)  # as before the order
    # A retried refund gives nothing back twice.
    again = order_refund(
        channel="store", order_no="P1", refund_no="RF2", amount_fen=7_000, refunded_at=ago(minutes=1), actor="pos"
    )
    assert not again.created
    member.refresh_from_db()
    assert member.points_balance == 1_300
    assert ledger_audit() == []
    call_command("audit_ledger", "--schema", "alpha")
    assert "[alpha] OK" in capsys.readouterr().out


def test_points_given_back_by_a_refund_do_not_qualify_for_a_points_tier(scene):
    """Points paid as cash and given back by a refund were never earned: buying with points and
    refunding must not lift a member on a tier whose threshold is points earned."""
    member = scene["member"]
    TierFactory(code="normal", name="普通", rank=1, threshold=0)
    gold = TierFactory(code="pgold", name="积分金卡", rank=2, basis=Tier.Basis.POINTS, threshold=500)
    post("P1", 10_000, 1_000)  # earns 90 on the 90 yuan paid in cash
    order_refund(
        channel="store", order_no="P1", refund_no="R1", amount_fen=10_000, refunded_at=ago(minutes=1), actor="pos"
    )

    post("P2", 100, 0)  # one point earned: the next tier evaluation

    member.refresh_from_db()
    assert member.tier_id != gold.pk
    assert ledger_audit() == []


def test_a_replay_whose_points_would_exceed_the_amount_is_a_conflict_not_a_crash(scene):
    """A replay is not checked, but its row still goes through the INSERT's CHECK constraints
    before ON CONFLICT skips it: it must not carry a points value above the amount."""
    post("P1", 10_000, 1_000)
    before = snapshot(scene["member"])

    with pytest.raises(AppError) as caught:
        post("P1", 10_000, 20_000)

    assert caught.value.code == error_codes.ORDER_CONFLICT
    assert snapshot(scene["member"]) == before


def test_points_given_back_keep_the_expiry_of_the_lots_they_came_from(scene):
    post("P1", 10_000, 200)  # all from the lot expiring in ten days
    refund = order_refund(
        channel="store", order_no="P1", refund_no="RF", amount_fen=10_000, refunded_at=ago(minutes=1), actor="pos"
    ).refund
    returned = PointsLot.objects.get(entry__reference=f"refund:{refund.pk}:points_cash")
    scene["soon"].refresh_from_db()
    assert (returned.points, returned.expires_at) == (200, scene["soon"].expires_at)


def test_two_connections_never_overspend_one_balance(race_brand):
    with schema_context(race_brand.schema_name):
        # No earning: points earned by one order must not fund the next one in this race.
        program(points_cash_enabled=True, point_value_fen=1, points_cash_max_pct=100, base_points_per_yuan=0)
        member = member_with_unionid("u-race")
        points_award_bonus(member=member, points=1_000, reference="seed", reason="种子")
    outcomes: list[str] = []

    def spend(n: int):
        def job() -> None:
            try:
                post(f"C{n}", 30_000, 300, "u-race")
                outcomes.append("paid")
            except AppError as exc:
                outcomes.append(exc.code)

        return job

    errors = run_in_threads(race_brand, [spend(n) for n in range(4)])

    assert errors == []
    assert sorted(outcomes) == ["paid"] * 3 + [error_codes.POINTS_INSUFFICIENT]
    with schema_context(race_brand.schema_name):
        member.refresh_from_db()
        assert Order.objects.filter(points_redeemed=300).count() == Order.objects.count() == 3
        assert member.points_balance == 100
        assert PointsEntry.objects.filter(kind="redeem").aggregate(s=Sum("points"))["s"] == -900
        assert ledger_audit() == []


def test_the_admin_shows_points_as_cash_on_the_order_and_in_the_settings(admin_client_a, scene, brand_a):
    order = post("P1", 10_000, 500).order
    order_refund(
        channel="store", order_no="P1", refund_no="RF1", amount_fen=5_000, refunded_at=ago(minutes=1), actor="pos"
    )

    page = admin_client_a.get(reverse("admin:members_order_change", args=[order.pk])).content.decode()
    listing = admin_client_a.get(reverse("admin:members_order_changelist")).content.decode()
    connection.set_tenant(brand_a)
    settings = admin_client_a.get(
        reverse("admin:members_loyaltyprogram_change", args=[LoyaltyProgram.objects.get().pk])
    ).content.decode()

    assert "抵现积分" in page and "积分抵现金额" in page and "退回抵现积分" in page
    assert "（分）" not in page  # the amount is shown in yuan
    assert "抵现积分" in listing
    assert "允许积分抵现" in settings and "积分抵现上限（%）" in settings
