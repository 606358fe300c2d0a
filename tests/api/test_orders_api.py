"""Partner order endpoints: one order (idempotent per channel + order number), a batch of up to
500 with per-item results, refunds; and 50 concurrent replays of one Idempotency-Key."""

import json
import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from members.models import Order, PointsEntry, Refund
from tests.conftest import host_client
from tests.members.loyalty_scene import throwaway_brand
from webhooks.models import WebhookDelivery

from .conftest import agreements_ensure, assert_problem, call, enrol_body, make_key

ORDERS = "/api/v1/orders"
PAID = "2026-01-05T10:00:00+08:00"

concurrency_brand = throwaway_brand


def order(n: int = 1, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "tmall",
        "order_no": f"TM-{n}",
        "paid_at": PAID,
        "amount_fen": 25900,
        "buyer": {"kind": "wechat_unionid", "value": "union-1"},
        "lines": [{"sku": "SKU-1", "name": "咖啡豆", "quantity": 1, "amount_fen": 25900}],
    }
    body.update(overrides)
    return body


def orders_count(slug: str = "alpha") -> int:
    with schema_context(slug):
        return Order.objects.count()


def test_a_member_order_earns_points_and_tells_subscribers(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    call(
        client_a,
        "POST",
        "/api/v1/webhooks",
        key=key_a,
        body={"url": "https://p.example/h", "events": ["points.changed"]},
    )

    response = call(client_a, "POST", ORDERS, key=key_a, body=order())

    assert response.status_code == 201, response.content
    body = json.loads(response.content)
    assert (body["member_no"], body["is_member_order"], body["amount_fen"]) == (member_no, True, 25900)
    assert body["points_earned"] > 0
    with schema_context("alpha"):
        (delivery,) = WebhookDelivery.objects.filter(event="points.changed")
    assert delivery.payload["member_no"] == member_no
    assert delivery.payload["delta"] == body["points_earned"]


def test_posting_the_same_order_again_changes_nothing(client_a, key_a, enrolled_a):
    enrolled_a(1)
    first = call(client_a, "POST", ORDERS, key=key_a, body=order())

    again = call(client_a, "POST", ORDERS, key=key_a, body=order())

    assert (first.status_code, again.status_code) == (201, 200)
    assert json.loads(again.content) == json.loads(first.content)
    with schema_context("alpha"):
        assert Order.objects.count() == 1
        assert PointsEntry.objects.filter(kind="earn").count() == 1


def test_a_buyer_who_is_not_a_member_makes_a_tourist_order(client_a, key_a, versions_a):
    response = call(client_a, "POST", ORDERS, key=key_a, body=order(buyer={"kind": "mobile", "value": "13700000000"}))

    assert response.status_code == 201
    body = json.loads(response.content)
    assert (body["member_no"], body["is_member_order"], body["points_earned"]) == (None, False, 0)


def test_a_mobile_buyer_is_matched_however_the_number_is_written(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)  # mobile 13900000001
    response = call(
        client_a, "POST", ORDERS, key=key_a, body=order(buyer={"kind": "mobile", "value": "+86 139 0000 0001"})
    )
    assert json.loads(response.content)["member_no"] == member_no


def test_the_same_order_number_with_another_amount_is_409(client_a, key_a, enrolled_a):
    enrolled_a(1)
    call(client_a, "POST", ORDERS, key=key_a, body=order())

    assert_problem(call(client_a, "POST", ORDERS, key=key_a, body=order(amount_fen=1)), 409, "order_conflict")
    with schema_context("alpha"):
        assert Order.objects.get().amount_fen == 25900


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"channel": "taobao"}, "invalid_input", "channel"),
        ({"order_no": ""}, "invalid_input", "order_no"),
        ({"amount_fen": -1}, "invalid_input", "amount_fen"),
        ({"amount_fen": 10**40}, "invalid_input", "amount_fen"),
        ({"amount_fen": "12.5"}, "invalid_input", "amount_fen"),
        ({"paid_at": "yesterday"}, "invalid_input", "paid_at"),
        ({"paid_at": "2999-01-01T00:00:00+08:00"}, "order_invalid", "paid_at"),
        ({"points_earned": 999}, "invalid_input", "points_earned"),
        ({"member_no": "M00000001"}, "invalid_input", "member_no"),
        ({"coupon": "X"}, "invalid_input", "coupon"),
        ({"store": "NOPE"}, "invalid_input", "store"),
        ({"buyer": {"kind": "mobile", "value": "12"}}, "invalid_input", "buyer.value"),
        ({"buyer": {"kind": "qq", "value": "1"}}, "invalid_input", "buyer.kind"),
        ({"lines": [{"sku": "", "amount_fen": 1}]}, "invalid_input", "lines.0.sku"),
        ({"lines": [{"sku": "A", "amount_fen": 1, "quantity": 0}]}, "invalid_input", "lines.0.quantity"),
    ],
)
def test_bad_orders_are_400_and_write_nothing(client_a, key_a, enrolled_a, overrides, code, field):
    enrolled_a(1)

    problem = assert_problem(call(client_a, "POST", ORDERS, key=key_a, body=order(**overrides)), 400, code)

    assert field in problem["fields"], problem
    assert orders_count() == 0


