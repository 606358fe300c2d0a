"""A write that committed is answered as committed when its side effects cannot be queued: with
the broker down, the order and its points stand, the webhook delivery waits, pending, for the
sweep, and the failed send is logged with its task and brand (crm/celery.py send_on_commit)."""

import datetime as dt
import json
import logging
from typing import Any

from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import Order, PointsEntry
from tests import outages
from tests.conftest import host_client
from tests.members.loyalty_scene import throwaway_brand
from webhooks.models import WebhookDelivery
from webhooks.services import WEBHOOK_STALLED_AFTER, webhook_deliveries_stalled

from .conftest import agreements_ensure, call, enrol_body, make_key

ORDERS = "/api/v1/orders"

# Fixtures defined elsewhere, bound to names of this module so that pytest finds them. A brand of
# its own: the orders are committed (the on-commit send is what is tested) and cannot be deleted.
outage_brand = throwaway_brand
broker_unreachable = outages.broker_unreachable


def test_an_order_committed_with_the_broker_down_is_answered_201_and_its_webhook_left_to_the_sweep(
    outage_brand, broker_unreachable, caplog
):
    slug = outage_brand.schema_name
    key = make_key(slug)
    client = host_client(f"{slug}.localhost")
    assert (
        call(client, "POST", "/api/v1/members", key=key, body=enrol_body(agreements_ensure(slug), 1)).status_code == 201
    )
    webhook = {"url": "https://p.example/h", "events": ["points.changed"]}
    assert call(client, "POST", "/api/v1/webhooks", key=key, body=webhook).status_code == 201
    # The broker goes away now (the fixture pointed the app at it; nothing was sent since).
    caplog.set_level(logging.ERROR, logger="crm.celery")

    response = call(client, "POST", ORDERS, key=key, body=order(1))

    assert response.status_code == 201, response.content
    with schema_context(slug):
        assert Order.objects.filter(order_no="TM-1").exists()
        assert PointsEntry.objects.filter(kind="earn").count() == 1
        (delivery,) = WebhookDelivery.objects.filter(event="points.changed")
        assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.PENDING, 0)
        # What the sweep will send again once the delivery is overdue.
        later = timezone.now() + WEBHOOK_STALLED_AFTER + dt.timedelta(minutes=1)
        assert webhook_deliveries_stalled(now=later) == [delivery.pk]
    (record,) = [r for r in caplog.records if r.name == "crm.celery"]
    assert "api.webhook_deliver" in record.getMessage() and slug in record.getMessage()


def test_a_batch_with_the_broker_down_tries_the_broker_once_and_answers_every_order(
    outage_brand, broker_unreachable, caplog
):
    slug = outage_brand.schema_name
    key = make_key(slug)
    client = host_client(f"{slug}.localhost")
    for n in (1, 2, 3):
        body = enrol_body(agreements_ensure(slug), n)
        assert call(client, "POST", "/api/v1/members", key=key, body=body).status_code == 201
    webhook = {"url": "https://p.example/h", "events": ["points.changed"]}
    assert call(client, "POST", "/api/v1/webhooks", key=key, body=webhook).status_code == 201
    caplog.set_level(logging.ERROR, logger="crm.celery")
    orders = [order(n, buyer={"kind": "wechat_unionid", "value": f"union-{n}"}) for n in (1, 2, 3)]

    response = call(client, "POST", f"{ORDERS}/batch", key=key, body={"orders": orders})

    assert response.status_code == 200, response.content
    assert json.loads(response.content)["created"] == 3
    with schema_context(slug):
        deliveries = WebhookDelivery.objects.filter(event="points.changed")
        assert deliveries.count() == 3
        assert set(deliveries.values_list("status", "attempts")) == {(WebhookDelivery.Status.PENDING, 0)}
    messages = [r.getMessage() for r in caplog.records if r.name == "crm.celery"]
    assert messages and all(slug in message for message in messages)
    # One publish met the refused connection; what followed within seconds did not wait for it.
    assert sum("OperationalError" in message for message in messages) == 1, messages


def order(n: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "tmall",
        "order_no": f"TM-{n}",
        "paid_at": "2026-01-05T10:00:00+08:00",
        "amount_fen": 25900,
        "buyer": {"kind": "wechat_unionid", "value": "union-1"},
        "lines": [{"sku": "SKU-1", "name": "咖啡豆", "quantity": 1, "amount_fen": 25900}],
    }
    body.update(overrides)
    return body
