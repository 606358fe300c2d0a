"""GET|POST /api/v1/webhooks and GET|DELETE /api/v1/webhooks/{id}: a partner manages its own
subscriptions; the signing secret is shown once; other partners and brands see nothing."""

import json

import pytest
from django_tenants.utils import schema_context

from webhooks.models import WebhookSubscription

from .conftest import assert_problem, call, make_key

WEBHOOKS = "/api/v1/webhooks"
GOOD = {"url": "https://partner.example/hooks", "events": ["points.changed", "member.enrolled"]}


def test_a_partner_subscribes_and_gets_the_secret_once(client_a, key_a):
    created = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD)

    assert created.status_code == 201
    body = json.loads(created.content)
    assert body["url"] == GOOD["url"]
    assert body["events"] == ["member.enrolled", "points.changed"]
    assert body["secret"].startswith("whsec_")
    assert created["Location"] == f"/api/v1/webhooks/{body['id']}"
    with schema_context("alpha"):
        stored = WebhookSubscription.objects.get(public_id=body["id"])
    assert stored.secret == body["secret"]

    listed = json.loads(call(client_a, "GET", WEBHOOKS, key=key_a).content)["results"]
    detail = json.loads(call(client_a, "GET", created["Location"], key=key_a).content)
    assert [item["id"] for item in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in detail
    assert detail["id"] == body["id"]


def test_a_partner_deletes_its_subscription(client_a, key_a):
    location = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD)["Location"]

    deleted = call(client_a, "DELETE", location, key=key_a)

    assert deleted.status_code == 204
    assert json.loads(call(client_a, "GET", WEBHOOKS, key=key_a).content)["results"] == []
    assert_problem(call(client_a, "GET", location, key=key_a), 404, "not_found")
    assert_problem(call(client_a, "DELETE", location, key=key_a), 404, "not_found")
    with schema_context("alpha"):
        assert WebhookSubscription.objects.get().deleted_at is not None  # kept for the delivery log


def test_a_replayed_create_of_a_since_deleted_subscription_is_gone_not_its_secret(client_a, key_a):
    first = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="sub-1")
    replay = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="sub-1")
    assert replay.status_code == 201 and replay.content == first.content  # still there: the first answer
    call(client_a, "DELETE", first["Location"], key=key_a)

    gone = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="sub-1")

    assert_problem(gone, 410, "idempotency_replay_gone")
    assert json.loads(first.content)["secret"] not in gone.content.decode()
    with schema_context("alpha"):
        assert WebhookSubscription.objects.count() == 1  # nothing created again


@pytest.mark.parametrize("subscription_id", ["not-a-uuid", "0f8e6a52-3c1d-4b7a-9e25-6d4c2b1a0f93", "1"])
def test_unknown_subscription_ids_are_404(client_a, key_a, subscription_id):
    assert_problem(call(client_a, "GET", f"{WEBHOOKS}/{subscription_id}", key=key_a), 404, "not_found")
    assert_problem(call(client_a, "DELETE", f"{WEBHOOKS}/{subscription_id}", key=key_a), 404, "not_found")


def test_another_partner_of_the_same_brand_cannot_see_or_delete_it(client_a, key_a, brand_a):
    other = make_key("alpha", partner="另一个合作方")
    location = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD)["Location"]

    assert json.loads(call(client_a, "GET", WEBHOOKS, key=other).content)["results"] == []
    assert_problem(call(client_a, "GET", location, key=other), 404, "not_found")
    assert_problem(call(client_a, "DELETE", location, key=other), 404, "not_found")
    with schema_context("alpha"):
        assert WebhookSubscription.objects.filter(deleted_at__isnull=True).count() == 1


def test_a_new_key_of_the_same_partner_manages_its_subscriptions(client_a, key_a, brand_a):
    location = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD)["Location"]
    rotated = make_key("alpha")  # same partner name as key_a

    assert call(client_a, "GET", location, key=rotated).status_code == 200


def test_another_brand_sees_nothing_even_with_the_right_id(client_a, client_b, key_a, key_b):
    location = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD)["Location"]

    assert_problem(call(client_b, "GET", location, key=key_b), 404, "not_found")
    assert_problem(call(client_b, "DELETE", location, key=key_b), 404, "not_found")
    assert json.loads(call(client_b, "GET", WEBHOOKS, key=key_b).content)["results"] == []
    assert_problem(call(client_b, "GET", location, key=key_a), 401, "api_key_invalid")


@pytest.mark.parametrize(("method", "path"), [("GET", WEBHOOKS), ("POST", WEBHOOKS), ("DELETE", f"{WEBHOOKS}/x")])
def test_every_webhook_endpoint_needs_webhooks_manage(client_a, brand_a, method, path):
    key = make_key("alpha", scopes=["members:read", "members:write", "orders:write"])

    response = call(client_a, method, path, key=key, body=GOOD if method == "POST" else None)

    assert_problem(response, 403, "scope_missing")
    with schema_context("alpha"):
        assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
        "ftp://x.example/",
    ],
)
def test_urls_into_our_own_network_are_refused(client_a, key_a, settings, url):
    settings.EGRESS_ALLOW_PRIVATE_HOSTS = False

    response = call(client_a, "POST", WEBHOOKS, key=key_a, body={**GOOD, "url": url}, language="en")

    problem = assert_problem(response, 400, "webhook_url_not_allowed")
    assert "url" in problem["fields"]
    with schema_context("alpha"):
        assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:99999/h",  # no such port: refused, not a 500
        "https://user:secret@127.0.0.1/h",  # credentials in a URL end up in logs; the signature authenticates
    ],
)
def test_urls_a_delivery_could_not_use_are_refused_even_where_private_hosts_are_allowed(client_a, key_a, url):
    response = call(client_a, "POST", WEBHOOKS, key=key_a, body={**GOOD, "url": url}, language="en")

    assert_problem(response, 400, "webhook_url_not_allowed")
    with schema_context("alpha"):
        assert not WebhookSubscription.objects.exists()