def test_orders_need_orders_write_and_a_key_of_this_brand(client_a, key_b, brand_a):
    members_only = make_key("alpha", scopes=["members:write", "members:read"])

    assert_problem(call(client_a, "POST", ORDERS, key=members_only, body=order()), 403, "scope_missing")
    assert_problem(
        call(client_a, "POST", f"{ORDERS}/batch", key=members_only, body={"orders": [order()]}), 403, "scope_missing"
    )
    assert_problem(call(client_a, "POST", ORDERS, key=key_b, body=order()), 401, "api_key_invalid")
    assert orders_count() == 0


def test_a_batch_reports_each_item(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    call(client_a, "POST", ORDERS, key=key_a, body=order(1))
    items = [
        order(1),  # duplicate
        order(2),  # member order
        order(3, amount_fen=-5),  # invalid
        order(4, buyer=None) | {"buyer": {"kind": "pos_card", "value": "nobody"}},  # tourist
        "not an order",
        order(5, paid_at="2999-01-01T00:00:00+08:00"),  # refused by the service
    ]

    response = call(client_a, "POST", f"{ORDERS}/batch", key=key_a, body={"orders": items})

    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 1, 3)
    results = body["results"]
    assert [r["status"] for r in results] == ["duplicate", "created", "rejected", "created", "rejected", "rejected"]
    assert results[1]["member_no"] == member_no and results[1]["points_earned"] > 0
    assert results[0]["member_no"] == member_no  # a duplicate names the member of the stored order
    assert results[3]["member_no"] is None
    assert "amount_fen" in results[2]["error"]["fields"]
    assert results[5]["error"]["code"] == "order_invalid"
    assert orders_count() == 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"orders": []}, "invalid_input"),
        ({"orders": "x"}, "invalid_input"),
        ({}, "invalid_input"),
        ({"orders": [order(1)], "extra": 1}, "invalid_input"),
        ({"orders": [order(n) for n in range(501)]}, "batch_too_large"),
    ],
)
def test_bad_batches_are_400_and_write_nothing(client_a, key_a, body, code):
    assert_problem(call(client_a, "POST", f"{ORDERS}/batch", key=key_a, body=body), 400, code)
    assert orders_count() == 0


def test_a_batch_of_500_is_accepted(client_a, key_a, versions_a):
    response = call(
        client_a,
        "POST",
        f"{ORDERS}/batch",
        key=key_a,
        body={"orders": [order(n, buyer=None) | {"buyer": {"kind": "pos_card", "value": f"c{n}"}} for n in range(500)]},
    )

    assert response.status_code == 200
    assert json.loads(response.content)["created"] == 500


# --- refunds ---------------------------------------------------------------------------------------
def refund_path(order_no: str = "TM-1", channel: str = "tmall") -> str:
    return f"{ORDERS}/{channel}/{order_no}/refunds"


REFUND = {"refund_no": "R-1", "amount_fen": 25900, "refunded_at": "2026-01-06T10:00:00+08:00"}


