"""Points-as-cash through the partner API: POST /api/v1/orders and the batch carry
`points_redeemed`, a refused debit is a 4xx that records nothing, refunds report the points given
back, and the OpenAPI schema documents the fields."""

import json

from django_tenants.utils import schema_context

from members.models import Member, Order, PointsEntry
from members.services.points import ledger_audit, points_award_bonus
from tests.conftest import host_client
from tests.members.loyalty_scene import program

from .conftest import assert_problem, call
from .test_orders_api import ORDERS, order


def _scene(enrolled_a, point_value_fen: int = 1) -> str:
    member_no = enrolled_a(1)  # buyer identity union-1
    with schema_context("alpha"):
        program(points_cash_enabled=True, point_value_fen=point_value_fen, points_cash_max_pct=50)
        points_award_bonus(member=Member.objects.get(member_no=member_no), points=1_000, reference="s", reason="s")
    return member_no


def _balance(member_no: str) -> int:
    with schema_context("alpha"):
        return Member.objects.get(member_no=member_no).points_balance


def test_an_order_paid_partly_with_points_and_refunded(client_a, key_a, enrolled_a):
    member_no = _scene(enrolled_a)

    response = call(client_a, "POST", ORDERS, key=key_a, body=order(points_redeemed=800))

    assert response.status_code == 201, response.content
    body = json.loads(response.content)
    assert (body["points_redeemed"], body["points_cash_fen"], body["points_earned"]) == (800, 800, 251)
    assert _balance(member_no) == 1_000 - 800 + 251

    refund = call(
        client_a,
        "POST",
        f"{ORDERS}/tmall/TM-1/refunds",
        key=key_a,
        body={"refund_no": "RF1", "amount_fen": 25900, "refunded_at": "2026-01-06T10:00:00+08:00"},
    )
    assert refund.status_code == 201, refund.content
    refunded = json.loads(refund.content)
    assert (refunded["points_returned"], refunded["points_reversed"]) == (800, 251)
    assert refunded["order"]["points_redeemed"] == 800
    assert _balance(member_no) == 1_000
    with schema_context("alpha"):
        assert ledger_audit() == []


def test_a_refused_debit_records_nothing(client_a, key_a, enrolled_a):
    member_no = _scene(enrolled_a)

    short = call(client_a, "POST", ORDERS, key=key_a, body=order(points_redeemed=1_001, amount_fen=999_999))
    over = call(client_a, "POST", ORDERS, key=key_a, body=order(2, points_redeemed=12_951))  # > 50% of 259 yuan
    tourist = call(
        client_a, "POST", ORDERS, key=key_a, body=order(3, points_redeemed=1, buyer={"kind": "pos_card", "value": "x"})
    )

    assert "points_redeemed" in assert_problem(short, 400, "points_insufficient")["fields"]
    assert_problem(over, 400, "points_cash_over_cap")
    assert_problem(tourist, 400, "points_cash_not_member")
    with schema_context("alpha"):
        assert Order.objects.count() == 0 and not PointsEntry.objects.filter(kind="redeem").exists()
    assert _balance(member_no) == 1_000


def test_batch_items_report_points_redeemed_and_refusals(client_a, key_a, enrolled_a):
    member_no = _scene(enrolled_a, point_value_fen=2)  # a point is worth 2 fen: the two figures differ

    response = call(
        client_a,
        "POST",
        f"{ORDERS}/batch",
        key=key_a,
        body={"orders": [order(1, points_redeemed=700), order(2, points_redeemed=700), order(3)]},
    )

    assert response.status_code == 200, response.content
    results = json.loads(response.content)["results"]
    assert [(r["status"], r["points_redeemed"], r["points_cash_fen"]) for r in results] == [
        ("created", 700, 1_400),
        ("rejected", 0, 0),
        ("created", 0, 0),
    ]
    assert results[1]["error"]["code"] == "points_insufficient"
    replay = call(client_a, "POST", f"{ORDERS}/batch", key=key_a, body={"orders": [order(1, points_redeemed=700)]})
    replayed = json.loads(replay.content)["results"]
    assert [(r["status"], r["points_redeemed"], r["points_cash_fen"]) for r in replayed] == [("duplicate", 0, 0)]
    with schema_context("alpha"):
        assert list(Order.objects.order_by("order_no").values_list("order_no", "points_redeemed")) == [
            ("TM-1", 700),
            ("TM-3", 0),
        ]
        assert ledger_audit() == []
    assert _balance(member_no) > 0


def test_the_schema_documents_points_as_cash(db):
    schema = json.loads(
        host_client("alpha.localhost").get("/api/schema/", headers={"Accept": "application/json"}).content
    )
    components = schema["components"]["schemas"]
    order_in = next(v for k, v in components.items() if k.startswith("OrderIn"))
    assert order_in["properties"]["points_redeemed"]["type"] == "integer"
    assert "points_redeemed" not in order_in.get("required", [])
    order_out = components["OrderOut"]["properties"]
    assert {"points_redeemed", "points_cash_fen"} <= set(order_out)
    assert "points_returned" in components["RefundOut"]["properties"]
    assert {"points_redeemed", "points_cash_fen"} <= set(components["OrderItemResult"]["properties"])
