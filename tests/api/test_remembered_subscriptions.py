"""Which webhook events a brand's subscriptions want, remembered by the process within partner API
requests: an order asks the database nothing about webhooks when nobody listens, yet a
subscription made in this process is heard on the next request, one made in another process once
its generation arrives, and nothing remembered is used outside an API request."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.api import remembered_keys
from crm.api.models import Partner
from crm.redis_cache import cache_key, cache_redis
from members.models import IdentityKind
from members.services.orders import order_post
from webhooks.models import WebhookDelivery, WebhookSubscription

from .conftest import call, enrol_body

ORDERS = "/api/v1/orders"
WEBHOOKS = "/api/v1/webhooks"
# What these tests are about exists only with production's Redis cache (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("redis_cache")


def post_order(client: Any, key: str, n: int) -> list[str]:
    """Posts order n of member 1 (union-1); returns the statements that read subscriptions."""
    body = {
        "channel": "tmall",
        "order_no": f"TM-{n}",
        "paid_at": "2026-01-05T10:00:00+08:00",
        "amount_fen": 25900,
        "buyer": {"kind": "wechat_unionid", "value": "union-1"},
    }
    with CaptureQueriesContext(connection) as queries:
        response = call(client, "POST", ORDERS, key=key, body=body)
    assert response.status_code == 201, response.content
    return [q["sql"] for q in queries.captured_queries if "api_webhooksubscription" in q["sql"]]


def subscribe(client: Any, key: str) -> Any:
    return call(client, "POST", WEBHOOKS, key=key, body={"url": "https://p.example/h", "events": ["points.changed"]})


def points_deliveries(slug: str = "alpha") -> int:
    with schema_context(slug):
        return WebhookDelivery.objects.filter(event="points.changed").count()


def other_process_subscribes(slug: str) -> None:
    """A subscription saved by another process: the row, without this process's signals."""
    with schema_context(slug):
        partner, _ = Partner.objects.get_or_create(name="另一个伙伴")
        WebhookSubscription.objects.bulk_create(  # bulk_create sends no post_save
            [WebhookSubscription(partner=partner, url="https://q.example/h", events=["points.changed"], secret="s")]
        )


def other_process_commits(slug: str) -> None:
    with schema_context(slug):
        client = cache_redis()
        assert client is not None, "the suite runs with Redis as the cache"
        remembered_keys._generation_renew(client, cache_key(remembered_keys.GENERATION))


def test_a_repeat_order_asks_nothing_about_webhooks(client_a, key_a, enrolled_a):
    enrolled_a(1)
    post_order(client_a, key_a, 1)

    assert post_order(client_a, key_a, 2) == []
    assert points_deliveries() == 0


def test_a_subscription_made_through_the_api_is_heard_on_the_next_order(client_a, key_a, enrolled_a):
    enrolled_a(1)
    post_order(client_a, key_a, 1)  # remembered: nobody listens
    assert subscribe(client_a, key_a).status_code == 201

    post_order(client_a, key_a, 2)

    assert points_deliveries() == 1


def test_a_subscription_made_in_another_process_is_heard_once_its_generation_arrives(client_a, key_a, enrolled_a):
    enrolled_a(1)
    post_order(client_a, key_a, 1)
    other_process_subscribes("alpha")

    post_order(client_a, key_a, 2)  # before the other process's commit tells the brand
    assert points_deliveries() == 0
    other_process_commits("alpha")

    post_order(client_a, key_a, 3)
    assert points_deliveries() == 1


def test_a_lost_generation_write_is_bounded_by_the_remember_time(client_a, key_a, enrolled_a, monkeypatch):
    monkeypatch.setattr(remembered_keys, "REMEMBER_SECONDS", -1)  # what is remembered is too old at once
    enrolled_a(1)
    post_order(client_a, key_a, 1)
    other_process_subscribes("alpha")  # and its generation write never arrives

    post_order(client_a, key_a, 2)
    assert points_deliveries() == 1


def test_a_deleted_subscription_is_sent_nothing_more(client_a, key_a, enrolled_a):
    enrolled_a(1)
    created = subscribe(client_a, key_a)
    post_order(client_a, key_a, 1)
    assert points_deliveries() == 1

    deleted = call(client_a, "DELETE", f"{WEBHOOKS}/{created.json()['id']}", key=key_a)
    assert deleted.status_code == 204, deleted.content
    post_order(client_a, key_a, 2)
    assert points_deliveries() == 1


def test_outside_an_api_request_nothing_remembered_is_used(client_a, key_a, enrolled_a):
    enrolled_a(1)
    post_order(client_a, key_a, 1)  # remembered: nobody listens
    other_process_subscribes("alpha")  # no generation written yet

    with schema_context("alpha"):  # the brand admin, a job, an import: not an API request
        order_post(
            channel="store",
            order_no="POS-1",
            paid_at=timezone.now(),
            amount_fen=10_000,
            buyer_kind=IdentityKind.WECHAT_UNIONID,
            buyer_value="union-1",
            actor="pos",
        )

    assert points_deliveries() == 1


def test_one_brands_subscriptions_are_not_remembered_for_another(
    client_a, key_a, client_b, key_b, enrolled_a, versions_b
):
    enrolled_a(1)
    assert call(client_b, "POST", "/api/v1/members", key=key_b, body=enrol_body(versions_b, 1)).status_code == 201
    subscribe(client_a, key_a)
    post_order(client_a, key_a, 1)  # alpha remembers: points.changed is wanted

    post_order(client_b, key_b, 1)

    assert (points_deliveries("alpha"), points_deliveries("beta")) == (1, 0)