def test_a_full_refund_reverses_the_points_and_a_retry_is_harmless(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    earned = json.loads(call(client_a, "POST", ORDERS, key=key_a, body=order()).content)["points_earned"]

    first = call(client_a, "POST", refund_path(), key=key_a, body=REFUND)
    again = call(client_a, "POST", refund_path(), key=key_a, body=REFUND)

    assert (first.status_code, again.status_code) == (201, 200), first.content
    body = json.loads(first.content)
    assert body["points_reversed"] == earned
    assert body["order"]["refunded_fen"] == 25900
    points = json.loads(call(client_a, "GET", f"/api/v1/members/{member_no}/points", key=key_a).content)
    assert points["balance"] + points["pending"] == 0
    with schema_context("alpha"):
        assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (refund_path("NOPE"), REFUND, 404, "order_not_found"),
        (refund_path(channel="taobao"), REFUND, 404, "not_found"),
        (refund_path(), {**REFUND, "amount_fen": 30000}, 400, "refund_exceeds_paid"),
        (refund_path(), {**REFUND, "amount_fen": 0}, 400, "invalid_input"),
        (refund_path(), {**REFUND, "points_reversed": 1}, 400, "invalid_input"),
        (refund_path(), {"refund_no": "R-1"}, 400, "invalid_input"),
    ],
)
def test_bad_refunds_change_nothing(client_a, key_a, enrolled_a, path, body, status, code):
    enrolled_a(1)
    call(client_a, "POST", ORDERS, key=key_a, body=order())

    assert_problem(call(client_a, "POST", path, key=key_a, body=body), status, code)
    with schema_context("alpha"):
        assert not Refund.objects.exists()
        assert Order.objects.get().refunded_fen == 0


def test_the_same_refund_number_with_another_amount_is_409(client_a, key_a, enrolled_a):
    enrolled_a(1)
    call(client_a, "POST", ORDERS, key=key_a, body=order())
    call(client_a, "POST", refund_path(), key=key_a, body={**REFUND, "amount_fen": 100})

    assert_problem(
        call(client_a, "POST", refund_path(), key=key_a, body={**REFUND, "amount_fen": 200}), 409, "refund_conflict"
    )


def test_refunds_need_orders_write_and_the_orders_brand(client_a, client_b, key_a, key_b, enrolled_a, brand_a):
    enrolled_a(1)
    call(client_a, "POST", ORDERS, key=key_a, body=order())
    read_only = make_key("alpha", scopes=["members:read"])

    assert_problem(call(client_a, "POST", refund_path(), key=read_only, body=REFUND), 403, "scope_missing")
    assert_problem(call(client_b, "POST", refund_path(), key=key_b, body=REFUND), 404, "order_not_found")
    with schema_context("alpha"):
        assert not Refund.objects.exists()


# --- 50 concurrent replays of one Idempotency-Key ----------------------------------------------------
def test_fifty_concurrent_replays_create_one_order_and_one_ledger_entry(concurrency_brand, settings):
    settings.API_THROTTLE_RATE = "10000/min"
    slug = concurrency_brand.schema_name
    host = f"{slug}.localhost"
    key = make_key(slug)
    setup = host_client(host)
    assert (
        call(setup, "POST", "/api/v1/members", key=key, body=enrol_body(agreements_ensure(slug), 1)).status_code == 201
    )
    threads_count = 50
    barrier = threading.Barrier(threads_count)
    responses: list[tuple[int, bool, bytes]] = []
    lock = threading.Lock()

    def post() -> None:
        try:
            client = host_client(host)
            barrier.wait(timeout=30)
            response = call(client, "POST", ORDERS, key=key, body=order(), idempotency_key="order-TM-1")
            with lock:
                responses.append(
                    (response.status_code, response.has_header("Idempotent-Replayed"), bytes(response.content))
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = Counter(status for status, _, _ in responses)
    assert len(responses) == threads_count
    assert set(statuses) <= {201, 409}, statuses
    originals = [body for status, replayed, body in responses if status == 201 and not replayed]
    assert len(originals) == 1
    assert all(body == originals[0] for status, replayed, body in responses if replayed)
    with schema_context(slug):
        assert Order.objects.count() == 1
        assert PointsEntry.objects.count() == 1
        assert PointsEntry.objects.get().points == json.loads(originals[0])["points_earned"]
